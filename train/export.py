#!/usr/bin/env python3
"""Export the EMA weights of a training checkpoint as a diffusers model directory:

  <out>/config.json                          UNet2DModel config
  <out>/diffusion_pytorch_model.safetensors  F16 weights (from the EMA, not the raw model)
  <out>/scheduler_config.json                DDPMScheduler config (linear betas, T=1000, epsilon)
  <out>/README.md                            provenance and data licences

Then it checks that the directory loads with UNet2DModel.from_pretrained and that the F16
weights give the same noise prediction as the F32 EMA weights (within --tol, relative RMS).

With --fixture DIR (default tests/fixtures/emoji32 when --out is models/emoji32) it also writes
the agreement fixture of tests/default_model.rs: a fixed input, three timesteps and diffusers'
output for each, computed by the model exactly as reloaded from --out.

--ckpt accepts a ckpt-*.pt or ema-*.pt file, or a run dir (newest ckpt-*.pt in it).
Only export into models/emoji32 once samples from the checkpoint are recognisably good.
"""
import argparse
import datetime
import json
import os
import sys

import torch
from diffusers import DDPMScheduler, UNet2DModel
from safetensors import safe_open

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train import DEFAULT_RUN_DIR, list_checkpoints  # noqa: E402

MAX_BYTES = 8 * 1024 * 1024

LICENCE_TEXT = """\
## Training data and licences

Trained on 32x32 renderings of the emoji images of the npm packages
`emoji-datasource-twitter@16.0.0` and `emoji-datasource-google@16.0.0`
(composited on white, downsampled from 64x64):

- Twemoji graphics: Copyright Twitter/X, Inc. and other contributors, licensed under
  CC-BY 4.0 (https://creativecommons.org/licenses/by/4.0/); source https://github.com/jdecked/twemoji
- Noto Emoji graphics: Copyright Google Inc., licensed under the Apache License 2.0
  (https://www.apache.org/licenses/LICENSE-2.0); source https://github.com/googlefonts/noto-emoji

These weights are derived from those graphics; keep this attribution with them.
"""


def resolve_ckpt(path):
    if os.path.isdir(path):
        ck = list_checkpoints(path)
        if not ck:
            raise SystemExit(f"no ckpt-*.pt in {path}")
        return ck[-1][1]
    return path


def write_training_facts(out, ckpt_path, state, n_params, size):
    """<out>/card/training.json: what train/model_card.py needs to describe the training run
    (steps, wall time, hardware, hyper-parameters), taken from the checkpoint and its run dir."""
    run_dir = os.path.dirname(os.path.abspath(ckpt_path))
    starts = []  # one line per (re)start of train.py: device, threads, bf16, step range
    log = os.path.join(run_dir, "train.log")
    if os.path.exists(log):
        with open(log) as f:
            starts = [line.strip() for line in f if line.startswith("device ")]
    cpu = None
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), None)
    args = state.get("args", {})
    facts = {
        "step": state["step"],
        "elapsed_s": state.get("elapsed_s"),
        "checkpoint": os.path.basename(ckpt_path),
        "exported_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "parameters": n_params,
        "weights_bytes": size,
        "data_sha256": state.get("data_sha256"),
        "cpu_model_at_export": cpu,
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "train_starts": starts,
        # a warm start (train.py --init-from): the weights it began from; its steps are not in "step"
        "init_from": ({"model": args.get("init_from"), "weights_sha256": args.get("init_from_sha256"),
                       "step": args.get("init_from_step")} if args.get("init_from") else None),
        "hyperparameters": {k: args.get(k) for k in ("batch_size", "lr", "warmup_steps", "weight_decay",
                                                       "grad_clip", "ema_max_decay", "flip_prob", "sampling",
                                                       "seed", "amp")},
    }
    os.makedirs(os.path.join(out, "card"), exist_ok=True)
    with open(os.path.join(out, "card", "training.json"), "w") as f:
        json.dump(facts, f, indent=1)
        f.write("\n")


FIXTURE_TIMESTEPS = (0, 500, 999)


def write_fixture(folder, model, st_path, step):
    """Input, timesteps and diffusers' output for tests/default_model.rs (engine vs diffusers, 1e-3)."""
    import hashlib

    import numpy as np

    os.makedirs(folder, exist_ok=True)
    g = torch.Generator().manual_seed(1234)
    x = torch.randn(2, 3, 32, 32, generator=g)
    np.save(os.path.join(folder, "input.npy"), x.numpy().astype("<f4"))
    with torch.no_grad():
        for t in FIXTURE_TIMESTEPS:
            y = model(x, torch.full((2,), t, dtype=torch.long)).sample
            np.save(os.path.join(folder, f"expected_t{t}.npy"), y.numpy().astype("<f4"))
    with open(st_path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    with open(os.path.join(folder, "meta.json"), "w") as f:
        json.dump({"timesteps": list(FIXTURE_TIMESTEPS), "weights_sha256": digest, "step": step,
                   "made_by": "train/export.py (diffusers UNet2DModel.from_pretrained, float32)"}, f, indent=1)
        f.write("\n")
    print(f"wrote agreement fixture {folder} (t = {FIXTURE_TIMESTEPS})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", default=DEFAULT_RUN_DIR, help="checkpoint file or run dir (default: %(default)s)")
    ap.add_argument("--out", required=True, help="output directory, e.g. models/emoji32")
    ap.add_argument("--tol", type=float, default=1e-2, help="max relative RMS difference F16 vs F32 output")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--fixture", default=None,
                    help="write the engine-agreement fixture here (default: tests/fixtures/emoji32 "
                    "when --out is models/emoji32, otherwise none)")
    a = ap.parse_args()
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if a.fixture is None and os.path.abspath(a.out) == os.path.join(repo, "models", "emoji32"):
        a.fixture = os.path.join(repo, "tests", "fixtures", "emoji32")
    torch.set_num_threads(a.threads)

    path = resolve_ckpt(a.ckpt)
    state = torch.load(path, map_location="cpu", weights_only=False)
    step = state["step"]
    config = state["unet_config"]
    print(f"{path}: step {step}")

    ema32 = UNet2DModel(**config)
    ema32.load_state_dict(state["ema"])
    ema32.eval()
    n_params = sum(p.numel() for p in ema32.parameters())

    os.makedirs(a.out, exist_ok=True)
    ema16 = UNet2DModel(**config)
    ema16.load_state_dict(state["ema"])
    ema16 = ema16.half().eval()
    ema16.save_pretrained(a.out, safe_serialization=True)
    sched = DDPMScheduler(**state["scheduler_config"])
    sched.save_pretrained(a.out)

    st_path = os.path.join(a.out, "diffusion_pytorch_model.safetensors")
    for name in os.listdir(a.out):
        os.chmod(os.path.join(a.out, name), 0o644)
    size = os.path.getsize(st_path)
    with safe_open(st_path, "pt") as f:
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
        n_tensors = len(list(f.keys()))
    print(f"wrote {a.out}: {n_params} params ({n_params / 1e6:.3f} M), {n_tensors} tensors, dtypes {sorted(dtypes)}, "
          f"{size} bytes ({size / 2**20:.2f} MiB)")
    ok = True
    if dtypes != {"F16"}:
        print("FAIL: safetensors holds non-F16 tensors")
        ok = False
    if size > MAX_BYTES:
        print(f"FAIL: {size} bytes > {MAX_BYTES}")
        ok = False

    with open(os.path.join(a.out, "README.md"), "w") as f:  # model card: provenance + attribution
        f.write(f"""# emoji32: unconditional 32x32 emoji DDPM (diffusers UNet2DModel)

- weights: EMA of training step {step}, stored as F16 ({n_params} parameters)
- exported {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} from `{os.path.basename(path)}`
  by `train/export.py`; dataset sha256 `{state.get('data_sha256')}`
- scheduler: DDPMScheduler, linear betas 1e-4..0.02, T=1000, epsilon prediction
- images are RGB in [-1, 1] (white background)

{LICENCE_TEXT}""")

    # ---- checks
    loaded = UNet2DModel.from_pretrained(a.out, low_cpu_mem_usage=False)  # loads the F16 file (upcast to the default F32 dtype)
    loaded.eval()
    loaded_dtype = next(loaded.parameters()).dtype
    for k, v in loaded.state_dict().items():
        if not torch.equal(v.float(), ema16.state_dict()[k].float()):
            print(f"FAIL: reloaded tensor {k} differs")
            ok = False
            break
    if loaded.config.block_out_channels != tuple(config["block_out_channels"]) and \
            list(loaded.config.block_out_channels) != list(config["block_out_channels"]):
        print("FAIL: reloaded config differs")
        ok = False
    sched2 = DDPMScheduler.from_pretrained(a.out)
    assert sched2.config.num_train_timesteps == 1000 and sched2.config.prediction_type == "epsilon"

    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 3, 32, 32, generator=g)
    worst = 0.0
    with torch.no_grad():
        for t in (0, 10, 100, 250, 500, 750, 999):
            tt = torch.full((8,), t, dtype=torch.long)
            y32 = ema32(x, tt).sample
            y16 = loaded.float()(x, tt).sample  # F16-rounded weights, F32 arithmetic
            rel = ((y16 - y32).pow(2).mean().sqrt() / y32.pow(2).mean().sqrt()).item()
            mx = (y16 - y32).abs().max().item()
            worst = max(worst, rel)
            print(f"  t={t:4d}: F16-weights vs F32 EMA: rel RMS {rel:.2e}, max abs {mx:.2e}")
    print(f"from_pretrained dtype {loaded_dtype}; worst rel RMS {worst:.2e} (tol {a.tol:.0e})")
    if worst > a.tol:
        print("FAIL: F16 output differs too much")
        ok = False
    if ok and a.fixture:
        write_fixture(a.fixture, loaded.float(), st_path, step)
    if ok:
        write_training_facts(a.out, path, state, n_params, size)
    print("OK" if ok else "EXPORT CHECK FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
