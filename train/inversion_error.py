#!/usr/bin/env python3
"""DDIM inversion reconstruction error of an exported model on held-out images.

Takes the first --num-images images of the data file's held-out split (split == 1, in file
order; the split is by base emoji, so none of them was trained on), and for each scheduler
config x steps S runs the engine's CLI

    dp invert --model DIR --scheduler-config CFG --input x0.npy --steps S --out xT.npy --reconstruct rec.npy

(inverse DDIM x_0 -> x_T, then DDIM eta 0 x_T -> x_0 with the same S), and reports the error of
the reconstruction in model units ([-1, 1]): mean |x0 - rec|, RMS and max over every pixel and
channel, plus the std of x_T (1 for a standard normal). The configs: the checkpoint's own
scheduler_config.json ("own", clip_sample true for emoji32) and the same with clip_sample false
("noclip"; a temporary copy passed with --scheduler-config).

Check: for one setting (--check-steps, own config) the first --check-images images are also
inverted and reconstructed in diffusers (DDIMInverseScheduler.from_config(cfg) and
DDIMScheduler.from_config(cfg), set_timesteps(S), eta 0) and compared with dp's x_T and
reconstruction (max abs diff <= 1e-3, else FAIL and exit status 1).

Writes <out-dir>/inversion.json and inversion.md (default: the model's card/ dir). Run from the
repository root, e.g.

    train/.venv/bin/python train/inversion_error.py --model models/emoji32
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from common import limit_threads_env, set_torch_threads  # noqa: E402

CHECK_TOL = 1e-3


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(REPO, "models", "emoji32"))
    ap.add_argument("--data", default=os.path.join(HERE, "data", "emoji32.npz"))
    ap.add_argument("--num-images", type=int, default=64, help="first N held-out images [default: 64]")
    ap.add_argument("--steps", default="50,100", help="comma list of inversion steps S [default: 50,100]")
    ap.add_argument("--dp", default=os.path.join(REPO, "target", "release", "dp"))
    ap.add_argument("--backend", default="cpu", choices=["cpu", "gpu", "reference"],
                    help="dp's --backend [default: cpu, the engine's fast CPU kernels]")
    ap.add_argument("--check-images", type=int, default=4, help="images of the diffusers check; 0 = skip [default: 4]")
    ap.add_argument("--check-steps", type=int, default=50, help="S of the diffusers check (own config) [default: 50]")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads of the check [default: 1]")
    ap.add_argument("--out-dir", default=None, help="where inversion.json/.md go [default: <model>/card]")
    return ap.parse_args(argv)


args = parse_args() if __name__ == "__main__" else None
if args is not None:
    limit_threads_env(args.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from quality_common import fmt_s, load_data, log, save_text_atomic, to_model_space  # noqa: E402


def run_dp(a, cfg_path, x0_path, steps, work):
    """dp invert with --reconstruct; returns (x_T, reconstruction, wall seconds, command)."""
    xt, rec = (os.path.join(work, f"{os.path.basename(cfg_path)[:-5]}-s{steps}-{k}.npy") for k in ("xT", "rec"))
    cmd = [a.dp, "invert", "--model", a.model, "--scheduler-config", cfg_path, "--input", x0_path,
           "--steps", str(steps), "--out", xt, "--reconstruct", rec, "--backend", a.backend]
    log(f"  {shlex.join(cmd)}")
    env = dict(os.environ)
    env.setdefault("WGPU_BACKEND", "vulkan")
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"dp invert failed:\n{(p.stdout + p.stderr).strip()[-2000:]}")
    return np.load(xt), np.load(rec), wall, cmd


def diffusers_invert(model, cfg, x0, steps):
    """x_T and the reconstruction from diffusers' DDIMInverseScheduler / DDIMScheduler loops."""
    from diffusers import DDIMInverseScheduler, DDIMScheduler

    inv = DDIMInverseScheduler.from_config(cfg)
    inv.set_timesteps(steps)
    fwd = DDIMScheduler.from_config(cfg)
    fwd.set_timesteps(steps)
    x = torch.from_numpy(x0)
    with torch.no_grad():
        for t in inv.timesteps:
            x = inv.step(model(x, t).sample, t, x).prev_sample
        xt = x.clone()
        for t in fwd.timesteps:
            x = fwd.step(model(x, t).sample, t, x, eta=0.0).prev_sample
    return xt.numpy(), x.numpy()


def render_md(o):
    L = [f"# DDIM inversion: `{os.path.basename(o['model'])}` on held-out images", "",
         "```", o["command"], "```", "",
         f"The first {o['num_images']} images of the held-out split (emoji never trained on), in [-1, 1], "
         f"inverted to x_T by `dp invert` (inverse DDIM, {o['backend']} backend) and decoded back by DDIM "
         "eta 0 with the same steps (`--reconstruct`). Errors over every pixel and channel, in [-1, 1] units "
         "(one 8-bit level is 0.0078). x_T std: 1 for a standard normal.", "",
         "| config | clip_sample | S | mean abs error | RMS | max abs error | x_T std | dp wall time |",
         "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in o["results"]:
        L.append(f"| {r['config']} | {str(r['clip_sample']).lower()} | {r['steps']} | {r['mean_abs']:.4f} | "
                 f"{r['rms']:.4f} | {r['max_abs']:.3f} | {r['xt_std']:.3f} | {fmt_s(r['dp_wall_s'])} |")
    c = o.get("check")
    L.append("")
    if c:
        L += [f"Check against diffusers (`DDIMInverseScheduler` then `DDIMScheduler`, eta 0, from the same "
              f"config; torch fp32) on the first {c['k']} images, config {c['config']}, S = {c['steps']}: "
              f"max |dp - diffusers| {c['max_abs_diff_xt']:.2e} on x_T and {c['max_abs_diff_rec']:.2e} on the "
              f"reconstruction (tolerance {c['tolerance']:g}): **{'ok' if c['ok'] else 'FAIL'}**.", ""]
    L += [f"Measured {o['time']}.", ""]
    return "\n".join(L)


def main(a):
    set_torch_threads(a.threads)
    t_start = time.perf_counter()
    a.model = os.path.relpath(os.path.abspath(a.model), os.getcwd()) if os.path.abspath(a.model).startswith(
        os.getcwd()) else a.model
    if not (os.path.isfile(a.dp) and os.access(a.dp, os.X_OK)):
        raise SystemExit(f"{a.dp} not found: build it with `cargo build --release --bin dp`")
    steps = [int(s) for s in a.steps.split(",") if s.strip()]
    out_dir = a.out_dir or os.path.join(a.model, "card")
    data = load_data(a.data)
    held = data["images"][data["split"] != 0]
    if not 1 <= a.num_images <= len(held):
        raise SystemExit(f"--num-images must be 1..{len(held)}")
    x0 = to_model_space(held[:a.num_images]).numpy().astype(np.float32)
    with open(os.path.join(a.model, "scheduler_config.json")) as f:
        own = json.load(f)
    configs = {"own": own, "noclip": dict(own, clip_sample=False)}
    results, outputs = [], {}
    with tempfile.TemporaryDirectory(prefix="inversion-") as work:
        x0_path = os.path.join(work, "x0.npy")
        np.save(x0_path, x0)
        for name, cfg in configs.items():
            cfg_path = os.path.join(work, f"{name}.json")
            with open(cfg_path, "w") as f:
                json.dump(cfg, f, indent=2)
            for s in steps:
                log(f"[{name} S={s}] {a.num_images} images")
                xt, rec, wall, cmd = run_dp(a, cfg_path, x0_path, s, work)
                d = (rec.astype(np.float64) - x0.astype(np.float64))
                r = {"config": name, "clip_sample": bool(cfg.get("clip_sample", True)), "steps": s,
                     "mean_abs": float(np.abs(d).mean()), "rms": float(np.sqrt((d ** 2).mean())),
                     "max_abs": float(np.abs(d).max()), "xt_std": float(xt.std()), "dp_wall_s": wall,
                     "dp_command": shlex.join([c if not c.startswith(work) else os.path.basename(c) for c in cmd])}
                log(f"  mean abs {r['mean_abs']:.4f}, RMS {r['rms']:.4f}, max {r['max_abs']:.3f}, x_T std "
                    f"{r['xt_std']:.3f} ({fmt_s(wall)})")
                results.append(r)
                outputs[(name, s)] = (xt, rec)
    check = None
    if a.check_images:
        from diffusers import UNet2DModel

        k = min(a.check_images, a.num_images)
        if (("own", a.check_steps)) not in outputs:
            raise SystemExit(f"--check-steps {a.check_steps} is not among --steps {a.steps}")
        log(f"diffusers check: own config, S={a.check_steps}, first {k} images")
        model = UNet2DModel.from_pretrained(a.model, low_cpu_mem_usage=False).float().eval()
        xt_ref, rec_ref = diffusers_invert(model, own, x0[:k], a.check_steps)
        xt, rec = outputs[("own", a.check_steps)]
        dx = float(np.abs(xt[:k].astype(np.float64) - xt_ref).max())
        dr = float(np.abs(rec[:k].astype(np.float64) - rec_ref).max())
        check = {"k": k, "config": "own", "steps": a.check_steps, "max_abs_diff_xt": dx, "max_abs_diff_rec": dr,
                 "tolerance": CHECK_TOL, "ok": bool(dx <= CHECK_TOL and dr <= CHECK_TOL)}
        log(f"  {'ok' if check['ok'] else 'FAIL'}: max |dp - diffusers| x_T {dx:.2e}, reconstruction {dr:.2e}")
    o = {"command": shlex.join([os.path.relpath(sys.executable, os.getcwd()) if sys.executable.startswith(os.getcwd())
                                else sys.executable] + sys.argv),
         "model": a.model, "data_sha256": data["sha256"], "num_images": a.num_images, "backend": a.backend,
         "units": "[-1, 1]", "results": results, "check": check,
         "elapsed_s": time.perf_counter() - t_start, "time": time.strftime("%Y-%m-%d %H:%M:%S %z")}
    os.makedirs(out_dir, exist_ok=True)
    save_text_atomic(os.path.join(out_dir, "inversion.json"), json.dumps(o, indent=2) + "\n")
    save_text_atomic(os.path.join(out_dir, "inversion.md"), render_md(o))
    log(f"wrote {out_dir}/inversion.md and inversion.json ({fmt_s(o['elapsed_s'])})")
    return 0 if check is None or check["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(args))
