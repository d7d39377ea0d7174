#!/usr/bin/env python3
"""Export a diffusers UNet2DModel to ONNX (float32, opset 17, dynamic batch axis), for the
onnxruntime-web side of `node benches/cpu.mjs`, and check onnxruntime (CPU) against torch.

  train/.venv/bin/python train/export_onnx.py                              # models/emoji32
  train/.venv/bin/python train/export_onnx.py --model DIR --out FILE.onnx
  train/.venv/bin/python train/export_onnx.py --config benches/configs/ddpm-cifar10-32.json

--model takes a diffusers model folder (config.json + safetensors) or a pipeline folder with a
unet/ subfolder; --config builds the model from a config file with diffusers' random init
(seeded; speed does not depend on the weights). Weights are cast to float32.

The graph has inputs `sample` (float32, [batch, C, H, W]) and `timestep` (float32, [batch]) and
the output `out_sample` ([batch, C, H, W]); the batch axis is dynamic. It is made with the
legacy TorchScript exporter (`dynamo=False`). After writing it, the script runs onnxruntime's
CPU session on random inputs at two batch sizes and prints the max abs difference to torch;
it exits with status 1 if that exceeds --tol.

Default output: artifacts/onnx/<name>.onnx (artifacts/ is git-ignored: never commit it).
Needs `onnx` and `onnxruntime` in the venv (train/requirements.txt; train/setup_venv.sh).
"""
import argparse
import json
import os
import sys
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--model", help="diffusers UNet2DModel folder (default models/emoji32)")
    src.add_argument("--config", help="UNet2DModel config.json: random weights instead of a checkpoint")
    ap.add_argument("--out", help="output .onnx path (default artifacts/onnx/<name>.onnx)")
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--seed", type=int, default=0, help="random init (--config) and the check's inputs")
    ap.add_argument("--tol", type=float, default=1e-3, help="max abs diff onnxruntime vs torch allowed")
    return ap.parse_args(argv)


def need(module, what):
    try:
        return __import__(module)
    except ImportError:
        sys.exit(
            f"export_onnx.py: Python package `{what}` is missing from {sys.executable}.\n"
            f"Create or update the venv with `train/setup_venv.sh` (it installs train/requirements.txt), "
            f"or `{sys.executable} -m pip install {what}`."
        )


def load_unet(args, UNet2DModel, torch):
    if args.config:
        with open(args.config) as f:
            config = json.load(f)
        torch.manual_seed(args.seed)
        name = os.path.splitext(os.path.basename(args.config))[0]
        return UNet2DModel.from_config(config), name, f"config {args.config} (random init, seed {args.seed})"
    folder = args.model or os.path.join(ROOT, "models/emoji32")
    if not os.path.exists(os.path.join(folder, "config.json")) and os.path.exists(
        os.path.join(folder, "unet", "config.json")
    ):
        folder = os.path.join(folder, "unet")
    if not os.path.exists(os.path.join(folder, "config.json")):
        sys.exit(f"export_onnx.py: {folder} has no config.json (a diffusers UNet2DModel folder is needed)")
    name = os.path.basename(os.path.normpath(folder))
    if name == "unet":
        name = os.path.basename(os.path.dirname(os.path.normpath(folder)))
    return UNet2DModel.from_pretrained(folder), name, f"checkpoint {folder}"


def main():
    args = parse_args()
    torch = need("torch", "torch")
    need("diffusers", "diffusers")
    onnx = need("onnx", "onnx")
    ort = need("onnxruntime", "onnxruntime")
    import numpy as np
    from diffusers import UNet2DModel
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()  # not the `accelerate` hint on every load

    unet, name, source = load_unet(args, UNet2DModel, torch)
    unet = unet.float().eval()
    out = args.out or os.path.join(ROOT, "artifacts", "onnx", f"{name}.onnx")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)

    class Wrapper(torch.nn.Module):
        def __init__(self, unet):
            super().__init__()
            self.unet = unet

        def forward(self, sample, timestep):
            return self.unet(sample, timestep, return_dict=False)[0]

    c = unet.config.in_channels
    size = unet.config.sample_size
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    gen = torch.Generator().manual_seed(args.seed)
    x = torch.randn(2, c, h, w, generator=gen)
    t = torch.tensor([500.0, 20.0])
    t0 = time.perf_counter()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on diffusers' shape asserts
        torch.onnx.export(
            Wrapper(unet),
            (x, t),
            out,
            input_names=["sample", "timestep"],
            output_names=["out_sample"],
            dynamic_axes={"sample": {0: "batch"}, "timestep": {0: "batch"}, "out_sample": {0: "batch"}},
            opset_version=args.opset,
            dynamo=False,
        )
    onnx.checker.check_model(out)
    params = sum(p.numel() for p in unet.parameters())
    print(f"wrote {out} ({os.path.getsize(out) / 1e6:.1f} MB) from {source}: {params} parameters, "
          f"opset {args.opset}, {time.perf_counter() - t0:.1f} s")

    session = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
    worst = 0.0
    for batch in (1, 3):
        xb = torch.randn(batch, c, h, w, generator=gen)
        tb = torch.randint(0, 1000, (batch,), generator=gen).float()
        with torch.no_grad():
            ref = unet(xb, tb, return_dict=False)[0].numpy()
        got = session.run(["out_sample"], {"sample": xb.numpy(), "timestep": tb.numpy()})[0]
        diff = float(np.abs(got - ref).max())
        worst = max(worst, diff)
        print(f"onnxruntime {ort.__version__} (CPU) vs torch {torch.__version__}, batch {batch}: "
              f"max abs diff {diff:.3g} (output max abs {float(np.abs(ref).max()):.3g})")
    if not worst <= args.tol:
        sys.exit(f"export_onnx.py: onnxruntime differs from torch by {worst:.3g} > --tol {args.tol}")


if __name__ == "__main__":
    main()
