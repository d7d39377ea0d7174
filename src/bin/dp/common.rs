//! What the commands share: loading a model folder, `.npy` files, the GPU, and turning library
//! errors into `error:` lines with hints.

use crate::args::Parsed;
use crate::CliError;
use diffusion_playground::exec::cpu::CpuExecutor;
use diffusion_playground::exec::gpu::{GpuExecutor, GpuWeights};
use diffusion_playground::exec::{reference, Executor};
use diffusion_playground::gpu::{Gpu, GpuError};
use diffusion_playground::model::UNet;
use diffusion_playground::model::{Checkpoint, ModelError};
use diffusion_playground::npy;
use diffusion_playground::scheduler::{Clipping, Schedule, SchedulerConfig, SchedulerError};
use std::path::{Path, PathBuf};

/// `--model` when none is given.
pub const DEFAULT_MODEL: &str = "models/emoji32";

const MODEL_HINT: &str = "pass --model DIR, a diffusers UNet2DModel folder with config.json and \
                          diffusion_pytorch_model.safetensors (e.g. --model tests/fixtures/models/tiny)";

/// The `--model` folder and whether it is the default.
pub fn model_dir(given: Option<PathBuf>) -> (PathBuf, bool) {
    match given {
        Some(p) => (p, false),
        None => (PathBuf::from(DEFAULT_MODEL), true),
    }
}

/// Loads a model folder, saying plainly which path is missing.
pub fn load_checkpoint(dir: &Path, defaulted: bool) -> Result<Checkpoint, CliError> {
    check_model_dir(dir, defaulted)?;
    Checkpoint::from_dir(dir).map_err(|e| model_error(e, dir))
}

/// Refuses a `--model` that does not exist or is not a folder.
pub fn check_model_dir(dir: &Path, defaulted: bool) -> Result<(), CliError> {
    if !dir.exists() {
        let why = if defaulted {
            " (the default of --model; no --model was given)"
        } else {
            ""
        };
        return Err(CliError::failed(
            format!("model folder `{}` does not exist{why}", dir.display()),
            MODEL_HINT,
        ));
    }
    if !dir.is_dir() {
        return Err(CliError::failed(
            format!("--model `{}` is a file, not a folder", dir.display()),
            MODEL_HINT,
        ));
    }
    Ok(())
}

/// A model loading error with a hint for the command line.
pub fn model_error(e: ModelError, dir: &Path) -> CliError {
    let hint = match &e {
        ModelError::Pickle { .. } => format!(
            "only safetensors weights are loaded: save diffusion_pytorch_model.safetensors into `{}`",
            dir.display()
        ),
        ModelError::MissingFile { .. } => MODEL_HINT.to_string(),
        ModelError::Batch(_) => "use --batch between 1 and 1024".to_string(),
        ModelError::SampleSize { .. } => {
            "give an input whose height and width are divisible by that factor".to_string()
        }
        _ => format!(
            "`{}` must hold a diffusers UNet2DModel checkpoint this engine supports; \
             `dp info --model DIR` shows what it reads",
            dir.display()
        ),
    };
    CliError::failed(format!("cannot load the model: {e}"), hint)
}

/// Reads a float32 `.npy` given with `flag`, naming the file in errors.
pub fn read_npy(path: &Path, flag: &str) -> Result<npy::Array, CliError> {
    let bytes = std::fs::read(path).map_err(|e| {
        CliError::failed(
            format!("cannot read {flag} `{}`: {e}", path.display()),
            format!("check the path given to {flag}"),
        )
    })?;
    npy::read(&bytes).map_err(|e| {
        CliError::failed(
            format!("{flag} `{}` is not a usable .npy file: {e}", path.display()),
            "save a float32 C-ordered array with numpy.save",
        )
    })
}

/// Writes an output file, naming it in errors.
pub fn write_file(path: &Path, bytes: &[u8], flag: &str) -> Result<(), CliError> {
    std::fs::write(path, bytes).map_err(|e| {
        CliError::failed(
            format!("cannot write {flag} `{}`: {e}", path.display()),
            "check that the folder exists and is writable",
        )
    })
}

/// Refuses, before any work, an output path whose folder does not exist.
pub fn check_output(path: &Path, flag: &str) -> Result<(), CliError> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = parent {
        if !dir.is_dir() {
            return Err(CliError::failed(
                format!(
                    "cannot write {flag} `{}`: folder `{}` does not exist",
                    path.display(),
                    dir.display()
                ),
                format!(
                    "create it first (mkdir -p {}) or choose another path",
                    dir.display()
                ),
            ));
        }
    }
    if path.is_dir() {
        return Err(CliError::failed(
            format!("{flag} `{}` is a folder", path.display()),
            format!("give {flag} a file name, e.g. {}/out", path.display()),
        ));
    }
    Ok(())
}

/// Opens the GPU.
pub fn gpu() -> Result<Gpu, CliError> {
    pollster::block_on(Gpu::new()).map_err(gpu_error)
}

pub fn gpu_error(e: GpuError) -> CliError {
    let hint = match &e {
        GpuError::NoAdapter(_) => "install a Vulkan/Metal/DX12 driver, or run `dp forward --cpu`",
        GpuError::BufferTooLarge { .. }
        | GpuError::DispatchTooLarge { .. }
        | GpuError::OutOfMemory(_) => "use a smaller --batch",
        _ => "rerun; if it persists, try another adapter with WGPU_ADAPTER_NAME or WGPU_BACKEND",
    };
    CliError::failed(e, hint)
}

/// Any engine error, with the hint its layer gives.
pub fn engine_error(e: diffusion_playground::Error, dir: &Path) -> CliError {
    use diffusion_playground::Error;
    match e {
        Error::Model(m) => model_error(m, dir),
        Error::Gpu(g) => gpu_error(g),
        Error::Scheduler(s) => CliError::failed(s, "check --steps, --eta and --scheduler-config"),
        Error::Input(i) => {
            CliError::usage(i.to_string(), "see `dp --help` for the accepted values")
        }
    }
}

/// `(2, 3, 16, 16)`, as numpy prints shapes.
pub fn shape_str(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// 177091 -> `177,091`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Milliseconds of a duration.
pub fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The scheduler config: `--scheduler-config`, else the folder's, else DDPMScheduler defaults;
/// with where it came from.
pub fn scheduler_config(
    given: Option<&Path>,
    folder: Option<SchedulerConfig>,
) -> Result<(SchedulerConfig, String), CliError> {
    if let Some(path) = given {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::failed(
                format!("cannot read --scheduler-config `{}`: {e}", path.display()),
                "check the path given to --scheduler-config",
            )
        })?;
        let config = SchedulerConfig::from_json_str(&text).map_err(|e| {
            CliError::failed(
                format!("--scheduler-config `{}`: {e}", path.display()),
                "give a diffusers scheduler_config.json (DDPMScheduler or DDIMScheduler)",
            )
        })?;
        return Ok((config, path.display().to_string()));
    }
    Ok(match folder {
        Some(c) => (c, "the model folder's scheduler_config.json".into()),
        None => (
            SchedulerConfig::default(),
            "DDPMScheduler defaults (the model folder has no scheduler_config.json)".into(),
        ),
    })
}

/// What every sampling command loads: the model folder's UNet, the scheduler config in force
/// ([`scheduler_config`]: where it came from, too) and its schedule.
pub struct Model {
    pub unet: UNet,
    pub config: SchedulerConfig,
    pub config_source: String,
    pub schedule: Schedule,
}

/// Loads [`Model`] from `dir` (`defaulted`: no `--model` was given) with `--scheduler-config`.
pub fn load_model(
    dir: &Path,
    defaulted: bool,
    scheduler: Option<&Path>,
) -> Result<Model, CliError> {
    let checkpoint = load_checkpoint(dir, defaulted)?;
    let (config, config_source) = scheduler_config(scheduler, checkpoint.scheduler)?;
    let schedule = Schedule::new(&config).map_err(|e| {
        CliError::failed(
            e,
            "fix the scheduler config or pass another with --scheduler-config",
        )
    })?;
    Ok(Model {
        unet: checkpoint.unet,
        config,
        config_source,
        schedule,
    })
}

/// `--cell-px` (1 to 4096, default 64): the smallest shown size of one image in a PNG.
pub fn cell_px(p: &Parsed) -> Result<usize, CliError> {
    let px = p
        .number::<usize>("--cell-px", "a whole number of pixels from 1 to 4096")?
        .unwrap_or(64);
    if !(1..=4096).contains(&px) {
        return Err(CliError::usage(
            format!("`--cell-px` is {px}, but it must be 1 to 4096"),
            "use e.g. `--cell-px 256` for 256 px per image",
        ));
    }
    Ok(px)
}

/// `--backend gpu|cpu|reference` (default gpu).
pub fn backend(p: &Parsed) -> Result<&'static str, CliError> {
    Ok(p.choice("--backend", &["gpu", "cpu", "reference"])?
        .unwrap_or("gpu"))
}

/// `--clip`, one of `choices` (the names of [`Clipping::parse`] the command supports; default
/// `checkpoint`).
pub fn clipping(p: &Parsed, choices: &[&'static str]) -> Result<Clipping, CliError> {
    Ok(p.choice("--clip", choices)?
        .and_then(Clipping::parse)
        .unwrap_or_default())
}

/// `--out` and `--save-npy`, at least one of them, each checked writable; `example` is a
/// command line that gives one.
pub fn outputs(
    out: Option<PathBuf>,
    save: Option<PathBuf>,
    example: &str,
) -> Result<(Option<PathBuf>, Option<PathBuf>), CliError> {
    if out.is_none() && save.is_none() {
        return Err(CliError::usage(
            "nothing to write: give --out or --save-npy",
            format!("e.g. `{example}`"),
        ));
    }
    for (path, flag) in [(&out, "--out"), (&save, "--save-npy")] {
        if let Some(path) = path {
            check_output(path, flag)?;
        }
    }
    Ok((out, save))
}

/// A planning error as a command-line error with the flag to change.
pub fn plan_error(e: SchedulerError) -> CliError {
    match &e {
        SchedulerError::InvalidStepCount { max, .. } => {
            CliError::usage(e.to_string(), format!("use --steps between 1 and {max}"))
        }
        SchedulerError::InvalidEta { .. } => {
            CliError::usage(e.to_string(), "use --eta between 0 and 1")
        }
        SchedulerError::ClippingNotFor { .. } => CliError::usage(
            e.to_string(),
            "use --clip checkpoint or off with this sampler, or --sampler ddim for recompute",
        ),
        SchedulerError::TimestepOutOfRange { .. } | SchedulerError::RepeatedTimestep { .. } => {
            CliError::usage(e.to_string(), "choose another --steps value")
        }
        _ => CliError::failed(
            e,
            "fix the scheduler config or pass another with --scheduler-config",
        ),
    }
}

/// The executor of `--backend gpu|cpu|reference` for `batch` images, with the GPU weights it
/// runs on (keep them alive as long as the executor: dropping them frees their buffers).
pub fn executor(
    backend: &str,
    unet: &UNet,
    batch: usize,
    model: &Path,
) -> Result<(Box<dyn Executor>, Option<GpuWeights>), CliError> {
    let fail = |e| engine_error(e, model);
    Ok(match backend {
        "cpu" => (Box::new(CpuExecutor::new(unet, batch).map_err(fail)?), None),
        "reference" => (
            Box::new(reference::executor(unet, batch).map_err(fail)?),
            None,
        ),
        _ => {
            let gpu = std::rc::Rc::new(gpu()?);
            let weights = GpuWeights::upload(&gpu, unet).map_err(fail)?;
            let exec = GpuExecutor::new(gpu, &weights, unet, batch).map_err(fail)?;
            (Box::new(exec), Some(weights))
        }
    })
}

/// Reads a float32 (B, C, H, W) batch of images for `flag`, B from 1 to 1024, refusing any
/// other shape with one that would fit.
pub fn read_batch(path: &Path, flag: &str, sample: [usize; 3]) -> Result<npy::Array, CliError> {
    let a = read_npy(path, flag)?;
    let [c, h, w] = sample;
    let fits = a.shape.len() == 4 && a.shape[1..] == sample && (1..=1024).contains(&a.shape[0]);
    if !fits {
        return Err(CliError::usage(
            format!(
                "{flag} `{}` has shape {}, but this model works on (B, {c}, {h}, {w}) with B from 1 to 1024",
                path.display(),
                shape_str(&a.shape)
            ),
            format!("save it as float32 with shape (batch, {c}, {h}, {w})"),
        ));
    }
    if let Some(bad) = a.data.iter().find(|v| !v.is_finite()) {
        return Err(CliError::usage(
            format!(
                "{flag} `{}` holds a non-finite value ({bad})",
                path.display()
            ),
            "images are float32 in [-1, 1]; replace NaN and infinities",
        ));
    }
    Ok(a)
}
