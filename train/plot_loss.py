#!/usr/bin/env python3
"""Plot the training loss (loss.csv, one row per step) and, when present, the held-out
evaluation (eval.csv) of a run dir to a PNG. Uses matplotlib when it is installed, otherwise
draws a simpler chart with PIL."""
import argparse
import csv
import os
import sys

import numpy as np

DEFAULT_RUN_DIR = os.path.join(os.path.expanduser("~"), ".cache", "diffusion-playground", "emoji32-run")


def read_csv(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        return None
    header, body = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]
    if not body:
        return None
    return {h: np.array([float(r[i]) for r in body]) for i, h in enumerate(header)}


def smooth(y, window):
    window = max(1, min(window, len(y)))
    c = np.cumsum(np.insert(y, 0, 0.0))
    out = np.empty_like(y)
    for i in range(len(y)):  # trailing mean
        lo = max(0, i + 1 - window)
        out[i] = (c[i + 1] - c[lo]) / (i + 1 - lo)
    return out


def plot_matplotlib(loss, ev, out, window):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(9, 5), dpi=110)
    ax.plot(loss["step"], loss["loss"], color="#9ecae1", lw=0.5, label="train loss (per step)")
    ax.plot(loss["step"], smooth(loss["loss"], window), color="#08519c", lw=1.5, label=f"train loss ({window}-step mean)")
    if ev is not None:
        ax.plot(ev["step"], ev["heldout_ema"], "o-", color="#d94801", ms=3, label="held-out (EMA, fixed noise)")
        ax.plot(ev["step"], ev["train_ema"], "o-", color="#41ab5d", ms=3, label="train subset (EMA, fixed noise)")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("MSE (epsilon)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    hours = loss["elapsed_s"][-1] / 3600 if "elapsed_s" in loss else float("nan")
    ax.set_title(f"emoji32 training: step {int(loss['step'][-1])}, {hours:.1f} h, "
                 f"last {window}-step mean {smooth(loss['loss'], window)[-1]:.4f}")
    fig.tight_layout()
    fig.savefig(out)


def plot_pil(loss, ev, out, window):
    from PIL import Image, ImageDraw
    W, H, m = 1000, 560, 60
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    x = loss["step"]
    ys = [loss["loss"], smooth(loss["loss"], window)] + ([ev["heldout_ema"]] if ev is not None else [])
    lo = np.log10(max(1e-4, min(float(np.min(y)) for y in ys)))
    hi = np.log10(max(float(np.max(y)) for y in ys))
    hi = hi if hi > lo else lo + 1
    x0, x1 = float(x[0]), float(max(x[-1], x[0] + 1))

    def px(s, v):
        return (m + (s - x0) / (x1 - x0) * (W - 2 * m),
                H - m - (np.log10(max(v, 1e-4)) - lo) / (hi - lo) * (H - 2 * m))

    d.rectangle([m, m, W - m, H - m], outline="black")
    for steps, vals, color in ((x, ys[0], (158, 202, 225)), (x, ys[1], (8, 81, 156))):
        stride = max(1, len(steps) // 4000)
        d.line([px(s, v) for s, v in zip(steps[::stride], vals[::stride])], fill=color, width=1 if color[0] > 100 else 2)
    if ev is not None:
        d.line([px(s, v) for s, v in zip(ev["step"], ev["heldout_ema"])], fill=(217, 72, 1), width=2)
    d.text((m, 20), f"train loss (log scale {10**lo:.3g}..{10**hi:.3g}), step {int(x0)}..{int(x1)}; "
           f"dark: {window}-step mean, orange: held-out EMA", fill="black")
    img.save(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--run-dir", default=DEFAULT_RUN_DIR)
    ap.add_argument("--out", default=None, help="PNG path (default <run-dir>/loss.png)")
    ap.add_argument("--window", type=int, default=200, help="moving-average window (steps)")
    ap.add_argument("--pil", action="store_true", help="force the PIL fallback")
    a = ap.parse_args()
    loss = read_csv(os.path.join(a.run_dir, "loss.csv"))
    if loss is None:
        raise SystemExit(f"no loss rows in {a.run_dir}/loss.csv yet")
    ev = read_csv(os.path.join(a.run_dir, "eval.csv"))
    out = a.out or os.path.join(a.run_dir, "loss.png")
    try:
        if a.pil:
            raise ImportError
        plot_matplotlib(loss, ev, out, a.window)
    except ImportError:
        plot_pil(loss, ev, out, a.window)
    print(f"wrote {out} ({len(loss['step'])} steps, last {a.window}-step mean {smooth(loss['loss'], a.window)[-1]:.4f})")


if __name__ == "__main__":
    sys.exit(main())
