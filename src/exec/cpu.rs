//! The CPU executor: the graph on the fast CPU kernels ([`crate::ops::Op::cpu`], see
//! [`crate::cpu`]), for readers without a (fast) WebGPU adapter. Params are packed once, every
//! tensor and the scratch are allocated once per session, and a step runs the nodes in order
//! on one thread (in wasm: the page's main thread). With [`Kernels::Reference`] the same
//! executor runs the ops' plain-loop references instead (`super::reference`).

use super::{
    check_blend_noise, check_forward_input, check_len, check_samplable, step_coeffs, Executor,
    Pending, View,
};
use crate::error::Error;
use crate::model::{Graph, UNet};
use crate::ops::{Blend, NoisedBlend, ToRgba8};
use crate::scheduler::Plan;
use std::cell::RefCell;

/// Which CPU code runs each op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernels {
    /// [`crate::ops::Op::cpu`]: the fast kernels of [`crate::cpu`].
    Fast,
    /// [`crate::ops::Op::reference`]: the plain loops, the tests' ground truth (slow).
    Reference,
}

/// One batch size's forward pass on the CPU: params packed for the kernels, tensors allocated
/// once.
pub struct CpuNet {
    graph: Graph,
    kernels: Kernels,
    /// Per node, its params in [`crate::ops::Op::pack_cpu_param`]'s layout ([`Kernels::Fast`]
    /// only: the references read the model's own params).
    params: Vec<Vec<Vec<f32>>>,
    values: Vec<Vec<f32>>,
    scratch: Vec<f32>,
}

impl CpuNet {
    /// Refuses (before allocating) a net larger than [`crate::model::limits::MAX_HOST_BYTES`].
    pub fn new(unet: &UNet, graph: Graph, kernels: Kernels) -> Result<CpuNet, Error> {
        check_host_bytes(unet, &graph)?;
        let params = graph
            .nodes
            .iter()
            .map(|node| match kernels {
                Kernels::Fast => node
                    .params
                    .iter()
                    .enumerate()
                    .map(|(i, p)| node.op.pack_cpu_param(i, &unet.params[p.0].data))
                    .collect(),
                Kernels::Reference => Vec::new(),
            })
            .collect();
        let values = (0..graph.tensors.len())
            .map(|i| vec![0f32; graph.len(crate::model::TensorId(i))])
            .collect();
        let scratch = vec![
            0f32;
            graph
                .nodes
                .iter()
                .map(|n| n.op.cpu_scratch())
                .max()
                .unwrap_or(0)
        ];
        Ok(CpuNet {
            graph,
            kernels,
            params,
            values,
            scratch,
        })
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Bytes held: packed params, tensors and scratch (what a session adds to the weights).
    pub fn bytes(&self) -> usize {
        let params: usize = self.params.iter().flatten().map(Vec::len).sum();
        let values: usize = self.values.iter().map(Vec::len).sum();
        4 * (params + values + self.scratch.len())
    }

    /// One UNet evaluation of `x` at timestep `t`; the result stays in the net
    /// ([`CpuNet::output`]).
    pub fn forward(&mut self, unet: &UNet, x: &[f32], t: f32) -> Result<(), Error> {
        check_forward_input(&self.graph, x, t)?;
        let g = &self.graph;
        self.values[g.input.0].copy_from_slice(x);
        self.values[g.time_input.0] = unet.timestep_features(t, g.batch);
        for (node, params) in g.nodes.iter().zip(&self.params) {
            let mut out = std::mem::take(&mut self.values[node.output.0]);
            let inputs: Vec<&[f32]> = node
                .inputs
                .iter()
                .map(|t| self.values[t.0].as_slice())
                .collect();
            match self.kernels {
                Kernels::Fast => {
                    let params: Vec<&[f32]> = params.iter().map(Vec::as_slice).collect();
                    node.op.cpu(&inputs, &params, &mut out, &mut self.scratch);
                }
                Kernels::Reference => {
                    let params: Vec<&[f32]> = node
                        .params
                        .iter()
                        .map(|p| unet.params[p.0].data.as_slice())
                        .collect();
                    node.op.reference(&inputs, &params, &mut out);
                }
            }
            self.values[node.output.0] = out;
        }
        Ok(())
    }

    /// The last forward pass's input.
    pub fn input(&self) -> &[f32] {
        &self.values[self.graph.input.0]
    }

    /// The last forward pass's output.
    pub fn output(&self) -> &[f32] {
        &self.values[self.graph.output.0]
    }
}

/// What a [`CpuNet`] of `graph` will hold, in u64: every tensor, the scratch and (an estimate
/// of) the packed params, i.e. the model's own.
fn check_host_bytes(unet: &UNet, graph: &Graph) -> Result<(), Error> {
    let floats = graph
        .tensors
        .iter()
        .map(|t| crate::ops::product_u64(&t.shape))
        .chain(graph.nodes.iter().map(|n| n.op.cpu_scratch() as u64))
        .chain(
            unet.params
                .iter()
                .map(|p| crate::ops::product_u64(&p.shape)),
        )
        .fold(0u64, u64::saturating_add);
    let bytes = floats.saturating_mul(4);
    let limit = crate::model::limits::MAX_HOST_BYTES;
    if bytes > limit {
        return Err(crate::model::ModelError::TooLarge {
            what: format!("a CPU session of batch {}", graph.batch),
            bytes,
            limit,
        }
        .into());
    }
    Ok(())
}

/// One forward pass on a fresh [`CpuNet`] (for fixtures and tests; sessions keep the net).
pub fn forward(
    unet: &UNet,
    graph: &Graph,
    x: &[f32],
    t: f32,
    kernels: Kernels,
) -> Result<Vec<f32>, Error> {
    require_parameters(unet)?;
    let mut net = CpuNet::new(unet, graph.clone(), kernels)?;
    net.forward(unet, x, t)?;
    Ok(net.output().to_vec())
}

/// The CPU kernels read the parameters' values: refuse a model whose values were released.
fn require_parameters(unet: &UNet) -> Result<(), Error> {
    if unet.has_parameters() {
        Ok(())
    } else {
        Err(crate::model::ModelError::ParametersReleased.into())
    }
}

struct State {
    net: CpuNet,
    x: Vec<f32>,
    x0: Vec<f32>,
    /// Inpainting's known image and mask ([`Executor::set_known`]).
    known: Vec<f32>,
    mask: Vec<f32>,
}

/// Sampling on the CPU (the fast kernels, or the references).
pub struct CpuExecutor {
    graph: Graph,
    grid: ToRgba8,
    state: RefCell<State>,
    /// Index in the run's batch of this session's first image: its noise is that of images
    /// `first..first + batch` of the whole batch (a worker's part of a page's batch).
    first: usize,
}

impl CpuExecutor {
    /// On the fast kernels.
    pub fn new(unet: &UNet, batch: usize) -> Result<CpuExecutor, Error> {
        CpuExecutor::with_kernels(unet, batch, Kernels::Fast)
    }

    pub fn with_kernels(unet: &UNet, batch: usize, kernels: Kernels) -> Result<CpuExecutor, Error> {
        require_parameters(unet)?;
        let graph = unet.graph(batch)?;
        check_samplable(&graph, unet)?;
        let s = graph.shape(graph.input);
        let grid = ToRgba8::new([s[0], s[1], s[2], s[3]])
            .map_err(|e| crate::model::ModelError::at("sampler", e))?;
        let len = graph.len(graph.input);
        Ok(CpuExecutor {
            state: RefCell::new(State {
                net: CpuNet::new(unet, graph.clone(), kernels)?,
                x: vec![0.0; len],
                x0: vec![0.0; len],
                known: vec![0.0; len],
                mask: vec![0.0; len],
            }),
            graph,
            grid,
            first: 0,
        })
    }

    /// This session samples images `first..first + batch` of a larger batch: the same x_T and
    /// step noise as those images get in one session of the whole batch.
    pub fn part_of_batch(mut self, first: usize) -> CpuExecutor {
        self.first = first;
        self
    }

    /// Bytes this session holds beyond the model's own weights.
    pub fn bytes(&self) -> usize {
        let state = self.state.borrow();
        state.net.bytes()
            + 4 * (state.x.len() + state.x0.len() + state.known.len() + state.mask.len())
    }

    fn view(&self, view: View) -> Vec<f32> {
        let state = self.state.borrow();
        match view {
            View::Sample => state.x.clone(),
            View::PredictedX0 => state.x0.clone(),
        }
    }
}

impl Executor for CpuExecutor {
    fn describe(&self) -> String {
        match self.state.borrow().net.kernels {
            Kernels::Fast => format!("CPU ({})", crate::cpu::simd()),
            Kernels::Reference => "CPU reference".to_string(),
        }
    }

    fn graph(&self) -> &Graph {
        &self.graph
    }

    fn set_sample(&self, x: &[f32]) -> Result<(), Error> {
        check_len(&self.graph, "x_T", x)?;
        let mut state = self.state.borrow_mut();
        state.x.copy_from_slice(x);
        state.x0.copy_from_slice(x);
        Ok(())
    }

    fn step(&self, unet: &UNet, plan: &Plan, index: usize, seed: u64) -> Result<(), Error> {
        let coeffs = step_coeffs(plan, index)?;
        let noise = if coeffs.needs_noise() {
            let images = self.first..self.first + self.batch();
            crate::rng::step_noise_of(seed, index, images, self.sample_len() / self.batch())
        } else {
            Vec::new()
        };
        let mut state = self.state.borrow_mut();
        let State { net, x, x0, .. } = &mut *state;
        net.forward(unet, x, plan.timesteps[index] as f32)?;
        // The net's input still holds x_t: x becomes x_{t-1} in place.
        coeffs.apply(net.input(), net.output(), &noise, x, x0);
        Ok(())
    }

    fn finish(&self) -> Result<(), Error> {
        Ok(())
    }

    fn set_known(&self, known: &[f32], mask: &[f32]) -> Result<(), Error> {
        check_len(&self.graph, "the known image", known)?;
        check_len(&self.graph, "the mask", mask)?;
        let mut state = self.state.borrow_mut();
        state.known.copy_from_slice(known);
        state.mask.copy_from_slice(mask);
        Ok(())
    }

    fn blend(&self, blend: Blend, noise: &[f32]) -> Result<(), Error> {
        check_blend_noise(&self.graph, &blend, noise)?;
        let mut state = self.state.borrow_mut();
        let State { x, known, mask, .. } = &mut *state;
        NoisedBlend { len: x.len() }.cpu(blend, x, known, mask, noise);
        Ok(())
    }

    fn first_sample(&self) -> usize {
        self.first
    }

    fn start(&self, seed: u64) -> Result<(), Error> {
        let images = self.first..self.first + self.batch();
        let per_sample = self.sample_len() / self.batch();
        self.set_sample(&crate::rng::initial_noise_of(seed, images, per_sample))
    }

    fn read(&self, view: View) -> Pending<'_, Vec<f32>> {
        let values = self.view(view);
        Box::pin(async move { Ok(values) })
    }

    fn read_last_step(&self) -> Pending<'_, (Vec<f32>, Vec<f32>)> {
        let state = self.state.borrow();
        // The net's input still holds x_t: the step wrote x_{t-1} to `x`.
        let pair = (state.net.input().to_vec(), state.net.output().to_vec());
        Box::pin(async move { Ok(pair) })
    }

    fn read_rgba(&self, view: View) -> Pending<'_, Vec<u8>> {
        let state = self.state.borrow();
        let values = match view {
            View::Sample => &state.x,
            View::PredictedX0 => &state.x0,
        };
        let mut words = vec![0u32; self.grid.output_len()];
        self.grid.cpu(values, &mut words);
        Box::pin(async move { Ok(bytemuck::cast_slice(&words).to_vec()) })
    }
}
