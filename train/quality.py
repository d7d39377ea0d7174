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

Settings: ddpm<N>-beta, ddpm<N>-posterior, ddim<N>-eta<E> (N steps, E in [0, 1]), dpmpp2m<N>; the default
is the 14 of the table. The DDPM and DDIM names take an optional suffix for the clamp of the
predicted x_0, the choices of `dp sample --clip` (passed to it in the engine check):

    (none)      the scheduler config's clip_sample (--clip checkpoint), as before the suffixes
    -clipoff    clip_sample=False (--clip off)
    -clipon     clip_sample=True, clamp to clip_sample_range (--clip clip; `-clip` also accepted)
    -recompute  clamp, and DDIM's noise estimate re-derived from the clipped x_0
                (use_clipped_model_output=True; --clip recompute); DDIM only

e.g. ddim50-eta0-clipoff. DPM-Solver++ never clamps, so dpmpp2m<N> takes no suffix. The preset
`table1` in --settings is the DDIM paper's Table 1 grid: ddim<S>-eta{0,0.5,1} and ddpm<S>-beta
(sigma-hat) for S = 10, 20, 50, 100, 1000, each with the checkpoint's clipping and with -clipoff.
Samples are cached per setting (its name, suffix included) as float32 chunks in
<out-dir>/samples/<model hash>-seed<seed>/<setting>/ as they complete, so an interrupted run
continues where it stopped (and a larger --num-samples extends the cache).

Writes <out-dir>/results.json (every number of the report: per setting FD, its bootstrap sd,
full-frame share, sampler, steps, eta, variance, clipping; the floors; the engine check; the
command line and date), results.md, settings_grid.png, nn_<setting>.png; --json-out PATH writes
the same JSON to PATH too (e.g. models/emoji32/card/quality.json beside the card's table). New settings
can be added to an earlier report without re-running its settings: --settings NEW --merge-md
OLD.md writes results.md as OLD.md with the new rows in its tables (refused unless the floor,
i.e. the FD's classifier and reference, is the same).
Run from the repository root, e.g.

    train/.venv/bin/python train/quality.py --model models/emoji32
"""
# This file is the command line and main's phases; the work is in the modules beside it:
# quality_settings (the settings), quality_fd (classifier, features, FD, bootstrap sd, floors),
# quality_sampling (diffusers from the engine's noise, the chunk store), quality_engine_check
# (dp vs diffusers), quality_nn (nearest training images), quality_report (results.json,
# results.md, grids) and quality_common (logging, atomic writes, data, image conversions).
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
# standard library only: these run before the thread variables are set for numpy and torch
from common import limit_threads_env, set_torch_threads, sha256_file  # noqa: E402
from quality_settings import DEFAULT_SETTINGS, parse_check_settings, parse_settings  # noqa: E402

MODEL_FILES = ["config.json", "scheduler_config.json", "diffusion_pytorch_model.safetensors"]


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
    ap.add_argument("--device", default="cpu", help="torch device of the diffusers sampling: cpu, cuda, cuda:N "
                    "(float32, TF32 off; the classifier and the FD stay on the CPU) [default: cpu]")
    ap.add_argument("--batch", type=int, default=100, help="diffusers sampling chunk size [default: 100]")
    ap.add_argument("--settings", default=",".join(DEFAULT_SETTINGS),
                    help="comma list of ddpm<N>-beta|posterior, ddim<N>-eta<E> and dpmpp2m<N>; ddpm and ddim names "
                    "take a clipping suffix -clipoff, -clipon or (ddim only) -recompute, none = the scheduler "
                    "config's clip_sample (e.g. ddim50-eta0-clipoff); the preset table1 = ddim<S>-eta{0,0.5,1} and "
                    "ddpm<S>-beta for S in 10,20,50,100,1000, with and without -clipoff (40 settings, hours) "
                    "[default: the 14 of the table]")
    ap.add_argument("--check-engine", type=int, default=4, metavar="K",
                    help="samples per checked setting re-made by dp and compared; 0 = skip [default: 4]")
    ap.add_argument("--check-settings", default="all",
                    help="comma list of settings (from --settings) that get the engine check, 'all' or 'none' "
                    "[default: all]")
    ap.add_argument("--dp", default=os.path.join(REPO, "target", "release", "dp"), help="the engine's CLI "
                    "[default: target/release/dp]")
    ap.add_argument("--nn-samples", type=int, default=8, help="samples shown in the nearest-neighbour "
                    "table/PNG per setting [default: 8]")
    ap.add_argument("--classifier", default=None, metavar="PATH",
                    help="the FD classifier file: used when it exists (an error if it was made for another data "
                    "file), else trained and saved there. Reports made with the same file have the same floor, "
                    "so their rows can be merged (--merge-md) across machines and sessions; the committed "
                    "train/fd/emoji32-classifier.pt is the one of models/emoji32/card/quality.json "
                    "[default: <out-dir>/classifier.pt, retrained when it does not fit]")
    ap.add_argument("--classifier-epochs", type=int, default=10, help=argparse.SUPPRESS)
    ap.add_argument("--merge-md", default=None, metavar="RESULTS_MD",
                    help="an earlier results.md (e.g. models/emoji32/card/quality.md) of the same model, data, seed "
                    "and --num-samples: results.md becomes that report with this run's settings rows and engine "
                    "checks put into its tables (every other line kept), this run's grid saved as "
                    "settings_grid_<settings>.png; refused unless its floor equals this run's (the same FD)")
    ap.add_argument("--merge-new-classifier", action="store_true",
                    help="with --merge-md: accept a floor that differs from the earlier report's (a retrained "
                    "classifier) and put this run's rows into a table of their own; include some of the earlier "
                    "settings in --settings to show the offset")
    ap.add_argument("--render-only", action="store_true", help="rewrite results.md from the out dir's "
                    "results.json (after a change to the report's wording) and exit")
    ap.add_argument("--json-out", default=None, metavar="PATH",
                    help="also write results.json to PATH (e.g. models/emoji32/card/quality.json, beside the "
                    "card's quality.md); with --render-only, copy the out dir's results.json there")
    return ap.parse_args(argv)


args = parse_args() if __name__ == "__main__" else None
if args is not None:
    limit_threads_env(args.threads)

import hashlib  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import torch  # noqa: E402

from quality_common import fmt_s, full_frame_fraction, load_data, log, to_u8  # noqa: E402
from quality_engine_check import ENGINE_TOL, check_engine  # noqa: E402
from quality_fd import bootstrap_sd, features, frechet_distance, get_classifier, reference_and_floor  # noqa: E402
from quality_nn import nearest_neighbours  # noqa: E402
from quality_report import render_only, save_settings_grid, write_results  # noqa: E402
from quality_sampling import SampleCache, sample_settings  # noqa: E402


@dataclass
class Run:
    """What the phases of main share, once the inputs are checked."""
    model_dir: str
    sched_path: str
    sched_cfg: dict
    settings: list       # of quality_settings.Setting, in --settings order
    check: list          # names of the settings that get the engine check
    k_check: int         # samples per checked setting
    data: dict           # quality_common.load_data
    out_dir: str
    model_key: str       # 12 hex digits of the model files' hashes
    sample_root: str
    engine_root: str


def default_out_dir(a, model_dir):
    return os.path.abspath(os.path.expanduser(a.out_dir or os.path.join(
        "~", ".cache", "diffusion-playground", "quality", os.path.basename(model_dir.rstrip("/")))))


def command_line():
    """This run's command line, the interpreter relative to the working directory when inside it."""
    return shlex.join([os.path.relpath(sys.executable, os.getcwd()) if sys.executable.startswith(os.getcwd())
                       else sys.executable] + sys.argv)


def load_model_dir(a, model_dir):
    """Check the exported model dir; returns its scheduler config's path and contents."""
    if not os.path.isdir(model_dir):
        raise SystemExit(f"model dir {a.model} not found: export one with train/export.py "
                         f"(--out {a.model}) or pass --model DIR")
    missing = [f for f in MODEL_FILES if not os.path.exists(os.path.join(model_dir, f))]
    if missing:
        raise SystemExit(f"model dir {a.model} lacks {', '.join(missing)}: pass an exported diffusers dir "
                         f"(train/export.py writes one)")
    sched_path = os.path.join(model_dir, "scheduler_config.json")
    with open(sched_path) as f:
        return sched_path, json.load(f)


def model_key(model_dir):
    h = hashlib.sha256()
    for f in MODEL_FILES:
        h.update(sha256_file(os.path.join(model_dir, f)).encode())
    return h.hexdigest()[:12]


def prepare(a, model_dir):
    """Phase 1, inputs: the model, the settings, the engine CLI and the data checked; the out dir."""
    sched_path, sched_cfg = load_model_dir(a, model_dir)
    t_total = int(sched_cfg.get("num_train_timesteps", 1000))
    settings = parse_settings(a.settings, t_total)
    check = parse_check_settings(a.check_settings, settings, t_total)
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
    key = model_key(model_dir)
    log(f"model {model_dir} (key {key}), data {a.data} (sha256 {data['sha256'][:12]}), out {out_dir}")
    log(f"settings: {', '.join(s.name for s in settings)}; {a.num_samples} samples each, seed {a.seed}, "
        f"torch threads {torch.get_num_threads()}, chunks of {a.batch}")
    return Run(model_dir, sched_path, sched_cfg, settings, check, k_check, data, out_dir, key,
               sample_root=os.path.join(out_dir, "samples", f"{key}-seed{a.seed}"),
               engine_root=os.path.join(out_dir, "engine", f"{key}"))


def sampling_device(a):
    """--device as a torch.device; on CUDA with TF32 off, so the samples stay float32 like the engine's
    (the engine check's 1e-3 holds) and like those of a CPU run."""
    try:
        dev = torch.device(a.device)
    except RuntimeError:
        raise SystemExit(f"--device {a.device}: not a torch device (write cpu, cuda or cuda:N)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit(f"--device {a.device}: torch finds no CUDA device here (use --device cpu)")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    return dev


def sample_all(a, run):
    """Phase 3, sampling: what the sample cache lacks of every setting; returns the caches."""
    from diffusers import UNet2DModel

    model = UNet2DModel.from_pretrained(run.model_dir, low_cpu_mem_usage=False).float().eval().to(sampling_device(a))
    caches = {s.name: SampleCache(run.sample_root, s) for s in run.settings}
    sample_settings(model, run.sched_cfg, run.settings, caches, a.num_samples, a.seed, a.batch)
    return caches


def score_settings(a, run, caches, clf, f_held, floor):
    """Phase 4, evaluation: FD (with bootstrap sd) and full-frame share of every setting's samples,
    and settings_grid.png; returns the table's rows and the samples by setting name."""
    results = []
    samples = {}
    for s in run.settings:
        x, secs, sample_steps = caches[s.name].load(a.num_samples)
        samples[s.name] = x
        f_x = features(clf, x)
        fd = frechet_distance(f_x, f_held)
        results.append({"setting": s.name, "sampler": s.sampler, "steps": s.steps,
                        "eta": s.eta if s.sampler == "ddim" else None,
                        "variance": s.variance if s.sampler == "ddpm" else None,
                        "clipping": s.clipping, "clip_sample": s.clip_sample(run.sched_cfg),
                        "use_clipped_model_output": s.use_clipped_model_output if s.sampler == "ddim" else None,
                        "fd": fd, "fd_sd": bootstrap_sd(f_x, f_held), "full_frame": full_frame_fraction(to_u8(x)),
                        "n": a.num_samples, "sampler_wall_s": secs,
                        "s_per_step_per_100": (secs / sample_steps * 100) if sample_steps else None})
        log(f"FD {s.name:>20}: {fd:9.3f}   (floor {floor:.3f})")
    # merged into an earlier report: the earlier settings_grid.png (all its settings) stays the card's
    save_settings_grid(run.out_dir, run.settings, samples,
                       merge_grid_name(run.settings) if a.merge_md else "settings_grid.png")
    return results, samples


def merge_grid_name(settings):
    return "settings_grid_" + "_".join(s.name for s in settings) + ".png"


def report(a, run, command, clf_info, floor, results, checks, nn, t_start):
    """Phase 7: results.json and results.md; exit status 1 when an engine check failed."""
    failed = [c["setting"] for c in checks if not c["ok"]]
    out = {"command": command, "model": run.model_dir, "model_key": run.model_key, "data": os.path.abspath(a.data),
           "data_sha256": run.data["sha256"], "seed": a.seed, "num_samples": a.num_samples, "threads": a.threads,
           "reference": {"split": "held-out", "n": int((run.data["split"] != 0).sum())},
           "scheduler_clip_sample": bool(run.sched_cfg.get("clip_sample", True)),
           "scheduler_clip_sample_range": float(run.sched_cfg.get("clip_sample_range", 1.0)),
           "classifier": clf_info, "floor": floor,
           "settings": results, "engine_check": {"k": run.k_check, "tolerance": ENGINE_TOL, "results": checks},
           "nearest_neighbours": nn,
           "elapsed_s": time.perf_counter() - t_start,
           "time": time.strftime("%Y-%m-%d %H:%M:%S %z")}
    if a.merge_md:
        with open(a.merge_md) as f:
            out.update(merge_md=f.read(), merge_md_path=a.merge_md, merge_grid=merge_grid_name(run.settings),
                       merge_new_classifier=a.merge_new_classifier)
    write_results(run.out_dir, out, a.json_out)
    log(f"wrote {os.path.join(run.out_dir, 'results.md')} and results.json"
        + (f" (and {a.json_out})" if a.json_out else "") + f" ({fmt_s(out['elapsed_s'])})")
    if failed:
        log(f"FAIL: the engine differs from diffusers by more than {ENGINE_TOL:g} (or did not run) for "
            f"{', '.join(failed)}")
        return 1
    return 0


def main(a):
    set_torch_threads(a.threads)
    t_start = time.perf_counter()
    command = command_line()
    model_dir = os.path.abspath(a.model)
    if a.json_out and not os.path.isdir(os.path.dirname(os.path.abspath(a.json_out))):
        raise SystemExit(f"--json-out {a.json_out}: its directory does not exist (create it, or pass another path)")
    if a.render_only:
        render_only(default_out_dir(a, model_dir), a.json_out)
        return 0
    sampling_device(a)  # an unusable --device is refused before the classifier and the floors
    if a.classifier and not os.path.isdir(os.path.dirname(os.path.abspath(a.classifier))):
        raise SystemExit(f"--classifier {a.classifier}: its directory does not exist (create it, or pass another "
                         "path)")
    if a.merge_md and not os.path.isfile(a.merge_md):
        raise SystemExit(f"--merge-md {a.merge_md} not found")
    run = prepare(a, model_dir)
    # phase 2: the classifier, the reference statistics (held-out split) and the floors
    clf, clf_info = get_classifier(run.data, run.out_dir, a.classifier_epochs, path=a.classifier)
    f_held, floor = reference_and_floor(clf, run.data, a.num_samples, a.seed)
    caches = sample_all(a, run)
    results, samples = score_settings(a, run, caches, clf, f_held, floor["fd"])
    # phases 5 and 6: the engine check and the nearest training images
    checks = check_engine(a.dp, a.seed, run.settings, run.check, run.k_check, run.model_dir, run.sched_path,
                          run.engine_root, samples)
    nn = nearest_neighbours(run.data, results, samples, a.nn_samples, run.out_dir)
    return report(a, run, command, clf_info, floor, results, checks, nn, t_start)


if __name__ == "__main__":
    sys.exit(main(args))
