//! Nearest-neighbour 2x upsampling (`shaders/upsample.wgsl`).

use super::{flat_groups, shape_err, ShapeError};
use crate::gpu::{Dispatch, Gpu, GpuError};

const SHADER: &str = include_str!("../../shaders/upsample.wgsl");

/// x: (NC, H, W) -> (NC, 2H, 2W).
#[derive(Clone, Debug, PartialEq)]
pub struct Upsample2x {
    pub nc: usize,
    pub h: usize,
    pub w: usize,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    nc: u32,
    h: u32,
    w: u32,
    _p: u32,
}

impl Upsample2x {
    pub fn new(nc: usize, h: usize, w: usize) -> Result<Self, ShapeError> {
        if nc == 0 || h == 0 || w == 0 {
            return Err(shape_err("upsample", "empty input"));
        }
        Ok(Upsample2x { nc, h, w })
    }

    pub fn output_len(&self) -> usize {
        self.nc * 4 * self.h * self.w
    }

    pub fn cpu(&self, x: &[f32], out: &mut [f32]) {
        let (h2, w2) = (2 * self.h, 2 * self.w);
        for plane in 0..self.nc {
            for oy in 0..h2 {
                for ox in 0..w2 {
                    out[(plane * h2 + oy) * w2 + ox] =
                        x[(plane * self.h + oy / 2) * self.w + ox / 2];
                }
            }
        }
    }

    pub fn encode(
        &self,
        gpu: &Gpu,
        x: &wgpu::Buffer,
        out: &wgpu::Buffer,
    ) -> Result<Dispatch, GpuError> {
        let params = Params {
            nc: self.nc as u32,
            h: self.h as u32,
            w: self.w as u32,
            _p: 0,
        };
        gpu.dispatch(
            gpu.kernel("upsample", SHADER),
            &params,
            &[x, out],
            flat_groups(self.output_len()),
        )
    }
}
