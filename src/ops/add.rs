//! Elementwise `(a + b) * scale + shift` (`shaders/add.wgsl`): residual connections with
//! diffusers' output scale factors, and `2x - 1` input centring (no `b`).

use super::{flat_groups, shape_err, ShapeError};
use crate::gpu::{Dispatch, Gpu, GpuError};

const SHADER: &str = include_str!("../../shaders/add.wgsl");

/// a, b: (len) -> (len).
#[derive(Clone, Debug, PartialEq)]
pub struct Add {
    pub len: usize,
    pub has_b: bool,
    pub scale: f32,
    pub shift: f32,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    len: u32,
    has_b: u32,
    scale: f32,
    shift: f32,
}

impl Add {
    /// `(a + b) * scale`.
    pub fn residual(len: usize, scale: f32) -> Result<Self, ShapeError> {
        Self::new(len, true, scale, 0.0)
    }

    /// `a * scale + shift`.
    pub fn affine(len: usize, scale: f32, shift: f32) -> Result<Self, ShapeError> {
        Self::new(len, false, scale, shift)
    }

    fn new(len: usize, has_b: bool, scale: f32, shift: f32) -> Result<Self, ShapeError> {
        if len == 0 {
            return Err(shape_err("add", "empty input"));
        }
        if !scale.is_finite() || !shift.is_finite() {
            return Err(shape_err(
                "add",
                format!("scale {scale} / shift {shift} not finite"),
            ));
        }
        Ok(Add {
            len,
            has_b,
            scale,
            shift,
        })
    }

    pub fn cpu(&self, a: &[f32], b: Option<&[f32]>, out: &mut [f32]) {
        for i in 0..self.len {
            let mut v = a[i];
            if let (true, Some(b)) = (self.has_b, b) {
                v += b[i];
            }
            out[i] = v * self.scale + self.shift;
        }
    }

    /// Without `b`, pass any buffer for it.
    pub fn encode(
        &self,
        gpu: &Gpu,
        a: &wgpu::Buffer,
        b: &wgpu::Buffer,
        out: &wgpu::Buffer,
    ) -> Result<Dispatch, GpuError> {
        let params = Params {
            len: self.len as u32,
            has_b: self.has_b as u32,
            scale: self.scale,
            shift: self.shift,
        };
        gpu.dispatch(
            gpu.kernel("add", SHADER),
            &params,
            &[a, b, out],
            flat_groups(self.len),
        )
    }
}
