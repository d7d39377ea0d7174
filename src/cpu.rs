//! Runs a [`Graph`] with the ops' plain-loop CPU references: the ground truth for GPU tests and
//! the executor for devices without WebGPU. Slow but simple; every tensor gets its own vector.

use crate::model::{Graph, Node, UNet};

/// One UNet evaluation: `x` is (N, C, H, W) for the graph's batch, `t` the timestep.
pub fn forward(unet: &UNet, graph: &Graph, x: &[f32], t: f32) -> Vec<f32> {
    let mut values: Vec<Vec<f32>> = graph.tensors.iter().map(|_| Vec::new()).collect();
    values[graph.input.0] = x.to_vec();
    values[graph.time_input.0] = unet.timestep_features(t, graph.batch);
    let p = |id: crate::model::ParamId| unet.params[id.0].data.as_slice();
    for node in &graph.nodes {
        let out_id = node.output();
        let mut out = vec![0f32; graph.len(out_id)];
        let v = |t: crate::model::TensorId| values[t.0].as_slice();
        match node {
            Node::Conv {
                op,
                x,
                weight,
                bias,
                time,
                ..
            } => op.cpu(v(*x), p(*weight), p(*bias), time.map(v), &mut out),
            Node::GroupNorm {
                op, x, gamma, beta, ..
            } => op.cpu(v(*x), p(*gamma), p(*beta), &mut out),
            Node::Linear {
                op,
                x,
                weight,
                bias,
                ..
            } => op.cpu(v(*x), p(*weight), p(*bias), &mut out),
            Node::Attention { op, qkv, .. } => op.cpu(v(*qkv), &mut out),
            Node::Add { op, a, b, .. } => op.cpu(v(*a), b.map(v), &mut out),
            Node::Upsample { op, x, .. } => op.cpu(v(*x), &mut out),
            Node::Concat { op, a, b, .. } => op.cpu(v(*a), v(*b), &mut out),
        }
        values[out_id.0] = out;
    }
    std::mem::take(&mut values[graph.output.0])
}
