//! The UNet2DModel forward pass as a list of ops over numbered tensors — independent of who
//! executes it. Every executor (`crate::exec`) runs the same [`Graph`] through the
//! [`crate::ops::Op`] trait; a memory plan lets the GPU reuse activation buffers.

use super::ParamId;
use crate::ops::Op;
use std::sync::Arc;

/// An activation tensor of the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TensorId(pub usize);

/// Shape (N, C, H, W) or (N, features) and a name for error messages and profiles.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub shape: Vec<usize>,
}

impl TensorInfo {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One op with its operands: activation inputs in the op's binding order, parameters (in
/// [`super::UNet::params`]) and the output tensor.
#[derive(Clone, Debug)]
pub struct Node {
    pub op: Arc<dyn Op>,
    pub inputs: Vec<TensorId>,
    pub params: Vec<ParamId>,
    pub output: TensorId,
}

/// The forward pass at one batch size.
#[derive(Clone, Debug)]
pub struct Graph {
    pub batch: usize,
    pub tensors: Vec<TensorInfo>,
    pub nodes: Vec<Node>,
    /// x_t, (N, in_channels, H, W).
    pub input: TensorId,
    /// The sinusoidal timestep features, (N, block_out_channels[0]); see
    /// [`UNet::timestep_features`].
    pub time_input: TensorId,
    /// The model output, (N, out_channels, H, W).
    pub output: TensorId,
}

/// Which buffer each tensor lives in, with buffers reused once their tensor is dead.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryPlan {
    pub slot_of: Vec<usize>,
    pub slot_len: Vec<usize>,
}

impl Graph {
    pub fn shape(&self, t: TensorId) -> &[usize] {
        &self.tensors[t.0].shape
    }

    pub fn len(&self, t: TensorId) -> usize {
        self.tensors[t.0].len()
    }

    /// Total multiply-adds of one forward pass.
    pub fn macs(&self) -> u64 {
        self.nodes.iter().map(|n| n.op.macs()).sum()
    }

    /// Greedy buffer sharing: a tensor takes the smallest free buffer that fits (growing the
    /// largest free one otherwise) and frees it after its last reader. The input, the timestep
    /// features and the output keep their own buffers, since the caller writes and reads them.
    pub fn memory_plan(&self) -> MemoryPlan {
        let n = self.tensors.len();
        let mut last_use = vec![0usize; n];
        for (i, node) in self.nodes.iter().enumerate() {
            for &t in &node.inputs {
                last_use[t.0] = i;
            }
        }
        let pinned = [self.input, self.time_input, self.output];
        let mut slot_of = vec![usize::MAX; n];
        let mut slot_len: Vec<usize> = Vec::new();
        let mut free: Vec<usize> = Vec::new();
        for t in pinned {
            slot_of[t.0] = slot_len.len();
            slot_len.push(self.tensors[t.0].len());
        }
        for (i, node) in self.nodes.iter().enumerate() {
            let out = node.output;
            if slot_of[out.0] == usize::MAX {
                let need = self.tensors[out.0].len();
                let fit = free
                    .iter()
                    .enumerate()
                    .filter(|(_, &s)| slot_len[s] >= need)
                    .min_by_key(|(_, &s)| slot_len[s])
                    .map(|(k, _)| k)
                    .or_else(|| (0..free.len()).max_by_key(|&k| slot_len[free[k]]));
                let slot = match fit {
                    Some(k) => free.swap_remove(k),
                    None => {
                        slot_len.push(0);
                        slot_len.len() - 1
                    }
                };
                slot_len[slot] = slot_len[slot].max(need);
                slot_of[out.0] = slot;
            }
            // Free after the output is placed, so an op never writes over its own input.
            for &t in &node.inputs {
                if last_use[t.0] == i && !pinned.contains(&t) && !free.contains(&slot_of[t.0]) {
                    free.push(slot_of[t.0]);
                }
            }
        }
        MemoryPlan { slot_of, slot_len }
    }
}
