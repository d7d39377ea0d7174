//! `dp invert`: DDIM inversion, an image x_0 to the x_T that DDIM (eta 0) maps back to it.

use crate::args::{opt, Flag, Parsed};
use crate::common::{self, shape_str};
use crate::CliError;
use diffusion_playground::npy;
use diffusion_playground::scheduler::Sampler;
use std::path::PathBuf;

pub const HELP: &str = "\
dp invert: DDIM inversion of images to their noise x_T

Usage: dp invert --input x0.npy --out xT.npy [OPTIONS]

  --model DIR               diffusers UNet2DModel folder [default: models/emoji32]
  --scheduler-config FILE   use this scheduler_config.json instead of the model folder's
  --input FILE.npy          the images x_0: float32 (B, C, H, W) in [-1, 1], the model's
                            sample shape
  --steps N                 inversion steps [default: 50]
  --clip checkpoint|off|clip
                            the clamp of the predicted x_0 in both passes: the scheduler
                            config's clip_sample, none (diffusers' clip_sample=False), or clip
                            to clip_sample_range [default: checkpoint]
  --backend gpu|cpu|reference   where it runs [default: gpu]
  --out FILE.npy            x_T as float32 (B, C, H, W)
  --reconstruct FILE.npy    also run DDIM (eta 0, the same steps and --clip) back from x_T,
                            write the result here and print its mean and largest absolute error

The loop is diffusers' `DDIMInverseScheduler.from_config(config)` with `set_timesteps(N)`:
for t in timesteps (ascending): eps = unet(x, t); x = step(eps, t, x); `--clip off` is
`from_config(config, clip_sample=False)`. `dp sample --sampler ddim --eta 0 --steps N
--clip C --init-noise xT.npy` decodes x_T again.";

const FLAGS: &[Flag] = &[
    opt("--model", "DIR"),
    opt("--scheduler-config", "FILE"),
    opt("--input", "FILE.npy"),
    opt("--steps", "N"),
    opt("--clip", "checkpoint|off|clip"),
    opt("--backend", "gpu|cpu|reference"),
    opt("--out", "FILE.npy"),
    opt("--reconstruct", "FILE.npy"),
];

pub fn run(argv: &[String]) -> Result<(), CliError> {
    let p = Parsed::new("invert", FLAGS, argv)?;
    let input: PathBuf = p.path("--input").ok_or_else(|| {
        CliError::usage(
            "no --input given",
            "give the images to invert: `--input x0.npy` (float32 (B, C, H, W) in [-1, 1])",
        )
    })?;
    let out: PathBuf = p.path("--out").ok_or_else(|| {
        CliError::usage("no --out given", "give the file for x_T: `--out xT.npy`")
    })?;
    let steps = p
        .number::<usize>("--steps", "a whole number of steps, e.g. 50")?
        .unwrap_or(50);
    // "recompute" is DDIM's use_clipped_model_output, which DDIMInverseScheduler lacks.
    let clipping = common::clipping(&p, &["checkpoint", "off", "clip"])?;
    let backend = common::backend(&p)?;
    let reconstruct = p.path("--reconstruct");
    common::check_output(&out, "--out")?;
    if let Some(path) = &reconstruct {
        common::check_output(path, "--reconstruct")?;
    }
    let (model, defaulted) = common::model_dir(p.path("--model"));
    let common::Model {
        unet,
        config_source: source,
        schedule,
        ..
    } = common::load_model(&model, defaulted, p.path("--scheduler-config").as_deref())?;
    let plan = schedule
        .plan_clipped(Sampler::DdimInverse, steps, clipping)
        .map_err(common::plan_error)?;
    let sample = unet.sample_shape();
    let x0 = common::read_batch(&input, "--input", sample)?;
    let batch = x0.shape[0];
    let fail = |e| common::engine_error(e, &model);
    say!("scheduler {source}");
    say!(
        "inverting {} ({} images) with inverse DDIM, {steps} steps, clip {}: timesteps {} .. {}",
        input.display(),
        batch,
        clipping.as_str(),
        plan.timesteps[0],
        plan.timesteps[plan.timesteps.len() - 1]
    );
    let (exec, _weights) = common::executor(backend, &unet, batch, &model)?;
    let (x_t, _) = pollster::block_on(diffusion_playground::sampler::run(
        exec.as_ref(),
        &unet,
        &plan,
        &x0.data,
        0,
        false,
    ))
    .map_err(fail)?;
    common::write_file(&out, &npy::write(&x0.shape, &x_t), "--out")?;
    say!("network evaluations {}", plan.timesteps.len());
    say!(
        "wrote     {} (float32 {})",
        out.display(),
        shape_str(&x0.shape)
    );
    if let Some(path) = reconstruct {
        let back = schedule
            .plan_clipped(Sampler::Ddim { eta: 0.0 }, steps, clipping)
            .map_err(common::plan_error)?;
        let (x, _) = pollster::block_on(diffusion_playground::sampler::run(
            exec.as_ref(),
            &unet,
            &back,
            &x_t,
            0,
            false,
        ))
        .map_err(fail)?;
        let err: Vec<f64> = x
            .iter()
            .zip(&x0.data)
            .map(|(a, b)| f64::from((a - b).abs()))
            .collect();
        let mean = err.iter().sum::<f64>() / err.len() as f64;
        let max = err.iter().fold(0.0f64, |m, &e| m.max(e));
        common::write_file(&path, &npy::write(&x0.shape, &x), "--reconstruct")?;
        say!("reconstruction (DDIM eta 0, {steps} steps): mean abs error {mean:.5}, max {max:.5}");
        say!("wrote     {}", path.display());
    }
    Ok(())
}
