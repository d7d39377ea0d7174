//! Channel concatenation of a skip connection (`shaders/concat.wgsl`).

use super::{flat_groups, shape_err, ShapeError};
use crate::gpu::{Dispatch, Gpu, GpuError};

const SHADER: &str = include_str!("../../shaders/concat.wgsl");

/// a: (N, Ca, HW), b: (N, Cb, HW) -> (N, Ca + Cb, HW).
#[derive(Clone, Debug, PartialEq)]
pub struct Concat {
    pub n: usize,
    pub ca: usize,
    pub cb: usize,
    pub hw: usize,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    ca: u32,
    cb: u32,
    hw: u32,
}

impl Concat {
    pub fn new(n: usize, ca: usize, cb: usize, hw: usize) -> Result<Self, ShapeError> {
        if n == 0 || hw == 0 || ca + cb == 0 {
            return Err(shape_err("concat", "empty input"));
        }
        Ok(Concat { n, ca, cb, hw })
    }

    pub fn output_len(&self) -> usize {
        self.n * (self.ca + self.cb) * self.hw
    }

    pub fn cpu(&self, a: &[f32], b: &[f32], out: &mut [f32]) {
        let (la, lb) = (self.ca * self.hw, self.cb * self.hw);
        for s in 0..self.n {
            let o = s * (la + lb);
            out[o..o + la].copy_from_slice(&a[s * la..(s + 1) * la]);
            out[o + la..o + la + lb].copy_from_slice(&b[s * lb..(s + 1) * lb]);
        }
    }

    pub fn encode(
        &self,
        gpu: &Gpu,
        a: &wgpu::Buffer,
        b: &wgpu::Buffer,
        out: &wgpu::Buffer,
    ) -> Result<Dispatch, GpuError> {
        let params = Params {
            n: self.n as u32,
            ca: self.ca as u32,
            cb: self.cb as u32,
            hw: self.hw as u32,
        };
        gpu.dispatch(
            gpu.kernel("concat", SHADER),
            &params,
            &[a, b, out],
            flat_groups(self.output_len()),
        )
    }
}
