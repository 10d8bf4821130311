import Foundation
import LumenModels
import LumenPipelines
import LumenTensor
import LumenTokenizers
import LumenWeights
import Testing

/// Per-component parity with diffusers/transformers on the tiny random models (fp32, ≤ 1e-4).
@Suite struct ModelParityTests {
    static let kinds = ["sd1", "sd2"]

    @Test(arguments: kinds) func tokenizerMatchesTransformers(kind: String) throws {
        let tok = try CLIPTokenizer(directory: Fixtures.path("tiny-\(kind)/tokenizer"))
        let fixture = try #require(Fixtures.json("tokenizer-\(kind).json") as? [String: Any])
        let texts = try #require(fixture["texts"] as? [String])
        let ids = try #require(fixture["ids"] as? [[Int]])
        for (text, expected) in zip(texts, ids) {
            #expect(tok.encode(text) == expected, "text: \(text)")
        }
    }

    @Test(arguments: kinds) func textEncoderMatchesTransformers(kind: String) throws {
        let pipeline = try PipelineLoader.load(path: Fixtures.path("tiny-\(kind)"))
        let t = try Fixtures.tensors("text-\(kind)")
        let idTensor = try #require(t["ids"])
        let rows = idTensor.shape[0], len = idTensor.shape[1]
        let ids = (0..<rows).map { r in (0..<len).map { Int(idTensor.data[r * len + $0]) } }
        let last = try pipeline.textEncoder(ids)
        #expect(maxError(last, try #require(t["last"])) <= 1e-4)
        let penultimate = try pipeline.textEncoder(ids, skipLayers: 1)
        #expect(maxError(penultimate, try #require(t["penultimate"])) <= 1e-4)
    }

    @Test(arguments: ["sd1-even", "sd1-odd", "sd2-even", "sd2-odd"]) func unetMatchesDiffusers(name: String) throws {
        let kind = String(name.prefix(3))
        let pipeline = try PipelineLoader.load(path: Fixtures.path("tiny-\(kind)"))
        let t = try Fixtures.tensors("unet-\(name)")
        let out = try pipeline.unet(try #require(t["sample"]), timestep: t["timestep"]!.data[0], context: try #require(t["context"]))
        let err = maxError(out, try #require(t["output"]))
        #expect(err <= 1e-4, "max abs error \(err)")
    }

    /// Classifier-free guidance's batch `[x, x]` with different text embeddings: the UNet runs the
    /// part before the first cross-attention on one half (`sharesEqualItemsPrefix`) and must give the
    /// same output as the full batch, for one picture (`[x₁, x₁]`) and for two (`[x₁, x₂, x₁, x₂]`).
    /// The guided end-to-end fixtures check it against diffusers too.
    @Test(arguments: kinds) func equalHalvesShareTheirPrefix(kind: String) throws {
        var unet = try PipelineLoader.load(path: Fixtures.path("tiny-\(kind)")).unet
        let t = try Fixtures.tensors("unet-\(kind)-even")
        let sample = try #require(t["sample"]), context = try #require(t["context"])
        let timestep = t["timestep"]!.data[0]
        #expect(!sample.batchHalvesEqual() && !context.batchHalvesEqual())
        let one = sample.firstBatchHalf().repeatedBatch(2)
        let two = sample.repeatedBatch(2)
        let twoContexts = Tensor.concatBatch([context.firstBatchHalf().repeatedBatch(2), context.chunkBatch(2)[1].repeatedBatch(2)])
        for (x, c) in [(one, context), (two, twoContexts)] {
            #expect(x.batchHalvesEqual() && !c.batchHalvesEqual())
            unet.sharesEqualItemsPrefix = true
            let shared = try unet(x, timestep: timestep, context: c)
            unet.sharesEqualItemsPrefix = false
            let full = try unet(x, timestep: timestep, context: c)
            #expect(shared.shape == full.shape)
            // Not bit-equal: the half batch's products have half the rows, and OpenBLAS's
            // kernels sum in an order that depends on the shape (1.2e-6 seen with attention's
            // fused q/k/v product, about one ulp of the outputs' larger values).
            #expect(maxError(shared, full) <= 4e-6, "batch \(x.shape[0]): max abs error \(maxError(shared, full))")
            #expect(!shared.batchHalvesEqual(), "different text embeddings must give different outputs")
        }
    }

    /// Attention's q/k/v joined into one layer (`QKVProjections`, fp16 weights as loaded, a bias on
    /// one part only) gives what the three separate layers give.
    @Test func fusedProjectionsMatchSeparateOnes() {
        let (d, inner, heads) = (12, 16, 2)
        func linear(_ seed: UInt64, bias: Bool) -> Linear {
            let w = ConvolutionTests.values(inner * d, seed: seed).map { Float16($0) }
            return Linear(weight: WeightTensor(shape: [inner, d], storage: .float16(w)),
                          bias: bias ? Tensor(shape: [inner], data: ConvolutionTests.values(inner, seed: seed + 1)) : nil)
        }
        let (q, k, v) = (linear(31, bias: false), linear(33, bias: true), linear(35, bias: false))
        let x = Tensor(shape: [2, 9, d], data: ConvolutionTests.values(2 * 9 * d, seed: 37))
        let fused = QKVProjections(q: q, k: k, v: v, fuse: true)
        if case .separate = fused { Issue.record("the three fp16 weights should have been joined") }
        let separate = QKVProjections(q: q, k: k, v: v, fuse: false)
        let a = fused.attention(x, context: nil, heads: heads, causal: false)
        let b = separate.attention(x, context: nil, heads: heads, causal: false)
        #expect(maxError(a, b) <= 1e-6, "max abs error \(maxError(a, b))")
    }

    @Test(arguments: kinds) func vaeMatchesDiffusers(kind: String) throws {
        let store = WeightStore(component: "vae", files: try DiffusersLayout(root: Fixtures.path("tiny-\(kind)")).openWeights("vae"))
        let vae = AutoencoderKL(store.root, config: try AutoencoderKLConfig(JSONConfig(path: Fixtures.path("tiny-\(kind)/vae/config.json"))))
        try store.finish()
        let t = try Fixtures.tensors("vae-\(kind)")
        #expect(maxError(vae.decode(t["latents"]!), t["decoded"]!) <= 1e-4)
        let (mean, logvar) = vae.encode(t["image"]!)
        #expect(maxError(mean, t["mean"]!) <= 1e-4)
        #expect(maxError(logvar, t["logvar"]!) <= 1e-4)
    }

    @Test func tinyAutoencoderMatchesDiffusers() throws {
        let taesd = try PipelineLoader.loadTinyAutoencoder(folder: Fixtures.path("tiny-taesd"))
        let t = try Fixtures.tensors("taesd")
        #expect(maxError(taesd.decode(t["latents"]!), t["decoded"]!) <= 1e-4)
        #expect(maxError(taesd.encode(t["image"]!), t["encoded"]!) <= 1e-4)
    }

    @Test func torchRandomMatchesTorch() throws {
        let t = try Fixtures.tensors("rng")
        for (seed, sizes) in [(UInt64(0), [1, 5, 15, 16, 17, 100]), (42, [256, 3, 33]), ((1 << 32) + 7, [64])] {
            var random = TorchRandomSource(seed: seed)
            for (i, n) in sizes.enumerated() {
                let expected = try #require(t["seed\(seed)_\(i)_\(n)"])
                let got = random.randn([n])
                let err = maxError(got, expected)
                #expect(err <= 1e-6, "seed \(seed) draw \(i) (n=\(n)): max error \(err)")
            }
        }
    }
}

/// The real CLIP vocabulary (models/clip-tokenizer) gives transformers' ids, with SD1 and SD2 padding.
@Suite struct CLIPVocabularyTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../models/clip-tokenizer").standardized.path

    @Test(arguments: ["sd1", "sd2"]) func realVocabularyMatchesTransformers(kind: String) throws {
        let base = try CLIPTokenizer(directory: Self.folder)
        let tok = kind == "sd1" ? base : try CLIPTokenizer(vocabulary: base.vocabulary, merges: base.mergeList, padToken: "!")
        let fixture = try #require(Fixtures.json("tokenizer-clip.json") as? [String: Any])
        let texts = try #require(fixture["texts"] as? [String])
        let ids = try #require(fixture[kind] as? [[Int]])
        for (text, expected) in zip(texts, ids) {
            #expect(tok.encode(text) == expected, "text: \(text)")
        }
    }
}
