#!/usr/bin/env python3
"""Draw samples from the EMA weights of a checkpoint (ckpt-*.pt / ema-*.pt / run dir) or from an
exported diffusers directory, and save them as a PNG grid. Use it to judge whether a checkpoint
is good enough to export into models/emoji32.

DDPM ancestral sampling with all 1000 steps by default (what the scheduler config describes);
--ddim N uses N DDIM steps instead (much faster, same weights)."""
import argparse
import os
import sys

import numpy as np
import torch
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train import DEFAULT_RUN_DIR, list_checkpoints  # noqa: E402


def load(src):
    if os.path.isdir(src) and os.path.exists(os.path.join(src, "config.json")):
        model = UNet2DModel.from_pretrained(src, low_cpu_mem_usage=False).float()
        sched = DDPMScheduler.from_pretrained(src)
        return model, sched.config, f"{src} (exported)"
    if os.path.isdir(src):
        ck = list_checkpoints(src)
        if not ck:
            raise SystemExit(f"no checkpoint in {src}")
        src = ck[-1][1]
    state = torch.load(src, map_location="cpu", weights_only=False)
    model = UNet2DModel(**state["unet_config"])
    model.load_state_dict(state["ema"])
    return model, DDPMScheduler(**state["scheduler_config"]).config, f"{src} (EMA, step {state['step']})"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--src", default=DEFAULT_RUN_DIR, help="checkpoint, run dir or exported model dir")
    ap.add_argument("--out", default="/tmp/emoji32-samples.png")
    ap.add_argument("-n", type=int, default=64, help="number of samples (grid is 8 wide)")
    ap.add_argument("--ddim", type=int, default=0, help="use N DDIM steps (eta 0) instead of 1000 DDPM steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--scale", type=int, default=3, help="upscale factor of the PNG (nearest)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    model, cfg, desc = load(a.src)
    model.eval()
    sched = DDIMScheduler.from_config(cfg) if a.ddim else DDPMScheduler.from_config(cfg)
    sched.set_timesteps(a.ddim or cfg["num_train_timesteps"])
    g = torch.Generator().manual_seed(a.seed)
    x = torch.randn(a.n, 3, 32, 32, generator=g)
    with torch.no_grad():
        for t in sched.timesteps:
            eps = model(x, t.expand(a.n)).sample
            x = sched.step(eps, t, x, generator=g).prev_sample
    imgs = ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    cols = 8
    rows = (a.n + cols - 1) // cols
    grid = np.full((rows * 34, cols * 34, 3), 128, np.uint8)
    for i, im in enumerate(imgs):
        r, c = divmod(i, cols)
        grid[r * 34 + 1:r * 34 + 33, c * 34 + 1:c * 34 + 33] = im
    Image.fromarray(grid).resize((grid.shape[1] * a.scale, grid.shape[0] * a.scale), Image.NEAREST).save(a.out)
    print(f"{desc}: wrote {a.n} samples ({'DDIM %d' % a.ddim if a.ddim else 'DDPM 1000'} steps) to {a.out}")


if __name__ == "__main__":
    sys.exit(main())
