import Foundation
import LumenPipelines
import LumenTensor
import LumenWeights
import Testing

/// Single-file LDM checkpoints (fp16, written in LDM naming and checked against diffusers' own
/// converters by tools/make_fixtures.py) load onto the same modules and give diffusers' outputs.
@Suite struct SingleFileTests {
    @Test(arguments: ["sd1", "sd2"]) func singleFileMatchesDiffusers(kind: String) throws {
        let pipeline = try PipelineLoader.load(path: Fixtures.path("single-\(kind).safetensors"),
                                               tokenizer: Fixtures.path("tiny-sd1/tokenizer"))
        let checkpoint = try SingleFileCheckpoint(path: Fixtures.path("single-\(kind).safetensors"))
        #expect(checkpoint.family == (kind == "sd1" ? .sd1 : .sd2))
        let t = try Fixtures.tensors("single-\(kind)-reference")
        let unet = try pipeline.unet(t["sample"]!, timestep: t["timestep"]!.data[0], context: t["context"]!)
        #expect(maxError(unet, t["unet"]!) <= 1e-4)
        let ids = [t["ids"]!.data.map { Int($0) }]
        #expect(maxError(try pipeline.textEncoder(ids), t["text"]!) <= 1e-4)
        #expect(maxError(pipeline.decodeLatents(t["latents"]! * pipeline.decoder.scalingFactor), t["decoded"]!) <= 1e-4)
    }

    @Test func keyMapperRenamesLDMNames() {
        #expect(LDMKeyMapper.unetKey("input_blocks.4.0.in_layers.2.weight", layersPerBlock: 2) == "down_blocks.1.resnets.0.conv1.weight")
        #expect(LDMKeyMapper.unetKey("input_blocks.3.0.op.bias", layersPerBlock: 2) == "down_blocks.0.downsamplers.0.conv.bias")
        #expect(LDMKeyMapper.unetKey("output_blocks.5.2.conv.weight", layersPerBlock: 2) == "up_blocks.1.upsamplers.0.conv.weight")
        #expect(LDMKeyMapper.unetKey("middle_block.2.emb_layers.1.weight", layersPerBlock: 2) == "mid_block.resnets.1.time_emb_proj.weight")
        #expect(LDMKeyMapper.vaeKey("decoder.up.3.block.0.nin_shortcut.weight", levels: 4)?.0 == "decoder.up_blocks.0.resnets.0.conv_shortcut.weight")
        #expect(LDMKeyMapper.vaeKey("encoder.mid.attn_1.q.weight", levels: 4)?.0 == "encoder.mid_block.attentions.0.to_q.weight")
    }

    @Test func notACheckpointIsExplained() throws {
        #expect { try SingleFileCheckpoint(path: Fixtures.path("rng.safetensors")) } throws: { e in
            "\(e)".contains("not an SD 1.x/2.x single-file checkpoint")
        }
    }
}
