//! diffusion-playground: diffusers `UNet2DModel` checkpoints and DDPM/DDIM sampling on
//! hand-written WGSL compute shaders, natively (Vulkan, Metal, DX12) and in the browser (WebGPU).

pub mod rng;
pub mod scheduler;
pub mod gpu;
