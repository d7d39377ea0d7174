//! Executors: what runs a model's op [`Graph`] and the sampling steps on some device. Each
//! walks the graph through the [`crate::ops::Op`] trait only (no `match` over op kinds), and
//! all of them sit behind one [`Executor`] trait, so the sampling loop (`crate::sampler`), the
//! web API and the CLI do not care which one runs:
//! - [`gpu::GpuExecutor`]: the WGSL kernels on a WebGPU/Vulkan device, buffers allocated once,
//!   one encoder per step;
//! - [`cpu::CpuExecutor`]: the fast CPU kernels (`crate::cpu`), params packed and buffers
//!   allocated once — the backend for readers without a fast WebGPU adapter;
//! - [`reference::executor`]: the ops' plain-loop CPU references (the ground truth of
//!   the tests; slow).

pub mod cpu;
pub mod gpu;
pub mod reference;

use crate::error::{Error, InputError};
use crate::model::{Graph, UNet};
use crate::ops::Blend;
use crate::scheduler::Plan;
use std::future::Future;
use std::pin::Pin;

/// A result an executor may have to wait for (a GPU read-back); CPU executors return it ready.
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + 'a>>;

/// Which image of the current step to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// The current x_t (after a step: x_{t-1}).
    Sample,
    /// The model's latest estimate of x_0 (x_T before the first step).
    PredictedX0,
}

impl View {
    /// `"sample"` or `"x0"`, as the web API and the CLI name them.
    pub fn parse(name: &str) -> Result<View, InputError> {
        match name {
            "sample" => Ok(View::Sample),
            "x0" => Ok(View::PredictedX0),
            other => Err(InputError::Unknown {
                what: "view",
                found: other.to_string(),
                accepted: "\"sample\" or \"x0\"",
            }),
        }
    }
}

/// One batch size's sampling state on some device: x, the predicted x_0, and what a step
/// needs, allocated once. Methods take `&self` so a page can read while it steps. (A single
/// forward pass, e.g. for fixtures, is each executor module's `forward`.)
pub trait Executor {
    /// The device, e.g. `GPU: llvmpipe (Vulkan, Cpu)` or `CPU reference`.
    fn describe(&self) -> String;

    /// The forward pass this executor runs (its batch size and shapes).
    fn graph(&self) -> &Graph;

    /// Starts a run from `x` = x_T, (N, C, H, W) of the graph's input.
    fn set_sample(&self, x: &[f32]) -> Result<(), Error>;

    /// Step `index` of `plan`: the UNet at its timestep, then the scheduler update (x becomes
    /// x_{t-1}; the predicted x_0 is kept). May return before the work is done.
    fn step(&self, unet: &UNet, plan: &Plan, index: usize, seed: u64) -> Result<(), Error>;

    /// Waits for the submitted work (for timings; reads wait by themselves).
    fn finish(&self) -> Result<(), Error>;

    /// Inpainting: keeps `known` (the image x_0) and `mask` (1 = keep the known pixel, 0 =
    /// fill; fractions blend), each (N, C, H, W) of the graph's input, for [`Executor::blend`].
    /// Both start as zeros.
    fn set_known(&self, known: &[f32], mask: &[f32]) -> Result<(), Error>;

    /// x <- [`Blend`]'s formula over x, the kept known image and mask, and `noise` ((N, C, H, W)
    /// standard Gaussians; empty when the blend needs none): `crate::inpaint`'s RePaint step.
    fn blend(&self, blend: Blend, noise: &[f32]) -> Result<(), Error>;

    /// x or the predicted x_0 as floats, (N, C, H, W).
    fn read(&self, view: View) -> Pending<'_, Vec<f32>>;

    /// The batch as one RGBA8 grid ([`crate::ops::ToRgba8`]), 4 bytes per pixel, row-major.
    fn read_rgba(&self, view: View) -> Pending<'_, Vec<u8>>;

    /// What the latest [`Executor::step`] started from: (x_t, the UNet's output at t), each
    /// (N, C, H, W). Meaningless before the first step of a run (the caller keeps track).
    fn read_last_step(&self) -> Pending<'_, (Vec<f32>, Vec<f32>)>;

    fn batch(&self) -> usize {
        self.graph().batch
    }

    /// Index in the run's batch of this executor's first image (its noise is that image's):
    /// 0 except for a CPU session that samples part of a batch.
    fn first_sample(&self) -> usize {
        0
    }

    /// Values in x (N x C x H x W).
    fn sample_len(&self) -> usize {
        self.graph().len(self.graph().input)
    }

    /// Width and height in pixels of the grid [`Executor::read_rgba`] returns.
    fn grid_size(&self) -> (usize, usize) {
        let s = self.graph().shape(self.graph().input);
        crate::ops::ToRgba8::new([s[0], s[1], s[2], s[3]])
            .map_or((0, 0), |g| (g.width(), g.height()))
    }

    /// Starts a run from the seeded x_T (the same for every sampler and executor).
    fn start(&self, seed: u64) -> Result<(), Error> {
        let per_sample = self.sample_len() / self.batch();
        self.set_sample(&crate::rng::initial_noise(seed, self.batch(), per_sample))
    }
}

/// `values` must have `expected` elements: the graph's input at its batch size.
pub(crate) fn check_len(
    graph: &Graph,
    what: &'static str,
    values: &[f32],
) -> Result<(), InputError> {
    let shape = graph.shape(graph.input);
    let expected = graph.len(graph.input);
    if values.len() == expected {
        return Ok(());
    }
    Err(InputError::Length {
        what,
        found: values.len(),
        expected,
        shape: format!(
            "batch {} of {}",
            shape[0],
            shape[1..]
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join("x")
        ),
    })
}

/// The input of one forward pass: `x` of the graph's input length and a finite timestep.
pub(crate) fn check_forward_input(graph: &Graph, x: &[f32], t: f32) -> Result<(), InputError> {
    check_len(graph, "the forward input", x)?;
    if t.is_finite() {
        Ok(())
    } else {
        Err(InputError::Timestep(t))
    }
}

/// The plan's coefficients for step `index`, or the error that says which steps exist.
pub(crate) fn step_coeffs(
    plan: &Plan,
    index: usize,
) -> Result<crate::scheduler::StepCoeffs, InputError> {
    plan.coeffs.get(index).copied().ok_or(InputError::Step {
        index,
        steps: plan.coeffs.len(),
    })
}

/// Checks that a model can be sampled: it predicts something of x's shape.
pub(crate) fn check_samplable(graph: &Graph, unet: &UNet) -> Result<(), Error> {
    if graph.len(graph.output) == graph.len(graph.input) {
        return Ok(());
    }
    Err(crate::model::ModelError::Unsupported {
        field: "out_channels".into(),
        found: format!(
            "{} with in_channels {}",
            unet.config.out_channels, unet.config.in_channels
        ),
        supported:
            "out_channels == in_channels for sampling (the model predicts noise of x's shape)"
                .into(),
    }
    .into())
}

/// `noise` must be empty when `blend` needs none, else one value per element of x.
pub(crate) fn check_blend_noise(
    graph: &Graph,
    blend: &Blend,
    noise: &[f32],
) -> Result<(), InputError> {
    if noise.is_empty() && !blend.needs_noise() {
        return Ok(());
    }
    check_len(graph, "the blend's noise", noise)
}
