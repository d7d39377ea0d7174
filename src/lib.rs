//! diffusion-playground: diffusers `UNet2DModel` checkpoints and DDPM/DDIM sampling on
//! hand-written WGSL compute shaders, natively (Vulkan, Metal, DX12) and in the browser (WebGPU).
//!
//! Where things are:
//! - [`scheduler`]: the DDPM/DDIM maths (betas, timesteps, per-step update coefficients);
//! - [`model`]: loading a diffusers checkpoint and the UNet forward pass as an op [`model::Graph`];
//! - [`ops`]: one type per op — shape checks, a CPU reference, and its WGSL kernel (`shaders/`);
//! - [`cpu`]: runs a graph with the CPU references; [`unet`]: runs it on the GPU;
//! - [`sampler`]: the sampling loop on the GPU; [`rng`]: platform-identical Gaussian noise;
//! - [`gpu`]: device acquisition, kernel cache, read-back; [`npy`]: `.npy` files.

pub mod cpu;
pub mod gpu;
#[cfg(not(target_arch = "wasm32"))]
pub mod image;
pub mod model;
pub mod npy;
pub mod ops;
pub mod rng;
pub mod sampler;
pub mod scheduler;
pub mod unet;
#[cfg(target_arch = "wasm32")]
pub mod web;
