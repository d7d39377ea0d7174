//! Finding a checkpoint's files: a diffusers model folder (`config.json` +
//! `diffusion_pytorch_model.safetensors` + optional `scheduler_config.json`) or a pipeline
//! folder with `unet/` and `scheduler/` subfolders. Pickled `.bin`/`.ckpt` files are refused.

use super::{ModelError, UNet, UNetConfig, Weights};
use crate::scheduler::{Schedule, SchedulerConfig};

/// The raw files of a checkpoint (read from disk natively, fetched over HTTP on the web).
#[derive(Clone, Debug, Default)]
pub struct CheckpointFiles {
    pub config_json: String,
    pub safetensors: Vec<u8>,
    pub scheduler_json: Option<String>,
}

/// A parsed checkpoint: the model and, when the folder has one, its scheduler config.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub unet: UNet,
    pub scheduler: Option<SchedulerConfig>,
}

impl Checkpoint {
    pub fn from_files(files: &CheckpointFiles) -> Result<Checkpoint, ModelError> {
        let config = UNetConfig::from_json_str(&files.config_json)?;
        let weights = Weights::from_safetensors(&files.safetensors)?;
        let unet = UNet::load(config, weights)?;
        let scheduler = match &files.scheduler_json {
            Some(text) => {
                let config = SchedulerConfig::from_json_str(text)
                    .map_err(|source| ModelError::Scheduler { source })?;
                // Betas whose float32 alpha-bar leaves (0, 1) are refused at load, not at the
                // first run that would turn the image to NaN.
                Schedule::new(&config).map_err(|source| ModelError::Scheduler { source })?;
                Some(config)
            }
            None => None,
        };
        Ok(Checkpoint { unet, scheduler })
    }

    /// Loads a model folder from disk.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_dir(dir: &std::path::Path) -> Result<Checkpoint, ModelError> {
        Self::from_files(&CheckpointFiles::read_dir(dir)?)
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl CheckpointFiles {
    /// Reads `dir` (or `dir/unet` + `dir/scheduler` for a pipeline folder).
    pub fn read_dir(dir: &std::path::Path) -> Result<CheckpointFiles, ModelError> {
        let show = |p: &std::path::Path| p.display().to_string();
        if !dir.is_dir() {
            return Err(ModelError::MissingFile {
                path: show(dir),
                hint:
                    "give the folder that holds config.json and diffusion_pytorch_model.safetensors"
                        .into(),
            });
        }
        let (unet_dir, scheduler_dir) = if dir.join("config.json").is_file() {
            (dir.to_path_buf(), dir.to_path_buf())
        } else if dir.join("unet").join("config.json").is_file() {
            (dir.join("unet"), dir.join("scheduler"))
        } else {
            return Err(ModelError::MissingFile {
                path: show(&dir.join("config.json")),
                hint: "a diffusers UNet2DModel folder has config.json (or unet/config.json in a pipeline folder)".into(),
            });
        };
        let read_text = |p: std::path::PathBuf| {
            std::fs::read_to_string(&p).map_err(|source| ModelError::Io {
                path: show(&p),
                source,
            })
        };
        let config_json = read_text(unet_dir.join("config.json"))?;
        let weights_path = unet_dir.join("diffusion_pytorch_model.safetensors");
        if !weights_path.is_file() {
            for pickled in [
                "diffusion_pytorch_model.bin",
                "pytorch_model.bin",
                "model.ckpt",
            ] {
                let p = unet_dir.join(pickled);
                if p.is_file() {
                    return Err(ModelError::Pickle { path: show(&p) });
                }
            }
            if unet_dir
                .join("diffusion_pytorch_model.safetensors.index.json")
                .is_file()
            {
                return Err(ModelError::Unsupported {
                    field: "weights".into(),
                    found: "a sharded safetensors checkpoint".into(),
                    supported: "one diffusion_pytorch_model.safetensors file (save with max_shard_size large enough)".into(),
                });
            }
            return Err(ModelError::MissingFile {
                path: show(&weights_path),
                hint: "export the weights with diffusers' save_pretrained(safe_serialization=True)"
                    .into(),
            });
        }
        let safetensors = std::fs::read(&weights_path).map_err(|source| ModelError::Io {
            path: show(&weights_path),
            source,
        })?;
        let scheduler_path = scheduler_dir.join("scheduler_config.json");
        let scheduler_json = if scheduler_path.is_file() {
            Some(read_text(scheduler_path)?)
        } else {
            None
        };
        Ok(CheckpointFiles {
            config_json,
            safetensors,
            scheduler_json,
        })
    }
}
