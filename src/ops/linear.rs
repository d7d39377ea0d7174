//! Fully connected layer (`shaders/linear.wgsl`) with optional SiLU before and after.

use super::{shape_err, silu, ShapeError};
use crate::gpu::{kernel_grid, Dispatch, Gpu, GpuError};

const SHADER: &str = include_str!("../../shaders/linear.wgsl");

/// x: (M, K), weight (N, K) as torch's Linear, bias (N) -> (M, N).
#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub silu_in: bool,
    pub silu_out: bool,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    m: u32,
    k: u32,
    n: u32,
    silu_in: u32,
    silu_out: u32,
    _p: [u32; 3],
}

impl Linear {
    pub fn new(
        m: usize,
        k: usize,
        n: usize,
        silu_in: bool,
        silu_out: bool,
    ) -> Result<Self, ShapeError> {
        if m == 0 || k == 0 || n == 0 {
            return Err(shape_err(
                "linear",
                format!("empty shape m={m} k={k} n={n}"),
            ));
        }
        Ok(Linear {
            m,
            k,
            n,
            silu_in,
            silu_out,
        })
    }

    pub fn cpu(&self, x: &[f32], weight: &[f32], bias: &[f32], out: &mut [f32]) {
        for row in 0..self.m {
            for col in 0..self.n {
                let mut acc = bias[col];
                for i in 0..self.k {
                    let mut v = x[row * self.k + i];
                    if self.silu_in {
                        v = silu(v);
                    }
                    acc += v * weight[col * self.k + i];
                }
                if self.silu_out {
                    acc = silu(acc);
                }
                out[row * self.n + col] = acc;
            }
        }
    }

    pub fn encode(
        &self,
        gpu: &Gpu,
        x: &wgpu::Buffer,
        weight: &wgpu::Buffer,
        bias: &wgpu::Buffer,
        out: &wgpu::Buffer,
    ) -> Result<Dispatch, GpuError> {
        let params = Params {
            m: self.m as u32,
            k: self.k as u32,
            n: self.n as u32,
            silu_in: self.silu_in as u32,
            silu_out: self.silu_out as u32,
            _p: [0; 3],
        };
        gpu.dispatch(
            gpu.kernel("linear", SHADER),
            &params,
            &[x, weight, bias, out],
            kernel_grid((self.m * self.n).div_ceil(64) as u32),
        )
    }
}
