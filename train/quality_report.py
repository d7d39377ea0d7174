"""The report of quality.py: results.json and results.md (the settings table, the DDIM paper's
Table 1 layout with what it shows, the engine check, the nearest training images) and the PNG
grids (settings_grid.png; save_grid also draws nn_<setting>.png). render_md works from
results.json alone, which is what --render-only uses."""
import json
import os

import numpy as np
from PIL import Image

from quality_common import fmt_s, log, save_text_atomic, to_u8
from quality_fd import BOOTSTRAP

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETTINGS_GRID_COLS = 10  # samples per row of settings_grid.png


# ---------------------------------------------------------------- grids

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


def save_settings_grid(out_dir, settings, samples, name="settings_grid.png"):
    """settings_grid.png: row = setting (in --settings order), column = sample k (same x_T)."""
    save_grid(os.path.join(out_dir, name), [list(to_u8(samples[s.name][:SETTINGS_GRID_COLS]))
                                                           for s in settings], scale=2)


# ---------------------------------------------------------------- results.md

# how results.md names each clipping (a setting's "clipping"; rows of results.json made before the
# suffixes existed have none: the checkpoint's)
CLIPPING_TEXT = {"checkpoint": "the scheduler config's clip_sample (no suffix)",
                 "off": "clip_sample off (-clipoff)", "clip": "clip_sample on (-clipon)",
                 "recompute": "clipped, noise estimate from the clipped x_0 (-recompute)"}


def clipping_of(r):
    return r.get("clipping") or "checkpoint"


def table1(rows):
    """The DDIM paper's Table 1 layout and what it shows, one table per clipping of the rows (the
    heading names the clipping once any row sets one; with none, the output is what it was before
    the clipping suffixes)."""
    clippings = list(dict.fromkeys(clipping_of(r) for r in rows))
    if clippings == ["checkpoint"]:
        return _table1(rows, "")
    L = []
    for c in clippings:
        L += _table1([r for r in rows if clipping_of(r) == c], f", {CLIPPING_TEXT.get(c, c)}")
    return L


def _table1(rows, heading_suffix):
    """Table 1 of rows of one clipping: rows eta (and sigma-hat, DDPM with the beta_t variance on the
    same S steps, when there is one for every S), columns S; and whether the paper's pattern shows:
    eta = 0 best at few steps, and the etas converging as S grows."""
    ddim = {(r["steps"], r["eta"]): r["fd"] for r in rows if r["sampler"] == "ddim"}
    steps = sorted({s for s, _ in ddim})
    etas = sorted({e for _, e in ddim})
    if len(steps) < 2 or len(etas) < 2 or any((s, e) not in ddim for s in steps for e in etas):
        return []
    L = [f"### DDIM: FD by steps S and eta (the DDIM paper's Table 1 layout){heading_suffix}", "",
         "| eta \\ S | " + " | ".join(str(s) for s in steps) + " |",
         "|---|" + "---:|" * len(steps)]
    for e in etas:
        L.append(f"| {e:g} | " + " | ".join(f"{ddim[(s, e)]:.2f}" for s in steps) + " |")
    sigma_hat = {r["steps"]: r for r in rows if r["sampler"] == "ddpm" and r["variance"] == "fixed_large"}
    in_table = []
    if all(s in sigma_hat for s in steps):
        in_table = [sigma_hat[s]["setting"] for s in steps]
        L.append("| σ̂ (DDPM, beta_t) | " + " | ".join(f"{sigma_hat[s]['fd']:.2f}" for s in steps) + " |")
        L += ["", "σ̂: DDPM on the same S-step sub-sequence with the larger variance 1 - abar_t / abar_prev "
              "(`ddpm<S>-beta`, diffusers' fixed_large), the paper's sigma-hat row."]
    ddpm = [r for r in rows if r["sampler"] == "ddpm" and r["setting"] not in in_table]
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
          "- best eta at each S: " + "; ".join(best_text(s) for s in steps) +
          (" — eta = 0 is best (or tied) at few steps, as in the paper." if eta0_best_few else
           f" — eta = 0 is *not* best at S = {', '.join(str(s) for s in few if 0 not in tied[s])}, unlike the paper."),
          "- spread of FD across eta: " + ", ".join(f"S={s}: {spread[s]:.2f}" for s in steps) +
          (" — the settings converge as S grows, as in the paper." if converge else
           " — the settings do *not* converge as S grows, unlike the paper."),
          "- FD falls with every added step for eta " + (", ".join(f"{e:g}" for e in etas if monotone[e]) or "none") +
          (f"; not for eta {', '.join(f'{e:g}' for e in etas if not monotone[e])}" if not all(monotone.values()) else "")
          + ".", ""]
    return L


def shown_path(path):
    """A path inside the repository as the README's commands write it (relative), others as is."""
    return os.path.relpath(path, REPO) if os.path.abspath(path).startswith(REPO + os.sep) else path


def _md_head(o):
    """Title, command line, the classifier and the floors."""
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
    return L


SAMPLER_NAMES = {"ddpm": "DDPM", "ddim": "DDIM", "dpmpp2m": "DPM-Solver++(2M)"}


def settings_row(r):
    """One row of the settings table."""
    var = {"fixed_large": "beta_t (fixed_large)", "fixed_small": "posterior (fixed_small)"}.get(r["variance"], "")
    sps = f"{r['s_per_step_per_100']:.3f}" if r["s_per_step_per_100"] else ""
    return (f"| {r['setting']} | {SAMPLER_NAMES.get(r['sampler'], r['sampler'].upper())} | {r['steps']} | "
            f"{'' if r['eta'] is None else '%g' % r['eta']} | {var} | {r['fd']:.3f} | "
            f"{'' if r.get('fd_sd') is None else '%.2f' % r['fd_sd']} | "
            f"{'' if r.get('full_frame') is None else '%.0f%%' % (100 * r['full_frame'])} | {r['n']} | "
            f"{fmt_s(r['sampler_wall_s'])} | {sps} |")


def engine_row(r):
    """One row of the engine check's table."""
    md = "" if r.get("max_abs_diff") is None else f"{r['max_abs_diff']:.2e}"
    mn = "" if r.get("mean_abs_diff") is None else f"{r['mean_abs_diff']:.1e}"
    ms = "" if r.get("dp_ms_per_step") is None else f"{r['dp_ms_per_step']:.1f}"
    wall = "" if r.get("dp_wall_s") is None else fmt_s(r["dp_wall_s"])
    return (f"| {r['setting']} | {r['k']} | {md} | {mn} | {'ok' if r['ok'] else '**FAIL**'} | {ms} | "
            f"{wall} | {r.get('adapter') or ''} |")


def _md_settings(o):
    """The table of every setting and the notes under it."""
    fl = o["floor"]
    L = ["| setting | sampler | steps | eta | variance | FD | FD sd | full-frame | N | sampler wall time "
         "| s/step per 100 samples |",
         "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    L += [settings_row(r) for r in o["settings"]]
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
    L += clipping_note(o)
    L += ["", f"Sampling: diffusers (torch fp32, {o['threads']} threads) from the engine's noise "
          f"(train/engine_rng.py), so sample k equals image k of `dp sample --seed {o['seed']}`.", ""]
    return L


def clipping_note(o):
    """What the clipping suffixes of the settings mean, when a setting has one (else nothing)."""
    used = [c for c in dict.fromkeys(clipping_of(r) for r in o["settings"]) if c != "checkpoint"]
    if not used:
        return []
    own = o.get("scheduler_clip_sample")
    rng = o.get("scheduler_clip_sample_range")
    meaning = {"off": "-clipoff: the predicted x_0 is not clamped (clip_sample false; `dp sample --clip off`)",
               "clip": f"-clipon: x_0 clamped to [-{rng if rng is not None else 'clip_sample_range'}, "
                       f"{rng if rng is not None else 'clip_sample_range'}] (clip_sample true; `--clip clip`)",
               "recompute": "-recompute: clamped, and DDIM's noise estimate re-derived from the clamped x_0 before "
                            "the update (diffusers' use_clipped_model_output=True; `--clip recompute`)"}
    return ["", "Clipping of the predicted x_0: a setting without a suffix uses the scheduler config's own "
            + ("" if own is None else f"(clip_sample {'true' if own else 'false'}); ") + "; ".join(meaning[c] for c in used)
            + ". DPM-Solver++ never clamps."]


def _md_engine_check(o):
    """The engine check's table (or that it was not run)."""
    ec = o["engine_check"]
    L = ["## Engine check", ""]
    if not ec["results"]:
        L += ["Not run (`--check-engine 0` or `--check-settings none`).", ""]
    else:
        L += [f"The first {ec['k']} samples of each setting re-made by `dp sample --batch {ec['k']}` and compared "
              f"with the diffusers samples (tolerance {ec['tolerance']:g}).", "",
              "| setting | K | max abs diff | mean abs diff | result | dp ms/step | dp wall time | adapter |",
              "|---|---:|---:|---:|---|---:|---:|---|"]
        L += [engine_row(r) for r in ec["results"]]
        L.append("")
    return L


def _md_nearest(o):
    """The nearest training images and the settings grid."""
    nb = o["nearest_neighbours"]
    b = nb["heldout_baseline"]
    L = ["## Nearest training images", "",
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
    return L


# ---------------------------------------------------------------- --merge-md

def _table_span(lines, header):
    """(first row, end) line indices of the table whose header line starts with `header`."""
    i = next((k for k, line in enumerate(lines) if line.startswith(header)), None)
    if i is None:
        raise SystemExit(f"--merge-md: no table starting {header!r} in the earlier report")
    j = i + 2
    while j < len(lines) and lines[j].startswith("|"):
        j += 1
    return i + 2, j


def _put_rows(lines, header, rows):
    """Replace the rows of the same setting in the table under `header`, append the others."""
    for setting, row in rows:
        lo, hi = _table_span(lines, header)
        k = next((k for k in range(lo, hi) if lines[k].startswith(f"| {setting} |")), None)
        if k is None:
            lines.insert(hi, row)
        else:
            lines[k] = row


def merged_md(o):
    """An earlier results.md (o['merge_md']: text) with this run's settings and engine-check rows put
    into its tables, a note saying which rows came later and from what command, and this run's
    settings grid (o['merge_grid']) appended. Every other line of the earlier report is kept as it
    is. Refused unless the earlier report is of the same model, data, seed and number of samples
    and its floor equals this run's (the same classifier features, i.e. the same FD) -- or, with
    o['merge_new_classifier'], the floor differs (the classifier was retrained: its training is not
    bit-reproducible across runs): then this run's rows go into a table of their own under the
    earlier one, with this run's classifier and floors, and the earlier rows stay as they are."""
    base = o["merge_md"]
    fl = o["floor"]
    c = o["classifier"]
    floor_line = f"**Floor**: FD({fl['n']} random training images, held-out) = **{fl['fd']:.3f}**"
    need = {"model key": f"(key {o['model_key']})", "data": f"data sha256 `{o['data_sha256'][:16]}…`",
            "seed": f", seed {o['seed']},", "classifier": c["spec"], "floor": floor_line}
    bad = [k for k, v in need.items() if v not in base]
    same_fd = not bad
    if bad == ["floor"] and o.get("merge_new_classifier"):
        bad = []
    if bad:
        raise SystemExit(f"--merge-md: the earlier report differs from this run in {', '.join(bad)} "
                         f"(this run: {'; '.join(need[k] for k in bad)}): its FDs are not comparable"
                         + (" (--merge-new-classifier puts them into a table of their own)" if bad == ["floor"] else ""))
    lines = base.rstrip("\n").split("\n")
    if o["engine_check"]["results"]:
        _put_rows(lines, "| setting | K |", [(r["setting"], engine_row(r)) for r in o["engine_check"]["results"]])
    names = ", ".join(r["setting"] for r in o["settings"])
    threads = f"{o['threads']} torch thread{'' if o['threads'] == 1 else 's'}"
    k = next((k for k, line in enumerate(lines) if line.startswith("Sampling: diffusers")), None)
    if k is None:
        raise SystemExit("--merge-md: no 'Sampling: diffusers' line in the earlier report")
    if same_fd:
        _put_rows(lines, "| setting | sampler |", [(r["setting"], settings_row(r)) for r in o["settings"]])
        add = ["", f"Rows {names} (and their engine check) added on {o['time']} by `{o['command']}`: the same "
               f"classifier and reference (the floor {fl['fd']:.3f} reproduced), {o['num_samples']} samples each, "
               f"seed {o['seed']}; their wall times are of that run ({threads}, with whatever else shared the "
               "machine then)."]
    else:
        add = ["", f"#### Added later: {names}", "",
               f"Added on {o['time']} by `{o['command']}` ({o['num_samples']} samples each, seed {o['seed']}, "
               f"{threads}). The FD classifier was retrained for this run: the same recipe, seed, data and "
               f"reference, but its training is not bit-reproducible across runs, so this one differs slightly "
               f"(held-out accuracy {c['accuracy']:.3f}, balanced {c['balanced_accuracy']:.3f}) and so does the "
               f"floor: {fl['fd']:.3f} (all training images {fl['fd_all_training']:.3f}"
               + (f", group-balanced draw {fl['fd_group_weighted']:.3f}" if fl.get("fd_group_weighted") is not None
                  else "") + "). Compare these rows with each other, not with the table above; settings of the "
               "table above re-scored here show the offset.", "",
               "| setting | sampler | steps | eta | variance | FD | FD sd | full-frame | N | sampler wall time "
               "| s/step per 100 samples |",
               "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|"] + [settings_row(r) for r in o["settings"]]
    lines[k + 1:k + 1] = add + clipping_note(o)
    lines += ["", f"![{names}]({o['merge_grid']})", "",
              f"The first {SETTINGS_GRID_COLS} samples of {names}, one row each, from the same x_T as the columns "
              "above.", ""]
    return "\n".join(lines)


def render_md(o):
    """results.md from the results.json object (merged into an earlier report with --merge-md)."""
    if o.get("merge_md"):
        return merged_md(o)
    return "\n".join(_md_head(o) + _md_settings(o) + table1(o["settings"]) + _md_engine_check(o) + _md_nearest(o))


def write_results(out_dir, out, json_out=None):
    """results.json and results.md (atomic writes); the same JSON to `json_out` too when given
    (--json-out, e.g. the card's quality.json)."""
    text = json.dumps(out, indent=2)
    save_text_atomic(os.path.join(out_dir, "results.json"), text)
    if json_out:
        save_text_atomic(json_out, text)
    save_text_atomic(os.path.join(out_dir, "results.md"), render_md(out))


def render_only(out_dir, json_out=None):
    """--render-only: rewrite results.md from the out dir's results.json (and copy that to
    `json_out` when given)."""
    src = os.path.join(out_dir, "results.json")
    if not os.path.exists(src):
        raise SystemExit(f"{src} is missing: run train/quality.py without --render-only first")
    with open(src) as f:
        text = f.read()
    save_text_atomic(os.path.join(out_dir, "results.md"), render_md(json.loads(text)))
    if json_out:
        save_text_atomic(json_out, text)
    log(f"wrote {os.path.join(out_dir, 'results.md')} from {src}" + (f", copied it to {json_out}" if json_out else ""))
