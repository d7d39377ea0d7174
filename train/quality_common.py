"""What the quality_* modules share: logging, durations, atomic writes, the emoji32 data file
and conversions between image representations (uint8 HWC, model space [-1, 1] CHW, [0, 1])."""
import os

import numpy as np
import torch

from common import sha256_file


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
