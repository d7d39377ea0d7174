//! Batch of images in [-1, 1] -> one RGBA8 grid for display (`shaders/to_rgba8.wgsl`).

use super::{checked_len, shape_err, u32_of, ShapeError};
use crate::gpu::{KernelSource, Launch};

static KERNEL: KernelSource = crate::kernel!(per_item "to_rgba8", 256);

/// x: (N, C, H, W) -> (rows*H, cols*W) packed RGBA8, images in row-major grid order.
#[derive(Clone, Debug, PartialEq)]
pub struct ToRgba8 {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub cols: usize,
    pub rows: usize,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    cols: u32,
    rows: u32,
    _p: [u32; 2],
}

/// diffusers' `numpy_to_pil` mapping of one value: round(clamp(v/2 + 0.5, 0, 1) * 255).
pub fn to_byte(v: f32) -> u8 {
    ((v * 0.5 + 0.5).clamp(0.0, 1.0) * 255.0).round_ties_even() as u8
}

impl ToRgba8 {
    /// A near-square grid: `cols = ceil(sqrt(n))`.
    pub fn new([n, c, h, w]: [usize; 4]) -> Result<Self, ShapeError> {
        if checked_len("to_rgba8", &[n, c, h, w])? == 0 {
            return Err(shape_err("to_rgba8", "empty input"));
        }
        let cols = (1..=n).find(|c| c * c >= n).unwrap_or(n);
        let rows = n.div_ceil(cols);
        checked_len("to_rgba8", &[rows * h, cols * w])?;
        Ok(ToRgba8 {
            n,
            c,
            h,
            w,
            cols,
            rows,
        })
    }

    pub fn width(&self) -> usize {
        self.cols * self.w
    }

    pub fn height(&self) -> usize {
        self.rows * self.h
    }

    pub fn output_len(&self) -> usize {
        self.width() * self.height()
    }

    pub fn cpu(&self, x: &[f32], out: &mut [u32]) {
        let plane = self.h * self.w;
        for gy in 0..self.height() {
            for gx in 0..self.width() {
                let img = (gy / self.h) * self.cols + gx / self.w;
                let i = gy * self.width() + gx;
                if img >= self.n {
                    out[i] = 0;
                    continue;
                }
                let base = img * self.c * plane + (gy % self.h) * self.w + gx % self.w;
                let r = to_byte(x[base]) as u32;
                let (g, b) = match self.c {
                    1 => (r, r),
                    2 => (to_byte(x[base + plane]) as u32, 0),
                    _ => (
                        to_byte(x[base + plane]) as u32,
                        to_byte(x[base + 2 * plane]) as u32,
                    ),
                };
                out[i] = r | (g << 8) | (b << 16) | (255 << 24);
            }
        }
    }

    /// The conversion on the GPU: binds x, then the (rows*H, cols*W) u32 output.
    pub fn launch(&self) -> Launch {
        let params = Params {
            n: u32_of(self.n),
            c: u32_of(self.c),
            h: u32_of(self.h),
            w: u32_of(self.w),
            cols: u32_of(self.cols),
            rows: u32_of(self.rows),
            _p: [0; 2],
        };
        Launch::per_item(&KERNEL, &params, self.output_len())
    }
}
