//! `dp sample`: DDPM / DDIM sampling on the GPU (or the CPU reference executor), with a grid
//! PNG, a trajectory strip and the final x as `.npy`.

use crate::args::{opt, Flag, Parsed};
use crate::common::{self, ms, shape_str};
use crate::CliError;
use diffusion_playground::exec::View;
use diffusion_playground::image::{self, Image};
use diffusion_playground::npy;
use diffusion_playground::scheduler::{Clipping, DdpmVariance, Sampler};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const HELP: &str = "\
dp sample: generate a batch of images with DDPM, DDIM or DPM-Solver++(2M) on the GPU

Usage: dp sample [OPTIONS] --out grid.png

Model and scheduler:
  --model DIR               diffusers UNet2DModel folder [default: models/emoji32]
  --scheduler-config FILE   use this scheduler_config.json instead of the model folder's
                            (with neither: diffusers' DDPMScheduler defaults)
Sampling:
  --sampler ddpm|ddim|dpmpp2m
                            the reverse process [default: ddim]; dpmpp2m is diffusers'
                            DPMSolverMultistepScheduler (DPM-Solver++ 2M) with its defaults
                            for what the scheduler config does not set
  --steps N                 inference steps, 1 to num_train_timesteps [default: 50]
  --eta E                   DDIM only: noise scale in [0, 1], 0 = deterministic [default: 0]
  --variance fixed_small|fixed_large
                            DDPM only: posterior variance [default: the scheduler config's
                            variance_type]
  --clip checkpoint|off|clip|recompute
                            the clamp of the predicted x_0: the scheduler config's clip_sample,
                            none, clip to clip_sample_range, or clip and (DDIM only) derive the
                            noise estimate from the clipped x_0 (diffusers'
                            use_clipped_model_output) [default: checkpoint]
  --seed S                  seed of x_T and of the per-step noise, 0 to 2^64-1 [default: 0]
  --batch B                 images per run, 1 to 1024 [default: 1, or --init-noise's batch]
  --init-noise FILE.npy     start from this x_T instead of the seeded one: float32
                            (B, C, H, W) matching the model's sample shape
  --backend gpu|cpu|reference
                            where it runs: the WGSL kernels on the GPU (WGPU_BACKEND and
                            WGPU_ADAPTER_NAME choose it), the fast CPU kernels, or the CPU
                            reference executor (the tests' ground truth; slow) [default: gpu]
Output (at least one):
  --out FILE.png            the final batch as a near-square grid (ceil(sqrt(B)) columns),
                            upscaled with nearest neighbour to at least --cell-px per image
  --cell-px N               the smallest size of one image in --out and --trajectory,
                            1 to 4096 px [default: 64]
  --trajectory FILE.png     image 0's x_t (top row) and predicted x_0 (bottom row) at about
                            10 evenly spaced steps, first and last included
  --save-npy FILE.npy       the final x as float32 (B, C, H, W)

Prints the time of every step, the number of network evaluations and a summary. Image k of a batch is the same for every batch
size with the same seed.

Examples:
  dp sample --model models/emoji32 --steps 50 --batch 16 --out grid.png
  dp sample --model DIR --sampler ddpm --steps 1000 --seed 7 --out grid.png --trajectory strip.png";

const FLAGS: &[Flag] = &[
    opt("--model", "DIR"),
    opt("--scheduler-config", "FILE"),
    opt("--sampler", "ddpm|ddim|dpmpp2m"),
    opt("--steps", "N"),
    opt("--eta", "E"),
    opt("--variance", "fixed_small|fixed_large"),
    opt("--clip", "checkpoint|off|clip|recompute"),
    opt("--seed", "S"),
    opt("--batch", "B"),
    opt("--init-noise", "FILE.npy"),
    opt("--backend", "gpu|cpu|reference"),
    opt("--out", "FILE.png"),
    opt("--trajectory", "FILE.png"),
    opt("--save-npy", "FILE.npy"),
    opt("--cell-px", "N"),
];

/// Columns of the trajectory strip (at most).
const TRAJECTORY_COLUMNS: usize = 10;
/// Gap between the strip's cells, in pixels.
const GAP_PX: usize = 2;

/// Which reverse process, before the scheduler config is known.
enum Choice {
    Ddpm(Option<DdpmVariance>),
    Ddim(f32),
    DpmSolverPP,
}

struct Options {
    model: PathBuf,
    model_defaulted: bool,
    scheduler_config: Option<PathBuf>,
    choice: Choice,
    clipping: Clipping,
    steps: usize,
    seed: u64,
    batch: Option<usize>,
    init_noise: Option<PathBuf>,
    /// "gpu", "cpu" or "reference".
    backend: &'static str,
    out: Option<PathBuf>,
    trajectory: Option<PathBuf>,
    save_npy: Option<PathBuf>,
    /// Smallest shown size of one image in the PNGs, in pixels.
    cell_px: usize,
}

fn parse(argv: &[String]) -> Result<Options, CliError> {
    let p = Parsed::new("sample", FLAGS, argv)?;
    let sampler = p
        .choice("--sampler", &["ddim", "ddpm", "dpmpp2m"])?
        .unwrap_or("ddim");
    let steps = p
        .number::<usize>("--steps", "a whole number of steps, e.g. 50")?
        .unwrap_or(50);
    if steps == 0 {
        return Err(CliError::usage(
            "`--steps` is 0, but sampling needs at least one step",
            "use e.g. `--steps 50` (1 to the model's num_train_timesteps, usually 1000)",
        ));
    }
    let eta = p.number::<f32>("--eta", "a number in [0, 1], e.g. 0 or 1")?;
    let variance = p.choice("--variance", &["fixed_small", "fixed_large"])?;
    let choice = match sampler {
        "dpmpp2m" => {
            if eta.is_some() || variance.is_some() {
                return Err(CliError::usage(
                    "`--eta` and `--variance` do not apply to DPM-Solver++ (deterministic)",
                    "drop them, or use `--sampler ddim --eta E` / `--sampler ddpm --variance V`",
                ));
            }
            Choice::DpmSolverPP
        }
        "ddpm" => {
            if eta.is_some() {
                return Err(CliError::usage(
                    "`--eta` only applies to DDIM, but --sampler is ddpm",
                    "drop --eta, or use `--sampler ddim --eta E`",
                ));
            }
            Choice::Ddpm(variance.map(|v| match v {
                "fixed_large" => DdpmVariance::FixedLarge,
                _ => DdpmVariance::FixedSmall,
            }))
        }
        _ => {
            if variance.is_some() {
                return Err(CliError::usage(
                    "`--variance` only applies to DDPM, but --sampler is ddim",
                    "drop --variance, or use `--sampler ddpm --variance fixed_small|fixed_large`",
                ));
            }
            let eta = eta.unwrap_or(0.0);
            if !(0.0..=1.0).contains(&eta) {
                return Err(CliError::usage(
                    format!("`--eta` is {eta}, but DDIM's eta must be in [0, 1]"),
                    "use --eta 0 for deterministic DDIM, up to --eta 1 for DDPM-like noise",
                ));
            }
            Choice::Ddim(eta)
        }
    };
    let seed = p
        .number::<u64>("--seed", "a whole number from 0 to 18446744073709551615")?
        .unwrap_or(0);
    let batch = p.number::<usize>("--batch", "a whole number of images from 1 to 1024")?;
    if let Some(b) = batch {
        if b == 0 || b > 1024 {
            return Err(CliError::usage(
                format!("`--batch` is {b}, but it must be 1 to 1024"),
                "use e.g. `--batch 16`",
            ));
        }
    }
    let cell_px = common::cell_px(&p)?;
    let (model, model_defaulted) = common::model_dir(p.path("--model"));
    let opts = Options {
        model,
        model_defaulted,
        scheduler_config: p.path("--scheduler-config"),
        choice,
        clipping: common::clipping(&p, &["checkpoint", "off", "clip", "recompute"])?,
        steps,
        seed,
        batch,
        init_noise: p.path("--init-noise"),
        backend: common::backend(&p)?,
        out: p.path("--out"),
        trajectory: p.path("--trajectory"),
        save_npy: p.path("--save-npy"),
        cell_px,
    };
    if opts.out.is_none() && opts.trajectory.is_none() && opts.save_npy.is_none() {
        return Err(CliError::usage(
            "nothing to write: give --out, --trajectory or --save-npy",
            "e.g. `dp sample --out grid.png`",
        ));
    }
    Ok(opts)
}

/// About `TRAJECTORY_COLUMNS` step indices spread evenly over `0..steps`, first and last included.
fn trajectory_steps(steps: usize) -> Vec<usize> {
    let k = TRAJECTORY_COLUMNS.min(steps);
    let mut picked: Vec<usize> = if k <= 1 {
        vec![steps - 1]
    } else {
        (0..k)
            .map(|j| ((j * (steps - 1)) as f64 / (k - 1) as f64).round() as usize)
            .collect()
    };
    picked.dedup();
    picked
}

fn image_error(e: image::ImageError) -> CliError {
    CliError::failed(
        e,
        "this is a bug in dp; please report it with the command line",
    )
}

pub fn run(argv: &[String]) -> Result<(), CliError> {
    let opts = parse(argv)?;
    for (path, flag) in [
        (&opts.out, "--out"),
        (&opts.trajectory, "--trajectory"),
        (&opts.save_npy, "--save-npy"),
    ] {
        if let Some(path) = path {
            common::check_output(path, flag)?;
        }
    }
    let common::Model {
        unet,
        config,
        config_source,
        schedule,
    } = common::load_model(
        &opts.model,
        opts.model_defaulted,
        opts.scheduler_config.as_deref(),
    )?;
    let sampler = match opts.choice {
        Choice::Ddpm(v) => Sampler::Ddpm {
            variance: v.unwrap_or_else(|| DdpmVariance::from_config(&config)),
        },
        Choice::Ddim(eta) => Sampler::Ddim { eta },
        Choice::DpmSolverPP => Sampler::DpmSolverPP,
    };
    let plan = schedule
        .plan_clipped(sampler, opts.steps, opts.clipping)
        .map_err(common::plan_error)?;

    let [c, h, w] = unet.sample_shape();
    let init = match &opts.init_noise {
        None => None,
        Some(path) => {
            let a = common::read_npy(path, "--init-noise")?;
            let fits =
                a.shape.len() == 4 && a.shape[1..] == [c, h, w] && (1..=1024).contains(&a.shape[0]);
            if !fits {
                return Err(CliError::usage(
                    format!(
                        "--init-noise `{}` has shape {}, but this model samples (B, {c}, {h}, {w}) with B from 1 to 1024",
                        path.display(),
                        shape_str(&a.shape)
                    ),
                    format!("save x_T as float32 with shape (batch, {c}, {h}, {w})"),
                ));
            }
            if let Some(b) = opts.batch {
                if b != a.shape[0] {
                    return Err(CliError::usage(
                        format!(
                            "--batch is {b} but --init-noise `{}` holds {} images",
                            path.display(),
                            a.shape[0]
                        ),
                        "drop --batch (the batch comes from the file) or make them agree",
                    ));
                }
            }
            Some(a)
        }
    };
    let batch = init
        .as_ref()
        .map_or(opts.batch.unwrap_or(1), |a| a.shape[0]);

    let sampler_desc = match sampler {
        Sampler::Ddpm { variance } => format!("DDPM ({})", variance.as_str()),
        Sampler::Ddim { eta } => format!("DDIM (eta {eta})"),
        other => format!("{} ({})", sampler_title(other), other.name()),
    };
    say!(
        "model     {} ({} parameters, sample {c}x{h}x{w})",
        opts.model.display(),
        common::thousands(unet.parameter_count())
    );
    say!("scheduler {config_source}");
    say!(
        "sampling  {sampler_desc}, {} steps, batch {batch}, {}",
        opts.steps,
        match &opts.init_noise {
            Some(p) => format!("x_T from {}", p.display()),
            None => format!("seed {}", opts.seed),
        }
    );

    let setup = Instant::now();
    let fail = |e| common::engine_error(e, &opts.model);
    let (gs, _weights) = common::executor(opts.backend, &unet, batch, &opts.model)?;
    match &init {
        Some(a) => gs.set_sample(&a.data),
        None => gs.start(opts.seed),
    }
    .map_err(fail)?;
    gs.finish().map_err(fail)?;
    say!("adapter   {}", gs.describe());
    say!(
        "setup     {:.1} ms (device, weights, kernels)",
        ms(setup.elapsed())
    );

    let shape = [batch, c, h, w];
    let per_image = c * h * w;
    let scale = image::upscale_factor(h, w, opts.cell_px);
    let snapshots = if opts.trajectory.is_some() {
        trajectory_steps(opts.steps)
    } else {
        Vec::new()
    };
    let (mut top, mut bottom) = (Vec::new(), Vec::new());
    let mut step_times = Vec::with_capacity(opts.steps);
    let mut readback = Duration::ZERO;
    let width = opts.steps.to_string().len();
    for (i, &t) in plan.timesteps.iter().enumerate() {
        let start = Instant::now();
        gs.step(&unet, &plan, i, opts.seed).map_err(fail)?;
        gs.finish().map_err(fail)?;
        let took = start.elapsed();
        step_times.push(took);
        say!(
            "step {:>width$}/{} t={t:<4} {:8.1} ms",
            i + 1,
            opts.steps,
            ms(took)
        );
        if snapshots.contains(&i) {
            let start = Instant::now();
            let x = pollster::block_on(gs.read(View::Sample)).map_err(fail)?;
            let x0 = pollster::block_on(gs.read(View::PredictedX0)).map_err(fail)?;
            readback += start.elapsed();
            for (data, row) in [(&x, &mut top), (&x0, &mut bottom)] {
                let img =
                    image::batch_image(&data[..per_image], [1, c, h, w], 0).map_err(image_error)?;
                row.push(img.upscale(scale));
            }
        }
    }
    let total: Duration = step_times.iter().sum();
    let mut sorted = step_times.clone();
    sorted.sort();
    say!(
        "network evaluations {} (one per step)",
        plan.timesteps.len()
    );
    say!(
        "total     {:.1} ms for {} steps: mean {:.2} ms/step, median {:.2}, fastest {:.2} ({})",
        ms(total),
        opts.steps,
        ms(total) / opts.steps as f64,
        ms(sorted[sorted.len() / 2]),
        ms(sorted[0]),
        gs.describe()
    );

    if let Some(path) = &opts.save_npy {
        let x = pollster::block_on(gs.read(View::Sample)).map_err(fail)?;
        common::write_file(path, &npy::write(&shape, &x), "--save-npy")?;
        say!(
            "wrote     {} (float32 {})",
            path.display(),
            shape_str(&shape)
        );
    }
    if let Some(path) = &opts.out {
        let start = Instant::now();
        let rgba = pollster::block_on(gs.read_rgba(View::Sample)).map_err(fail)?;
        readback += start.elapsed();
        let (gw, gh) = gs.grid_size();
        let grid = Image::from_rgba(gw, gh, rgba)
            .map_err(image_error)?
            .upscale(scale);
        write_png(&grid, path, "--out")?;
        say!(
            "wrote     {} ({}x{} px: {}x{} grid of {h}x{w} images, upscaled {scale}x)",
            path.display(),
            grid.width,
            grid.height,
            gw / w,
            gh / h
        );
    }
    if let Some(path) = &opts.trajectory {
        let strip =
            image::compose(&[top, bottom], GAP_PX, [255, 255, 255, 255]).map_err(image_error)?;
        write_png(&strip, path, "--trajectory")?;
        let shown: Vec<String> = snapshots.iter().map(|i| (i + 1).to_string()).collect();
        say!(
            "wrote     {} ({}x{} px: image 0, x_t above predicted x_0, after steps {})",
            path.display(),
            strip.width,
            strip.height,
            shown.join(", ")
        );
    }
    if readback > Duration::ZERO {
        say!("read-back {:.1} ms (not in the step times)", ms(readback));
    }
    Ok(())
}

/// The sampler's name in the run's summary line.
fn sampler_title(sampler: Sampler) -> &'static str {
    match sampler {
        Sampler::Ddpm { .. } => "DDPM",
        Sampler::Ddim { .. } => "DDIM",
        Sampler::DpmSolverPP => "DPM-Solver++(2M)",
        Sampler::DdimInverse => "inverse DDIM",
    }
}

fn write_png(img: &Image, path: &Path, flag: &str) -> Result<(), CliError> {
    let bytes = img.to_png().map_err(image_error)?;
    common::write_file(path, &bytes, flag)
}

#[cfg(test)]
mod tests {
    use super::trajectory_steps;

    #[test]
    fn trajectory_spans_the_run() {
        assert_eq!(trajectory_steps(1), vec![0]);
        assert_eq!(trajectory_steps(3), vec![0, 1, 2]);
        assert_eq!(trajectory_steps(10), (0..10).collect::<Vec<_>>());
        let t = trajectory_steps(1000);
        assert_eq!((t.len(), t[0], t[9]), (10, 0, 999));
    }
}
