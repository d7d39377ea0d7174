//! `dp forward`: one UNet evaluation of a `.npy` batch, on the GPU or the CPU reference.

use crate::args::{opt, switch, Flag, Parsed};
use crate::common::{self, ms, shape_str};
use crate::CliError;
use diffusion_playground::exec::gpu::{GpuNet, GpuWeights};
use diffusion_playground::exec::reference;
use diffusion_playground::npy;
use std::time::Instant;

pub const HELP: &str = "\
dp forward: one UNet evaluation, writing the raw model output

Usage: dp forward --model DIR --input x.npy --timestep T --out eps.npy [--cpu]

  --model DIR       diffusers UNet2DModel folder [default: models/emoji32]
  --input FILE.npy  float32 (N, C, H, W): batch and spatial size come from the file
                    (H and W must be divisible by 2^(number of downsamplings))
  --timestep T      the timestep for every sample (a number, e.g. 999)
  --out FILE.npy    the model output, float32 (N, out_channels, H, W)
  --cpu             run the plain-loop CPU reference instead of the GPU (slow)

Example:
  dp forward --model tests/fixtures/models/tiny --input tests/fixtures/models/tiny/input.npy \\
     --timestep 421 --out eps.npy";

const FLAGS: &[Flag] = &[
    opt("--model", "DIR"),
    opt("--input", "FILE.npy"),
    opt("--timestep", "T"),
    opt("--out", "FILE.npy"),
    switch("--cpu"),
];

fn required(p: &Parsed, name: &str, meta: &str) -> Result<std::path::PathBuf, CliError> {
    p.path(name).ok_or_else(|| {
        CliError::usage(
            format!("`dp forward` needs {name}"),
            format!("add `{name} {meta}`; run `dp forward --help`"),
        )
    })
}

pub fn run(argv: &[String]) -> Result<(), CliError> {
    let p = Parsed::new("forward", FLAGS, argv)?;
    let input = required(&p, "--input", "x.npy")?;
    let out = required(&p, "--out", "eps.npy")?;
    let t = p
        .number::<f32>("--timestep", "a number, e.g. 999")?
        .ok_or_else(|| {
            CliError::usage("`dp forward` needs --timestep", "add e.g. `--timestep 999`")
        })?;
    if !t.is_finite() {
        return Err(CliError::usage(
            format!("`--timestep` is {t}, which is not a finite number"),
            "use a timestep such as 999",
        ));
    }
    common::check_output(&out, "--out")?;
    let cpu = p.has("--cpu");
    let (dir, defaulted) = common::model_dir(p.path("--model"));

    let checkpoint = common::load_checkpoint(&dir, defaulted)?;
    // The model was trained on 0..T (T from its scheduler config, diffusers' default 1000).
    let steps = checkpoint
        .scheduler
        .as_ref()
        .map_or(1000, |s| s.num_train_timesteps);
    if !(t >= 0.0 && t < steps as f32) {
        return Err(CliError::usage(
            format!("`--timestep` is {t}, outside the model's training timesteps 0 to {steps}"),
            format!("use a timestep t with 0 <= t < {steps}, e.g. {}", steps - 1),
        ));
    }
    let x = common::read_npy(&input, "--input")?;
    let channels = checkpoint.unet.config.in_channels;
    if x.shape.len() != 4 || x.shape[1] != channels || x.shape[0] == 0 || x.shape[0] > 1024 {
        return Err(CliError::usage(
            format!(
                "--input `{}` has shape {}, but the model takes (N, {channels}, H, W) with N from 1 to 1024",
                input.display(),
                shape_str(&x.shape)
            ),
            format!("save the input as float32 with shape (batch, {channels}, height, width)"),
        ));
    }
    let (batch, h, w) = (x.shape[0], x.shape[2], x.shape[3]);
    let unet = checkpoint.unet.with_sample_hw(h, w).map_err(|e| {
        CliError::usage(
            format!("--input `{}`: {e}", input.display()),
            "give an input whose height and width are what the message asks for",
        )
    })?;
    let out_shape = [batch, unet.config.out_channels, h, w];

    let (eps, took, device) = if cpu {
        let graph = unet
            .graph(batch)
            .map_err(|e| common::model_error(e, &dir))?;
        let start = Instant::now();
        let eps = reference::forward(&unet, &graph, &x.data, t)
            .map_err(|e| common::engine_error(e, &dir))?;
        (eps, start.elapsed(), "CPU reference executor".to_string())
    } else {
        let gpu = common::gpu()?;
        let weights = GpuWeights::upload(&gpu, &unet).map_err(|e| common::engine_error(e, &dir))?;
        let net =
            GpuNet::new(&gpu, &weights, &unet, batch).map_err(|e| common::engine_error(e, &dir))?;
        let start = Instant::now();
        let eps = pollster::block_on(net.forward(&gpu, &unet, &x.data, t))
            .map_err(|e| common::engine_error(e, &dir))?;
        (eps, start.elapsed(), gpu.describe())
    };
    common::write_file(&out, &npy::write(&out_shape, &eps), "--out")?;
    say!("model   {}", dir.display());
    say!(
        "input   {} {} at t={t}",
        input.display(),
        shape_str(&x.shape)
    );
    say!("device  {device}");
    let what = if cpu {
        ""
    } else {
        " (including the read-back)"
    };
    say!("forward {:.1} ms{what}", ms(took));
    say!(
        "wrote   {} (float32 {})",
        out.display(),
        shape_str(&out_shape)
    );
    Ok(())
}
