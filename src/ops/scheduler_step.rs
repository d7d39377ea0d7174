//! One reverse-diffusion step in place (`shaders/scheduler_step.wgsl`). The per-step
//! coefficients come from [`crate::scheduler::StepCoeffs`], whose `apply` is the CPU reference.

use super::{checked_len, shape_err, u32_of, ShapeError};
use crate::gpu::{KernelSource, Launch};
use crate::scheduler::StepCoeffs;

static KERNEL: KernelSource = crate::kernel!(per_item "scheduler_step", 256);

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
        if checked_len("scheduler_step", &[len])? == 0 {
            return Err(shape_err("scheduler_step", "empty input"));
        }
        Ok(SchedulerStep { len })
    }

    /// The uniform for one step; rewrite it into [`crate::gpu::Dispatch::params`] before each step.
    pub fn params(&self, coeffs: StepCoeffs) -> StepParams {
        StepParams {
            coeffs,
            len: u32_of(self.len),
            _p: [0; 3],
        }
    }

    /// The step on the GPU: binds sample (in place), model output, noise, x0.
    pub fn launch(&self, coeffs: StepCoeffs) -> Launch {
        Launch::per_item(&KERNEL, &self.params(coeffs), self.len)
    }
}
