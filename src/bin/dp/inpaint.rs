//! `dp inpaint`: fill the masked-out pixels of images with RePaint-style sampling.

use crate::args::{opt, Flag, Parsed};
use crate::common::{self, shape_str};
use crate::CliError;
use diffusion_playground::exec::View;
use diffusion_playground::image::{self, Image};
use diffusion_playground::inpaint;
use diffusion_playground::npy;
use diffusion_playground::scheduler::{DdpmVariance, Sampler};

pub const HELP: &str = "\
dp inpaint: fill the masked-out pixels of images (RePaint: the known pixels are replaced by a
draw from q(x_t | x_0) at every step)

Usage: dp inpaint --input x0.npy --mask mask.npy --out grid.png [OPTIONS]

  --model DIR               diffusers UNet2DModel folder [default: models/emoji32]
  --scheduler-config FILE   use this scheduler_config.json instead of the model folder's
  --input FILE.npy          the images x_0: float32 (B, C, H, W) in [-1, 1]
  --mask FILE.npy           float32 (1, 1, H, W) for every image or (B, 1, H, W): 1 = keep the
                            known pixel, 0 = fill it (values between blend)
  --sampler ddpm|ddim       [default: ddim]
  --steps N                 [default: 50]
  --eta E                   DDIM only, in [0, 1] [default: 0]
  --seed S                  seed of x_T, the step noise and the known pixels' noise [default: 0]
  --resample R              RePaint resamplings per step (jump length 1), 1 = none, up to 100
                            [default: 1]; a run makes (N - 1) R + 1 network evaluations
  --backend gpu|cpu|reference   where it runs [default: gpu]
  --cell-px N               the smallest size of one image in --out [default: 64]
  --out FILE.png            the results as a grid
  --save-npy FILE.npy       the results as float32 (B, C, H, W)

After the last step the known pixels equal x_0 (DDPM, and DDIM with set_alpha_to_one; with
set_alpha_to_one false they keep alpha-bar_0's noise, std sqrt(1 - alphas_cumprod[0])).";

const FLAGS: &[Flag] = &[
    opt("--model", "DIR"),
    opt("--scheduler-config", "FILE"),
    opt("--input", "FILE.npy"),
    opt("--mask", "FILE.npy"),
    opt("--sampler", "ddpm|ddim"),
    opt("--steps", "N"),
    opt("--eta", "E"),
    opt("--seed", "S"),
    opt("--resample", "R"),
    opt("--backend", "gpu|cpu|reference"),
    opt("--cell-px", "N"),
    opt("--out", "FILE.png"),
    opt("--save-npy", "FILE.npy"),
];

pub fn run(argv: &[String]) -> Result<(), CliError> {
    let p = Parsed::new("inpaint", FLAGS, argv)?;
    let need = |flag: &str, hint: &str| {
        p.path(flag)
            .ok_or_else(|| CliError::usage(format!("no {flag} given"), hint.to_string()))
    };
    let input = need(
        "--input",
        "give the images: `--input x0.npy` (float32 (B, C, H, W))",
    )?;
    let mask_path = need(
        "--mask",
        "give the mask: `--mask mask.npy` (float32 (1, 1, H, W); 1 = keep, 0 = fill)",
    )?;
    let sampler = p.choice("--sampler", &["ddim", "ddpm"])?.unwrap_or("ddim");
    let steps = p
        .number::<usize>("--steps", "a whole number of steps, e.g. 50")?
        .unwrap_or(50);
    let eta = p.number::<f32>("--eta", "a number in [0, 1]")?;
    if sampler == "ddpm" && eta.is_some() {
        return Err(CliError::usage(
            "`--eta` only applies to DDIM, but --sampler is ddpm",
            "drop --eta, or use `--sampler ddim --eta E`",
        ));
    }
    let seed = p
        .number::<u64>("--seed", "a whole number from 0 to 18446744073709551615")?
        .unwrap_or(0);
    let resample = p
        .number::<usize>("--resample", "a whole number from 1 to 100")?
        .unwrap_or(1);
    let cell_px = common::cell_px(&p)?;
    let backend = common::backend(&p)?;
    let (out, save) = common::outputs(
        p.path("--out"),
        p.path("--save-npy"),
        "dp inpaint --input x0.npy --mask mask.npy --out grid.png",
    )?;
    let (model, defaulted) = common::model_dir(p.path("--model"));
    let common::Model {
        unet,
        config,
        schedule,
        ..
    } = common::load_model(&model, defaulted, p.path("--scheduler-config").as_deref())?;
    let sampler = match sampler {
        "ddpm" => Sampler::Ddpm {
            variance: DdpmVariance::from_config(&config),
        },
        _ => Sampler::Ddim {
            eta: eta.unwrap_or(0.0),
        },
    };
    let plan = schedule.plan(sampler, steps).map_err(common::plan_error)?;
    let usage = |e: diffusion_playground::InputError| {
        CliError::usage(
            e.to_string(),
            "run `dp inpaint --help` for the accepted values",
        )
    };
    inpaint::check(&plan, resample).map_err(usage)?;
    let [c, h, w] = unet.sample_shape();
    let x0 = common::read_batch(&input, "--input", [c, h, w])?;
    let batch = x0.shape[0];
    let mask = common::read_npy(&mask_path, "--mask")?;
    let masks = match mask.shape.as_slice() {
        [m, 1, mh, mw] if *mh == h && *mw == w && (*m == 1 || *m == batch) => *m,
        _ => {
            return Err(CliError::usage(
                format!(
                    "--mask `{}` has shape {}, but it must be (1, 1, {h}, {w}) or ({batch}, 1, {h}, {w})",
                    mask_path.display(),
                    shape_str(&mask.shape)
                ),
                "save one float32 value per pixel: 1 = keep the known pixel, 0 = fill",
            ))
        }
    };
    let mask = inpaint::expand_mask(&mask.data, masks, batch, c, h * w).map_err(usage)?;
    let fail = |e| common::engine_error(e, &model);
    say!(
        "inpainting {} images with {}, {steps} steps, resample {resample}, seed {seed}",
        batch,
        sampler.name()
    );
    let (exec, _weights) = common::executor(backend, &unet, batch, &model)?;
    exec.set_known(&x0.data, &mask).map_err(fail)?;
    exec.start(seed).map_err(fail)?;
    inpaint::start(exec.as_ref(), &schedule, &plan, seed).map_err(fail)?;
    let mut evaluations = 0;
    for i in 0..plan.timesteps.len() {
        evaluations += inpaint::step(exec.as_ref(), &unet, &schedule, &plan, i, seed, resample)
            .map_err(fail)?;
    }
    say!("network evaluations {evaluations}");
    let x = pollster::block_on(exec.read(View::Sample)).map_err(fail)?;
    let shape = [batch, c, h, w];
    if let Some(path) = &save {
        common::write_file(path, &npy::write(&shape, &x), "--save-npy")?;
        say!(
            "wrote     {} (float32 {})",
            path.display(),
            shape_str(&shape)
        );
    }
    if let Some(path) = &out {
        let fail =
            |e: image::ImageError| CliError::failed(e, "this is a bug in dp; please report it");
        let rgba = pollster::block_on(exec.read_rgba(View::Sample))
            .map_err(|e| common::engine_error(e, &model))?;
        let (gw, gh) = exec.grid_size();
        let grid = Image::from_rgba(gw, gh, rgba)
            .map_err(fail)?
            .upscale(image::upscale_factor(h, w, cell_px));
        common::write_file(path, &grid.to_png().map_err(fail)?, "--out")?;
        say!("wrote     {}", path.display());
    }
    Ok(())
}
