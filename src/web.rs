//! The JavaScript face of the engine (wasm32 only): load a checkpoint from its files, plan a
//! sampling run, step it on the page's WebGPU device and read back RGBA grids or raw tensors.
//! Every failure reaches JS as an `Error` whose message says what to do and whose `name` is
//! the [`crate::ErrorKind`] (`BadInput`, `BadCheckpoint`, `NoWebGPU`, `DeviceLost`,
//! `OutOfMemory`, `Internal`): the page switches on the name, never on the message.

use crate::error::InputError;
use crate::exec::gpu::{GpuExecutor, GpuNet, GpuWeights};
use crate::exec::{Executor, View};
use crate::gpu::Gpu;
use crate::model::{Checkpoint, CheckpointFiles};
use crate::scheduler::{DdpmVariance, Plan, Sampler, Schedule, SchedulerConfig};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
pub fn init() {
    console_error_panic_hook::set_once();
}

/// What every session on a page shares: one device, one copy of the weights.
struct Shared {
    gpu: Rc<Gpu>,
    checkpoint: Checkpoint,
    schedule: Schedule,
    weights: GpuWeights,
}

/// A loaded model on a WebGPU device. Several playgrounds on a page share one `Engine`.
#[wasm_bindgen]
pub struct Engine {
    shared: Rc<Shared>,
}

/// A JS `Error` with the engine's message and its kind as `name`.
fn js_err(e: impl Into<crate::Error>) -> JsValue {
    let e = e.into();
    let err = js_sys::Error::new(&e.to_string());
    err.set_name(e.kind().name());
    err.into()
}

fn parse_sampler(sampler: &str, eta: f32, variance: &str) -> Result<Sampler, InputError> {
    let unknown = |what, found: &str, accepted| InputError::Unknown {
        what,
        found: found.to_string(),
        accepted,
    };
    match sampler {
        "ddpm" => Ok(Sampler::Ddpm {
            variance: match variance {
                "fixed_small" => DdpmVariance::FixedSmall,
                "fixed_large" => DdpmVariance::FixedLarge,
                other => {
                    return Err(unknown(
                        "DDPM variance",
                        other,
                        "\"fixed_small\" (posterior) or \"fixed_large\" (beta_t)",
                    ))
                }
            },
        }),
        "ddim" => Ok(Sampler::Ddim { eta }),
        other => Err(unknown("sampler", other, "\"ddpm\" or \"ddim\"")),
    }
}

#[wasm_bindgen]
impl Engine {
    /// Opens a WebGPU device and loads a diffusers checkpoint from its files' contents.
    pub async fn create(
        config_json: String,
        safetensors: Vec<u8>,
        scheduler_json: Option<String>,
    ) -> Result<Engine, JsValue> {
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
            shared: Rc::new(Shared {
                gpu,
                checkpoint,
                schedule,
                weights,
            }),
        })
    }

    /// The adapter, e.g. "llvmpipe (Vulkan, Cpu)" or, in a browser that names none, its driver.
    #[wasm_bindgen(js_name = adapterInfo)]
    pub fn adapter_info(&self) -> String {
        self.shared.gpu.describe()
    }

    /// Why the GPU device was lost (e.g. a driver reset), or `undefined` while it is fine.
    /// Poll it while idle to tell the reader before their next click fails.
    #[wasm_bindgen(js_name = deviceLost)]
    pub fn device_lost(&self) -> Option<String> {
        self.shared.gpu.lost_reason()
    }

    /// (channels, height, width) of one sample.
    #[wasm_bindgen(js_name = sampleShape)]
    pub fn sample_shape(&self) -> Vec<u32> {
        self.shared
            .checkpoint
            .unet
            .sample_shape()
            .iter()
            .map(|&v| v as u32)
            .collect()
    }

    /// Number of parameters of the model.
    #[wasm_bindgen(js_name = parameterCount)]
    pub fn parameter_count(&self) -> u32 {
        self.shared.checkpoint.unet.parameter_count() as u32
    }

    /// Number of training timesteps T.
    #[wasm_bindgen(js_name = numTrainTimesteps)]
    pub fn num_train_timesteps(&self) -> u32 {
        self.shared.schedule.num_train_timesteps() as u32
    }

    /// The checkpoint's DDPM variance: "fixed_small" or "fixed_large".
    #[wasm_bindgen(js_name = defaultVariance)]
    pub fn default_variance(&self) -> String {
        DdpmVariance::from_config(self.shared.schedule.config())
            .as_str()
            .to_string()
    }

    /// The timesteps a run would visit (validates the settings without a session).
    pub fn timesteps(
        &self,
        sampler: &str,
        steps: u32,
        eta: f32,
        variance: &str,
    ) -> Result<Vec<u32>, JsValue> {
        let sampler = parse_sampler(sampler, eta, variance).map_err(js_err)?;
        Ok(self
            .shared
            .schedule
            .plan(sampler, steps as usize)
            .map_err(js_err)?
            .timesteps)
    }

    /// A sampling session of `batch` images with its own buffers (one per playground and
    /// batch size; reuse it across runs).
    #[wasm_bindgen(js_name = createSession)]
    pub fn create_session(&self, batch: u32) -> Result<Session, JsValue> {
        let s = &self.shared;
        let sampler = GpuExecutor::new(
            s.gpu.clone(),
            &s.weights,
            &s.checkpoint.unet,
            batch as usize,
        )
        .map_err(js_err)?;
        Ok(Session {
            shared: s.clone(),
            sampler: Rc::new(sampler),
            plan: Rc::new(RefCell::new(None)),
            seed: 0,
        })
    }

    /// One UNet evaluation on `x` ((batch, C, H, W) floats) at timestep `t`; resolves to the
    /// raw model output. Used by the exactness test against the native engine.
    pub fn forward(&self, x: Vec<f32>, batch: u32, t: f32) -> js_sys::Promise {
        let shared = self.shared.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let net = GpuNet::new(
                &shared.gpu,
                &shared.weights,
                &shared.checkpoint.unet,
                batch as usize,
            )
            .map_err(js_err)?;
            let out = net
                .forward(&shared.gpu, &shared.checkpoint.unet, &x, t)
                .await
                .map_err(js_err)?;
            Ok(js_sys::Float32Array::from(out.as_slice()).into())
        })
    }
}

/// One playground's sampling run: its plan, seed and GPU buffers.
#[wasm_bindgen]
pub struct Session {
    shared: Rc<Shared>,
    sampler: Rc<GpuExecutor>,
    plan: Rc<RefCell<Option<Plan>>>,
    seed: u64,
}

#[wasm_bindgen]
impl Session {
    pub fn batch(&self) -> u32 {
        self.sampler.batch() as u32
    }

    /// Starts a run: `sampler` "ddpm" or "ddim", `steps` 1..=T, `eta` in [0, 1] (DDIM),
    /// `variance` "fixed_small" or "fixed_large" (DDPM), from the seeded x_T (the same for
    /// every sampler). Returns the timesteps the run will visit.
    pub fn start(
        &mut self,
        sampler: &str,
        steps: u32,
        eta: f32,
        variance: &str,
        seed: u32,
    ) -> Result<Vec<u32>, JsValue> {
        let sampler = parse_sampler(sampler, eta, variance).map_err(js_err)?;
        let plan = self
            .shared
            .schedule
            .plan(sampler, steps as usize)
            .map_err(js_err)?;
        let timesteps = plan.timesteps.clone();
        self.sampler.start(seed as u64).map_err(js_err)?;
        self.seed = seed as u64;
        *self.plan.borrow_mut() = Some(plan);
        Ok(timesteps)
    }

    /// Submits step `index` of the run (returns at once; reads wait for the GPU).
    pub fn step(&self, index: u32) -> Result<(), JsValue> {
        let plan = self.plan.borrow();
        let plan = plan
            .as_ref()
            .ok_or_else(|| js_err(InputError::NotStarted))?;
        self.sampler
            .step(
                &self.shared.checkpoint.unet,
                plan,
                index as usize,
                self.seed,
            )
            .map_err(js_err)
    }

    /// Width and height of the RGBA grid.
    #[wasm_bindgen(js_name = gridSize)]
    pub fn grid_size(&self) -> Vec<u32> {
        let (w, h) = self.sampler.grid_size();
        vec![w as u32, h as u32]
    }

    /// The images as one RGBA grid: `view` "sample" (x_t) or "x0" (predicted x_0). Resolves
    /// once the submitted steps are done, so awaiting it paces a run one step at a time.
    #[wasm_bindgen(js_name = readRgba)]
    pub fn read_rgba(&self, view: String) -> js_sys::Promise {
        self.read_view(view, |s, v| async move {
            let bytes = s.read_rgba(v).await?;
            Ok(js_sys::Uint8ClampedArray::from(bytes.as_slice()).into())
        })
    }

    /// x_t (`view` "sample") or the predicted x_0 ("x0") as raw floats, (N, C, H, W).
    #[wasm_bindgen(js_name = readTensor)]
    pub fn read_tensor(&self, view: String) -> js_sys::Promise {
        self.read_view(view, |s, v| async move {
            let data = s.read(v).await?;
            Ok(js_sys::Float32Array::from(data.as_slice()).into())
        })
    }
}

impl Session {
    /// A promise of `read(executor, view)`, rejected with a named error.
    fn read_view<F, Fut>(&self, view: String, read: F) -> js_sys::Promise
    where
        F: FnOnce(Rc<GpuExecutor>, View) -> Fut + 'static,
        Fut: std::future::Future<Output = Result<JsValue, crate::Error>>,
    {
        let sampler = self.sampler.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let view = View::parse(&view).map_err(js_err)?;
            read(sampler, view).await.map_err(js_err)
        })
    }
}

/// The seeded x_T the engine starts from (for tests and for showing x_T without a GPU).
#[wasm_bindgen(js_name = initialNoise)]
pub fn initial_noise(seed: u32, batch: u32, sample_len: u32) -> Vec<f32> {
    crate::rng::initial_noise(seed as u64, batch as usize, sample_len as usize)
}

/// alpha-bar_t for t = 0..T of a scheduler config (the diffusers defaults when absent), with no
/// GPU needed: the forward-process view works in browsers without WebGPU too.
#[wasm_bindgen(js_name = alphasCumprodFor)]
pub fn alphas_cumprod_for(scheduler_json: Option<String>) -> Result<Vec<f32>, JsValue> {
    let config = match scheduler_json {
        Some(text) => SchedulerConfig::from_json_str(&text).map_err(js_err)?,
        None => SchedulerConfig::default(),
    };
    Ok(Schedule::new(&config)
        .map_err(js_err)?
        .alphas_cumprod()
        .to_vec())
}
