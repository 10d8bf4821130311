import Foundation
import LumenSchedulers
import LumenTensor

/// Everything that determines a text-to-image result, as in diffusers' `StableDiffusionPipeline.__call__`.
public struct GenerationRequest: Sendable {
    public var prompt: String
    public var negativePrompt: String = ""
    public var width: Int? = nil
    public var height: Int? = nil
    public var steps: Int = 20
    /// Classifier-free guidance scale; guidance is skipped when ≤ 1 (as diffusers does).
    public var guidanceScale: Float = 7.5
    public var seed: UInt64 = 0
    public var imageCount: Int = 1
    /// nil: the sampler named by the model's `scheduler_config.json`.
    public var scheduler: SchedulerKind? = nil
    /// Explicit initial latents `[n, C, H/8, W/8]` (before `init_noise_sigma` scaling); the seed
    /// still drives ancestral noise.
    public var initialLatents: Tensor? = nil
    /// Layers of the text encoder to skip from the end (diffusers' `clip_skip`).
    public var clipSkip: Int = 0

    public init(prompt: String) { self.prompt = prompt }
}

/// Progress of a running generation; the callback returns `false` to cancel.
public struct GenerationProgress: Sendable {
    public enum Stage: String, Sendable { case encodingText, denoising, decoding }
    public var stage: Stage
    public var step: Int
    public var totalSteps: Int
    /// Current latents during denoising (for previews).
    public var latents: Tensor?
}

/// An 8-bit RGB picture.
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// Row-major RGB bytes, `width × height × 3`.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        self.width = width; self.height = height; self.pixels = pixels
    }

    /// Peak signal-to-noise ratio against `other` in dB (8-bit peak 255; infinite when equal):
    /// how the reduced-precision paths are judged against fp32.
    public func psnr(against other: RGBImage) -> Double {
        var sum = 0.0
        for (x, y) in zip(pixels, other.pixels) {
            let d = Double(Int(x) - Int(y))
            sum += d * d
        }
        let mse = sum / Double(Swift.max(Swift.min(pixels.count, other.pixels.count), 1))
        return mse == 0 ? .infinity : 10 * log10(255 * 255 / mse)
    }
}

/// Why a generation could not run.
public enum PipelineError: Error, CustomStringConvertible, Equatable {
    case invalidRequest(field: String, reason: String)
    case cancelled

    public var description: String {
        switch self {
        case let .invalidRequest(f, r): "invalid \(f): \(r)"
        case .cancelled: "generation cancelled"
        }
    }
}
