"""The Fréchet distance of quality.py: the small CNN classifier whose 128 penultimate features it
is computed on (trained on the emoji categories of the training split, cached in the output dir
keyed by the data file's sha256), the features, the FD itself (numpy float64), its bootstrap sd,
and the floors (FD of training images against the held-out split)."""
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from quality_common import fmt_s, full_frame_fraction, log, to_model_space

CLASSIFIER_SPEC = "cnn-32-64-128.128-fc128-v2"
BOOTSTRAP = 50  # resamples behind each FD's sd


# ---------------------------------------------------------------- classifier

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


def load_cached_classifier(path, data, n_classes, epochs, strict=False):
    """The classifier at `path` and its info if it was trained on this data file with this spec
    and number of epochs, else (None, None); with `strict`, a file that does not fit is an error."""
    if not os.path.exists(path):
        return None, None
    ck = torch.load(path, map_location="cpu", weights_only=True)
    fits = ck.get("data_sha256") == data["sha256"] and ck.get("spec") == CLASSIFIER_SPEC and ck.get("epochs") == epochs
    if not fits and strict:
        raise SystemExit(
            f"--classifier {path}: made for data {str(ck.get('data_sha256'))[:12]}, spec {ck.get('spec')}, "
            f"{ck.get('epochs')} epochs, but this run has data {data['sha256'][:12]}, spec {CLASSIFIER_SPEC}, "
            f"{epochs} epochs. Its FDs would not be comparable: rebuild the dataset that file was made "
            f"for (train/build_dataset.py), or pass a new path to train and save one there.")
    if fits:
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
    return None, None


def train_classifier(data, n_classes, epochs, seed):
    """Train on the training split (class-weighted loss, horizontal flips); returns the net in
    eval mode and its info (held-out accuracies, wall time, ...)."""
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
    return net, info


def get_classifier(data, out_dir, epochs, seed=0, path=None):
    """The classifier at `path` (--classifier) or the cached <out_dir>/classifier.pt when it fits,
    else a freshly trained one, saved there. A given `path` that exists but does not fit (another
    data file, spec or number of epochs) is an error, not a retraining: its FDs would silently stop
    being comparable with those of the reports made with it."""
    given = path is not None
    path = path or os.path.join(out_dir, "classifier.pt")
    names = [str(n) for n in data["category_names"]]
    n_classes = len(names)
    net, info = load_cached_classifier(path, data, n_classes, epochs, strict=given)
    if net is not None:
        info["path"] = os.path.abspath(path) if given else None
        return net, info
    net, info = train_classifier(data, n_classes, epochs, seed)
    torch.save(dict(state_dict=net.state_dict(), data_sha256=data["sha256"], category_names=names, **info), path)
    info["cached"] = False
    info["path"] = os.path.abspath(path) if given else None
    log(f"classifier: held-out accuracy {info['accuracy']:.3f} (balanced {info['balanced_accuracy']:.3f}), "
        f"trained in {fmt_s(info['train_seconds'])} -> {path}")
    return net, info


# ---------------------------------------------------------------- features, FD

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


# ---------------------------------------------------------------- reference and floors

def reference_and_floor(clf, data, num_samples, seed):
    """Features of the held-out split (the reference of every FD) and the floor: FD of
    `num_samples` random training images (numpy seed `seed`), of all of them, and of
    `num_samples` drawn like train.py's group-balanced sampling (seed + 1; when the data has
    set/group ids), with the full-frame shares. Returns (held-out features, floor dict)."""
    train = data["split"] == 0
    held_u8 = data["images"][~train]
    train_u8 = data["images"][train]
    n_train_imgs = len(train_u8)
    f_held = features(clf, to_model_space(held_u8).numpy())
    rng = np.random.default_rng(seed)
    pick = rng.choice(n_train_imgs, num_samples, replace=False)
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
        pick_g = np.random.default_rng(seed + 1).choice(n_train_imgs, num_samples, replace=False, p=p / p.sum())
        floor_group = frechet_distance(f_train_all[pick_g], f_held)
        frame_group = full_frame_fraction(train_u8[pick_g])
    log(f"floor: FD({num_samples} random training images, {len(held_u8)} held-out) = {floor:.3f}; "
        f"all {n_train_imgs} training images: {floor_all:.3f}"
        + (f"; {num_samples} drawn like train.py's group sampling: {floor_group:.3f}" if floor_group else ""))
    return f_held, {"fd": floor, "n": num_samples, "fd_all_training": floor_all, "n_all_training": n_train_imgs,
                    "fd_group_weighted": floor_group, "full_frame_heldout": full_frame_fraction(held_u8),
                    "full_frame_train": full_frame_fraction(train_u8), "full_frame_group_weighted": frame_group}
