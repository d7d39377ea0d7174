//! The JavaScript face of the engine (wasm32 only): load a checkpoint from its files, plan a
//! sampling run, step it on the page's WebGPU device and read back RGBA grids or raw tensors.
//! Every failure reaches JS as an `Error` whose message says what to do.

use crate::gpu::Gpu;
use crate::model::{Checkpoint, CheckpointFiles};
use crate::sampler::{GpuSampler, View};
use crate::scheduler::{DdpmVariance, Plan, Sampler, Schedule, SchedulerConfig};
use crate::unet::{GpuUNet, GpuWeights};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
pub fn init() {
    console_error_panic_hook::set_once();
}

struct Inner {
    gpu: Rc<Gpu>,
    checkpoint: Checkpoint,
    schedule: Schedule,
    weights: GpuWeights,
    samplers: HashMap<usize, Rc<GpuSampler>>,
    plan: Option<Plan>,
    run: Option<(Rc<GpuSampler>, u64)>,
}

/// A loaded model on a WebGPU device.
#[wasm_bindgen]
pub struct Engine {
    inner: Rc<RefCell<Inner>>,
}

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

#[wasm_bindgen]
impl Engine {
    /// Opens a WebGPU device and loads a diffusers checkpoint from its files' contents.
    pub async fn create(
        config_json: String,
        safetensors: Vec<u8>,
        scheduler_json: Option<String>,
    ) -> Result<Engine, JsError> {
        let files = CheckpointFiles {
            config_json,
            safetensors,
            scheduler_json,
        };
        let checkpoint = Checkpoint::from_files(&files).map_err(js_err)?;
        let gpu = Rc::new(Gpu::new().await.map_err(js_err)?);
        let weights = GpuWeights::upload(&gpu, &checkpoint.unet).map_err(js_err)?;
        let schedule_config = checkpoint.scheduler.clone().unwrap_or_default();
        let schedule = Schedule::new(&schedule_config).map_err(js_err)?;
        Ok(Engine {
            inner: Rc::new(RefCell::new(Inner {
                gpu,
                checkpoint,
                schedule,
                weights,
                samplers: HashMap::new(),
                plan: None,
                run: None,
            })),
        })
    }

    /// The adapter, e.g. "swiftshader (BrowserWebGpu, Cpu)".
    #[wasm_bindgen(js_name = adapterInfo)]
    pub fn adapter_info(&self) -> String {
        self.inner.borrow().gpu.describe()
    }

    /// (channels, height, width) of one sample.
    #[wasm_bindgen(js_name = sampleShape)]
    pub fn sample_shape(&self) -> Vec<u32> {
        self.inner.borrow().checkpoint.unet.sample_shape().iter().map(|&v| v as u32).collect()
    }

    /// Number of training timesteps T.
    #[wasm_bindgen(js_name = numTrainTimesteps)]
    pub fn num_train_timesteps(&self) -> u32 {
        self.inner.borrow().schedule.num_train_timesteps() as u32
    }

    /// alpha-bar_t for t = 0..T (for the forward-process view).
    #[wasm_bindgen(js_name = alphasCumprod)]
    pub fn alphas_cumprod(&self) -> Vec<f32> {
        self.inner.borrow().schedule.alphas_cumprod().to_vec()
    }

    /// The checkpoint's DDPM variance: "fixed_small" or "fixed_large".
    #[wasm_bindgen(js_name = defaultVariance)]
    pub fn default_variance(&self) -> String {
        let inner = self.inner.borrow();
        DdpmVariance::from_config(inner.schedule.config()).as_str().to_string()
    }

    /// Plans a run: `sampler` "ddpm" or "ddim", `steps` 1..=T, `eta` in [0, 1] (DDIM),
    /// `variance` "fixed_small" or "fixed_large" (DDPM). Returns the timesteps.
    pub fn plan(&self, sampler: &str, steps: u32, eta: f32, variance: &str) -> Result<Vec<u32>, JsError> {
        let sampler = match sampler {
            "ddpm" => Sampler::Ddpm {
                variance: match variance {
                    "fixed_small" => DdpmVariance::FixedSmall,
                    "fixed_large" => DdpmVariance::FixedLarge,
                    other => {
                        return Err(JsError::new(&format!(
                            "unknown DDPM variance {other:?}: use \"fixed_small\" (posterior) or \"fixed_large\" (beta_t)"
                        )))
                    }
                },
            },
            "ddim" => Sampler::Ddim { eta },
            other => return Err(JsError::new(&format!("unknown sampler {other:?}: use \"ddpm\" or \"ddim\""))),
        };
        let mut inner = self.inner.borrow_mut();
        let plan = inner.schedule.plan(sampler, steps as usize).map_err(js_err)?;
        let timesteps = plan.timesteps.clone();
        inner.plan = Some(plan);
        Ok(timesteps)
    }

    /// Starts a run of `batch` images from the seeded x_T (the same for every sampler).
    pub fn start(&self, batch: u32, seed: u32) -> Result<(), JsError> {
        let mut inner = self.inner.borrow_mut();
        let batch = batch as usize;
        let sampler = match inner.samplers.get(&batch) {
            Some(s) => s.clone(),
            None => {
                let s = Rc::new(
                    GpuSampler::new(&inner.gpu, &inner.weights, &inner.checkpoint.unet, batch)
                        .map_err(js_err)?,
                );
                inner.samplers.insert(batch, s.clone());
                s
            }
        };
        sampler.start(&inner.gpu, seed as u64).map_err(js_err)?;
        inner.run = Some((sampler, seed as u64));
        Ok(())
    }

    /// Submits step `index` of the planned run (returns at once; reads wait for the GPU).
    pub fn step(&self, index: u32) -> Result<(), JsError> {
        let inner = self.inner.borrow();
        let plan = inner.plan.as_ref().ok_or_else(|| JsError::new("call plan() before step()"))?;
        let (sampler, seed) = inner.run.as_ref().ok_or_else(|| JsError::new("call start() before step()"))?;
        sampler
            .step(&inner.gpu, &inner.checkpoint.unet, plan, index as usize, *seed)
            .map_err(js_err)?;
        inner.gpu.check().map_err(js_err)
    }

    /// Width and height of the RGBA grid of the current run.
    #[wasm_bindgen(js_name = gridSize)]
    pub fn grid_size(&self) -> Result<Vec<u32>, JsError> {
        let inner = self.inner.borrow();
        let (sampler, _) = inner.run.as_ref().ok_or_else(|| JsError::new("call start() first"))?;
        let (w, h) = sampler.grid_size();
        Ok(vec![w as u32, h as u32])
    }

    /// The current run's images as an RGBA grid: `view` "sample" (x_t) or "x0" (predicted x_0).
    #[wasm_bindgen(js_name = readRgba)]
    pub fn read_rgba(&self, view: String) -> js_sys::Promise {
        let inner = self.inner.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let view = match view.as_str() {
                "sample" => View::Sample,
                "x0" => View::PredictedX0,
                other => return Err(JsError::new(&format!("unknown view {other:?}: use \"sample\" or \"x0\"")).into()),
            };
            let (gpu, sampler) = {
                let i = inner.borrow();
                let (s, _) = i.run.as_ref().ok_or_else(|| JsError::new("call start() first"))?;
                (i.gpu.clone(), s.clone())
            };
            let bytes = sampler.read_rgba(&gpu, view).await.map_err(js_err)?;
            Ok(js_sys::Uint8ClampedArray::from(bytes.as_slice()).into())
        })
    }

    /// The current x (or predicted x_0 with `view` "x0") as raw floats, (N, C, H, W).
    #[wasm_bindgen(js_name = readTensor)]
    pub fn read_tensor(&self, view: String) -> js_sys::Promise {
        let inner = self.inner.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let (gpu, sampler) = {
                let i = inner.borrow();
                let (s, _) = i.run.as_ref().ok_or_else(|| JsError::new("call start() first"))?;
                (i.gpu.clone(), s.clone())
            };
            let data = match view.as_str() {
                "sample" => sampler.read_sample(&gpu).await,
                "x0" => sampler.read_x0(&gpu).await,
                other => return Err(JsError::new(&format!("unknown view {other:?}: use \"sample\" or \"x0\"")).into()),
            }
            .map_err(js_err)?;
            Ok(js_sys::Float32Array::from(data.as_slice()).into())
        })
    }

    /// One UNet evaluation on `x` ((batch, C, H, W) floats) at timestep `t`; resolves to the
    /// raw model output. Used by the exactness test against the native engine.
    pub fn forward(&self, x: Vec<f32>, batch: u32, t: f32) -> js_sys::Promise {
        let inner = self.inner.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let (gpu, net, unet) = {
                let i = inner.borrow();
                let net = GpuUNet::new(&i.gpu, &i.weights, &i.checkpoint.unet, batch as usize).map_err(js_err)?;
                (i.gpu.clone(), net, i.checkpoint.unet.clone())
            };
            let out = net.forward(&gpu, &unet, &x, t).await.map_err(js_err)?;
            Ok(js_sys::Float32Array::from(out.as_slice()).into())
        })
    }
}

/// The seeded x_T the engine starts from (for tests and for showing x_T without a GPU).
#[wasm_bindgen(js_name = initialNoise)]
pub fn initial_noise(seed: u32, batch: u32, sample_len: u32) -> Vec<f32> {
    crate::rng::initial_noise(seed as u64, batch as usize, sample_len as usize)
}

/// Parses a scheduler config, returning its error message if invalid (for the page's
/// "bring your own checkpoint" form).
#[wasm_bindgen(js_name = checkSchedulerConfig)]
pub fn check_scheduler_config(json: &str) -> Result<(), JsError> {
    SchedulerConfig::from_json_str(json).map(|_| ()).map_err(js_err)
}
