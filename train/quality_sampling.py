"""Sampling for quality.py: diffusers (torch fp32, fast on the CPU) from the engine's own noise
(train/engine_rng.py: x_T and every step's noise), so that sample k is exactly image k of
`dp sample --seed S --batch B` for any B >= k+1; and the per-setting chunk store that makes an
interrupted run continue where it stopped (<root>/<setting>/<lo>-<hi>.npy + .json)."""
import contextlib
import json
import os
import re
import time

import numpy as np
import torch

import engine_rng
from quality_common import fmt_s, log, save_npy_atomic, save_text_atomic


@contextlib.contextmanager
def ddpm_noise_injection():
    """Replace scheduling_ddpm's randn_tensor by a queue: each DDPMScheduler.step that adds
    noise must take exactly the tensor put in `box['next']` (checked by shape, counted)."""
    import diffusers.schedulers.scheduling_ddpm as mod

    box = {"next": None, "calls": 0}
    orig = mod.randn_tensor

    def fake(shape, generator=None, device=None, dtype=None, layout=None):
        t = box["next"]
        if t is None:
            raise RuntimeError("DDPMScheduler.step asked for noise but none was prepared")
        if tuple(shape) != tuple(t.shape):
            raise RuntimeError(f"DDPMScheduler.step asked for noise of shape {tuple(shape)}, prepared {tuple(t.shape)}")
        box["next"] = None
        box["calls"] += 1
        return t.to(device=device, dtype=dtype)

    mod.randn_tensor = fake
    try:
        yield box
    finally:
        mod.randn_tensor = orig


def sample_chunk(model, sched_cfg, setting, seed, lo, hi, progress=None):
    """Samples lo..hi (engine sample indices) of `setting`: float32 (hi-lo, 3, 32, 32),
    exactly (up to float rounding) images lo..hi-1 of `dp sample --seed seed --batch >= hi`
    (with --clip setting.clipping)."""
    from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

    n = hi - lo
    c, h, w = 3, model.config.sample_size, model.config.sample_size
    length = c * h * w
    dev = next(model.parameters()).device  # the noise is drawn on the CPU (the engine's stream), then moved
    x = torch.from_numpy(engine_rng.initial_noise(seed, n, length, first_sample=lo).reshape(n, c, h, w)).to(dev)
    # the setting's clipping: clip_sample overridden unless it is the config's own (no name suffix)
    overrides = setting.scheduler_overrides
    if setting.sampler == "ddim":
        sched = DDIMScheduler.from_config(sched_cfg, **overrides)
    elif setting.sampler == "dpmpp2m":
        # the class's defaults for what the config does not set (dpmsolver++, order 2,
        # lower_order_final, final sigma 0); deterministic, so no step noise is drawn. It has no
        # clip_sample (parse_setting refuses a clipping suffix for it).
        if overrides:
            raise ValueError(f"{setting.name}: DPM-Solver++ takes no clipping")
        sched = DPMSolverMultistepScheduler.from_config(sched_cfg)
    else:
        if setting.use_clipped_model_output:
            raise ValueError(f"{setting.name}: use_clipped_model_output is DDIM's")
        sched = DDPMScheduler.from_config(sched_cfg, variance_type=setting.variance, **overrides)
    sched.set_timesteps(setting.steps)
    timesteps = list(sched.timesteps)
    assert len(timesteps) == setting.steps
    ctx = ddpm_noise_injection() if setting.sampler == "ddpm" else contextlib.nullcontext()
    expected_calls = 0
    with ctx as box, torch.no_grad():
        for i, t in enumerate(timesteps):
            eps = model(x, t).sample
            # Step i (0 = first step taken) draws the engine's stream purpose 1 + i. The engine
            # draws it only when the step's noise coefficient is non-zero; diffusers draws when
            # eta > 0 (DDIM) or t > 0 (DDPM). Where they differ (DDIM's last step with
            # set_alpha_to_one: std = 0) the noise is multiplied by 0, so the streams never shift.
            if setting.sampler == "dpmpp2m":
                x = sched.step(eps, t, x).prev_sample
            elif setting.sampler == "ddim":
                noise = None
                if setting.eta > 0:
                    noise = torch.from_numpy(engine_rng.step_noise(seed, i, n, length, first_sample=lo)
                                             .reshape(n, c, h, w)).to(dev)
                x = sched.step(eps, t, x, eta=setting.eta, variance_noise=noise,
                               use_clipped_model_output=setting.use_clipped_model_output).prev_sample
            else:
                if int(t) > 0:
                    box["next"] = torch.from_numpy(engine_rng.step_noise(seed, i, n, length, first_sample=lo)
                                                   .reshape(n, c, h, w)).to(dev)
                    expected_calls += 1
                x = sched.step(eps, t, x).prev_sample
                if box["next"] is not None:
                    raise RuntimeError(f"DDPM step {i} (t={int(t)}) did not use the prepared engine noise")
            if progress:
                progress(i + 1, len(timesteps))
        if setting.sampler == "ddpm" and box["calls"] != expected_calls:
            raise RuntimeError(f"DDPM used {box['calls']} noise tensors, expected {expected_calls}")
    return x.cpu().numpy().astype(np.float32)


class SampleCache:
    """<root>/<setting>/<lo>-<hi>.npy (+ .json with the wall time) per completed chunk. The
    directory is the setting's name, which holds everything that changes the samples but the model
    and seed (those are in <root>): sampler, steps, eta or variance, and the clipping suffix."""

    def __init__(self, root, setting):
        self.dir = os.path.join(root, setting.name)
        os.makedirs(self.dir, exist_ok=True)

    def chunks(self):
        out = []
        for f in os.listdir(self.dir):
            m = re.fullmatch(r"(\d+)-(\d+)\.npy", f)
            if m:
                out.append((int(m.group(1)), int(m.group(2)), os.path.join(self.dir, f)))
        return sorted(out)

    def missing(self, n):
        have = np.zeros(n, bool)
        for lo, hi, _ in self.chunks():
            have[lo:min(hi, n)] = True
        ranges, i = [], 0
        while i < n:
            if have[i]:
                i += 1
                continue
            j = i
            while j < n and not have[j]:
                j += 1
            ranges.append((i, j))
            i = j
        return ranges

    def load(self, n):
        x = np.full((n, 3, 32, 32), np.nan, np.float32)
        secs = 0.0
        sample_steps = 0
        for lo, hi, path in self.chunks():
            if lo >= n:
                continue
            a = np.load(path)
            x[lo:min(hi, n)] = a[:min(hi, n) - lo]
            meta = path[:-4] + ".json"
            if os.path.exists(meta):
                with open(meta) as f:
                    m = json.load(f)
                frac = (min(hi, n) - lo) / (hi - lo)
                secs += m["seconds"] * frac
                sample_steps += m["samples"] * m["steps"] * frac
        if np.isnan(x).any():
            raise RuntimeError(f"{self.dir}: samples missing")
        return x, secs, sample_steps

    def save(self, lo, hi, x, meta):
        base = os.path.join(self.dir, f"{lo:05d}-{hi:05d}")
        save_npy_atomic(base + ".npy", x)
        save_text_atomic(base + ".json", json.dumps(meta))


def describe(s):
    """', eta E' (DDIM), ', <variance>' (DDPM) or '' (DPM-Solver++), and the clipping when the name
    sets one, for the log."""
    return ({"ddim": f", eta {s.eta:g}", "ddpm": f", {s.variance}"}.get(s.sampler, "")
            + ("" if s.clipping == "checkpoint" else f", clipping {s.clipping}"))


def sample_settings(model, sched_cfg, settings, caches, num_samples, seed, batch):
    """Sample what `caches` lack of the first `num_samples` of every setting, in chunks of
    `batch`, saving each chunk as it completes; logs progress and ETAs."""
    todo = {s.name: caches[s.name].missing(num_samples) for s in settings}
    remaining = {s.name: sum(hi - lo for lo, hi in todo[s.name]) * s.steps for s in settings}
    cost = {"s": 0.0, "ss": 0}   # measured seconds per sample-step in this run (for ETAs)
    for s in settings:
        if not todo[s.name]:
            continue
        log(f"[{s.name}] sampling {remaining[s.name] // s.steps} of {num_samples} samples "
            f"({s.steps} steps{describe(s)})")
        t_set = time.perf_counter()
        for lo0, hi0 in todo[s.name]:
            for lo in range(lo0, hi0, batch):
                hi = min(lo + batch, hi0)
                t0 = time.perf_counter()
                every = max(1, s.steps // 10) if s.steps * (hi - lo) >= 2000 else 0

                def progress(i, n, lo=lo, hi=hi, t0=t0, every=every):
                    if every and i % every == 0 and i < n:
                        el = time.perf_counter() - t0
                        log(f"    {s.name} samples {lo}-{hi}: step {i}/{n}, {el / i:.2f} s/step, "
                            f"chunk ETA {fmt_s(el / i * (n - i))}")

                x = sample_chunk(model, sched_cfg, s, seed, lo, hi, progress)
                secs = time.perf_counter() - t0
                caches[s.name].save(lo, hi, x, {"seconds": secs, "samples": hi - lo, "steps": s.steps,
                                                "threads": torch.get_num_threads(),
                                                "device": str(next(model.parameters()).device)})
                ss = (hi - lo) * s.steps
                cost["s"] += secs
                cost["ss"] += ss
                remaining[s.name] -= ss
                per = cost["s"] / cost["ss"]
                left_set = remaining[s.name] * per
                left_all = sum(remaining.values()) * per
                log(f"  [{s.name}] samples {lo}-{hi} in {fmt_s(secs)} ({secs / s.steps:.3f} s/step at batch "
                    f"{hi - lo}, {per * 100:.3f} s per step per 100 samples); setting ETA {fmt_s(left_set)}, "
                    f"all settings ETA {fmt_s(left_all)}")
        log(f"[{s.name}] done in {fmt_s(time.perf_counter() - t_set)}")
