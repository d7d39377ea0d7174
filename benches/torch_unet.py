#!/usr/bin/env python3
"""PyTorch (CPU, float32) reference timings of a diffusers UNet2DModel, for `cargo bench --bench unet`.

Builds the model from a config JSON with diffusers' random init, then for each batch size: one
warm-up forward, then timed forwards under `torch.no_grad()` until `--max-iters` are done or
`--budget-s` seconds have passed (at least one). This is the policy the Rust side uses.

Prints one JSON object per line on stdout (the bench parses them):
  {"kind": "model", "params": ..., "gflop_per_sample": ..., "torch": ..., "diffusers": ..., "threads": ...}
  {"kind": "forward", "batch": B, "median_ms": ..., "times_ms": [...]}

Run by hand:  train/.venv/bin/python benches/torch_unet.py --config benches/configs/tiny.json --batches 1,16
"""

import argparse
import json
import os
import sys


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="UNet2DModel config.json")
    ap.add_argument("--batches", default="1,16", help="comma-separated batch sizes")
    ap.add_argument("--max-iters", type=int, default=3, help="timed forwards per batch size at most")
    ap.add_argument("--budget-s", type=float, default=10.0, help="stop timing a batch size after this long")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timestep", type=int, default=500)
    return ap.parse_args(argv)


args = parse_args()
# Before importing torch, so its OpenMP pool starts at this size.
for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[var] = str(args.threads)

import time  # noqa: E402
import warnings  # noqa: E402

import torch  # noqa: E402

warnings.filterwarnings("ignore")
import diffusers  # noqa: E402
from diffusers import UNet2DModel  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402


def emit(obj):
    print(json.dumps(obj), flush=True)


def main():
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    with open(args.config) as f:
        config = json.load(f)
    model = UNet2DModel.from_config(config).eval().float()
    params = sum(p.numel() for p in model.parameters())
    channels = model.config.in_channels
    size = model.config.sample_size
    h, w = (size, size) if isinstance(size, int) else tuple(size)

    with torch.no_grad():
        with FlopCounterMode(display=False) as counter:
            model(torch.randn(1, channels, h, w), args.timestep)
    emit({
        "kind": "model",
        "params": params,
        "gflop_per_sample": counter.get_total_flops() / 1e9,
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "threads": torch.get_num_threads(),
    })

    for batch in (int(b) for b in args.batches.split(",") if b.strip()):
        x = torch.randn(batch, channels, h, w)
        t = torch.full((batch,), args.timestep, dtype=torch.long)
        times = []
        with torch.no_grad():
            model(x, t)  # warm-up
            start = time.perf_counter()
            while True:
                t0 = time.perf_counter()
                model(x, t)
                times.append((time.perf_counter() - t0) * 1e3)
                if len(times) >= args.max_iters or time.perf_counter() - start >= args.budget_s:
                    break
        ordered = sorted(times)
        mid = len(ordered) // 2
        median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
        emit({"kind": "forward", "batch": batch, "median_ms": median, "times_ms": times})


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the bench prints this line instead of a number
        print(f"torch_unet.py failed: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
