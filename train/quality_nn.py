"""The copying check of quality.py: per-pixel RMS distance (pixel space, [0, 1] RGB, horizontal
flips included) from samples to their nearest training image, against the held-out split's own
distances to the training split; writes nn_<setting>.png (samples above their neighbours)."""
import os

import numpy as np

from quality_common import log, to_u8, to_unit
from quality_report import save_grid


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


def nn_settings(results):
    """The settings that get the check: the best DDIM one (lowest FD) and every DDPM one."""
    ddim = [r for r in results if r["sampler"] == "ddim"]
    return ([min(ddim, key=lambda r: r["fd"])["setting"]] if ddim else []) + \
        [r["setting"] for r in results if r["sampler"] == "ddpm"]


def nn_result(name, x, train_u8, train_names, refs, ref_norms, baseline, k, out_dir):
    """The check of one setting's samples x; writes nn_<name>.png with the first k of them."""
    n_train = len(train_u8)
    q = to_unit(x).reshape(len(x), -1)
    d, idx = nearest(q, refs, ref_norms)
    k = min(k, len(x))
    tr_idx = idx[:k] % n_train
    flipped = idx[:k] >= n_train
    nbr = train_u8[tr_idx].copy()
    nbr[flipped] = nbr[flipped][:, :, ::-1]
    png = os.path.join(out_dir, f"nn_{name}.png")
    save_grid(png, [list(to_u8(x[:k])), list(nbr)])
    log(f"NN {name}: first {k} samples' RMS distance to the nearest training image "
        f"{', '.join(f'{v:.3f}' for v in d[:k])}; all {len(x)}: median {np.median(d):.3f}, min {d.min():.3f} "
        f"(held-out images: median {baseline['median']:.3f}, 5th percentile {baseline['p05']:.3f})")
    return {"setting": name, "distances": [float(v) for v in d[:k]],
            "neighbours": [str(train_names[i]) if train_names is not None else int(i) for i in tr_idx],
            "flipped": [bool(f) for f in flipped],
            "all_median": float(np.median(d)), "all_min": float(d.min()),
            "frac_below_heldout_p05": float((d < baseline["p05"]).mean()), "png": os.path.basename(png)}


def nearest_neighbours(data, results, samples, k, out_dir):
    """The held-out baseline and the check of nn_settings(results) (samples: name -> samples)."""
    train = data["split"] == 0
    held_u8 = data["images"][~train]
    train_u8 = data["images"][train]
    tr = train_u8.reshape(len(train_u8), -1).astype(np.float64) / 255.0
    tr_flip = train_u8[:, :, ::-1].reshape(len(train_u8), -1).astype(np.float64) / 255.0
    refs = np.concatenate([tr, tr_flip])
    ref_norms = sq_norms(refs)
    held_d, _ = nearest(held_u8.reshape(len(held_u8), -1).astype(np.float64) / 255.0, refs, ref_norms)
    baseline = {"median": float(np.median(held_d)), "p05": float(np.percentile(held_d, 5)),
                "min": float(held_d.min())}
    train_names = data["names"][train] if "names" in data else None
    nn = [nn_result(name, samples[name], train_u8, train_names, refs, ref_norms, baseline, k, out_dir)
          for name in nn_settings(results)]
    return {"heldout_baseline": baseline, "results": nn}
