//! 2-D convolution (`shaders/conv2d.wgsl`): 3x3 and 1x1, stride 1 or 2, asymmetric zero
//! padding, bias, and an optional per-(sample, channel) time-embedding addend.

use super::{shape_err, ShapeError};
use crate::gpu::{Dispatch, Gpu, GpuError};

const SHADER: &str = include_str!("../../shaders/conv2d.wgsl");

/// Where a conv finds the per-(sample, channel) term to add: row `n` of a (N, stride) buffer,
/// starting at column `offset`. All resnets' time projections share one such buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimeBias {
    pub stride: usize,
    pub offset: usize,
}

/// x: (N, Cin, H, W), weight (Cout, Cin, K, K), bias (Cout) -> (N, Cout, Ho, Wo).
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2d {
    pub n: usize,
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub cout: usize,
    pub k: usize,
    pub stride: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub ho: usize,
    pub wo: usize,
    pub time_bias: Option<TimeBias>,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    cin: u32,
    h: u32,
    w: u32,
    cout: u32,
    ho: u32,
    wo: u32,
    k: u32,
    stride: u32,
    pad_top: u32,
    pad_left: u32,
    cout4: u32,
    temb_stride: u32,
    temb_offset: u32,
    has_temb: u32,
    _pad: u32,
}

impl Conv2d {
    /// `pad` is (top, bottom, left, right) zero padding, as `F.pad` then `conv2d(padding=0)`.
    pub fn new(
        [n, cin, h, w]: [usize; 4],
        cout: usize,
        k: usize,
        stride: usize,
        pad: [usize; 4],
    ) -> Result<Self, ShapeError> {
        let [top, bottom, left, right] = pad;
        if n == 0 || cin == 0 || h == 0 || w == 0 || cout == 0 || k == 0 || stride == 0 {
            return Err(shape_err(
                "conv2d",
                format!("zero-sized input {n}x{cin}x{h}x{w}, cout {cout}, k {k}, stride {stride}"),
            ));
        }
        if h + top + bottom < k || w + left + right < k {
            return Err(shape_err(
                "conv2d",
                format!("kernel {k} larger than padded input {h}x{w}"),
            ));
        }
        let ho = (h + top + bottom - k) / stride + 1;
        let wo = (w + left + right - k) / stride + 1;
        Ok(Conv2d {
            n,
            cin,
            h,
            w,
            cout,
            k,
            stride,
            pad_top: top,
            pad_left: left,
            ho,
            wo,
            time_bias: None,
        })
    }

    pub fn with_time_bias(mut self, time_bias: TimeBias) -> Self {
        self.time_bias = Some(time_bias);
        self
    }

    pub fn input_len(&self) -> usize {
        self.n * self.cin * self.h * self.w
    }

    pub fn output_shape(&self) -> [usize; 4] {
        [self.n, self.cout, self.ho, self.wo]
    }

    pub fn weight_len(&self) -> usize {
        self.cout * self.cin * self.k * self.k
    }

    /// Plain-loop reference. `time` is the (N, stride) buffer when `time_bias` is set.
    pub fn cpu(
        &self,
        x: &[f32],
        weight: &[f32],
        bias: &[f32],
        time: Option<&[f32]>,
        out: &mut [f32],
    ) {
        let (k, s) = (self.k, self.stride);
        for b in 0..self.n {
            for co in 0..self.cout {
                let add = match (self.time_bias, time) {
                    (Some(tb), Some(t)) => t[b * tb.stride + tb.offset + co],
                    _ => 0.0,
                };
                for oy in 0..self.ho {
                    for ox in 0..self.wo {
                        let mut acc = bias[co];
                        for ci in 0..self.cin {
                            for ky in 0..k {
                                let iy = (oy * s + ky) as isize - self.pad_top as isize;
                                if iy < 0 || iy >= self.h as isize {
                                    continue;
                                }
                                for kx in 0..k {
                                    let ix = (ox * s + kx) as isize - self.pad_left as isize;
                                    if ix < 0 || ix >= self.w as isize {
                                        continue;
                                    }
                                    let xi = ((b * self.cin + ci) * self.h + iy as usize) * self.w
                                        + ix as usize;
                                    let wi = ((co * self.cin + ci) * k + ky) * k + kx;
                                    acc += x[xi] * weight[wi];
                                }
                            }
                        }
                        out[((b * self.cout + co) * self.ho + oy) * self.wo + ox] = acc + add;
                    }
                }
            }
        }
    }

    fn cout4(&self) -> usize {
        self.cout.div_ceil(4)
    }

    /// Reorders torch's (Cout, Cin, K, K) weight to the kernel's (Cin*K*K, Cout4*4) layout so one
    /// vec4 load gives four output channels.
    pub fn pack_weight(&self, weight: &[f32]) -> Vec<f32> {
        let taps = self.cin * self.k * self.k;
        let cols = self.cout4() * 4;
        let mut packed = vec![0.0; taps * cols];
        for co in 0..self.cout {
            for tap in 0..taps {
                packed[tap * cols + co] = weight[co * taps + tap];
            }
        }
        packed
    }

    /// The bias padded to a multiple of four channels.
    pub fn pack_bias(&self, bias: &[f32]) -> Vec<f32> {
        let mut packed = vec![0.0; self.cout4() * 4];
        packed[..self.cout].copy_from_slice(&bias[..self.cout]);
        packed
    }

    /// `weight` and `bias` are packed (see [`Conv2d::pack_weight`]); `time` must be bound even
    /// without a time bias (any buffer).
    pub fn encode(
        &self,
        gpu: &Gpu,
        x: &wgpu::Buffer,
        weight: &wgpu::Buffer,
        bias: &wgpu::Buffer,
        time: &wgpu::Buffer,
        out: &wgpu::Buffer,
    ) -> Result<Dispatch, GpuError> {
        let tb = self.time_bias.unwrap_or(TimeBias {
            stride: 0,
            offset: 0,
        });
        let params = Params {
            n: self.n as u32,
            cin: self.cin as u32,
            h: self.h as u32,
            w: self.w as u32,
            cout: self.cout as u32,
            ho: self.ho as u32,
            wo: self.wo as u32,
            k: self.k as u32,
            stride: self.stride as u32,
            pad_top: self.pad_top as u32,
            pad_left: self.pad_left as u32,
            cout4: self.cout4() as u32,
            temb_stride: tb.stride as u32,
            temb_offset: tb.offset as u32,
            has_temb: self.time_bias.is_some() as u32,
            _pad: 0,
        };
        let pixel_groups = self.n * self.ho * self.wo.div_ceil(4);
        let groups = [pixel_groups.div_ceil(64) as u32, self.cout4() as u32, 1];
        if groups[0] > crate::gpu::MAX_GROUPS_PER_DIM || groups[1] > crate::gpu::MAX_GROUPS_PER_DIM
        {
            return Err(GpuError::Validation(format!(
                "conv2d of {}x{}x{}x{} is too large for one dispatch: use a smaller batch",
                self.n, self.cout, self.ho, self.wo
            )));
        }
        gpu.dispatch(
            gpu.kernel("conv2d", SHADER),
            &params,
            &[x, weight, bias, time, out],
            groups,
        )
    }
}
