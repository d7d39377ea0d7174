//! One reverse-diffusion step in place (`shaders/scheduler_step.wgsl`). The per-step
//! coefficients come from [`crate::scheduler::StepCoeffs`], whose `apply` is the CPU reference.

use super::{flat_groups, shape_err, ShapeError};
use crate::gpu::{Dispatch, Gpu, GpuError};
use crate::scheduler::StepCoeffs;

const SHADER: &str = include_str!("../../shaders/scheduler_step.wgsl");

/// sample (len, in place), model output (len), noise (len) -> sample = x_{t-1}, x0 (len).
#[derive(Clone, Debug, PartialEq)]
pub struct SchedulerStep {
    pub len: usize,
}

/// The kernel's uniform: the step's coefficients and the element count.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct StepParams {
    pub coeffs: StepCoeffs,
    pub len: u32,
    _p: [u32; 3],
}

impl SchedulerStep {
    pub fn new(len: usize) -> Result<Self, ShapeError> {
        if len == 0 {
            return Err(shape_err("scheduler_step", "empty input"));
        }
        Ok(SchedulerStep { len })
    }

    /// The uniform for one step; rewrite it into [`Dispatch::params`] before each step.
    pub fn params(&self, coeffs: StepCoeffs) -> StepParams {
        StepParams {
            coeffs,
            len: self.len as u32,
            _p: [0; 3],
        }
    }

    pub fn encode(
        &self,
        gpu: &Gpu,
        coeffs: StepCoeffs,
        sample: &wgpu::Buffer,
        model: &wgpu::Buffer,
        noise: &wgpu::Buffer,
        x0: &wgpu::Buffer,
    ) -> Result<Dispatch, GpuError> {
        gpu.dispatch(
            gpu.kernel("scheduler_step", SHADER),
            &self.params(coeffs),
            &[sample, model, noise, x0],
            flat_groups(self.len),
        )
    }
}
