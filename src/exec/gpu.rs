//! The GPU executor. [`GpuWeights`] uploads a model's parameters once, in the layouts the
//! kernels read ([`Op::pack_param`]); [`GpuNet`] allocates one batch size's activation buffers
//! once, following the graph's memory plan, and builds every dispatch up front from each op's
//! [`Op::launch`]; [`GpuExecutor`] adds the scheduler step and the RGBA conversion, so a
//! sampling step is one write of the timestep features and one encoder of pre-built dispatches.
//! x never comes back to the CPU unless a caller reads it.

use super::{
    check_blend_noise, check_forward_input, check_len, check_samplable, step_coeffs, Executor,
    Pending, View,
};
use crate::error::Error;
use crate::gpu::{Dispatch, Gpu, GpuBuffer, GpuError};
use crate::model::{Graph, ParamId, TensorId, UNet};
use crate::ops::{Blend, NoisedBlend, Op, SchedulerStep, ToRgba8};
use crate::scheduler::Plan;
use std::collections::HashMap;
use std::rc::Rc;

/// A model's parameters on the GPU, shared by every batch size.
/// Cloning shares the buffers: every [`GpuNet`] keeps its weights' buffers alive (they are
/// destroyed when the last clone goes), so dropping the `GpuWeights` an engine uploaded cannot
/// pull them from under a session still running.
#[derive(Clone)]
pub struct GpuWeights {
    buffers: Rc<HashMap<ParamId, GpuBuffer>>,
}

impl GpuWeights {
    pub fn upload(gpu: &Gpu, unet: &UNet) -> Result<GpuWeights, Error> {
        let graph = unet.graph(1)?;
        let mut buffers = HashMap::new();
        for node in &graph.nodes {
            for (i, &id) in node.params.iter().enumerate() {
                if let std::collections::hash_map::Entry::Vacant(e) = buffers.entry(id) {
                    let param = &unet.params[id.0];
                    e.insert(gpu.upload(&param.name, &node.op.pack_param(i, &param.data))?);
                }
            }
        }
        gpu.check()?;
        Ok(GpuWeights {
            buffers: Rc::new(buffers),
        })
    }

    fn get(&self, id: ParamId) -> &wgpu::Buffer {
        &self.buffers[&id]
    }
}

/// The dispatch of one op over its buffers (`params` packed by [`Op::pack_param`]), binding
/// them in the order every kernel declares: inputs (absent optional ones replaced by a
/// placeholder), parameters, output.
pub fn dispatch_op(
    gpu: &Gpu,
    op: &dyn Op,
    inputs: &[&wgpu::Buffer],
    params: &[&wgpu::Buffer],
    output: &wgpu::Buffer,
) -> Result<Dispatch, GpuError> {
    let slots = op.signature().input_slots;
    let absent = (inputs.len()..slots).map(|_| gpu.placeholder());
    let buffers: Vec<&wgpu::Buffer> = inputs
        .iter()
        .copied()
        .chain(absent)
        .chain(params.iter().copied())
        .chain([output])
        .collect();
    gpu.dispatch(op.launch(), &buffers)
}

/// One batch size's forward pass, ready to record.
pub struct GpuNet {
    pub graph: Graph,
    slots: Vec<GpuBuffer>,
    slot_of: Vec<usize>,
    dispatches: Vec<Dispatch>,
    /// The parameters the dispatches bind, kept alive as long as they are.
    _weights: GpuWeights,
}

impl GpuNet {
    pub fn new(
        gpu: &Gpu,
        weights: &GpuWeights,
        unet: &UNet,
        batch: usize,
    ) -> Result<GpuNet, Error> {
        let graph = unet.graph(batch)?;
        let plan = graph.memory_plan();
        let slots = plan
            .slot_len
            .iter()
            .enumerate()
            .map(|(i, &len)| gpu.storage(&format!("activation slot {i}"), len))
            .collect::<Result<Vec<_>, _>>()?;
        let buf = |t: &TensorId| -> &wgpu::Buffer { &slots[plan.slot_of[t.0]] };
        let dispatches = graph
            .nodes
            .iter()
            .map(|node| {
                let inputs: Vec<_> = node.inputs.iter().map(buf).collect();
                let params: Vec<_> = node.params.iter().map(|&p| weights.get(p)).collect();
                dispatch_op(gpu, node.op.as_ref(), &inputs, &params, buf(&node.output))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(GpuNet {
            graph,
            slot_of: plan.slot_of,
            slots,
            dispatches,
            _weights: weights.clone(),
        })
    }

    fn buffer(&self, t: TensorId) -> &wgpu::Buffer {
        &self.slots[self.slot_of[t.0]]
    }

    /// The buffer holding x_t, (N, C, H, W).
    pub fn input(&self) -> &wgpu::Buffer {
        self.buffer(self.graph.input)
    }

    /// The buffer the model output lands in, (N, out_channels, H, W).
    pub fn output(&self) -> &wgpu::Buffer {
        self.buffer(self.graph.output)
    }

    /// Writes the timestep features for `t`; then record [`GpuNet::dispatches`].
    pub fn prepare(&self, gpu: &Gpu, unet: &UNet, t: f32) {
        let features = unet.timestep_features(t, self.graph.batch);
        gpu.queue.write_buffer(
            self.buffer(self.graph.time_input),
            0,
            bytemuck::cast_slice(&features),
        );
    }

    /// The forward pass's dispatches in order, with the op each belongs to.
    pub fn dispatches(&self) -> impl Iterator<Item = (&dyn Op, &Dispatch)> {
        self.graph
            .nodes
            .iter()
            .map(|n| n.op.as_ref())
            .zip(&self.dispatches)
    }

    /// One evaluation: uploads `x` (over the input buffer), runs, reads the output back.
    pub async fn forward(
        &self,
        gpu: &Gpu,
        unet: &UNet,
        x: &[f32],
        t: f32,
    ) -> Result<Vec<f32>, Error> {
        check_forward_input(&self.graph, x, t)?;
        gpu.queue
            .write_buffer(self.input(), 0, bytemuck::cast_slice(x));
        self.prepare(gpu, unet, t);
        gpu.run(&self.dispatches.iter().collect::<Vec<_>>());
        let len = self.graph.len(self.graph.output);
        Ok(gpu.read_f32(self.output(), len).await?)
    }
}

/// Sampling on the GPU: the forward pass plus the step and display kernels, all allocated once.
pub struct GpuExecutor {
    gpu: Rc<Gpu>,
    pub net: GpuNet,
    noise: GpuBuffer,
    x0: GpuBuffer,
    /// x_t of the latest step (the step kernel overwrites the sample in place).
    x_in: GpuBuffer,
    step: SchedulerStep,
    step_dispatch: Dispatch,
    grid: ToRgba8,
    rgba: GpuBuffer,
    show_sample: Dispatch,
    show_x0: Dispatch,
    /// Inpainting: the known image, its mask and the blend's noise ([`Executor::set_known`]).
    known: GpuBuffer,
    mask: GpuBuffer,
    blend_noise: GpuBuffer,
    blend_op: NoisedBlend,
    blend_dispatch: Dispatch,
}

impl GpuExecutor {
    pub fn new(
        gpu: Rc<Gpu>,
        weights: &GpuWeights,
        unet: &UNet,
        batch: usize,
    ) -> Result<GpuExecutor, Error> {
        let net = GpuNet::new(&gpu, weights, unet, batch)?;
        check_samplable(&net.graph, unet)?;
        let len = net.graph.len(net.graph.input);
        let at = |e| crate::model::ModelError::at("sampler", e);
        let noise = gpu.storage("step noise", len)?;
        let x0 = gpu.storage("predicted x0", len)?;
        let x_in = gpu.storage("x_t of the latest step", len)?;
        let step = SchedulerStep::new(len).map_err(at)?;
        let step_dispatch = gpu.dispatch(
            step.launch(bytemuck::Zeroable::zeroed()),
            &[net.input(), net.output(), &noise, &x0],
        )?;
        let shape = net.graph.shape(net.graph.input);
        let grid = ToRgba8::new([shape[0], shape[1], shape[2], shape[3]]).map_err(at)?;
        let rgba = gpu.storage("rgba grid", grid.output_len())?;
        let show_sample = gpu.dispatch(grid.launch(), &[net.input(), &rgba])?;
        let show_x0 = gpu.dispatch(grid.launch(), &[&x0, &rgba])?;
        let known = gpu.storage("inpainting's known image", len)?;
        let mask = gpu.storage("inpainting's mask", len)?;
        let blend_noise = gpu.storage("inpainting's noise", len)?;
        let blend_op = NoisedBlend::new(len).map_err(at)?;
        let blend_dispatch = gpu.dispatch(
            blend_op.launch(bytemuck::Zeroable::zeroed()),
            &[net.input(), &known, &mask, &blend_noise],
        )?;
        Ok(GpuExecutor {
            gpu,
            net,
            noise,
            x0,
            x_in,
            step,
            step_dispatch,
            grid,
            rgba,
            show_sample,
            show_x0,
            known,
            mask,
            blend_noise,
            blend_op,
            blend_dispatch,
        })
    }

    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    fn read_f32(&self, buffer: &wgpu::Buffer) -> Pending<'_, Vec<f32>> {
        let len = self.sample_len();
        let buffer = buffer.clone();
        Box::pin(async move { Ok(self.gpu.read_f32(&buffer, len).await?) })
    }
}

impl Executor for GpuExecutor {
    fn describe(&self) -> String {
        format!("GPU: {}", self.gpu.describe())
    }

    fn graph(&self) -> &Graph {
        &self.net.graph
    }

    fn set_sample(&self, x: &[f32]) -> Result<(), Error> {
        check_len(&self.net.graph, "x_T", x)?;
        let q = &self.gpu.queue;
        q.write_buffer(self.net.input(), 0, bytemuck::cast_slice(x));
        // x0 shows x_T until the first step.
        q.write_buffer(&self.x0, 0, bytemuck::cast_slice(x));
        Ok(self.gpu.check()?)
    }

    fn step(&self, unet: &UNet, plan: &Plan, index: usize, seed: u64) -> Result<(), Error> {
        let coeffs = step_coeffs(plan, index)?;
        self.net
            .prepare(&self.gpu, unet, plan.timesteps[index] as f32);
        if coeffs.needs_noise() {
            let per_sample = self.sample_len() / self.batch();
            let noise = crate::rng::step_noise(seed, index, self.batch(), per_sample);
            self.gpu
                .queue
                .write_buffer(&self.noise, 0, bytemuck::cast_slice(&noise));
        }
        let params = self.step.params(coeffs);
        self.gpu
            .queue
            .write_buffer(&self.step_dispatch.params, 0, bytemuck::bytes_of(&params));
        let mut all: Vec<&Dispatch> = self.net.dispatches.iter().collect();
        all.push(&self.step_dispatch);
        self.gpu
            .copy(self.net.input(), &self.x_in, self.sample_len());
        self.gpu.run(&all);
        Ok(self.gpu.check()?)
    }

    fn finish(&self) -> Result<(), Error> {
        #[cfg(not(target_arch = "wasm32"))]
        self.gpu
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        Ok(self.gpu.check()?)
    }

    fn set_known(&self, known: &[f32], mask: &[f32]) -> Result<(), Error> {
        check_len(&self.net.graph, "the known image", known)?;
        check_len(&self.net.graph, "the mask", mask)?;
        let q = &self.gpu.queue;
        q.write_buffer(&self.known, 0, bytemuck::cast_slice(known));
        q.write_buffer(&self.mask, 0, bytemuck::cast_slice(mask));
        Ok(self.gpu.check()?)
    }

    fn blend(&self, blend: Blend, noise: &[f32]) -> Result<(), Error> {
        check_blend_noise(&self.net.graph, &blend, noise)?;
        let q = &self.gpu.queue;
        if blend.needs_noise() {
            q.write_buffer(&self.blend_noise, 0, bytemuck::cast_slice(noise));
        }
        q.write_buffer(&self.blend_dispatch.params, 0, &self.blend_op.params(blend));
        self.gpu.run(&[&self.blend_dispatch]);
        Ok(self.gpu.check()?)
    }

    fn read(&self, view: View) -> Pending<'_, Vec<f32>> {
        match view {
            View::Sample => self.read_f32(self.net.input()),
            View::PredictedX0 => self.read_f32(&self.x0),
        }
    }

    fn read_last_step(&self) -> Pending<'_, (Vec<f32>, Vec<f32>)> {
        let len = self.sample_len();
        Box::pin(async move {
            let x_t = self.gpu.read_f32(&self.x_in, len).await?;
            let model = self.gpu.read_f32(self.net.output(), len).await?;
            Ok((x_t, model))
        })
    }

    fn read_rgba(&self, view: View) -> Pending<'_, Vec<u8>> {
        Box::pin(async move {
            let d = match view {
                View::Sample => &self.show_sample,
                View::PredictedX0 => &self.show_x0,
            };
            self.gpu.run(&[d]);
            let words = self
                .gpu
                .read_u32(&self.rgba, self.grid.output_len())
                .await?;
            Ok(bytemuck::cast_slice(&words).to_vec())
        })
    }
}
