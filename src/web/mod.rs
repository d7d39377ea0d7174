//! The JavaScript face of the engine (wasm32 only): load a checkpoint from its files, choose
//! where it runs (the page's WebGPU device or the CPU kernels in wasm, by request or by timing
//! both: [`backend`]), plan a sampling run, step it and read back RGBA grids or raw tensors.
//! Every failure reaches JS as an `Error` whose message says what to do and whose `name` is
//! the [`crate::ErrorKind`] (`BadInput`, `BadCheckpoint`, `NoWebGPU`, `DeviceLost`,
//! `OutOfMemory`, `Internal`): the page switches on the name, never on the message.

mod anatomy;
mod backend;
mod clock;
mod session;

pub use session::Session;

use crate::error::InputError;
use crate::exec::cpu::CpuExecutor;
use crate::exec::gpu::{GpuExecutor, GpuNet};
use crate::exec::Executor;
use crate::model::{Checkpoint, CheckpointFiles};
use crate::scheduler::{Clipping, DdpmVariance, Sampler, Schedule, SchedulerConfig};
use backend::{Choice, Device, Request};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
pub fn init() {
    console_error_panic_hook::set_once();
}

/// What every session on a page shares: one copy of the weights, one device (or none).
struct Shared {
    checkpoint: Checkpoint,
    schedule: Schedule,
    /// Where new sessions run; a lost WebGPU device is swapped for the CPU ([`Engine::use_cpu`]).
    device: RefCell<Device>,
    choice: RefCell<Choice>,
}

/// A loaded model on WebGPU or the CPU. Several playgrounds on a page share one `Engine`.
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

/// The clamp of x_0 a run asks for: `"checkpoint"` (also when absent), `"off"`, `"clip"` or
/// `"recompute"` ([`Clipping`]).
fn parse_clipping(clip: Option<&str>) -> Result<Clipping, InputError> {
    match clip {
        None => Ok(Clipping::Checkpoint),
        Some(name) => Clipping::parse(name).ok_or_else(|| InputError::Unknown {
            what: "clipping",
            found: name.to_string(),
            accepted: Clipping::ACCEPTED,
        }),
    }
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
        "dpmpp2m" => Ok(Sampler::DpmSolverPP),
        "ddim-inverse" => Ok(Sampler::DdimInverse),
        other => Err(unknown(
            "sampler",
            other,
            "\"ddpm\", \"ddim\", \"dpmpp2m\" or \"ddim-inverse\"",
        )),
    }
}

#[wasm_bindgen]
impl Engine {
    /// Loads a diffusers checkpoint from its files' contents and chooses where it runs:
    /// `backend` "auto" (the default: the CPU without a usable WebGPU adapter, else whichever
    /// is faster on a timed forward pass), "webgpu" (a `NoWebGPU` error without it) or "cpu"
    /// (no GPU device is opened). [`Engine::backend_info`] says what was chosen and why.
    pub async fn create(
        config_json: String,
        safetensors: Vec<u8>,
        scheduler_json: Option<String>,
        backend: Option<String>,
    ) -> Result<Engine, JsValue> {
        let request = Request::parse(backend.as_deref()).map_err(js_err)?;
        let files = CheckpointFiles {
            config_json,
            safetensors,
            scheduler_json,
        };
        let mut checkpoint = Checkpoint::from_files(&files).map_err(js_err)?;
        drop(files);
        let schedule_config = checkpoint.scheduler.clone().unwrap_or_default();
        let schedule = Schedule::new(&schedule_config).map_err(js_err)?;
        let (device, choice) = backend::choose(request, &checkpoint.unet)
            .await
            .map_err(js_err)?;
        // On WebGPU the weights live on the device: a host copy would hold as much memory again
        // for nothing (a lost device is handled by loading a CPU engine afresh).
        if matches!(device, Device::Gpu(_)) {
            checkpoint.unet.release_parameters();
        }
        Ok(Engine {
            shared: Rc::new(Shared {
                checkpoint,
                schedule,
                device: RefCell::new(device),
                choice: RefCell::new(choice),
            }),
        })
    }

    /// Where new sessions and forward passes run: "webgpu" or "cpu".
    pub fn backend(&self) -> String {
        self.device().name().to_string()
    }

    /// `{backend, reason, cpuMs, webgpuMs, webgpuAtLeast, adapter, executor}`: the backend in
    /// use, why (e.g. "faster in a probe: cpu 45 ms vs webgpu 780 ms", "asked for by
    /// backend=cpu", "no usable WebGPU (...)"), the probe's ms per warm batch-1 forward of each
    /// candidate (`null` where not measured; `webgpuAtLeast` when the probe stopped waiting for
    /// a WebGPU pass that had already lost, so `webgpuMs` is a lower bound), the WebGPU adapter
    /// if one was opened, and the executor's own description.
    #[wasm_bindgen(js_name = backendInfo)]
    pub fn backend_info(&self) -> Result<js_sys::Object, JsValue> {
        let choice = self.shared.choice.borrow().clone();
        let opt = |v: Option<f64>| v.map_or(JsValue::NULL, JsValue::from_f64);
        let executor = match self.device() {
            Device::Gpu(g) => format!("WebGPU: {}", g.gpu.describe()),
            Device::Cpu => format!("CPU ({})", crate::cpu::simd()),
        };
        let out = js_sys::Object::new();
        for (key, value) in [
            ("backend", JsValue::from_str(self.device().name())),
            ("reason", JsValue::from_str(&choice.reason)),
            ("cpuMs", opt(choice.cpu_ms)),
            ("webgpuMs", opt(choice.webgpu_ms)),
            ("webgpuAtLeast", JsValue::from_bool(choice.webgpu_at_least)),
            (
                "adapter",
                choice
                    .adapter
                    .as_deref()
                    .map_or(JsValue::NULL, JsValue::from_str),
            ),
            ("executor", JsValue::from_str(&executor)),
        ] {
            js_sys::Reflect::set(&out, &key.into(), &value)?;
        }
        Ok(out)
    }

    /// The WebGPU adapter, e.g. "llvmpipe (Vulkan, Cpu)" or, in a browser that names none, its
    /// driver; `undefined` when none was opened.
    #[wasm_bindgen(js_name = adapterInfo)]
    pub fn adapter_info(&self) -> Option<String> {
        self.shared.choice.borrow().adapter.clone()
    }

    /// Why the engine's GPU device was lost (e.g. a driver reset), or `undefined` while it is
    /// fine or the engine runs on the CPU. Poll it to tell the reader before a click fails.
    #[wasm_bindgen(js_name = deviceLost)]
    pub fn device_lost(&self) -> Option<String> {
        match self.device() {
            Device::Gpu(g) => g.gpu.lost_reason(),
            Device::Cpu => None,
        }
    }

    /// Test and debugging hook: `{gpuBuffers, gpuBytes, wasmBytes, hostParameterBytes}`, the
    /// GPU buffers alive in this wasm instance (every engine and session; a freed session or
    /// engine gives its buffers back at once), the wasm memory's size, and the bytes of this
    /// engine's parameter copy in wasm memory (0 on WebGPU, where the weights live on the GPU).
    #[wasm_bindgen(js_name = debugCounters)]
    pub fn debug_counters(&self) -> Result<js_sys::Object, JsValue> {
        let out = debug_counters()?;
        let bytes = self.shared.checkpoint.unet.parameter_bytes() as f64;
        js_sys::Reflect::set(&out, &"hostParameterBytes".into(), &bytes.into())?;
        Ok(out)
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

    /// The timesteps a run would visit (validates the settings without a session): `sampler`
    /// "ddpm", "ddim", "dpmpp2m" or "ddim-inverse" (ascending timesteps); `eta` is read by
    /// "ddim" only and `variance` by "ddpm" only. A run of N steps makes N network evaluations
    /// with every sampler (inpainting with resampling makes more: `Session.networkEvaluations`).
    /// `clip` (optional): "checkpoint" (the scheduler config's clip_sample), "off", "clip" or
    /// "recompute" (clip, and DDIM's noise estimate from the clipped x_0); `BadInput` where the
    /// sampler has no such choice.
    pub fn timesteps(
        &self,
        sampler: &str,
        steps: u32,
        eta: f32,
        variance: &str,
        clip: Option<String>,
    ) -> Result<Vec<u32>, JsValue> {
        let sampler = parse_sampler(sampler, eta, variance).map_err(js_err)?;
        let clipping = parse_clipping(clip.as_deref()).map_err(js_err)?;
        Ok(self
            .shared
            .schedule
            .plan_clipped(sampler, steps as usize, clipping)
            .map_err(js_err)?
            .timesteps)
    }

    /// A sampling session of `batch` images with its own buffers, on the engine's backend
    /// now (one per playground and batch size; reuse it across runs). On the CPU, `first`
    /// makes it images `first..first + batch` of a larger batch (the same noise as there): a
    /// worker's part of a page's batch.
    #[wasm_bindgen(js_name = createSession)]
    pub fn create_session(&self, batch: u32, first: Option<u32>) -> Result<Session, JsValue> {
        let s = &self.shared;
        let unet = &s.checkpoint.unet;
        let device = self.device();
        let first = first.unwrap_or(0) as usize;
        let max = crate::model::limits::MAX_BATCH;
        // (A whole batch, first 0, gets the batch size's own error from the graph.)
        if first > 0 && first.saturating_add(batch as usize) > max {
            return Err(js_err(InputError::OutOfRange {
                what: "createSession's first image + batch",
                found: format!("{first} + {batch}"),
                accepted: format!("a part of a batch of at most {max} images"),
            }));
        }
        let sampler: Rc<dyn Executor> = match &device {
            Device::Gpu(_) if first != 0 => {
                let backend = device.name();
                return Err(js_err(InputError::PartOfBatch { first, backend }));
            }
            Device::Gpu(g) => Rc::new(
                GpuExecutor::new(g.gpu.clone(), &g.weights, unet, batch as usize)
                    .map_err(js_err)?,
            ),
            Device::Cpu => Rc::new(
                CpuExecutor::new(unet, batch as usize)
                    .map_err(js_err)?
                    .part_of_batch(first),
            ),
        };
        Ok(Session {
            shared: s.clone(),
            sampler,
            backend: device.name(),
            plan: Rc::new(RefCell::new(None)),
            seed: 0,
            last_step: std::cell::Cell::new(None),
            inpaint: std::cell::Cell::new(None),
            evaluations: std::cell::Cell::new(0),
        })
    }

    /// One UNet evaluation on `x` ((batch, C, H, W) floats) at timestep `t` on the engine's
    /// backend; resolves to the raw model output. Used by the exactness tests.
    pub fn forward(&self, x: Vec<f32>, batch: u32, t: f32) -> js_sys::Promise {
        let shared = self.shared.clone();
        let device = self.device();
        wasm_bindgen_futures::future_to_promise(async move {
            let steps = shared.schedule.num_train_timesteps();
            if !(t >= 0.0 && t < steps as f32) {
                return Err(js_err(InputError::OutOfRange {
                    what: "forward's timestep",
                    found: t.to_string(),
                    accepted: format!("a number t with 0 <= t < {steps}"),
                }));
            }
            let unet = &shared.checkpoint.unet;
            let out = match device {
                Device::Gpu(g) => {
                    let net =
                        GpuNet::new(&g.gpu, &g.weights, unet, batch as usize).map_err(js_err)?;
                    net.forward(&g.gpu, unet, &x, t).await.map_err(js_err)?
                }
                Device::Cpu => {
                    let graph = unet.graph(batch as usize).map_err(js_err)?;
                    crate::exec::cpu::forward(unet, &graph, &x, t, crate::exec::cpu::Kernels::Fast)
                        .map_err(js_err)?
                }
            };
            Ok(js_sys::Float32Array::from(out.as_slice()).into())
        })
    }
}

impl Engine {
    /// The current device (a cheap clone: not borrowed across an await).
    fn device(&self) -> Device {
        self.shared.device.borrow().clone()
    }
}

/// Test and debugging hook: `{gpuBuffers, gpuBytes, gpuDevices, wasmBytes}`: the GPU buffers
/// alive in this wasm instance, their bytes, the GPU devices alive (one per WebGPU engine,
/// destroyed when it is freed), and the size of the wasm memory (it grows, never shrinks).
#[wasm_bindgen(js_name = debugCounters)]
pub fn debug_counters() -> Result<js_sys::Object, JsValue> {
    let live = crate::gpu::live_buffers();
    let memory = wasm_bindgen::memory().unchecked_into::<js_sys::WebAssembly::Memory>();
    let wasm_bytes = memory
        .buffer()
        .unchecked_into::<js_sys::ArrayBuffer>()
        .byte_length();
    let out = js_sys::Object::new();
    for (key, value) in [
        ("gpuBuffers", live.buffers as f64),
        ("gpuBytes", live.bytes as f64),
        ("gpuDevices", crate::gpu::live_devices() as f64),
        ("wasmBytes", wasm_bytes as f64),
    ] {
        js_sys::Reflect::set(&out, &key.into(), &value.into())?;
    }
    Ok(out)
}

thread_local! {
    static TRAP_AFTER: std::cell::Cell<Option<u32>> = const { std::cell::Cell::new(None) };
}

/// Test hook for the page's crash recovery: the `steps`-th next `Session.step` call from now
/// (1 = the next one) panics, which traps this wasm instance as a bug would.
#[wasm_bindgen(js_name = debugTrapAfter)]
pub fn debug_trap_after(steps: u32) {
    TRAP_AFTER.with(|t| t.set(Some(steps.max(1))));
}

/// Called by every `Session.step`: panics when [`debug_trap_after`]'s count runs out.
pub(crate) fn debug_trap_check() {
    let due = TRAP_AFTER.with(|t| match t.get() {
        Some(1) => {
            t.set(None);
            true
        }
        Some(n) => {
            t.set(Some(n - 1));
            false
        }
        None => false,
    });
    if due {
        panic!("debugTrapAfter: the trap the test asked for");
    }
}

/// The seeded x_T the engine starts from (for tests and for showing x_T without a GPU):
/// `batch` images of `sample_len` floats, refused (before allocating) beyond the engine's
/// limits.
#[wasm_bindgen(js_name = initialNoise)]
pub fn initial_noise(seed: u32, batch: u32, sample_len: u32) -> Result<Vec<f32>, JsValue> {
    let max = crate::model::limits::MAX_BATCH;
    if batch == 0 || batch as usize > max {
        return Err(js_err(InputError::OutOfRange {
            what: "initialNoise's batch",
            found: batch.to_string(),
            accepted: format!("1 to {max} images"),
        }));
    }
    let len = crate::ops::checked_len("initialNoise", &[batch as usize, sample_len as usize])
        .ok()
        .filter(|&len| len > 0)
        .ok_or_else(|| {
            js_err(InputError::OutOfRange {
                what: "initialNoise's batch x sample length",
                found: format!("{batch} x {sample_len}"),
                accepted: format!(
                    "1 to {} floats in all (sampleShape's product per image)",
                    crate::model::limits::MAX_TENSOR_ELEMENTS
                ),
            })
        })?;
    Ok(crate::rng::initial_noise(
        seed as u64,
        batch as usize,
        len / batch as usize,
    ))
}

/// Spherical interpolation of two noise tensors (e.g. two seeds' `initialNoise`, or two x_T from
/// DDIM inversion): `sin((1-t)θ)/sin θ · a + sin(tθ)/sin θ · b`, θ the angle between `a` and `b`;
/// `t = 0` returns `a` and `t = 1` returns `b` exactly. `a` and `b` must have the same length
/// (`BadInput` otherwise) and `t` must be in [0, 1].
#[wasm_bindgen(js_name = slerpNoise)]
pub fn slerp_noise(a: &[f32], b: &[f32], t: f32) -> Result<Vec<f32>, JsValue> {
    if a.len() != b.len() || a.is_empty() {
        return Err(js_err(InputError::Length {
            what: "slerpNoise's second tensor",
            found: b.len(),
            expected: a.len(),
            shape: "two non-empty tensors of the same shape".into(),
        }));
    }
    if !(0.0..=1.0).contains(&t) {
        return Err(js_err(InputError::OutOfRange {
            what: "slerpNoise's t",
            found: t.to_string(),
            accepted: "a number in [0, 1] (0 = a, 1 = b)".into(),
        }));
    }
    Ok(crate::interpolate::slerp(a, b, t))
}

/// `values` ((batch, C, H, W) floats in [-1, 1]) as the RGBA grid a session's `readRgba`
/// returns: for sessions split over workers, whose parts the page joins.
#[wasm_bindgen(js_name = rgbaGrid)]
pub fn rgba_grid(
    values: &[f32],
    batch: u32,
    channels: u32,
    height: u32,
    width: u32,
) -> Result<js_sys::Uint8ClampedArray, JsValue> {
    let shape = [batch, channels, height, width].map(|d| d as usize);
    let named = || format!("batch {batch} of {channels}x{height}x{width}");
    let grid = crate::ops::ToRgba8::new(shape).map_err(|e| {
        js_err(InputError::Grid {
            shape: named(),
            why: e.message,
        })
    })?;
    let expected = shape.iter().product::<usize>();
    if values.len() != expected {
        return Err(js_err(InputError::Length {
            what: "rgbaGrid's values",
            found: values.len(),
            expected,
            shape: named(),
        }));
    }
    let mut words = vec![0u32; grid.output_len()];
    grid.cpu(values, &mut words);
    let bytes: &[u8] = bytemuck::cast_slice(&words);
    Ok(js_sys::Uint8ClampedArray::from(bytes))
}

/// alpha-bar_t for t = 0..T of a scheduler config (the diffusers defaults when absent), with no
/// GPU needed: the forward-process view works in browsers without WebGPU too.
#[wasm_bindgen(js_name = alphasCumprodFor)]
pub fn alphas_cumprod_for(scheduler_json: Option<String>) -> Result<Vec<f32>, JsValue> {
    Ok(schedule_for(scheduler_json)?.alphas_cumprod().to_vec())
}

/// The schedule of a scheduler config's text (the diffusers defaults when absent).
fn schedule_for(scheduler_json: Option<String>) -> Result<Schedule, JsValue> {
    let config = match scheduler_json {
        Some(text) => SchedulerConfig::from_json_str(&text).map_err(js_err)?,
        None => SchedulerConfig::default(),
    };
    Schedule::new(&config).map_err(js_err)
}
