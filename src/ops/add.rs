//! Elementwise `(a + b) * scale + shift` (`shaders/add.wgsl`): residual connections with
//! diffusers' output scale factors, and `2x - 1` input centring (no `b`).

use super::{checked_len, shape_err, u32_of, Op, ShapeError, Signature};
use crate::gpu::{KernelSource, Launch};

static KERNEL: KernelSource = crate::kernel!(per_item "add", 256);

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
        if checked_len("add", &[len])? == 0 {
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
}

impl Op for Add {
    fn signature(&self) -> Signature {
        Signature {
            inputs: vec![self.len; 1 + self.has_b as usize],
            input_slots: 2,
            params: vec![],
            output: self.len,
        }
    }

    fn reference(&self, inputs: &[&[f32]], _: &[&[f32]], out: &mut [f32]) {
        let a = inputs[0];
        for i in 0..self.len {
            let b = inputs.get(1).map_or(0.0, |b| b[i]);
            out[i] = (a[i] + b) * self.scale + self.shift;
        }
    }

    fn launch(&self) -> Launch {
        let params = Params {
            len: u32_of(self.len),
            has_b: self.has_b as u32,
            scale: self.scale,
            shift: self.shift,
        };
        Launch::per_item(&KERNEL, &params, self.len)
    }
}
