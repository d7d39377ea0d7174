#!/usr/bin/env python3
"""Train an unconditional diffusers UNet2DModel (DDPM, epsilon, linear betas, T=1000) on
train/data/emoji32.npz.

Run dir (default ~/.cache/diffusion-playground/emoji32-run, outside the git tree):
  ckpt-<step>.pt   full checkpoints (model, EMA, optimizer, step, RNG states), atomic writes,
                   the newest two are kept
  ema-<step>.pt    EMA-only snapshots every --snapshot-every steps (kept; export from these)
  loss.csv         step,loss,lr,ema_decay,sec_per_step,elapsed_s (one row per step)
  eval.csv         held-out / train-subset losses on fixed noise, every --eval-every steps
  args.json        the arguments of the first start

`--resume` continues from the newest readable checkpoint (rows of loss.csv past it are
dropped, so the CSV stays one row per step).
"""
import argparse
import os
import sys

from common import limit_threads_env, set_torch_threads, sha256_file  # standard library only

DEFAULT_RUN_DIR = os.path.join(os.path.expanduser("~"), ".cache", "diffusion-playground", "emoji32-run")
HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(HERE, "data", "emoji32.npz"))
    ap.add_argument("--run-dir", default=DEFAULT_RUN_DIR)
    ap.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --run-dir "
                    "(starts fresh if there is none)")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for torch (default 2)")
    ap.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda, cuda:N")
    ap.add_argument("--amp", default="auto", choices=["auto", "bf16", "none"],
                    help="bf16 autocast: auto = on for CUDA with bf16 and for CPUs with AMX/AVX512-BF16")
    ap.add_argument("--init-from", default=None, metavar="MODEL_DIR",
                    help="warm start: the model and its EMA start from the weights of this diffusers model folder "
                    "(e.g. models/emoji32, whose weights are an EMA), with its architecture (the architecture "
                    "options are ignored); a fresh optimizer, learning-rate warm-up and step count, and the EMA "
                    "decay continues from the folder's card/training.json step. Not an exact resume: the optimizer "
                    "state and the data order of the original run are gone. Ignored when --resume finds a checkpoint")
    ap.add_argument("--max-steps", type=int, default=150_000, help="stop at this global step")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--warmup-steps", type=int, default=1000)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--grad-clip", type=float, default=1.0)
    ap.add_argument("--ema-max-decay", type=float, default=0.9999,
                    help="EMA decay = min(this, (1+step)/(10+step))")
    ap.add_argument("--flip-prob", type=float, default=0.5, help="horizontal-flip augmentation probability")
    ap.add_argument("--sampling", default="group", choices=["group", "uniform"],
                    help="group: every (set, base emoji) pair is drawn equally often, skin-tone variations "
                    "share their base emoji's weight; uniform: every image equally")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ckpt-minutes", type=float, default=5.0, help="checkpoint interval (wall-clock minutes)")
    ap.add_argument("--snapshot-every", type=int, default=10_000, help="EMA snapshot interval (steps)")
    ap.add_argument("--eval-every", type=int, default=1000, help="held-out evaluation interval (steps); 0 = off")
    ap.add_argument("--log-every", type=int, default=50)
    # architecture (ignored on resume: the checkpoint's config wins)
    ap.add_argument("--channels", default="32,64,128", help="block_out_channels")
    ap.add_argument("--layers-per-block", type=int, default=1)
    ap.add_argument("--attn-levels", default="2", help="comma-separated levels (0-based) with attention")
    ap.add_argument("--mid-attention", type=int, default=1, choices=[0, 1])
    ap.add_argument("--norm-groups", type=int, default=8)
    ap.add_argument("--head-dim", type=int, default=32, help="attention_head_dim")
    ap.add_argument("--dropout", type=float, default=0.0)
    return ap.parse_args(argv)


args = parse_args() if __name__ == "__main__" else None
if args is not None:
    limit_threads_env(args.threads)

import copy  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from diffusers import DDPMScheduler, UNet2DModel  # noqa: E402

SCHEDULER_CONFIG = dict(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02,
                        prediction_type="epsilon", variance_type="fixed_small", clip_sample=True)


def unet_config(a):
    ch = tuple(int(c) for c in a.channels.split(","))
    attn = {int(x) for x in a.attn_levels.split(",") if x.strip()}
    down = tuple("AttnDownBlock2D" if i in attn else "DownBlock2D" for i in range(len(ch)))
    up = tuple("AttnUpBlock2D" if (len(ch) - 1 - i) in attn else "UpBlock2D" for i in range(len(ch)))
    return dict(
        sample_size=32, in_channels=3, out_channels=3, center_input_sample=False,
        time_embedding_type="positional", flip_sin_to_cos=True, freq_shift=0,
        down_block_types=down, up_block_types=up, block_out_channels=ch,
        layers_per_block=a.layers_per_block, mid_block_type="UNetMidBlock2D", add_attention=bool(a.mid_attention),
        downsample_type="conv", upsample_type="conv", dropout=a.dropout, act_fn="silu",
        attention_head_dim=a.head_dim, norm_num_groups=a.norm_groups, norm_eps=1e-5,
        resnet_time_scale_shift="default",
    )


def load_init(model_dir):
    """--init-from: the UNet config, float32 state dict, weights sha256 and training step (from
    card/training.json, 0 when absent) of a diffusers model folder; a clear error when it is not one."""
    cfg_path = os.path.join(model_dir, "config.json")
    st_path = os.path.join(model_dir, "diffusion_pytorch_model.safetensors")
    for p in (cfg_path, st_path):
        if not os.path.isfile(p):
            raise SystemExit(f"--init-from {model_dir}: {os.path.basename(p)} not found (pass a diffusers "
                             f"UNet2DModel folder such as models/emoji32)")
    from safetensors.torch import load_file
    with open(cfg_path) as f:
        config = {k: v for k, v in json.load(f).items() if not k.startswith("_")}
    state = {k: v.float() for k, v in load_file(st_path).items()}
    step = 0
    facts = os.path.join(model_dir, "card", "training.json")
    if os.path.isfile(facts):
        with open(facts) as f:
            step = int(json.load(f).get("step") or 0)
    return dict(config=config, state_dict=state, sha256=sha256_file(st_path), step=step)


def ema_decay(step, max_decay):
    return min(max_decay, (1.0 + step) / (10.0 + step))


def cpu_has_fast_bf16():
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def list_checkpoints(run_dir, prefix="ckpt"):
    out = []
    for p in glob.glob(os.path.join(run_dir, f"{prefix}-*.pt")):
        m = re.fullmatch(rf"{prefix}-(\d+)\.pt", os.path.basename(p))
        if m:
            out.append((int(m.group(1)), p))
    return sorted(out)


def atomic_save(obj, path):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:  # make the rename durable
        dfd = os.open(os.path.dirname(path), os.O_RDONLY)
        os.fsync(dfd)
        os.close(dfd)
    except OSError:
        pass


def load_dataset(path):
    d = np.load(path)
    train = d["split"] == 0
    imgs = torch.from_numpy(d["images"]).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)  # N,3,32,32 in [-1,1]
    # sampling weights: each (set, group) pair gets total weight 1
    key = d["set"].astype(np.int64) * 100000 + d["group"].astype(np.int64)
    return dict(images=imgs, train=torch.from_numpy(train), key=key, names=d["names"])


def main(a):
    set_torch_threads(a.threads)
    if a.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(a.device)
    if a.amp == "auto":
        use_bf16 = (torch.cuda.is_bf16_supported() if device.type == "cuda" else cpu_has_fast_bf16())
    else:
        use_bf16 = a.amp == "bf16"

    os.makedirs(a.run_dir, exist_ok=True)
    ckpts = list_checkpoints(a.run_dir)
    if ckpts and not a.resume:
        raise SystemExit(f"{a.run_dir} already holds checkpoints (newest {ckpts[-1][1]}); "
                         f"pass --resume to continue or choose another --run-dir")

    # ---- data
    ds = load_dataset(a.data)
    data_sha = sha256_file(a.data)
    train_idx = torch.nonzero(ds["train"]).squeeze(1)
    held_idx = torch.nonzero(~ds["train"]).squeeze(1)
    images = ds["images"].to(device)
    if a.sampling == "group":
        keys = ds["key"][train_idx.numpy()]
        _, inv, counts = np.unique(keys, return_inverse=True, return_counts=True)
        weights = torch.from_numpy(1.0 / counts[inv]).float()
    else:
        weights = torch.ones(len(train_idx))

    # ---- model / state
    resume = None
    if a.resume and ckpts:
        for step_k, path in reversed(ckpts):
            try:
                resume = torch.load(path, map_location="cpu", weights_only=False)
                print(f"resuming from {path} (step {resume['step']})", flush=True)
                break
            except Exception as e:  # noqa: BLE001 - a torn/corrupt file: fall back to the older one
                print(f"could not read {path}: {e}", flush=True)
        if resume is None:
            raise SystemExit("no readable checkpoint")
    elif a.resume:
        print(f"--resume: no checkpoint in {a.run_dir}, starting fresh", flush=True)

    init = None
    if a.init_from and not resume:
        init = load_init(a.init_from)
        a.init_from_sha256, a.init_from_step = init["sha256"], init["step"]
        print(f"warm start from {a.init_from} (weights sha256 {init['sha256'][:12]}, its step {init['step']}): "
              f"fresh optimizer and step count", flush=True)
    config = resume["unet_config"] if resume else (init["config"] if init else unet_config(a))
    if resume and resume.get("data_sha256") != data_sha:
        print(f"WARNING: dataset sha256 differs from the checkpoint's ({resume.get('data_sha256')})", flush=True)

    if not resume:
        random.seed(a.seed)
        np.random.seed(a.seed)
        torch.manual_seed(a.seed)
    model = UNet2DModel(**config).to(device)
    if init:
        model.load_state_dict(init["state_dict"])
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=a.weight_decay)
    gen = torch.Generator(device="cpu")
    gen.manual_seed(a.seed)
    step = 0
    elapsed = 0.0
    if resume:
        model.load_state_dict(resume["model"])
        ema.load_state_dict(resume["ema"])
        opt.load_state_dict(resume["optimizer"])
        step = resume["step"]
        elapsed = resume.get("elapsed_s", 0.0)
        gen.set_state(resume["rng"]["data"])
        torch.set_rng_state(resume["rng"]["torch"])
        np.random.set_state(resume["rng"]["numpy"])
        random.setstate(resume["rng"]["python"])
        if device.type == "cuda" and resume["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(resume["rng"]["cuda"], device)
    else:
        with open(os.path.join(a.run_dir, "args.json"), "w") as f:
            json.dump(dict(vars(a), unet_config=config, scheduler_config=SCHEDULER_CONFIG, data_sha256=data_sha),
                      f, indent=1, default=list)
    model.train()
    n_params = sum(p.numel() for p in model.parameters())
    sched = DDPMScheduler(**SCHEDULER_CONFIG)
    acp = sched.alphas_cumprod.to(device)
    print(f"device {device}, threads {torch.get_num_threads()}, bf16 autocast {use_bf16}, "
          f"params {n_params / 1e6:.3f} M, train images {len(train_idx)}, held-out {len(held_idx)}, "
          f"batch {a.batch_size}, step {step} -> {a.max_steps}", flush=True)
    print(f"unet config: {json.dumps(config, default=list)}", flush=True)

    # ---- fixed evaluation batches (same noise/timesteps every time)
    eg = torch.Generator().manual_seed(12345)
    n_eval = min(256, len(held_idx))
    eval_sets = {}
    for name, pool in (("heldout", held_idx), ("train", train_idx)):
        sel = pool[torch.randperm(len(pool), generator=eg)[:n_eval]]
        t = (torch.arange(n_eval) * SCHEDULER_CONFIG["num_train_timesteps"] // n_eval).long()  # stratified
        noise = torch.randn(n_eval, 3, 32, 32, generator=eg)
        eval_sets[name] = (sel, t, noise)

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16)

    @torch.no_grad()
    def evaluate(net):
        out = {}
        for name, (sel, t, noise) in eval_sets.items():
            tot = 0.0
            for i in range(0, n_eval, 64):
                x0 = images[sel[i:i + 64]]
                tt, nn_ = t[i:i + 64].to(device), noise[i:i + 64].to(device)
                ac = acp[tt].view(-1, 1, 1, 1)
                xt = ac.sqrt() * x0 + (1 - ac).sqrt() * nn_
                with autocast():
                    pred = net(xt, tt).sample
                tot += F.mse_loss(pred.float(), nn_, reduction="sum").item()
            out[name] = tot / (n_eval * 3 * 32 * 32)
        return out

    # ---- logs (drop rows past the resumed step so the CSV has one row per step)
    loss_path = os.path.join(a.run_dir, "loss.csv")
    eval_path = os.path.join(a.run_dir, "eval.csv")
    for path, header in ((loss_path, "step,loss,lr,ema_decay,sec_per_step,elapsed_s"),
                         (eval_path, "step,heldout_model,heldout_ema,train_model,train_ema")):
        rows = []
        if os.path.exists(path):
            with open(path) as f:
                rows = [r for r in f.read().splitlines()[1:] if r and int(r.split(",")[0]) <= step]
        with open(path + ".tmp", "w") as f:
            f.write(header + "\n" + "".join(r + "\n" for r in rows))
        os.replace(path + ".tmp", path)
    loss_f = open(loss_path, "a", buffering=1 << 16)
    eval_f = open(eval_path, "a", buffering=1)

    stop = {"flag": False}

    def on_signal(signum, _frame):
        print(f"signal {signum}: checkpointing and stopping", flush=True)
        stop["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    saved = {"step": step if resume else None}

    def save_checkpoint():
        loss_f.flush()
        state = dict(
            step=step, elapsed_s=elapsed, unet_config=config, scheduler_config=SCHEDULER_CONFIG,
            model=model.state_dict(), ema=ema.state_dict(), optimizer=opt.state_dict(), args=vars(a),
            data_sha256=data_sha,
            rng=dict(data=gen.get_state(), torch=torch.get_rng_state(), numpy=np.random.get_state(),
                     python=random.getstate(),
                     cuda=torch.cuda.get_rng_state(device) if device.type == "cuda" else None),
        )
        path = os.path.join(a.run_dir, f"ckpt-{step:08d}.pt")
        atomic_save(state, path)
        for _, old in list_checkpoints(a.run_dir)[:-2]:
            os.remove(old)
        saved["step"] = step
        print(f"step {step}: checkpoint {path}", flush=True)

    def save_snapshot():
        path = os.path.join(a.run_dir, f"ema-{step:08d}.pt")
        atomic_save(dict(step=step, unet_config=config, scheduler_config=SCHEDULER_CONFIG, ema=ema.state_dict(),
                         data_sha256=data_sha), path)
        print(f"step {step}: EMA snapshot {path}", flush=True)

    params = [p for p in model.parameters()]
    ema_params = [p for p in ema.parameters()]
    last_ckpt = time.monotonic()
    win_loss, win_n, win_t = 0.0, 0, 0.0
    while step < a.max_steps and not stop["flag"]:
        t0 = time.perf_counter()
        lr = a.lr * min(1.0, (step + 1) / max(1, a.warmup_steps))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = train_idx[torch.multinomial(weights, a.batch_size, replacement=True, generator=gen)]
        flip = torch.rand(a.batch_size, generator=gen) < a.flip_prob
        t = torch.randint(0, SCHEDULER_CONFIG["num_train_timesteps"], (a.batch_size,), generator=gen)
        noise = torch.randn(a.batch_size, 3, 32, 32, generator=gen)
        x0 = images[idx.to(device)]
        x0 = torch.where(flip.to(device).view(-1, 1, 1, 1), x0.flip(3), x0)
        t, noise = t.to(device), noise.to(device)
        ac = acp[t].view(-1, 1, 1, 1)
        xt = ac.sqrt() * x0 + (1 - ac).sqrt() * noise
        with autocast():
            pred = model(xt, t).sample
        loss = F.mse_loss(pred.float(), noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if a.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, a.grad_clip)
        opt.step()
        d = ema_decay(step + (getattr(a, "init_from_step", None) or 0), a.ema_max_decay)
        with torch.no_grad():
            torch._foreach_lerp_(ema_params, params, 1.0 - d)
        step += 1
        lv = loss.item()
        dt = time.perf_counter() - t0
        elapsed += dt
        loss_f.write(f"{step},{lv:.6f},{lr:.3e},{d:.6f},{dt:.4f},{elapsed:.1f}\n")
        win_loss += lv
        win_n += 1
        win_t += dt
        if not math.isfinite(lv):
            raise SystemExit(f"step {step}: loss is {lv}; stopping without checkpointing")
        if step % a.log_every == 0:
            print(f"step {step} loss {win_loss / win_n:.4f} lr {lr:.2e} ema {d:.5f} {win_t / win_n:.3f} s/step "
                  f"elapsed {elapsed / 3600:.2f} h", flush=True)
            win_loss, win_n, win_t = 0.0, 0, 0.0
            loss_f.flush()
        if a.eval_every and step % a.eval_every == 0:
            model.eval()
            em, ee = evaluate(model), evaluate(ema)
            model.train()
            eval_f.write(f"{step},{em['heldout']:.6f},{ee['heldout']:.6f},{em['train']:.6f},{ee['train']:.6f}\n")
            print(f"step {step} eval: held-out model {em['heldout']:.4f} ema {ee['heldout']:.4f} | "
                  f"train model {em['train']:.4f} ema {ee['train']:.4f}", flush=True)
        if a.snapshot_every and step % a.snapshot_every == 0:
            save_snapshot()
        if time.monotonic() - last_ckpt >= a.ckpt_minutes * 60:
            save_checkpoint()
            last_ckpt = time.monotonic()
    if saved["step"] != step:
        save_checkpoint()
    loss_f.close()
    eval_f.close()
    print(f"stopped at step {step}", flush=True)


if __name__ == "__main__":
    sys.exit(main(args))
