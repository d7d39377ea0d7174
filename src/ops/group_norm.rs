//! Group normalisation (`shaders/group_norm.wgsl`) with an optional fused SiLU.

use super::{checked_len, shape_err, silu, u32_of, Op, ShapeError, Signature};
use crate::gpu::{KernelSource, Launch};

static KERNEL: KernelSource = crate::kernel!("group_norm", 256);

/// x: (N, C, HW), gamma/beta: (C) -> (N, C, HW).
#[derive(Clone, Debug, PartialEq)]
pub struct GroupNorm {
    pub n: usize,
    pub c: usize,
    pub hw: usize,
    pub groups: usize,
    pub eps: f32,
    pub silu: bool,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    /// n, c, hw, groups
    sizes: [u32; 4],
    eps: f32,
    silu: u32,
    _p: [u32; 2],
}

impl GroupNorm {
    pub fn new(
        n: usize,
        c: usize,
        hw: usize,
        groups: usize,
        eps: f32,
        silu: bool,
    ) -> Result<Self, ShapeError> {
        if groups == 0 || !c.is_multiple_of(groups) {
            return Err(shape_err(
                "group_norm",
                format!("{c} channels cannot be split into {groups} groups"),
            ));
        }
        if checked_len("group_norm", &[n, c, hw])? == 0 {
            return Err(shape_err("group_norm", "empty input"));
        }
        Ok(GroupNorm {
            n,
            c,
            hw,
            groups,
            eps,
            silu,
        })
    }

    pub fn len(&self) -> usize {
        self.n * self.c * self.hw
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Op for GroupNorm {
    fn signature(&self) -> Signature {
        Signature {
            inputs: vec![self.len()],
            input_slots: 1,
            params: vec![self.c, self.c],
            output: self.len(),
        }
    }

    /// Two passes in f64, like a careful torch.
    fn reference(&self, inputs: &[&[f32]], params: &[&[f32]], out: &mut [f32]) {
        let (x, gamma, beta) = (inputs[0], params[0], params[1]);
        let cpg = self.c / self.groups;
        let len = cpg * self.hw;
        for b in 0..self.n {
            for g in 0..self.groups {
                let base = (b * self.c + g * cpg) * self.hw;
                let xs = &x[base..base + len];
                let mean = xs.iter().map(|&v| v as f64).sum::<f64>() / len as f64;
                let var = xs.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / len as f64;
                let inv = 1.0 / (var + self.eps as f64).sqrt();
                for (i, &v) in xs.iter().enumerate() {
                    let ch = g * cpg + i / self.hw;
                    let mut y = ((v as f64 - mean) * inv) as f32 * gamma[ch] + beta[ch];
                    if self.silu {
                        y = silu(y);
                    }
                    out[base + i] = y;
                }
            }
        }
    }

    fn cpu(&self, inputs: &[&[f32]], params: &[&[f32]], out: &mut [f32], _: &mut [f32]) {
        crate::cpu::norm::group_norm(self, inputs[0], params[0], params[1], out)
    }

    fn launch(&self) -> Launch {
        let params = Params {
            sizes: [self.n, self.c, self.hw, self.groups].map(u32_of),
            eps: self.eps,
            silu: self.silu as u32,
            _p: [0; 2],
        };
        Launch::per_group(&KERNEL, &params, self.n * self.groups)
    }
}
