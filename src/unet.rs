//! Runs a [`Graph`] on the GPU. [`GpuWeights`] uploads a model's parameters once (conv weights
//! repacked for the kernel); [`GpuUNet`] allocates one batch size's activation buffers once,
//! following the graph's memory plan, and builds every dispatch up front, so a forward pass is
//! one write of the timestep features and one encoder of pre-built dispatches.

use crate::gpu::{Dispatch, Gpu, GpuError};
use crate::model::{Graph, ModelError, Node, ParamId, UNet};
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum UNetError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Gpu(#[from] GpuError),
}

/// A model's parameters on the GPU, shared by every batch size.
pub struct GpuWeights {
    buffers: HashMap<ParamId, wgpu::Buffer>,
}

impl GpuWeights {
    pub fn upload(gpu: &Gpu, unet: &UNet) -> Result<GpuWeights, UNetError> {
        let graph = unet.graph(1)?;
        let mut buffers = HashMap::new();
        for node in &graph.nodes {
            let mut put = |id: ParamId, data: Vec<f32>| -> Result<(), GpuError> {
                if let std::collections::hash_map::Entry::Vacant(e) = buffers.entry(id) {
                    e.insert(gpu.upload(&unet.params[id.0].name, &data)?);
                }
                Ok(())
            };
            let raw = |id: ParamId| unet.params[id.0].data.clone();
            match node {
                Node::Conv {
                    op, weight, bias, ..
                } => {
                    put(*weight, op.pack_weight(&unet.params[weight.0].data))?;
                    put(*bias, op.pack_bias(&unet.params[bias.0].data))?;
                }
                Node::GroupNorm { gamma, beta, .. } => {
                    put(*gamma, raw(*gamma))?;
                    put(*beta, raw(*beta))?;
                }
                Node::Linear { weight, bias, .. } => {
                    put(*weight, raw(*weight))?;
                    put(*bias, raw(*bias))?;
                }
                _ => {}
            }
        }
        gpu.check()?;
        Ok(GpuWeights { buffers })
    }

    fn get(&self, id: ParamId) -> &wgpu::Buffer {
        &self.buffers[&id]
    }
}

/// One batch size's forward pass, ready to record.
pub struct GpuUNet {
    pub graph: Graph,
    slots: Vec<wgpu::Buffer>,
    slot_of: Vec<usize>,
    dispatches: Vec<Dispatch>,
    /// Bytes of activation memory this batch size holds.
    pub activation_bytes: u64,
}

impl GpuUNet {
    pub fn new(
        gpu: &Gpu,
        weights: &GpuWeights,
        unet: &UNet,
        batch: usize,
    ) -> Result<GpuUNet, UNetError> {
        let graph = unet.graph(batch)?;
        let plan = graph.memory_plan();
        let slots = plan
            .slot_len
            .iter()
            .enumerate()
            .map(|(i, &len)| gpu.storage(&format!("activation slot {i}"), len))
            .collect::<Result<Vec<_>, _>>()?;
        let unused = gpu.storage("unused binding", 1)?;
        let buf = |t: crate::model::TensorId| &slots[plan.slot_of[t.0]];
        let w = |id: ParamId| weights.get(id);
        let mut dispatches = Vec::with_capacity(graph.nodes.len());
        for node in &graph.nodes {
            let d = match node {
                Node::Conv {
                    op,
                    x,
                    weight,
                    bias,
                    time,
                    out,
                } => op.encode(
                    gpu,
                    buf(*x),
                    w(*weight),
                    w(*bias),
                    time.map(buf).unwrap_or(&unused),
                    buf(*out),
                )?,
                Node::GroupNorm {
                    op,
                    x,
                    gamma,
                    beta,
                    out,
                } => op.encode(gpu, buf(*x), w(*gamma), w(*beta), buf(*out))?,
                Node::Linear {
                    op,
                    x,
                    weight,
                    bias,
                    out,
                } => op.encode(gpu, buf(*x), w(*weight), w(*bias), buf(*out))?,
                Node::Attention { op, qkv, out } => op.encode(gpu, buf(*qkv), buf(*out))?,
                Node::Add { op, a, b, out } => {
                    op.encode(gpu, buf(*a), b.map(buf).unwrap_or(&unused), buf(*out))?
                }
                Node::Upsample { op, x, out } => op.encode(gpu, buf(*x), buf(*out))?,
                Node::Concat { op, a, b, out } => op.encode(gpu, buf(*a), buf(*b), buf(*out))?,
            };
            dispatches.push(d);
        }
        let activation_bytes = plan.slot_len.iter().map(|&l| l as u64 * 4).sum();
        Ok(GpuUNet {
            graph,
            slot_of: plan.slot_of,
            slots,
            dispatches,
            activation_bytes,
        })
    }

    /// The buffer holding x_t, (N, C, H, W); write a sample here before [`GpuUNet::prepare`].
    pub fn input(&self) -> &wgpu::Buffer {
        &self.slots[self.slot_of[self.graph.input.0]]
    }

    /// The buffer the model output lands in, (N, out_channels, H, W).
    pub fn output(&self) -> &wgpu::Buffer {
        &self.slots[self.slot_of[self.graph.output.0]]
    }

    pub fn input_len(&self) -> usize {
        self.graph.len(self.graph.input)
    }

    pub fn output_len(&self) -> usize {
        self.graph.len(self.graph.output)
    }

    /// Writes the timestep features for `t`; then record [`GpuUNet::dispatches`].
    pub fn prepare(&self, gpu: &Gpu, unet: &UNet, t: f32) {
        let features = unet.timestep_features(t, self.graph.batch);
        let slot = &self.slots[self.slot_of[self.graph.time_input.0]];
        gpu.queue
            .write_buffer(slot, 0, bytemuck::cast_slice(&features));
    }

    /// The forward pass's dispatches in order.
    pub fn dispatches(&self) -> impl Iterator<Item = &Dispatch> {
        self.dispatches.iter()
    }

    /// One evaluation: uploads `x`, runs, reads the output back.
    pub async fn forward(
        &self,
        gpu: &Gpu,
        unet: &UNet,
        x: &[f32],
        t: f32,
    ) -> Result<Vec<f32>, UNetError> {
        if x.len() != self.input_len() {
            return Err(UNetError::Gpu(GpuError::Validation(format!(
                "input has {} values but the model at batch {} takes {:?}",
                x.len(),
                self.graph.batch,
                self.graph.shape(self.graph.input)
            ))));
        }
        gpu.queue
            .write_buffer(self.input(), 0, bytemuck::cast_slice(x));
        self.prepare(gpu, unet, t);
        gpu.run(&self.dispatches.iter().collect::<Vec<_>>());
        Ok(gpu.read_f32(self.output(), self.output_len()).await?)
    }
}
