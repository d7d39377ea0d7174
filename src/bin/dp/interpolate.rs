//! `dp interpolate`: images along a great circle between two seeds' x_T, each sampled with
//! deterministic DDIM.

use crate::args::{opt, Flag, Parsed};
use crate::common::{self, shape_str};
use crate::CliError;
use diffusion_playground::image::{self, Image};
use diffusion_playground::interpolate::slerp;
use diffusion_playground::scheduler::Sampler;
use diffusion_playground::{npy, rng};

pub const HELP: &str = "\
dp interpolate: a strip of images between two seeds (slerp of their x_T, DDIM eta 0)

Usage: dp interpolate --seeds A,B --out strip.png [OPTIONS]

  --model DIR               diffusers UNet2DModel folder [default: models/emoji32]
  --scheduler-config FILE   use this scheduler_config.json instead of the model folder's
  --seeds A,B               the two seeds whose x_T (the engine's seeded noise, as `dp sample
                            --seed`) are the ends
  --frames N                images in the strip, 2 to 64, ends included [default: 8]
  --steps S                 DDIM steps per image [default: 50]
  --backend gpu|cpu|reference   where it runs [default: gpu]
  --cell-px N               the smallest size of one image in the strip [default: 64]
  --out FILE.png            the frames in one row, left = seed A, right = seed B
  --save-npy FILE.npy       the frames as float32 (N, C, H, W)

Frame k starts from slerp(x_T(A), x_T(B), k / (N - 1)); frame 0 is `dp sample --seed A
--sampler ddim --eta 0` exactly and frame N-1 is seed B's.";

const FLAGS: &[Flag] = &[
    opt("--model", "DIR"),
    opt("--scheduler-config", "FILE"),
    opt("--seeds", "A,B"),
    opt("--frames", "N"),
    opt("--steps", "S"),
    opt("--backend", "gpu|cpu|reference"),
    opt("--cell-px", "N"),
    opt("--out", "FILE.png"),
    opt("--save-npy", "FILE.npy"),
];

fn seeds(p: &Parsed) -> Result<(u64, u64), CliError> {
    let bad = |v: &str| {
        CliError::usage(
            format!("`--seeds` expects two whole numbers A,B, got `{v}`"),
            "write e.g. `--seeds 3,17`",
        )
    };
    let raw = p
        .text("--seeds")
        .ok_or_else(|| CliError::usage("no --seeds given", "give the two ends: `--seeds 3,17`"))?;
    let (a, b) = raw.split_once(',').ok_or_else(|| bad(raw))?;
    match (a.trim().parse(), b.trim().parse()) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        _ => Err(bad(raw)),
    }
}

pub fn run(argv: &[String]) -> Result<(), CliError> {
    let p = Parsed::new("interpolate", FLAGS, argv)?;
    let (seed_a, seed_b) = seeds(&p)?;
    let frames = p
        .number::<usize>("--frames", "a whole number of frames from 2 to 64")?
        .unwrap_or(8);
    if !(2..=64).contains(&frames) {
        return Err(CliError::usage(
            format!("`--frames` is {frames}, but it must be 2 to 64"),
            "use e.g. `--frames 8` (both ends included)",
        ));
    }
    let steps = p
        .number::<usize>("--steps", "a whole number of steps, e.g. 50")?
        .unwrap_or(50);
    let cell_px = common::cell_px(&p)?;
    let backend = common::backend(&p)?;
    let (out, save) = common::outputs(
        p.path("--out"),
        p.path("--save-npy"),
        "dp interpolate --seeds 1,2 --out strip.png",
    )?;
    let (model, defaulted) = common::model_dir(p.path("--model"));
    let common::Model { unet, schedule, .. } =
        common::load_model(&model, defaulted, p.path("--scheduler-config").as_deref())?;
    let plan = schedule
        .plan(Sampler::Ddim { eta: 0.0 }, steps)
        .map_err(common::plan_error)?;
    let [c, h, w] = unet.sample_shape();
    let per = c * h * w;
    let (a, b) = (
        rng::initial_noise(seed_a, 1, per),
        rng::initial_noise(seed_b, 1, per),
    );
    let mut x_t = Vec::with_capacity(frames * per);
    for k in 0..frames {
        let t = if k + 1 == frames {
            1.0
        } else {
            k as f32 / (frames - 1) as f32
        };
        x_t.extend(slerp(&a, &b, t));
    }
    say!("interpolating seeds {seed_a} -> {seed_b}: {frames} frames, DDIM eta 0, {steps} steps");
    let (exec, _weights) = common::executor(backend, &unet, frames, &model)?;
    let (x, _) = pollster::block_on(diffusion_playground::sampler::run(
        exec.as_ref(),
        &unet,
        &plan,
        &x_t,
        0,
        false,
    ))
    .map_err(|e| common::engine_error(e, &model))?;
    say!("network evaluations {} ({steps} per frame)", frames * steps);
    let shape = [frames, c, h, w];
    if let Some(path) = &save {
        common::write_file(path, &npy::write(&shape, &x), "--save-npy")?;
        say!(
            "wrote     {} (float32 {})",
            path.display(),
            shape_str(&shape)
        );
    }
    if let Some(path) = &out {
        let scale = image::upscale_factor(h, w, cell_px);
        let fail =
            |e: image::ImageError| CliError::failed(e, "this is a bug in dp; please report it");
        let row = (0..frames)
            .map(|k| image::batch_image(&x, shape, k).map(|i| i.upscale(scale)))
            .collect::<Result<Vec<Image>, _>>()
            .map_err(fail)?;
        let strip = image::compose(&[row], 2, [255, 255, 255, 255]).map_err(fail)?;
        common::write_file(path, &strip.to_png().map_err(fail)?, "--out")?;
        say!(
            "wrote     {} ({}x{} px)",
            path.display(),
            strip.width,
            strip.height
        );
    }
    Ok(())
}
