//! The reverse process on the GPU: x_T from the seeded generator, then per step one encoder
//! with the UNet forward pass and the scheduler update, in place. x never comes back to the CPU
//! unless a caller asks to see it (`read_sample`, `read_x0`, `read_rgba`).
//! [`cpu_sample`] is the same loop on the CPU executor, for tests and devices without WebGPU.

use crate::gpu::{Dispatch, Gpu, GpuError};
use crate::model::UNet;
use crate::ops::{SchedulerStep, ToRgba8};
use crate::scheduler::Plan;
use crate::unet::{GpuUNet, GpuWeights, UNetError};

/// Which image of the current step to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// The current x_t (after the step: x_{t-1}).
    Sample,
    /// The model's current estimate of x_0.
    PredictedX0,
}

/// Everything a sampling run needs for one batch size, allocated once.
pub struct GpuSampler {
    pub net: GpuUNet,
    noise: wgpu::Buffer,
    x0: wgpu::Buffer,
    step: SchedulerStep,
    step_dispatch: Dispatch,
    grid: ToRgba8,
    rgba: wgpu::Buffer,
    show_sample: Dispatch,
    show_x0: Dispatch,
}

impl GpuSampler {
    pub fn new(
        gpu: &Gpu,
        weights: &GpuWeights,
        unet: &UNet,
        batch: usize,
    ) -> Result<GpuSampler, UNetError> {
        let net = GpuUNet::new(gpu, weights, unet, batch)?;
        let len = net.input_len();
        if net.output_len() != len {
            return Err(UNetError::Model(crate::model::ModelError::Unsupported {
                field: "out_channels".into(),
                found: format!(
                    "{} with in_channels {}",
                    unet.config.out_channels, unet.config.in_channels
                ),
                supported: "out_channels == in_channels for sampling (the model predicts noise of x's shape)".into(),
            }));
        }
        let noise = gpu.storage("step noise", len)?;
        let x0 = gpu.storage("predicted x0", len)?;
        let step =
            SchedulerStep::new(len).map_err(|e| crate::model::ModelError::at("sampler", e))?;
        let step_dispatch = step.encode(
            gpu,
            bytemuck::Zeroable::zeroed(),
            net.input(),
            net.output(),
            &noise,
            &x0,
        )?;
        let shape = net.graph.shape(net.graph.input);
        let grid = ToRgba8::new([shape[0], shape[1], shape[2], shape[3]])
            .map_err(|e| crate::model::ModelError::at("sampler", e))?;
        let rgba = gpu.storage("rgba grid", grid.output_len())?;
        let show_sample = grid.encode(gpu, net.input(), &rgba)?;
        let show_x0 = grid.encode(gpu, &x0, &rgba)?;
        Ok(GpuSampler {
            net,
            noise,
            x0,
            step,
            step_dispatch,
            grid,
            rgba,
            show_sample,
            show_x0,
        })
    }

    pub fn batch(&self) -> usize {
        self.net.graph.batch
    }

    /// Values in x (batch x C x H x W).
    pub fn len(&self) -> usize {
        self.net.input_len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Starts a run from a given x_T.
    pub fn set_sample(&self, gpu: &Gpu, x: &[f32]) -> Result<(), GpuError> {
        if x.len() != self.len() {
            return Err(GpuError::Validation(format!(
                "x_T has {} values but batch {} of {:?} needs {}",
                x.len(),
                self.batch(),
                &self.net.graph.shape(self.net.graph.input)[1..],
                self.len()
            )));
        }
        gpu.queue
            .write_buffer(self.net.input(), 0, bytemuck::cast_slice(x));
        // x0 shows x_T until the first step.
        gpu.queue.write_buffer(&self.x0, 0, bytemuck::cast_slice(x));
        Ok(())
    }

    /// Starts a run from the seeded x_T (the same for every sampler).
    pub fn start(&self, gpu: &Gpu, seed: u64) -> Result<(), GpuError> {
        let per_sample = self.len() / self.batch();
        self.set_sample(
            gpu,
            &crate::rng::initial_noise(seed, self.batch(), per_sample),
        )
    }

    /// Submits step `index` of `plan`: the UNet at its timestep, then the update, in one encoder.
    pub fn step(
        &self,
        gpu: &Gpu,
        unet: &UNet,
        plan: &Plan,
        index: usize,
        seed: u64,
    ) -> Result<(), GpuError> {
        let coeffs = *plan.coeffs.get(index).ok_or_else(|| {
            GpuError::Validation(format!("step {index} of a {}-step plan", plan.coeffs.len()))
        })?;
        self.net.prepare(gpu, unet, plan.timesteps[index] as f32);
        if coeffs.needs_noise() {
            let per_sample = self.len() / self.batch();
            let noise = crate::rng::step_noise(seed, index, self.batch(), per_sample);
            gpu.queue
                .write_buffer(&self.noise, 0, bytemuck::cast_slice(&noise));
        }
        let params = self.step.params(coeffs);
        gpu.queue
            .write_buffer(&self.step_dispatch.params, 0, bytemuck::bytes_of(&params));
        let mut all: Vec<&Dispatch> = self.net.dispatches().collect();
        all.push(&self.step_dispatch);
        gpu.run(&all);
        Ok(())
    }

    /// Waits for submitted work (natively; a no-op on the web, where reads wait instead).
    pub fn wait(&self, gpu: &Gpu) -> Result<(), GpuError> {
        #[cfg(not(target_arch = "wasm32"))]
        gpu.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        gpu.check()
    }

    /// The current x, (N, C, H, W).
    pub async fn read_sample(&self, gpu: &Gpu) -> Result<Vec<f32>, GpuError> {
        gpu.read_f32(self.net.input(), self.len()).await
    }

    /// The latest predicted x_0, (N, C, H, W).
    pub async fn read_x0(&self, gpu: &Gpu) -> Result<Vec<f32>, GpuError> {
        gpu.read_f32(&self.x0, self.len()).await
    }

    /// Width and height in pixels of the grid [`GpuSampler::read_rgba`] returns.
    pub fn grid_size(&self) -> (usize, usize) {
        (self.grid.width(), self.grid.height())
    }

    /// The batch as one RGBA8 grid (converted on the GPU), row-major, 4 bytes per pixel.
    pub async fn read_rgba(&self, gpu: &Gpu, view: View) -> Result<Vec<u8>, GpuError> {
        let d = match view {
            View::Sample => &self.show_sample,
            View::PredictedX0 => &self.show_x0,
        };
        gpu.run(&[d]);
        let words = gpu.read_u32(&self.rgba, self.grid.output_len()).await?;
        Ok(bytemuck::cast_slice(&words).to_vec())
    }
}

/// Per step of a run: (x_{t-1}, predicted x_0).
pub type Trajectory = Vec<(Vec<f32>, Vec<f32>)>;

/// The whole loop on the CPU executor: returns the final sample and the trajectory.
pub fn cpu_sample(
    unet: &UNet,
    plan: &Plan,
    x_t: &[f32],
    seed: u64,
    batch: usize,
) -> Result<(Vec<f32>, Trajectory), crate::model::ModelError> {
    let graph = unet.graph(batch)?;
    let mut x = x_t.to_vec();
    let per_sample = x.len() / batch;
    let mut steps = Vec::with_capacity(plan.timesteps.len());
    for (i, (&t, c)) in plan.timesteps.iter().zip(&plan.coeffs).enumerate() {
        let eps = crate::cpu::forward(unet, &graph, &x, t as f32);
        let noise = if c.needs_noise() {
            crate::rng::step_noise(seed, i, batch, per_sample)
        } else {
            Vec::new()
        };
        let mut prev = vec![0f32; x.len()];
        let mut x0 = vec![0f32; x.len()];
        c.apply(&x, &eps, &noise, &mut prev, &mut x0);
        x = prev;
        steps.push((x.clone(), x0));
    }
    Ok((x, steps))
}
