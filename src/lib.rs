//! diffusion-playground: diffusers `UNet2DModel` checkpoints and DDPM/DDIM sampling on
//! hand-written WGSL compute shaders, natively (Vulkan, Metal, DX12) and in the browser (WebGPU).
//!
//! Where things are:
//! - [`scheduler`]: the DDPM/DDIM maths (betas, timesteps, per-step update coefficients);
//! - [`model`]: loading a diffusers checkpoint and the UNet forward pass as an op [`model::Graph`];
//! - [`ops`]: one type per op (the [`ops::Op`] trait) — shape checks, a CPU reference, and its
//!   WGSL kernel (`shaders/`, compiled with `shaders/prelude.wgsl`);
//! - [`cpu`]: the fast CPU kernels (packed GEMM, im2col convolution, vectorised norms);
//! - [`exec`]: executors behind one trait — the graph on the GPU, on the fast CPU kernels, or
//!   on the plain-loop CPU references;
//! - [`sampler`]: the sampling loop over any executor; [`rng`]: platform-identical noise;
//! - [`spread`]: how much branches of a run (same x_t, other noise) disagree, per pixel;
//! - [`gpu`]: device acquisition, kernel cache, read-back; [`npy`]: `.npy` files;
//! - [`error`]: the crate's error and its kinds (the page switches on them).

pub mod cpu;
pub mod error;
pub mod exec;
pub mod gpu;
#[cfg(not(target_arch = "wasm32"))]
pub mod image;
pub mod inpaint;
pub mod interpolate;
pub mod model;
pub mod npy;
pub mod ops;
pub mod rng;
pub mod sampler;
pub mod scheduler;
pub mod spread;
#[cfg(target_arch = "wasm32")]
pub mod web;

pub use error::{Error, ErrorKind, InputError};
