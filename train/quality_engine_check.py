"""The engine check of quality.py: the first K samples of a setting re-made by the engine's CLI
(`dp sample`, same seed, --batch K) and compared with the diffusers samples (max abs diff <=
ENGINE_TOL), with the setting's clipping passed as `dp sample --clip`. dp's output and timing are
cached under <out-dir>/engine/<model key>/<setting name>-seed<S>-k<K>.npy (the name holds the
clipping suffix)."""
import json
import os
import re
import shlex
import subprocess
import time

import numpy as np

from quality_common import log, save_text_atomic

ENGINE_TOL = 1e-3


def dp_command(dp, setting, seed, k, model_dir, sched_path):
    """`dp sample` for the first k samples of `setting` (without --save-npy). The clipping goes to
    dp's --clip (same names) only when the setting's name sets one, so the commands of the settings
    without a suffix stay what they were (dp's default is --clip checkpoint)."""
    cmd = [dp, "sample", "--model", model_dir, "--scheduler-config", sched_path, "--sampler", setting.sampler,
           "--steps", str(setting.steps), "--seed", str(seed), "--batch", str(k)]
    if setting.sampler == "ddim":
        cmd += ["--eta", f"{setting.eta:g}"]
    elif setting.sampler == "ddpm":
        cmd += ["--variance", setting.variance]
    if setting.clipping != "checkpoint":
        cmd += ["--clip", setting.clipping]
    return cmd


def run_dp(cmd, npy, meta_path):
    """Run `cmd --save-npy` into `npy` and save its timing and adapter to `meta_path`: returns that
    info, or {"ok": False, "error": ..., "max_abs_diff": None} when dp fails."""
    tmp = npy + ".tmp.npy"
    env = dict(os.environ)
    env.setdefault("WGPU_BACKEND", "vulkan")
    log(f"  engine: {shlex.join(cmd)} --save-npy ...")
    t0 = time.perf_counter()
    p = subprocess.run(cmd + ["--save-npy", tmp], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        return dict(ok=False, error=(p.stdout + p.stderr).strip()[-2000:], max_abs_diff=None)
    m = re.search(r"total\s+([\d.]+) ms for \d+ steps: mean ([\d.]+) ms/step", p.stdout)
    adapter = re.search(r"^adapter\s+(.*)$", p.stdout, re.M)
    info = {"dp_wall_s": wall, "dp_steps_ms_total": float(m.group(1)) if m else None,
            "dp_ms_per_step": float(m.group(2)) if m else None,
            "adapter": adapter.group(1).strip() if adapter else None}
    os.replace(tmp, npy)
    save_text_atomic(meta_path, json.dumps(info))
    return info


def engine_check(dp, seed, setting, k, model_dir, sched_path, cache_dir, ours):
    """Compare dp's first k samples of `setting` (cached in cache_dir) with `ours` (diffusers)."""
    os.makedirs(cache_dir, exist_ok=True)
    npy = os.path.join(cache_dir, f"{setting.name}-seed{seed}-k{k}.npy")
    meta_path = npy[:-4] + ".json"
    cmd = dp_command(dp, setting, seed, k, model_dir, sched_path)
    res = {"setting": setting.name, "k": k, "command": shlex.join(cmd + ["--save-npy", npy])}
    if os.path.exists(npy) and os.path.exists(meta_path):
        with open(meta_path) as f:
            res.update(json.load(f))
        res["cached"] = True
    else:
        info = run_dp(cmd, npy, meta_path)
        res.update(info)
        if info.get("ok") is False:
            return res
        res["cached"] = False
    eng = np.load(npy)
    if eng.shape != ours[:k].shape:
        res.update(ok=False, error=f"dp wrote shape {eng.shape}, expected {ours[:k].shape}", max_abs_diff=None)
        return res
    diff = np.abs(eng.astype(np.float64) - ours[:k].astype(np.float64))
    res["max_abs_diff"] = float(diff.max())
    res["mean_abs_diff"] = float(diff.mean())
    res["ok"] = bool(np.isfinite(diff).all() and diff.max() <= ENGINE_TOL)
    return res


def check_engine(dp, seed, settings, check, k, model_dir, sched_path, cache_dir, samples):
    """The engine check of every setting named in `check` (samples: name -> diffusers samples);
    logs each result and returns the list of them."""
    checks = []
    if not (k and check):
        return checks
    log(f"engine check: first {k} samples of {', '.join(check)} re-made by {dp}")
    for name in check:
        s = next(x for x in settings if x.name == name)
        r = engine_check(dp, seed, s, k, model_dir, sched_path, cache_dir, samples[name])
        checks.append(r)
        if r["ok"]:
            log(f"  ok   {name}: max |dp - diffusers| = {r['max_abs_diff']:.2e} (mean {r['mean_abs_diff']:.1e}); "
                f"dp {r.get('dp_ms_per_step') or float('nan'):.1f} ms/step at batch {k}"
                + (" (cached)" if r.get("cached") else ""))
        else:
            md = r.get("max_abs_diff")
            log(f"  FAIL {name}: " + (f"max |dp - diffusers| = {md:.2e} > {ENGINE_TOL:g}" if md is not None
                                      else r.get("error", "?")))
    return checks
