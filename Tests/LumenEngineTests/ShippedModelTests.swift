import Foundation
import LumenPipelines
import LumenTensor
import Testing

/// The shipped model (models/lumen-tiny) loads through the normal loader and reproduces the
/// PyTorch model's picture for a fixed seed (tools/make_model_fixture.py): the UNet's 32×32 RGB
/// sample decoded to 128×128 by the folder's `AutoencoderTiny` upsampler.
@Suite struct ShippedModelTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../models/lumen-tiny").standardized.path

    @Test func fixedSeedPictureMatchesPyTorch() throws {
        let pipeline = try PipelineLoader.load(path: Self.folder)
        #expect(pipeline.vaeScaleFactor == 4)
        #expect(pipeline.defaultSize == 128)
        let meta = try Fixtures.meta("lumen-tiny-reference")
        var r = GenerationRequest(prompt: meta["prompt"] as! String)
        r.negativePrompt = meta["negative_prompt"] as! String
        r.seed = UInt64(meta["seed"] as! Int)
        r.steps = meta["steps"] as! Int
        r.guidanceScale = Float(meta["guidance"] as! Double)
        let picture = pipeline.decodeLatents(try pipeline.denoise(r)).map { Swift.min(Swift.max($0 / 2 + 0.5, 0), 1) }
        let expected = try #require(try Fixtures.tensors("lumen-tiny-reference")["image"])
        #expect(picture.shape == [1, 3, 128, 128])
        #expect(expected.shape == picture.shape)
        let err = maxError(picture, expected)
        #expect(err <= 1e-3, "max abs error \(err)")
    }
}
