#!/usr/bin/env python3
"""Sample quality of an exported model: our version of the DDIM paper's Table 1.

Measures, on the emoji32 data:

* a Fréchet distance (FD) between generated samples and the held-out split, on the 128
  penultimate features of a small CNN classifier trained here on the emoji categories (training
  split only; cached in the output dir, keyed by the data file's sha256);
* the floor: FD(num_samples random training images vs the held-out split);
* DDPM with 1000 steps with both variances (beta_t = fixed_large, posterior beta~_t =
  fixed_small), and DDIM with S in {10, 20, 50, 100} steps x eta in {0, 0.5, 1}; every setting
  uses the same number of samples (--num-samples, >= 500 for the real table);
* nearest training images (pixel space, flips included) of a few samples of the best DDIM
  setting and of the DDPM ones, against the held-out split's own nearest-training distances;
* that our engine (`dp sample`) gives the same images: sampling runs in diffusers (fast on
  the CPU), but from the engine's own noise (train/engine_rng.py: x_T and every step's noise), so
  sample k is exactly what `dp sample --seed S --batch B` produces as image k for any B >= k+1;
  the first --check-engine samples of each checked setting are re-made by dp and compared
  (max abs diff <= 1e-3, else FAIL and exit status 1).

Settings: ddpm<N>-beta, ddpm<N>-posterior, ddim<N>-eta<E> (N steps, E in [0, 1]); the default
is the 14 of the table. Samples are cached per setting as float32 chunks in
<out-dir>/samples/<model hash>-seed<seed>/<setting>/ as they complete, so an interrupted run
continues where it stopped (and a larger --num-samples extends the cache).

Writes <out-dir>/results.json, results.md, settings_grid.png, nn_<setting>.png.
Run from the repository root, e.g.

    train/.venv/bin/python train/quality.py --model models/emoji32
"""
import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

DEFAULT_SETTINGS = (["ddpm1000-beta", "ddpm1000-posterior"]
                    + [f"ddim{s}-eta{e}" for s in (10, 20, 50, 100) for e in ("0", "0.5", "1")])
ENGINE_TOL = 1e-3
BOOTSTRAP = 50  # resamples behind each FD's sd
SETTINGS_GRID_COLS = 10  # samples per row of settings_grid.png


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(REPO, "models", "emoji32"),
                    help="exported diffusers dir (config.json, scheduler_config.json, "
                    "diffusion_pytorch_model.safetensors) [default: models/emoji32]")
    ap.add_argument("--data", default=os.path.join(HERE, "data", "emoji32.npz"))
    ap.add_argument("--out-dir", default=None,
                    help="results and caches [default: ~/.cache/diffusion-playground/quality/<model dir name>]")
    ap.add_argument("--num-samples", type=int, default=500, help="samples per setting (and training images "
                    "of the floor) [default: 500]")
    ap.add_argument("--seed", type=int, default=0, help="engine seed of x_T and the step noise [default: 0]")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads [default: 2]")
    ap.add_argument("--batch", type=int, default=100, help="diffusers sampling chunk size [default: 100]")
    ap.add_argument("--settings", default=",".join(DEFAULT_SETTINGS),
                    help="comma list of ddpm<N>-beta|posterior and ddim<N>-eta<E> [default: the 14 of the table]")
    ap.add_argument("--check-engine", type=int, default=4, metavar="K",
                    help="samples per checked setting re-made by dp and compared; 0 = skip [default: 4]")
    ap.add_argument("--check-settings", default="all",
                    help="comma list of settings (from --settings) that get the engine check, 'all' or 'none' "
                    "[default: all]")
    ap.add_argument("--dp", default=os.path.join(REPO, "target", "release", "dp"), help="the engine's CLI "
                    "[default: target/release/dp]")
    ap.add_argument("--nn-samples", type=int, default=8, help="samples shown in the nearest-neighbour "
                    "table/PNG per setting [default: 8]")
    ap.add_argument("--classifier-epochs", type=int, default=10, help=argparse.SUPPRESS)
    ap.add_argument("--render-only", action="store_true", help="rewrite results.md from the out dir's "
                    "results.json (after a change to the report's wording) and exit")
    return ap.parse_args(argv)


args = parse_args() if __name__ == "__main__" else None
if args is not None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(args.threads)

import contextlib  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, HERE)
import engine_rng  # noqa: E402
from train import sha256_file  # noqa: E402

CLASSIFIER_SPEC = "cnn-32-64-128.128-fc128-v2"


def log(msg=""):
    print(msg, flush=True)


def fmt_s(s):
    s = float(s)
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.2f} h"


def save_npy_atomic(path, arr):
    tmp = path + ".tmp.npy"
    np.save(tmp, arr)
    os.replace(tmp, path)


def save_text_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------- settings

@dataclass(frozen=True)
class Setting:
    name: str
    sampler: str          # "ddpm" | "ddim"
    steps: int
    eta: float = 0.0      # DDIM
    variance: str = ""    # DDPM: "fixed_large" (beta_t) | "fixed_small" (posterior beta~_t)

    @property
    def stochastic(self):
        return self.sampler == "ddpm" or self.eta > 0


_SETTING_RE = re.compile(r"^(?:ddpm(\d+)-(beta|posterior)|ddim(\d+)-eta([0-9]*\.?[0-9]+))$")


def parse_setting(text, num_train_timesteps):
    m = _SETTING_RE.match(text.strip())
    if not m:
        raise SystemExit(f"bad setting {text!r}: use ddpm<N>-beta, ddpm<N>-posterior or ddim<N>-eta<E> "
                         f"(e.g. ddpm1000-posterior, ddim50-eta0.5)")
    steps = int(m.group(1) or m.group(3))
    if not 1 <= steps <= num_train_timesteps:
        raise SystemExit(f"bad setting {text!r}: steps must be 1..{num_train_timesteps}")
    if m.group(1):
        var = {"beta": "fixed_large", "posterior": "fixed_small"}[m.group(2)]
        return Setting(f"ddpm{steps}-{m.group(2)}", "ddpm", steps, variance=var)
    eta = float(m.group(4))
    if not 0.0 <= eta <= 1.0:
        raise SystemExit(f"bad setting {text!r}: eta must be in [0, 1]")
    return Setting(f"ddim{steps}-eta{eta:g}", "ddim", steps, eta=eta)


def parse_settings(text, num_train_timesteps):
    out = []
    for part in text.split(","):
        if part.strip():
            s = parse_setting(part, num_train_timesteps)
            if s not in out:
                out.append(s)
    if not out:
        raise SystemExit("--settings is empty")
    return out


# ---------------------------------------------------------------- data

def load_data(path):
    if not os.path.exists(path):
        raise SystemExit(f"data file {path} not found: run `train/.venv/bin/python train/build_dataset.py` first")
    d = np.load(path)
    need = {"images", "category", "category_names", "split"}
    if not need <= set(d.files):
        raise SystemExit(f"{path} lacks arrays {sorted(need - set(d.files))}: rebuild it with train/build_dataset.py")
    data = {k: d[k] for k in d.files}
    data["sha256"] = sha256_file(path)
    return data


def to_model_space(images_u8):
    """(N,32,32,3) uint8 -> (N,3,32,32) float32 in [-1, 1]."""
    return torch.from_numpy(images_u8).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def to_unit(x):
    """(N,3,H,W) float in [-1,1] (clipped) -> (N,H,W,3) float64 in [0,1]."""
    x = np.clip(np.asarray(x, dtype=np.float64), -1.0, 1.0)
    return (x.transpose(0, 2, 3, 1) + 1.0) / 2.0


def to_u8(x):
    """(N,3,H,W) float in [-1,1] -> (N,H,W,3) uint8 as diffusers' pipelines round."""
    return np.round(to_unit(x) * 255.0).astype(np.uint8)


def full_frame_fraction(u8, ring=3, white=235):
    """Fraction of images (N,H,W,3 uint8) whose outer `ring` pixels are less than half white
    (every channel >= `white`): full-frame tiles (keycaps, signs, flags) rather than an object
    on the white background. A distribution check the FD does not spell out."""
    m = np.ones(u8.shape[1:3], bool)
    m[ring:-ring, ring:-ring] = False
    border_white = (u8[:, m, :].min(-1) >= white).mean(1)
    return float((border_white < 0.5).mean())


# ---------------------------------------------------------------- classifier / features

class Classifier(nn.Module):
    def __init__(self, n_classes, feat=128):
        super().__init__()

        def block(i, o):
            return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]

        self.body = nn.Sequential(
            *block(3, 32), nn.MaxPool2d(2),                      # 32x32 -> 16x16
            *block(32, 64), nn.MaxPool2d(2),                     # 16x16 -> 8x8
            *block(64, 128), *block(128, 128), nn.MaxPool2d(2),  # 8x8 -> 4x4
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Sequential(nn.Linear(128, feat), nn.ReLU(inplace=True))
        self.head = nn.Linear(feat, n_classes)

    def features(self, x):
        return self.fc(self.body(x))

    def forward(self, x):
        return self.head(self.features(x))


def evaluate_classifier(net, x, y, n_classes):
    net.eval()
    with torch.no_grad():
        pred = torch.cat([net(x[i:i + 500]).argmax(1) for i in range(0, len(x), 500)]).numpy()
    y = np.asarray(y)
    acc = float((pred == y).mean())
    recalls = [float((pred[y == c] == c).mean()) for c in range(n_classes) if (y == c).any()]
    return acc, float(np.mean(recalls))


def get_classifier(data, out_dir, epochs, seed=0):
    path = os.path.join(out_dir, "classifier.pt")
    names = [str(n) for n in data["category_names"]]
    n_classes = len(names)
    if os.path.exists(path):
        ck = torch.load(path, map_location="cpu", weights_only=False)
        if ck.get("data_sha256") == data["sha256"] and ck.get("spec") == CLASSIFIER_SPEC and ck.get("epochs") == epochs:
            net = Classifier(n_classes)
            net.load_state_dict(ck["state_dict"])
            net.eval()
            info = {k: ck[k] for k in ("accuracy", "balanced_accuracy", "train_seconds", "epochs", "spec",
                                       "threads")}
            info["cached"] = True
            log(f"classifier: cached {path} (held-out accuracy {ck['accuracy']:.3f}, balanced "
                f"{ck['balanced_accuracy']:.3f}; trained in {fmt_s(ck['train_seconds'])})")
            return net, info
        log(f"classifier: {path} is for another data file or spec; retraining")

    train = data["split"] == 0
    x = to_model_space(data["images"][train])
    y = torch.from_numpy(data["category"][train].astype(np.int64))
    xh = to_model_space(data["images"][~train])
    yh = data["category"][~train].astype(np.int64)
    counts = np.bincount(y.numpy(), minlength=n_classes).astype(np.float64)
    # 60% of the training images are "People & Body" (skin tones): weight the loss by
    # 1/sqrt(class count) so the features also separate the small categories.
    w = np.where(counts > 0, 1.0 / np.sqrt(np.maximum(counts, 1)), 0.0)
    w = torch.from_numpy(w / (w * counts).sum() * counts.sum()).float()

    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    net = Classifier(n_classes)
    bs = 128
    steps_per_epoch = (len(x) + bs - 1) // bs
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=epochs * steps_per_epoch,
                                                pct_start=0.15)
    log(f"classifier: training {CLASSIFIER_SPEC} on {len(x)} training images, {epochs} epochs "
        f"(horizontal flips, seed {seed})")
    t0 = time.perf_counter()
    for ep in range(epochs):
        net.train()
        perm = torch.randperm(len(x), generator=g)
        tot = 0.0
        for i in range(0, len(x), bs):
            idx = perm[i:i + bs]
            xb = x[idx]
            flip = torch.rand(len(idx), generator=g) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            loss = F.cross_entropy(net(xb), y[idx], weight=w)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(idx)
        acc, bal = evaluate_classifier(net, xh, yh, n_classes)
        log(f"  epoch {ep + 1}/{epochs}: loss {tot / len(x):.4f}, held-out accuracy {acc:.3f} "
            f"(balanced {bal:.3f}), {fmt_s(time.perf_counter() - t0)}")
    secs = time.perf_counter() - t0
    acc, bal = evaluate_classifier(net, xh, yh, n_classes)
    net.eval()
    info = dict(accuracy=acc, balanced_accuracy=bal, train_seconds=secs, epochs=epochs, spec=CLASSIFIER_SPEC,
                threads=torch.get_num_threads())
    torch.save(dict(state_dict=net.state_dict(), data_sha256=data["sha256"], category_names=names, **info), path)
    info["cached"] = False
    log(f"classifier: held-out accuracy {acc:.3f} (balanced {bal:.3f}), trained in {fmt_s(secs)} -> {path}")
    return net, info


def features(net, x):
    """Penultimate features of (N,3,32,32) float in [-1,1] (clipped here) -> (N,128) float64."""
    x = torch.as_tensor(np.clip(np.asarray(x, dtype=np.float32), -1.0, 1.0))
    with torch.no_grad():
        return torch.cat([net.features(x[i:i + 500]) for i in range(0, len(x), 500)]).double().numpy()


def frechet_distance(f1, f2):
    """FD between Gaussians fitted to two feature sets (rows = samples), numpy float64 only:
    |mu1-mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1^½ S2 S1^½)^½)."""
    f1 = np.asarray(f1, np.float64)
    f2 = np.asarray(f2, np.float64)
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    w, v = np.linalg.eigh(s1)
    s1h = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = s1h @ s2 @ s1h
    ev = np.linalg.eigvalsh((m + m.T) / 2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(ev, 0, None)).sum())


def bootstrap_sd(f, f_ref, n_boot=BOOTSTRAP, seed=0):
    """Standard deviation of FD(f resampled with replacement, f_ref): how much the FD of this
    many samples moves from draw to draw, so that differences below ~2 sd read as noise."""
    rng = np.random.default_rng(seed)
    return float(np.std([frechet_distance(f[rng.integers(0, len(f), len(f))], f_ref) for _ in range(n_boot)],
                        ddof=1))


# ---------------------------------------------------------------- sampling (diffusers, engine noise)

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
    exactly (up to float rounding) images lo..hi-1 of `dp sample --seed seed --batch >= hi`."""
    from diffusers import DDIMScheduler, DDPMScheduler

    n = hi - lo
    c, h, w = 3, model.config.sample_size, model.config.sample_size
    length = c * h * w
    x = torch.from_numpy(engine_rng.initial_noise(seed, n, length, first_sample=lo).reshape(n, c, h, w))
    if setting.sampler == "ddim":
        sched = DDIMScheduler.from_config(sched_cfg)
    else:
        sched = DDPMScheduler.from_config(sched_cfg, variance_type=setting.variance)
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
            if setting.sampler == "ddim":
                noise = None
                if setting.eta > 0:
                    noise = torch.from_numpy(engine_rng.step_noise(seed, i, n, length, first_sample=lo)
                                             .reshape(n, c, h, w))
                x = sched.step(eps, t, x, eta=setting.eta, variance_noise=noise).prev_sample
            else:
                if int(t) > 0:
                    box["next"] = torch.from_numpy(engine_rng.step_noise(seed, i, n, length, first_sample=lo)
                                                   .reshape(n, c, h, w))
                    expected_calls += 1
                x = sched.step(eps, t, x).prev_sample
                if box["next"] is not None:
                    raise RuntimeError(f"DDPM step {i} (t={int(t)}) did not use the prepared engine noise")
            if progress:
                progress(i + 1, len(timesteps))
        if setting.sampler == "ddpm" and box["calls"] != expected_calls:
            raise RuntimeError(f"DDPM used {box['calls']} noise tensors, expected {expected_calls}")
    return x.numpy().astype(np.float32)


class SampleCache:
    """<root>/<setting>/<lo>-<hi>.npy (+ .json with the wall time) per completed chunk."""

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


# ---------------------------------------------------------------- engine check

def engine_check(a, setting, k, model_dir, sched_path, cache_dir, ours):
    os.makedirs(cache_dir, exist_ok=True)
    npy = os.path.join(cache_dir, f"{setting.name}-seed{a.seed}-k{k}.npy")
    meta_path = npy[:-4] + ".json"
    cmd = [a.dp, "sample", "--model", model_dir, "--scheduler-config", sched_path, "--sampler", setting.sampler,
           "--steps", str(setting.steps), "--seed", str(a.seed), "--batch", str(k)]
    if setting.sampler == "ddim":
        cmd += ["--eta", f"{setting.eta:g}"]
    else:
        cmd += ["--variance", setting.variance]
    res = {"setting": setting.name, "k": k, "command": shlex.join(cmd + ["--save-npy", npy])}
    if os.path.exists(npy) and os.path.exists(meta_path):
        with open(meta_path) as f:
            res.update(json.load(f))
        res["cached"] = True
    else:
        tmp = npy + ".tmp.npy"
        env = dict(os.environ)
        env.setdefault("WGPU_BACKEND", "vulkan")
        log(f"  engine: {shlex.join(cmd)} --save-npy ...")
        t0 = time.perf_counter()
        p = subprocess.run(cmd + ["--save-npy", tmp], capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            res.update(ok=False, error=(p.stdout + p.stderr).strip()[-2000:], max_abs_diff=None)
            return res
        m = re.search(r"total\s+([\d.]+) ms for \d+ steps: mean ([\d.]+) ms/step", p.stdout)
        adapter = re.search(r"^adapter\s+(.*)$", p.stdout, re.M)
        info = {"dp_wall_s": wall, "dp_steps_ms_total": float(m.group(1)) if m else None,
                "dp_ms_per_step": float(m.group(2)) if m else None,
                "adapter": adapter.group(1).strip() if adapter else None}
        os.replace(tmp, npy)
        save_text_atomic(meta_path, json.dumps(info))
        res.update(info)
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


# ---------------------------------------------------------------- nearest neighbours

def sq_norms(x):
    return (x * x).sum(1)


def nearest(queries, refs, ref_norms):
    """Per-pixel RMS distance of each query row to its nearest ref row (float64), and its index."""
    best_d = np.full(len(queries), np.inf)
    best_i = np.zeros(len(queries), np.int64)
    qn = sq_norms(queries)
    for i in range(0, len(refs), 2048):
        r = refs[i:i + 2048]
        d2 = qn[:, None] + ref_norms[None, i:i + 2048] - 2.0 * queries @ r.T
        j = d2.argmin(1)
        v = d2[np.arange(len(queries)), j]
        better = v < best_d
        best_d[better] = v[better]
        best_i[better] = j[better] + i
    # exact distance for the winner (the expansion above loses digits)
    exact = np.sqrt(((queries - refs[best_i]) ** 2).mean(1))
    return exact, best_i


def save_grid(path, rows, scale=3, pad=1):
    """rows: list of lists of (H,W,3) uint8 images -> one PNG, gray separators, nearest upscaling."""
    h, w = rows[0][0].shape[:2]
    ncol = max(len(r) for r in rows)
    grid = np.full((len(rows) * (h + pad) + pad, ncol * (w + pad) + pad, 3), 128, np.uint8)
    for r, row in enumerate(rows):
        for c, im in enumerate(row):
            y, x = pad + r * (h + pad), pad + c * (w + pad)
            grid[y:y + h, x:x + w] = im
    Image.fromarray(grid).resize((grid.shape[1] * scale, grid.shape[0] * scale), Image.NEAREST).save(path)


# ---------------------------------------------------------------- main

def default_out_dir(a, model_dir):
    return os.path.abspath(os.path.expanduser(a.out_dir or os.path.join(
        "~", ".cache", "diffusion-playground", "quality", os.path.basename(model_dir.rstrip("/")))))


def main(a):
    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    t_start = time.perf_counter()
    command = shlex.join([os.path.relpath(sys.executable, os.getcwd()) if sys.executable.startswith(os.getcwd())
                          else sys.executable] + sys.argv)

    # ---- inputs
    model_dir = os.path.abspath(a.model)
    if a.render_only:
        out_dir = default_out_dir(a, model_dir)
        src = os.path.join(out_dir, "results.json")
        if not os.path.exists(src):
            raise SystemExit(f"{src} is missing: run train/quality.py without --render-only first")
        with open(src) as f:
            save_text_atomic(os.path.join(out_dir, "results.md"), render_md(json.load(f)))
        log(f"wrote {os.path.join(out_dir, 'results.md')} from {src}")
        return 0
    need = ["config.json", "scheduler_config.json", "diffusion_pytorch_model.safetensors"]
    if not os.path.isdir(model_dir):
        raise SystemExit(f"model dir {a.model} not found: export one with train/export.py "
                         f"(--out {a.model}) or pass --model DIR")
    missing = [f for f in need if not os.path.exists(os.path.join(model_dir, f))]
    if missing:
        raise SystemExit(f"model dir {a.model} lacks {', '.join(missing)}: pass an exported diffusers dir "
                         f"(train/export.py writes one)")
    sched_path = os.path.join(model_dir, "scheduler_config.json")
    with open(sched_path) as f:
        sched_cfg = json.load(f)
    t_total = int(sched_cfg.get("num_train_timesteps", 1000))
    settings = parse_settings(a.settings, t_total)
    names = [s.name for s in settings]
    if a.check_settings.strip() == "all":
        check = list(names)
    elif a.check_settings.strip() in ("", "none"):
        check = []
    else:
        check = [s.name for s in parse_settings(a.check_settings, t_total)]
        bad = [c for c in check if c not in names]
        if bad:
            raise SystemExit(f"--check-settings {', '.join(bad)} not in --settings ({', '.join(names)})")
    if a.check_engine < 0 or a.num_samples < 2 or a.batch < 1:
        raise SystemExit("--check-engine must be >= 0, --num-samples >= 2, --batch >= 1")
    k_check = min(a.check_engine, a.num_samples)
    if k_check and check:
        if not (os.path.isfile(a.dp) and os.access(a.dp, os.X_OK)):
            raise SystemExit(f"engine CLI {a.dp} not found: build it with `cargo build --release --bin dp` "
                             f"(or pass --dp PATH, or --check-engine 0 to skip the engine check)")
    data = load_data(a.data)
    n_train_imgs = int((data["split"] == 0).sum())
    if a.num_samples > n_train_imgs:
        raise SystemExit(f"--num-samples {a.num_samples} exceeds the {n_train_imgs} training images of the floor")
    if a.num_samples < 500:
        log(f"note: --num-samples {a.num_samples} < 500: FDs are biased upwards and not comparable with the "
            f"full table (fine for a smoke test)")

    out_dir = default_out_dir(a, model_dir)
    os.makedirs(out_dir, exist_ok=True)
    h = hashlib.sha256()
    for f in need:
        h.update(sha256_file(os.path.join(model_dir, f)).encode())
    model_key = h.hexdigest()[:12]
    sample_root = os.path.join(out_dir, "samples", f"{model_key}-seed{a.seed}")
    engine_root = os.path.join(out_dir, "engine", f"{model_key}")
    log(f"model {model_dir} (key {model_key}), data {a.data} (sha256 {data['sha256'][:12]}), out {out_dir}")
    log(f"settings: {', '.join(names)}; {a.num_samples} samples each, seed {a.seed}, torch threads "
        f"{torch.get_num_threads()}, chunks of {a.batch}")

    # ---- classifier, reference statistics, floor
    clf, clf_info = get_classifier(data, out_dir, a.classifier_epochs)
    train = data["split"] == 0
    held_u8 = data["images"][~train]
    train_u8 = data["images"][train]
    f_held = features(clf, to_model_space(held_u8).numpy())
    rng = np.random.default_rng(a.seed)
    pick = rng.choice(n_train_imgs, a.num_samples, replace=False)
    f_train_all = features(clf, to_model_space(train_u8).numpy())
    floor = frechet_distance(f_train_all[pick], f_held)
    floor_all = frechet_distance(f_train_all, f_held)
    # the training distribution the model was fitted to (train.py --sampling group): every
    # (set, base emoji) pair equally likely, skin-tone variations share their base's weight
    floor_group = frame_group = None
    if "set" in data and "group" in data:
        key = data["set"][train].astype(np.int64) * 100000 + data["group"][train].astype(np.int64)
        _, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
        p = 1.0 / cnt[inv]
        pick_g = np.random.default_rng(a.seed + 1).choice(n_train_imgs, a.num_samples, replace=False, p=p / p.sum())
        floor_group = frechet_distance(f_train_all[pick_g], f_held)
        frame_group = full_frame_fraction(train_u8[pick_g])
    log(f"floor: FD({a.num_samples} random training images, {len(held_u8)} held-out) = {floor:.3f}; "
        f"all {n_train_imgs} training images: {floor_all:.3f}"
        + (f"; {a.num_samples} drawn like train.py's group sampling: {floor_group:.3f}" if floor_group else ""))

    # ---- sampling
    from diffusers import UNet2DModel

    model = UNet2DModel.from_pretrained(model_dir, low_cpu_mem_usage=False).float().eval()
    caches = {s.name: SampleCache(sample_root, s) for s in settings}
    todo = {s.name: caches[s.name].missing(a.num_samples) for s in settings}
    remaining = {s.name: sum(hi - lo for lo, hi in todo[s.name]) * s.steps for s in settings}
    cost = {"s": 0.0, "ss": 0}   # measured seconds per sample-step in this run (for ETAs)
    for s in settings:
        if not todo[s.name]:
            continue
        log(f"[{s.name}] sampling {remaining[s.name] // s.steps} of {a.num_samples} samples "
            f"({s.steps} steps{', eta %g' % s.eta if s.sampler == 'ddim' else ', ' + s.variance})")
        t_set = time.perf_counter()
        done_ss = 0
        for lo0, hi0 in todo[s.name]:
            for lo in range(lo0, hi0, a.batch):
                hi = min(lo + a.batch, hi0)
                t0 = time.perf_counter()
                every = max(1, s.steps // 10) if s.steps * (hi - lo) >= 2000 else 0

                def progress(i, n, lo=lo, hi=hi, t0=t0, every=every):
                    if every and i % every == 0 and i < n:
                        el = time.perf_counter() - t0
                        log(f"    {s.name} samples {lo}-{hi}: step {i}/{n}, {el / i:.2f} s/step, "
                            f"chunk ETA {fmt_s(el / i * (n - i))}")

                x = sample_chunk(model, sched_cfg, s, a.seed, lo, hi, progress)
                secs = time.perf_counter() - t0
                caches[s.name].save(lo, hi, x, {"seconds": secs, "samples": hi - lo, "steps": s.steps,
                                                "threads": torch.get_num_threads()})
                ss = (hi - lo) * s.steps
                cost["s"] += secs
                cost["ss"] += ss
                done_ss += ss
                remaining[s.name] -= ss
                per = cost["s"] / cost["ss"]
                left_set = remaining[s.name] * per
                left_all = sum(remaining.values()) * per
                log(f"  [{s.name}] samples {lo}-{hi} in {fmt_s(secs)} ({secs / s.steps:.3f} s/step at batch "
                    f"{hi - lo}, {per * 100:.3f} s per step per 100 samples); setting ETA {fmt_s(left_set)}, "
                    f"all settings ETA {fmt_s(left_all)}")
        log(f"[{s.name}] done in {fmt_s(time.perf_counter() - t_set)}")

    # ---- evaluation
    results = []
    samples = {}
    for s in settings:
        x, secs, sample_steps = caches[s.name].load(a.num_samples)
        samples[s.name] = x
        f_x = features(clf, x)
        fd = frechet_distance(f_x, f_held)
        results.append({"setting": s.name, "sampler": s.sampler, "steps": s.steps,
                        "eta": s.eta if s.sampler == "ddim" else None,
                        "variance": s.variance if s.sampler == "ddpm" else None,
                        "fd": fd, "fd_sd": bootstrap_sd(f_x, f_held), "full_frame": full_frame_fraction(to_u8(x)),
                        "n": a.num_samples, "sampler_wall_s": secs,
                        "s_per_step_per_100": (secs / sample_steps * 100) if sample_steps else None})
        log(f"FD {s.name:>20}: {fd:9.3f}   (floor {floor:.3f})")
    # one picture of every setting: row = setting (in --settings order), column = sample k (same x_T)
    save_grid(os.path.join(out_dir, "settings_grid.png"), [list(to_u8(samples[s.name][:SETTINGS_GRID_COLS]))
                                                           for s in settings], scale=2)

    # ---- engine check
    checks = []
    if k_check and check:
        log(f"engine check: first {k_check} samples of {', '.join(check)} re-made by {a.dp}")
        for name in check:
            s = next(x for x in settings if x.name == name)
            r = engine_check(a, s, k_check, model_dir, sched_path, engine_root, samples[name])
            checks.append(r)
            if r["ok"]:
                log(f"  ok   {name}: max |dp - diffusers| = {r['max_abs_diff']:.2e} (mean {r['mean_abs_diff']:.1e}); "
                    f"dp {r.get('dp_ms_per_step') or float('nan'):.1f} ms/step at batch {k_check}"
                    + (" (cached)" if r.get("cached") else ""))
            else:
                md = r.get("max_abs_diff")
                log(f"  FAIL {name}: " + (f"max |dp - diffusers| = {md:.2e} > {ENGINE_TOL:g}" if md is not None
                                          else r.get("error", "?")))

    # ---- nearest training images
    tr = train_u8.reshape(len(train_u8), -1).astype(np.float64) / 255.0
    tr_flip = train_u8[:, :, ::-1].reshape(len(train_u8), -1).astype(np.float64) / 255.0
    refs = np.concatenate([tr, tr_flip])
    ref_norms = sq_norms(refs)
    held_d, _ = nearest(held_u8.reshape(len(held_u8), -1).astype(np.float64) / 255.0, refs, ref_norms)
    baseline = {"median": float(np.median(held_d)), "p05": float(np.percentile(held_d, 5)),
                "min": float(held_d.min())}
    ddim = [r for r in results if r["sampler"] == "ddim"]
    nn_names = ([min(ddim, key=lambda r: r["fd"])["setting"]] if ddim else []) + \
        [r["setting"] for r in results if r["sampler"] == "ddpm"]
    nn = []
    for name in nn_names:
        x = samples[name]
        q = to_unit(x).reshape(len(x), -1)
        d, idx = nearest(q, refs, ref_norms)
        k = min(a.nn_samples, len(x))
        tr_idx = idx[:k] % len(tr)
        flipped = idx[:k] >= len(tr)
        nbr = train_u8[tr_idx].copy()
        nbr[flipped] = nbr[flipped][:, :, ::-1]
        png = os.path.join(out_dir, f"nn_{name}.png")
        save_grid(png, [list(to_u8(x[:k])), list(nbr)])
        train_names = data["names"][train] if "names" in data else None
        nn.append({"setting": name, "distances": [float(v) for v in d[:k]],
                   "neighbours": [str(train_names[i]) if train_names is not None else int(i) for i in tr_idx],
                   "flipped": [bool(f) for f in flipped],
                   "all_median": float(np.median(d)), "all_min": float(d.min()),
                   "frac_below_heldout_p05": float((d < baseline["p05"]).mean()), "png": os.path.basename(png)})
        log(f"NN {name}: first {k} samples' RMS distance to the nearest training image "
            f"{', '.join(f'{v:.3f}' for v in d[:k])}; all {len(x)}: median {np.median(d):.3f}, min {d.min():.3f} "
            f"(held-out images: median {baseline['median']:.3f}, 5th percentile {baseline['p05']:.3f})")

    # ---- report
    failed = [c["setting"] for c in checks if not c["ok"]]
    out = {"command": command, "model": model_dir, "model_key": model_key, "data": os.path.abspath(a.data),
           "data_sha256": data["sha256"], "seed": a.seed, "num_samples": a.num_samples, "threads": a.threads,
           "reference": {"split": "held-out", "n": int(len(held_u8))},
           "classifier": clf_info,
           "floor": {"fd": floor, "n": a.num_samples, "fd_all_training": floor_all, "n_all_training": n_train_imgs,
                     "fd_group_weighted": floor_group, "full_frame_heldout": full_frame_fraction(held_u8),
                     "full_frame_train": full_frame_fraction(train_u8), "full_frame_group_weighted": frame_group},
           "settings": results, "engine_check": {"k": k_check, "tolerance": ENGINE_TOL, "results": checks},
           "nearest_neighbours": {"heldout_baseline": baseline, "results": nn},
           "elapsed_s": time.perf_counter() - t_start,
           "time": time.strftime("%Y-%m-%d %H:%M:%S %z")}
    save_text_atomic(os.path.join(out_dir, "results.json"), json.dumps(out, indent=2))
    save_text_atomic(os.path.join(out_dir, "results.md"), render_md(out))
    log(f"wrote {os.path.join(out_dir, 'results.md')} and results.json ({fmt_s(out['elapsed_s'])})")
    if failed:
        log(f"FAIL: the engine differs from diffusers by more than {ENGINE_TOL:g} (or did not run) for "
            f"{', '.join(failed)}")
        return 1
    return 0


def table1(rows):
    """The DDIM paper's Table 1 layout (rows eta, columns S) and whether its pattern shows:
    eta = 0 best at few steps, and the etas converging as S grows."""
    ddim = {(r["steps"], r["eta"]): r["fd"] for r in rows if r["sampler"] == "ddim"}
    steps = sorted({s for s, _ in ddim})
    etas = sorted({e for _, e in ddim})
    if len(steps) < 2 or len(etas) < 2 or any((s, e) not in ddim for s in steps for e in etas):
        return []
    L = ["### DDIM: FD by steps S and eta (the DDIM paper's Table 1 layout)", "",
         "| eta \\ S | " + " | ".join(str(s) for s in steps) + " |",
         "|---|" + "---:|" * len(steps)]
    for e in etas:
        L.append(f"| {e:g} | " + " | ".join(f"{ddim[(s, e)]:.2f}" for s in steps) + " |")
    ddpm = [r for r in rows if r["sampler"] == "ddpm"]
    if ddpm:
        L += ["", "DDPM for comparison: " + ", ".join(
            f"{r['steps']} steps with the {'beta_t' if r['variance'] == 'fixed_large' else 'posterior'} variance "
            f"{r['fd']:.2f}" for r in ddpm) + "."]
    best = {s: min(etas, key=lambda e: ddim[(s, e)]) for s in steps}
    # "tied with the best": within twice the larger of the two bootstrap sds (0 when not measured)
    sd = {(r["steps"], r["eta"]): r.get("fd_sd") or 0.0 for r in rows if r["sampler"] == "ddim"}
    tied = {s: [e for e in etas if ddim[(s, e)] - ddim[(s, best[s])] <= 2 * max(sd[(s, e)], sd[(s, best[s])])]
            for s in steps}
    spread = {s: max(ddim[(s, e)] for e in etas) - min(ddim[(s, e)] for e in etas) for s in steps}
    few = steps[:2]
    eta0_best_few = all(0 in tied[s] for s in few)
    converge = spread[steps[-1]] < spread[steps[0]]
    monotone = {e: all(ddim[(a, e)] >= ddim[(b, e)] for a, b in zip(steps, steps[1:])) for e in etas}

    def best_text(s):
        others = [e for e in tied[s] if e != best[s]]
        return f"S={s}: {best[s]:g}" + (f" (tied within 2 sd: {', '.join(f'{e:g}' for e in others)})" if others else "")
    L += ["", "Computed from the table:", "",
          f"- best eta at each S: " + "; ".join(best_text(s) for s in steps) +
          (" — eta = 0 is best (or tied) at few steps, as in the paper." if eta0_best_few else
           f" — eta = 0 is *not* best at S = {', '.join(str(s) for s in few if 0 not in tied[s])}, unlike the paper."),
          f"- spread of FD across eta: " + ", ".join(f"S={s}: {spread[s]:.2f}" for s in steps) +
          (" — the settings converge as S grows, as in the paper." if converge else
           " — the settings do *not* converge as S grows, unlike the paper."),
          "- FD falls with every added step for eta " + (", ".join(f"{e:g}" for e in etas if monotone[e]) or "none") +
          (f"; not for eta {', '.join(f'{e:g}' for e in etas if not monotone[e])}" if not all(monotone.values()) else "")
          + ".", ""]
    return L


def shown_path(path):
    """A path inside the repository as the README's commands write it (relative), others as is."""
    return os.path.relpath(path, REPO) if os.path.abspath(path).startswith(REPO + os.sep) else path


def render_md(o):
    c = o["classifier"]
    fl = o["floor"]
    L = [f"# Sample quality: `{os.path.basename(o['model'])}`", "",
         f"Model `{shown_path(o['model'])}` (key {o['model_key']}), data sha256 `{o['data_sha256'][:16]}…`, seed {o['seed']}, "
         f"{o['time']}.", "",
         "```", o["command"], "```", "",
         f"FD = Fréchet distance on the 128 penultimate features of a small CNN classifier "
         f"({c['spec']}, trained on the training split only, {c['epochs']} epochs in {fmt_s(c['train_seconds'])}): "
         f"held-out category accuracy **{c['accuracy']:.3f}** (balanced over categories {c['balanced_accuracy']:.3f}). "
         f"Reference: the whole held-out split ({o['reference']['n']} images). Lower is better.", "",
         f"**Floor**: FD({fl['n']} random training images, held-out) = **{fl['fd']:.3f}** "
         f"(all {fl['n_all_training']} training images: {fl['fd_all_training']:.3f}"
         + (f"; {fl['n']} drawn like train.py's group-balanced sampling: {fl['fd_group_weighted']:.3f}"
            if fl.get("fd_group_weighted") is not None else "") + ").", ""]
    if fl.get("fd_group_weighted") is not None:
        L += [f"Read the table against the group-balanced floor ({fl['fd_group_weighted']:.2f}): the model was "
              "fitted to train.py's group-balanced draw (every (set, base emoji) pair equally likely, skin-tone "
              "variations sharing their base's weight), not to the split's natural mix, in which about half the "
              "images are skin-tone variations of people. A perfect model of its training draw would score "
              "about that floor; the random-draw floor is what the held-out split's own mix would score.", ""]
    L += ["| setting | sampler | steps | eta | variance | FD | FD sd | full-frame | N | sampler wall time "
          "| s/step per 100 samples |",
          "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in o["settings"]:
        var = {"fixed_large": "beta_t (fixed_large)", "fixed_small": "posterior (fixed_small)"}.get(r["variance"], "")
        sps = f"{r['s_per_step_per_100']:.3f}" if r["s_per_step_per_100"] else ""
        L.append(f"| {r['setting']} | {r['sampler'].upper()} | {r['steps']} | "
                 f"{'' if r['eta'] is None else '%g' % r['eta']} | {var} | {r['fd']:.3f} | "
                 f"{'' if r.get('fd_sd') is None else '%.2f' % r['fd_sd']} | "
                 f"{'' if r.get('full_frame') is None else '%.0f%%' % (100 * r['full_frame'])} | {r['n']} | "
                 f"{fmt_s(r['sampler_wall_s'])} | {sps} |")
    if any(r.get("fd_sd") is not None for r in o["settings"]):
        L += ["", f"FD sd: the standard deviation of the FD over {BOOTSTRAP} bootstrap resamples of the "
              f"{o['num_samples']} samples (held-out side fixed), how far the FD of this many samples moves from draw "
              "to draw; differences below about twice that are noise."]
    if fl.get("full_frame_heldout") is not None:
        L += ["", "Full-frame: the share of samples whose outer 3 pixels are less than half white, i.e. full-frame "
              "tiles (keycaps, signs, flags) instead of an object on the white background: "
              f"held-out {100 * fl['full_frame_heldout']:.0f}%, all training images {100 * fl['full_frame_train']:.0f}%"
              + (f", train.py's group-balanced draw {100 * fl['full_frame_group_weighted']:.0f}%"
                 if fl.get("full_frame_group_weighted") is not None else "") + "."]
    L += ["", f"Sampling: diffusers (torch fp32, {o['threads']} threads) from the engine's noise "
          f"(train/engine_rng.py), so sample k equals image k of `dp sample --seed {o['seed']}`.", ""]
    L += table1(o["settings"])
    ec = o["engine_check"]
    L += ["## Engine check", ""]
    if not ec["results"]:
        L += ["Not run (`--check-engine 0` or `--check-settings none`).", ""]
    else:
        L += [f"The first {ec['k']} samples of each setting re-made by `dp sample --batch {ec['k']}` and compared "
              f"with the diffusers samples (tolerance {ec['tolerance']:g}).", "",
              "| setting | K | max abs diff | mean abs diff | result | dp ms/step | dp wall time | adapter |",
              "|---|---:|---:|---:|---|---:|---:|---|"]
        for r in ec["results"]:
            md = "" if r.get("max_abs_diff") is None else f"{r['max_abs_diff']:.2e}"
            mn = "" if r.get("mean_abs_diff") is None else f"{r['mean_abs_diff']:.1e}"
            ms = "" if r.get("dp_ms_per_step") is None else f"{r['dp_ms_per_step']:.1f}"
            wall = "" if r.get("dp_wall_s") is None else fmt_s(r["dp_wall_s"])
            L.append(f"| {r['setting']} | {r['k']} | {md} | {mn} | {'ok' if r['ok'] else '**FAIL**'} | {ms} | "
                     f"{wall} | {r.get('adapter') or ''} |")
        L.append("")
    nb = o["nearest_neighbours"]
    b = nb["heldout_baseline"]
    L += ["## Nearest training images", "",
          "Per-pixel RMS distance in [0,1] RGB to the nearest training image (horizontal flips included, "
          "since training used flips). Baseline: each held-out image's distance to its nearest training image: "
          f"median **{b['median']:.3f}**, 5th percentile {b['p05']:.3f}, min {b['min']:.3f}. A sample much closer "
          "than that suggests copying.", "",
          "| setting | first samples' distances | median (all N) | min (all N) | fraction below held-out 5th pct | PNG |",
          "|---|---|---:|---:|---:|---|"]
    for r in nb["results"]:
        L.append(f"| {r['setting']} | {', '.join(f'{v:.3f}' for v in r['distances'])} | {r['all_median']:.3f} | "
                 f"{r['all_min']:.3f} | {r['frac_below_heldout_p05']:.3f} | {r['png']} |")
    L += ["", "PNGs: samples (top row) above their nearest training images (bottom row).", "",
          "## Every setting", "", "![every setting](settings_grid.png)", "",
          f"The first {SETTINGS_GRID_COLS} samples of every setting, one row each, top to bottom: "
          + ", ".join(r["setting"] for r in o["settings"]) + ". Column k starts from the same x_T in every row.", ""]
    return "\n".join(L)


if __name__ == "__main__":
    sys.exit(main(args))
