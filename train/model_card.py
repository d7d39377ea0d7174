#!/usr/bin/env python3
"""Write the model card of an exported model (models/emoji32/README.md) and its pictures.

Everything in the card is measured, by the commands the card lists:

  card/training.json   training facts written by train/export.py (step, wall time, hardware)
  card/loss.png        train/plot_loss.py on the run dir (kept as is when the run dir is gone)
  card/ddpm1000.png    our Rust engine's CLI: DDPM 1000 steps   } same seed, same x_T,
  card/ddim50.png      DDIM 50 steps, eta 0                     } --batch images each
  card/ddim10.png      DDIM 10 steps, eta 0                     }
  card/trajectory_*.png  image 0's x_t and predicted x_0 along the DDIM 50 and DDPM 1000 runs
  card/quality.md, card/quality.json, card/nn_*.png   copied from train/quality.py's output dir
                       (--quality: its results.md, results.json and PNGs)
  card/inversion.md    train/inversion_error.py (DDIM inversion error on held-out images), linked when present
  card/notes.md        optional, written by hand: what the numbers and pictures show; kept as is

Engine runs whose PNG already exists are skipped unless --force (DDPM 1000 steps takes
~20-40 min on a software Vulkan driver). Run from the repository root:

  train/.venv/bin/python train/model_card.py --model models/emoji32 \\
      --quality ~/.cache/diffusion-playground/quality/emoji32
"""
import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from export import LICENCE_TEXT  # noqa: E402

DEFAULT_RUN_DIR = os.path.join(os.path.expanduser("~"), ".cache", "diffusion-playground", "emoji32-run")

# (file stem, dp arguments, caption)
GRIDS = [
    ("ddpm1000", ["--sampler", "ddpm", "--steps", "1000"], "DDPM, 1000 steps (the scheduler's variance)"),
    ("ddim50", ["--sampler", "ddim", "--steps", "50", "--eta", "0"], "DDIM, 50 steps, eta 0"),
    ("ddim10", ["--sampler", "ddim", "--steps", "10", "--eta", "0"], "DDIM, 10 steps, eta 0"),
]
TRAJECTORIES = {"ddim50": "trajectory_ddim50.png", "ddpm1000": "trajectory_ddpm1000.png"}


def safetensors_facts(path):
    """(parameter count, dtypes) from the safetensors header, without loading the weights."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    count = 0
    for info in header.values():
        k = 1
        for d in info["shape"]:
            k *= d
        count += k
    return count, sorted({info["dtype"] for info in header.values()})


def rel(path):
    return os.path.relpath(path, REPO)


def run_dp(dp, model, card, stem, extra, seed, batch, force):
    out = os.path.join(card, f"{stem}.png")
    log = os.path.join(card, f"{stem}.log")
    cmd = [rel(dp), "sample", "--model", rel(model), *extra, "--seed", str(seed), "--batch", str(batch),
           "--out", rel(out)]
    if stem in TRAJECTORIES:
        cmd += ["--trajectory", rel(os.path.join(card, TRAJECTORIES[stem]))]
    if os.path.exists(out) and os.path.exists(log) and not force:
        print(f"kept {rel(out)} (--force to redo)")
    else:
        print("running", " ".join(cmd), flush=True)
        env = dict(os.environ)
        env.setdefault("WGPU_BACKEND", "vulkan")
        r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
        with open(log, "w") as f:
            f.write(r.stdout + r.stderr)
    with open(log) as f:
        summary = next((line.strip() for line in f if line.startswith("total")), "")
    return " ".join(cmd), summary


def tilde(path):
    home = os.path.expanduser("~")
    return "~" + path[len(home):] if path.startswith(home + os.sep) else path


def device_of(summary):
    """The adapter named at the end of dp's `total ... fastest X (adapter)` line."""
    m = re.search(r"fastest [\d.]+ \((.*)\)\s*$", summary)
    return m.group(1) if m else "the local GPU"


def hours(seconds):
    return f"{seconds / 3600:.1f} h" if seconds else "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(REPO, "models", "emoji32"))
    ap.add_argument("--run-dir", default=DEFAULT_RUN_DIR, help="training run dir (for the loss curve)")
    ap.add_argument("--quality", default=None, help="train/quality.py output dir (results.md, results.json, nn_*.png, settings_grid*.png)")
    ap.add_argument("--dp", default=os.path.join(REPO, "target", "release", "dp"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--force", action="store_true", help="redo engine runs whose PNG exists")
    a = ap.parse_args()

    model = os.path.abspath(a.model)
    card = os.path.join(model, "card")
    facts_path = os.path.join(card, "training.json")
    st = os.path.join(model, "diffusion_pytorch_model.safetensors")
    for p, hint in ((st, "export a checkpoint first: train/export.py --out " + rel(model)),
                    (facts_path, "re-export with the current train/export.py, which writes it")):
        if not os.path.exists(p):
            raise SystemExit(f"{p} is missing: {hint}")
    if not os.path.exists(a.dp):
        raise SystemExit(f"{a.dp} is missing: build it with `cargo build --release --bin dp`")
    with open(facts_path) as f:
        facts = json.load(f)
    with open(os.path.join(model, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(model, "scheduler_config.json")) as f:
        sched = json.load(f)
    n_params, dtypes = safetensors_facts(st)
    size = os.path.getsize(st)

    # loss curve
    loss_png = os.path.join(card, "loss.png")
    loss_cmd = f"train/.venv/bin/python train/plot_loss.py --run-dir {tilde(a.run_dir)} --out {rel(loss_png)}"
    if os.path.exists(os.path.join(a.run_dir, "loss.csv")):
        subprocess.run([sys.executable, os.path.join(HERE, "plot_loss.py"), "--run-dir", a.run_dir,
                        "--out", loss_png], check=True)
    elif not os.path.exists(loss_png):
        raise SystemExit(f"no {a.run_dir}/loss.csv and no {loss_png}: pass --run-dir")

    # engine grids
    grids = [(stem, caption, *run_dp(a.dp, model, card, stem, extra, a.seed, a.batch, a.force))
             for stem, extra, caption in GRIDS]

    # quality
    quality_md = ""
    if a.quality:
        src = os.path.join(a.quality, "results.md")
        if not os.path.exists(src):
            raise SystemExit(f"{src} is missing: run train/quality.py first (see train/README.md)")
        shutil.copy(src, os.path.join(card, "quality.md"))
        if os.path.exists(os.path.join(a.quality, "results.json")):
            # the raw numbers behind the table (the same file quality.py --json-out writes)
            shutil.copy(os.path.join(a.quality, "results.json"), os.path.join(card, "quality.json"))
        for png in sorted(os.listdir(a.quality)):
            if (png.startswith("nn_") or png.startswith("settings_grid")) and png.endswith(".png"):
                shutil.copy(os.path.join(a.quality, png), os.path.join(card, png))
    if os.path.exists(os.path.join(card, "quality.md")):
        with open(os.path.join(card, "quality.md")) as f:
            # nest quality.py's headings under the card's "## Quality"; its PNGs live in card/
            quality_md = re.sub(r"^(#+) ", lambda m: "#" * (len(m.group(1)) + 2) + " ", f.read().strip(), flags=re.M)
            quality_md = re.sub(r"\b(nn_[\w.-]+\.png)\b", r"[\1](card/\1)", quality_md)
            quality_md = re.sub(r"\]\(([\w.-]+\.png)\)", r"](card/\1)", quality_md)  # embedded images

    # hand-written reading of the measured numbers and pictures (kept across regenerations)
    notes_path = os.path.join(card, "notes.md")
    notes_md = ""
    if os.path.exists(notes_path):
        with open(notes_path) as f:
            notes_md = f.read().strip()

    # DDIM inversion error on held-out images (train/inversion_error.py), linked when measured
    inversion_md = ""
    if os.path.exists(os.path.join(card, "inversion.md")):
        inversion_md = ("\n\nDDIM inversion (image -> x_T -> image) on held-out emoji, its reconstruction error at 50 "
                        "and 100 steps and a check against diffusers: [card/inversion.md](card/inversion.md) "
                        "(`train/inversion_error.py`).")

    blocks = config["down_block_types"]
    hp = facts.get("hyperparameters", {})
    init = facts.get("init_from")
    warm_md = "" if not init else (
        f"- **A warm start, not an exact resume**: training began from the weights of `{init['model']}` "
        f"(sha256 `{str(init['weights_sha256'])[:12]}…`, an EMA after {init['step']:,} steps), with a fresh "
        f"optimizer, learning-rate warm-up and step count; the original run's optimizer state and data order "
        f"were gone. The EMA decay continued from step {init['step']:,}. The steps below are this run's only.\n")
    starts = "\n".join(f"  - `{s}`" for s in facts.get("train_starts", [])) or "  - (no train.log)"
    grid_md = "\n\n".join(
        f"**{caption}** — `{cmd}`  \n{summary}\n\n![{caption}](card/{stem}.png)" for stem, caption, cmd, summary in grids)
    text = f"""# emoji32: an unconditional 32x32 emoji denoiser (diffusers `UNet2DModel`, DDPM)

The default model of the diffusion playground. Trained from scratch in this repository
(`train/`), stored in the diffusers format any `UNet2DModel` checkpoint uses:
`config.json`, `scheduler_config.json`, `diffusion_pytorch_model.safetensors` ({", ".join(dtypes)},
{size:,} bytes). Loads with `UNet2DModel.from_pretrained("models/emoji32")` and in our engine;
the two agree on a forward pass to ~1e-6 (`cargo test --test default_model`, tolerance 1e-3).

Images are RGB in [-1, 1] on a white background; sample shape 3x32x32.

## Architecture

| | |
|---|---|
| parameters | {n_params:,} ({n_params / 1e6:.2f} M) |
| `block_out_channels` | {tuple(config["block_out_channels"])}, `layers_per_block` {config["layers_per_block"]}, `norm_num_groups` {config["norm_num_groups"]} |
| down blocks | {", ".join(blocks)} |
| up blocks | {", ".join(config["up_block_types"])} |
| mid block | {config.get("mid_block_type", "UNetMidBlock2D")}, attention head dim {config["attention_head_dim"]} |
| time embedding | {config["time_embedding_type"]}, flip_sin_to_cos {config["flip_sin_to_cos"]}, freq_shift {config["freq_shift"]} |
| scheduler | DDPMScheduler, {sched["beta_schedule"]} betas {sched["beta_start"]}..{sched["beta_end"]}, T = {sched["num_train_timesteps"]}, {sched["prediction_type"]} prediction, variance `{sched.get("variance_type", "fixed_small")}`, clip_sample {sched.get("clip_sample", True)} |

## Training

{warm_md}- {facts["step"]:,} steps of batch {hp.get("batch_size")} (AdamW, lr {hp.get("lr")}, warm-up {hp.get("warmup_steps")} steps,
  grad clip {hp.get("grad_clip")}, horizontal flips p={hp.get("flip_prob")}, `{hp.get("sampling")}` sampling of base emoji);
  the shipped weights are the EMA (decay min({hp.get("ema_max_decay")}, (1+step)/(10+step))) of checkpoint
  `{facts["checkpoint"]}`, exported {facts["exported_utc"]} UTC by `train/export.py`.
- Wall time: {hours(facts.get("elapsed_s"))} of training-step time, on {facts.get("cuda_device") or facts.get("cpu_model_at_export") or "unknown hardware"}
  (CPU unless a CUDA device is named). Each (re)start of `train/train.py`:
{starts}
- Dataset sha256 `{facts.get("data_sha256")}` (`train/build_dataset.py` recreates it byte for byte).
- Loss per step (thin) and its moving average; held-out / train evaluation on fixed noise (dots).
  `{loss_cmd}`

![training loss](card/loss.png)

## Samples from our engine

Made by the playground's Rust CLI (`dp`, WGSL kernels on {device_of(grids[-1][3])}),
seed {a.seed}, {a.batch} images each, the same x_T in every grid, so image k is the same
starting noise under each sampler. `card/*.log` hold the full per-step timings.

{grid_md}

Trajectory of image 0 (top: x_t, bottom: the model's prediction of x_0), DDIM 50 and DDPM 1000:

![DDIM 50 trajectory](card/trajectory_ddim50.png)

![DDPM 1000 trajectory](card/trajectory_ddpm1000.png)

## Quality

{quality_md or "Not measured yet: run train/quality.py and pass its output dir to train/model_card.py --quality."}{inversion_md}
{"" if not notes_md else chr(10) + "### Reading the numbers (written by hand, `card/notes.md`)" + chr(10) + chr(10) + notes_md + chr(10)}

{LICENCE_TEXT}
Regenerate this card with `train/.venv/bin/python train/model_card.py --model {rel(model)} --quality <quality dir>`.
"""
    with open(os.path.join(model, "README.md"), "w") as f:
        f.write(text)
    print(f"wrote {rel(os.path.join(model, 'README.md'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
