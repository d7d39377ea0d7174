//! Which executor runs a page's sessions: the WGSL kernels on the page's WebGPU device or the
//! fast CPU kernels in wasm. `"auto"` measures instead of guessing: a software WebGPU adapter
//! (SwiftShader, a blocklisted GPU's fallback) can be 20x slower than the CPU path, a real GPU
//! far faster, and no property of the adapter says which.

use crate::error::{Error, InputError};
use crate::exec::cpu::{CpuNet, Kernels};
use crate::exec::gpu::{GpuNet, GpuWeights};
use crate::gpu::Gpu;
use crate::model::UNet;
use crate::web::clock::{now_ms, within};
use std::rc::Rc;

/// What the caller of `Engine.create` asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// The faster of the two, timed on a forward pass (the CPU when there is no WebGPU).
    Auto,
    /// WebGPU or an error (`NoWebGPU`).
    WebGpu,
    /// The CPU; no GPU device is opened.
    Cpu,
}

impl Request {
    /// `"auto"` (also when absent), `"webgpu"` or `"cpu"`.
    pub fn parse(name: Option<&str>) -> Result<Request, InputError> {
        match name {
            None | Some("auto") => Ok(Request::Auto),
            Some("webgpu") => Ok(Request::WebGpu),
            Some("cpu") => Ok(Request::Cpu),
            Some(other) => Err(InputError::Unknown {
                what: "backend",
                found: other.to_string(),
                accepted: "\"auto\" (the faster of WebGPU and the CPU, measured; the default), \
                           \"webgpu\" or \"cpu\"",
            }),
        }
    }
}

/// The page's WebGPU device and the model's weights on it.
pub struct GpuBackend {
    pub gpu: Rc<Gpu>,
    pub weights: GpuWeights,
}

/// Where new sessions and forward passes run.
#[derive(Clone)]
pub enum Device {
    Gpu(Rc<GpuBackend>),
    Cpu,
}

impl Device {
    /// `"webgpu"` or `"cpu"`, the names `Engine.create` takes.
    pub fn name(&self) -> &'static str {
        match self {
            Device::Gpu(_) => "webgpu",
            Device::Cpu => "cpu",
        }
    }
}

/// Why the engine runs where it does, and what the probe measured (ms per batch-1 forward).
#[derive(Clone, Debug, Default)]
pub struct Choice {
    pub reason: String,
    pub cpu_ms: Option<f64>,
    pub webgpu_ms: Option<f64>,
    /// `webgpu_ms` is where the probe stopped waiting: WebGPU takes at least that long.
    pub webgpu_at_least: bool,
    /// The WebGPU adapter, when one was opened (kept after the CPU won the probe).
    pub adapter: Option<String>,
}

/// Opens what `request` needs and, for `Auto`, times a warm forward pass on each candidate.
pub async fn choose(request: Request, unet: &UNet) -> Result<(Device, Choice), Error> {
    match request {
        Request::Cpu => Ok((
            Device::Cpu,
            Choice {
                reason: "asked for by backend=cpu".into(),
                ..Choice::default()
            },
        )),
        Request::WebGpu => {
            let gpu = open_gpu(unet).await?;
            let adapter = Some(gpu.gpu.describe());
            Ok((
                Device::Gpu(gpu),
                Choice {
                    reason: "asked for by backend=webgpu".into(),
                    adapter,
                    ..Choice::default()
                },
            ))
        }
        Request::Auto => auto(unet).await,
    }
}

async fn open_gpu(unet: &UNet) -> Result<Rc<GpuBackend>, Error> {
    let gpu = Rc::new(Gpu::new().await?);
    let weights = GpuWeights::upload(&gpu, unet)?;
    Ok(Rc::new(GpuBackend { gpu, weights }))
}

/// The GPU's first pass compiles every kernel: on a real GPU well under this, on a software
/// adapter many seconds. Past it (plus a few CPU passes) the CPU is taken without waiting.
const FIRST_PASS_BUDGET_MS: f64 = 2000.0;

async fn auto(unet: &UNet) -> Result<(Device, Choice), Error> {
    let gpu = match Gpu::new().await {
        Ok(gpu) => Rc::new(gpu),
        Err(e) => {
            let choice = Choice {
                reason: format!("no usable WebGPU ({e})"),
                ..Choice::default()
            };
            return Ok((Device::Cpu, choice));
        }
    };
    // A CPU failure is the model's or the caller's (the same session would fail later): report it.
    let cpu_ms = time_cpu(unet)?;
    let mut choice = Choice {
        cpu_ms: Some(cpu_ms),
        adapter: Some(gpu.describe()),
        ..Choice::default()
    };
    let weights = match GpuWeights::upload(&gpu, unet) {
        Ok(w) => w,
        Err(e) => {
            choice.reason = format!("WebGPU failed in the probe ({e})");
            return Ok((Device::Cpu, choice));
        }
    };
    let budgets = [FIRST_PASS_BUDGET_MS + 4.0 * cpu_ms, 2.0 * cpu_ms + 50.0];
    match time_gpu(&gpu, &weights, unet, budgets).await {
        Ok(GpuTime::Warm(webgpu_ms)) => {
            choice.webgpu_ms = Some(webgpu_ms);
            choice.reason =
                format!("faster in a probe: cpu {cpu_ms:.0} ms vs webgpu {webgpu_ms:.0} ms");
            // Ties go to the CPU: it leaves the GPU to the rest of the page.
            if webgpu_ms < cpu_ms {
                return Ok((Device::Gpu(Rc::new(GpuBackend { gpu, weights })), choice));
            }
        }
        Ok(GpuTime::StoppedAt { ms, first_pass }) => {
            // The GPU lost while still working: stop it taking the CPU's cores.
            gpu.device.destroy();
            choice.webgpu_ms = Some(ms);
            choice.webgpu_at_least = true;
            let pass = if first_pass {
                "its first pass, which compiles the kernels"
            } else {
                "a warm pass"
            };
            choice.reason = format!(
                "faster in a probe: cpu {cpu_ms:.0} ms vs webgpu over {ms:.0} ms ({pass}, stopped there)"
            );
        }
        Err(e) => choice.reason = format!("WebGPU failed in the probe ({e})"),
    }
    Ok((Device::Cpu, choice))
}

/// The probe's input: one seeded x and a mid-schedule timestep (the cost does not depend on it).
fn probe_input(unet: &UNet) -> (Vec<f32>, f32) {
    let [c, h, w] = unet.sample_shape();
    (crate::rng::initial_noise(0, 1, c * h * w), 500.0)
}

/// ms of a warm batch-1 forward on the CPU kernels (the first pass touches every buffer).
fn time_cpu(unet: &UNet) -> Result<f64, Error> {
    let (x, t) = probe_input(unet);
    let mut net = CpuNet::new(unet, unet.graph(1)?, Kernels::Fast)?;
    net.forward(unet, &x, t)?;
    let t0 = now_ms();
    net.forward(unet, &x, t)?;
    Ok(now_ms() - t0)
}

enum GpuTime {
    /// ms of the warm pass.
    Warm(f64),
    /// Waiting stopped after `ms` in the first (compiling) pass or the warm one.
    StoppedAt { ms: f64, first_pass: bool },
}

/// A batch-1 forward on the GPU, read back, twice (the first compiles the kernels): the warm
/// pass's ms, unless a pass is still running after its budget (`[first, warm]` ms).
async fn time_gpu(
    gpu: &Gpu,
    weights: &GpuWeights,
    unet: &UNet,
    budgets: [f64; 2],
) -> Result<GpuTime, Error> {
    let (x, t) = probe_input(unet);
    let net = GpuNet::new(gpu, weights, unet, 1)?;
    let mut last = 0.0;
    for (pass, budget) in budgets.into_iter().enumerate() {
        let t0 = now_ms();
        match within(budget, net.forward(gpu, unet, &x, t)).await {
            Some(out) => {
                out?;
                last = now_ms() - t0;
            }
            None => {
                return Ok(GpuTime::StoppedAt {
                    ms: now_ms() - t0,
                    first_pass: pass == 0,
                })
            }
        }
    }
    Ok(GpuTime::Warm(last))
}
