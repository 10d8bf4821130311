import LumenPipelines
import LumenTensor

/// A cheap preview of the latents in the middle of denoising, for progress events and the API's
/// partial images: no VAE pass.
///
/// - Pixel-space models (3 channels): the sample itself, rescaled when its spread is still that of
///   the initial noise.
/// - 4-channel SD latents: the linear latent→RGB map of AUTOMATIC1111's "Approx cheap" preview
///   (`sd_samplers_common.samples_to_images_tensor`, factors fitted for the SD 1.x VAE), at latent
///   resolution.
public enum LatentPreview {
    static let sdFactors: [[Float]] = [
        [0.298, 0.207, 0.208], [0.187, 0.286, 0.173], [-0.158, 0.189, 0.264], [-0.184, -0.271, -0.473],
    ]

    /// One preview per picture in the batch; nil for latent layouts it does not know.
    public static func images(_ latents: Tensor) -> [RGBImage]? {
        guard latents.rank == 4 else { return nil }
        let (n, c, h, w) = (latents.shape[0], latents.shape[1], latents.shape[2], latents.shape[3])
        guard c == 3 || c == 4 else { return nil }
        var rgb = [Float](repeating: 0, count: n * 3 * h * w)
        let plane = h * w
        for b in 0..<n {
            let base = b * c * plane
            if c == 3 {
                var sum: Float = 0, sq: Float = 0
                for i in 0..<(3 * plane) { let v = latents.data[base + i]; sum += v; sq += v * v }
                let count = Float(3 * plane)
                let std = (max(0, sq / count - (sum / count) * (sum / count))).squareRoot()
                let scale: Float = std > 1 ? 1 / std : 1
                for i in 0..<(3 * plane) { rgb[b * 3 * plane + i] = latents.data[base + i] * scale }
            } else {
                for ch in 0..<3 {
                    for i in 0..<plane {
                        var v: Float = 0
                        for k in 0..<4 { v += latents.data[base + k * plane + i] * sdFactors[k][ch] }
                        rgb[(b * 3 + ch) * plane + i] = v
                    }
                }
            }
        }
        return StableDiffusionPipeline.toImages(Tensor(shape: [n, 3, h, w], data: rgb))
    }
}
