//! Nearest-neighbour 2x upsampling (`shaders/upsample.wgsl`).

use super::{checked_len, shape_err, u32_of, Op, ShapeError, Signature};
use crate::gpu::{KernelSource, Launch};

static KERNEL: KernelSource = crate::kernel!(per_item "upsample", 256);

/// x: (NC, H, W) -> (NC, 2H, 2W).
#[derive(Clone, Debug, PartialEq)]
pub struct Upsample2x {
    pub nc: usize,
    pub h: usize,
    pub w: usize,
}

impl Upsample2x {
    pub fn new(nc: usize, h: usize, w: usize) -> Result<Self, ShapeError> {
        if checked_len("upsample", &[nc, 4, h, w])? == 0 {
            return Err(shape_err("upsample", "empty input"));
        }
        Ok(Upsample2x { nc, h, w })
    }

    pub fn output_len(&self) -> usize {
        self.nc * 4 * self.h * self.w
    }
}

impl Op for Upsample2x {
    fn signature(&self) -> Signature {
        Signature {
            inputs: vec![self.nc * self.h * self.w],
            input_slots: 1,
            params: vec![],
            output: self.output_len(),
        }
    }

    fn reference(&self, inputs: &[&[f32]], _: &[&[f32]], out: &mut [f32]) {
        let x = inputs[0];
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

    fn launch(&self) -> Launch {
        // The shader's Params: nc, h, w and padding.
        let params = [self.nc, self.h, self.w, 0].map(u32_of);
        Launch::per_item(&KERNEL, &params, self.output_len())
    }
}
