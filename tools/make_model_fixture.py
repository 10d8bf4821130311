#!/usr/bin/env python3
"""Reference output of the shipped model (models/lumen-tiny) computed with PyTorch/diffusers
classes, for the Swift test that loads it through the normal loader. Same loop as
StableDiffusionPipeline: the UNet denoises a 32×32 RGB picture, which the folder's `vae` (an
`AutoencoderTiny` 4× upsampler, training/train_upsampler.py) decodes to 128×128; a folder without a
`vae` is pixel space and the denoised sample is the picture."""
import json
import os

import torch
from diffusers import AutoencoderTiny, DPMSolverMultistepScheduler, UNet2DConditionModel
from safetensors.torch import save_file
from transformers import CLIPTextModel, CLIPTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models", "lumen-tiny")


@torch.no_grad()
def generate(prompt, negative, seed, steps, guidance):
    tok = CLIPTokenizer.from_pretrained(MODEL, subfolder="tokenizer")
    text = CLIPTextModel.from_pretrained(MODEL, subfolder="text_encoder", torch_dtype=torch.float32)
    unet = UNet2DConditionModel.from_pretrained(MODEL, subfolder="unet", torch_dtype=torch.float32)
    sched = DPMSolverMultistepScheduler.from_pretrained(MODEL, subfolder="scheduler")
    def embed(p):
        ids = tok(p, padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt").input_ids
        return text(ids)[0]
    ctx = torch.cat([embed(negative), embed(prompt)])
    sched.set_timesteps(steps)
    size = unet.config.sample_size
    g = torch.Generator("cpu").manual_seed(seed)
    x = torch.randn((1, 3, size, size), generator=g) * sched.init_noise_sigma
    for t in sched.timesteps:
        inp = sched.scale_model_input(torch.cat([x, x]), t)
        u, c = unet(inp, t, encoder_hidden_states=ctx).sample.chunk(2)
        x = sched.step(u + guidance * (c - u), t, x, generator=g).prev_sample
    if os.path.isdir(os.path.join(MODEL, "vae")):
        vae = AutoencoderTiny.from_pretrained(MODEL, subfolder="vae", torch_dtype=torch.float32)
        x = vae.decode(x / vae.config.scaling_factor).sample
    return (x / 2 + 0.5).clamp(0, 1)


if __name__ == "__main__":
    meta = {"prompt": "a photo of a large red metal sphere on grass at noon", "negative_prompt": "", "seed": 7, "steps": 8, "guidance": 4.0}
    image = generate(meta["prompt"], meta["negative_prompt"], meta["seed"], meta["steps"], meta["guidance"])
    save_file({"image": image.contiguous()}, os.path.join(ROOT, "Tests", "LumenEngineTests", "Fixtures", "lumen-tiny-reference.safetensors"),
              metadata={"meta": json.dumps(meta)})
    print("reference written")
