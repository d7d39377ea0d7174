//! 2-D convolution (`shaders/conv2d.wgsl`): 3x3 and 1x1, stride 1 or 2, asymmetric zero
//! padding, bias, and an optional per-(sample, channel) time-embedding addend.

use super::{checked_len, shape_err, u32_of, Op, ShapeError, Signature};
use crate::gpu::{KernelSource, Launch};

static KERNEL: KernelSource = crate::kernel!("conv2d", 64);

/// Where a conv finds the per-(sample, channel) term to add: row `n` of a (N, stride) buffer,
/// starting at column `offset`. All resnets' time projections share one such buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimeBias {
    pub stride: usize,
    pub offset: usize,
}

/// x: (N, Cin, H, W), weight (Cout, Cin, K, K), bias (Cout) -> (N, Cout, Ho, Wo); with a
/// [`TimeBias`], a second input: the (N, stride) time projections.
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
    /// `pad` is (top, bottom, left, right) zero padding, as `F.pad` then `conv2d(padding=0)`;
    /// `time_bias` adds a slice of the shared time projections to every output channel.
    pub fn new(
        [n, cin, h, w]: [usize; 4],
        cout: usize,
        k: usize,
        stride: usize,
        pad: [usize; 4],
        time_bias: Option<TimeBias>,
    ) -> Result<Self, ShapeError> {
        let [top, bottom, left, right] = pad;
        let sizes = [
            checked_len("conv2d", &[n, cin, h, w])?,
            checked_len("conv2d", &[cout, cin, k, k])?,
        ];
        if sizes.contains(&0) || stride == 0 || pad.iter().any(|&p| p > k) {
            return Err(shape_err(
                "conv2d",
                format!(
                    "zero-sized input {n}x{cin}x{h}x{w}, cout {cout}, k {k}, stride {stride} or \
                     padding {pad:?} wider than the kernel"
                ),
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
        checked_len(
            "conv2d",
            &[n, cout.next_multiple_of(4), ho, wo.next_multiple_of(4)],
        )?;
        if let Some(tb) = time_bias {
            if tb.offset + cout > tb.stride || checked_len("conv2d", &[n, tb.stride]).is_err() {
                return Err(shape_err(
                    "conv2d",
                    format!(
                        "time bias columns {}..{} outside its rows of {}",
                        tb.offset,
                        tb.offset + cout,
                        tb.stride
                    ),
                ));
            }
        }
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
            time_bias,
        })
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

    /// Sample `b`'s row of the time projections this conv adds (`None` without a time bias).
    pub fn time_row<'a>(&self, time: Option<&'a [f32]>, b: usize) -> Option<&'a [f32]> {
        let (tb, t) = (self.time_bias?, time?);
        Some(&t[b * tb.stride + tb.offset..][..self.cout])
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
}

impl Op for Conv2d {
    fn signature(&self) -> Signature {
        let mut inputs = vec![self.input_len()];
        if let Some(tb) = self.time_bias {
            inputs.push(self.n * tb.stride);
        }
        Signature {
            inputs,
            input_slots: 2,
            params: vec![self.weight_len(), self.cout],
            output: self.output_shape().iter().product(),
        }
    }

    fn reference(&self, inputs: &[&[f32]], params: &[&[f32]], out: &mut [f32]) {
        let (x, time, weight, bias) = (inputs[0], inputs.get(1), params[0], params[1]);
        let (k, s) = (self.k, self.stride);
        for b in 0..self.n {
            for co in 0..self.cout {
                let add = self.time_row(time.copied(), b).map_or(0.0, |t| t[co]);
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

    /// The weight and bias in the kernel's layouts (see [`Conv2d::pack_weight`]).
    fn pack_param(&self, index: usize, data: &[f32]) -> Vec<f32> {
        match index {
            0 => self.pack_weight(data),
            _ => self.pack_bias(data),
        }
    }

    fn pack_cpu_param(&self, index: usize, data: &[f32]) -> Vec<f32> {
        match index {
            0 if crate::cpu::winograd::applies(self) => {
                crate::cpu::winograd::pack_weight(self, data)
            }
            0 => crate::cpu::conv::pack_weight(self, data),
            _ => data.to_vec(),
        }
    }

    fn cpu_scratch(&self) -> usize {
        if crate::cpu::winograd::applies(self) {
            crate::cpu::winograd::scratch_len(self)
        } else {
            crate::cpu::conv::scratch_len(self)
        }
    }

    /// 3x3 "same" convolutions by Winograd (F(4x4, 3x3) or F(2x2, 3x3)), the rest by GEMM
    /// (`crate::cpu`).
    fn cpu(&self, inputs: &[&[f32]], params: &[&[f32]], out: &mut [f32], scratch: &mut [f32]) {
        let (x, time, weight, bias) = (inputs[0], inputs.get(1).copied(), params[0], params[1]);
        if crate::cpu::winograd::applies(self) {
            crate::cpu::winograd::run(self, x, time, weight, bias, out, scratch)
        } else {
            crate::cpu::conv::run(self, x, time, weight, bias, out, scratch)
        }
    }

    fn launch(&self) -> Launch {
        let tb = self.time_bias.unwrap_or(TimeBias {
            stride: 0,
            offset: 0,
        });
        let params = Params {
            n: u32_of(self.n),
            cin: u32_of(self.cin),
            h: u32_of(self.h),
            w: u32_of(self.w),
            cout: u32_of(self.cout),
            ho: u32_of(self.ho),
            wo: u32_of(self.wo),
            k: u32_of(self.k),
            stride: u32_of(self.stride),
            pad_top: u32_of(self.pad_top),
            pad_left: u32_of(self.pad_left),
            cout4: u32_of(self.cout4()),
            temb_stride: u32_of(tb.stride),
            temb_offset: u32_of(tb.offset),
            has_temb: self.time_bias.is_some() as u32,
            _pad: 0,
        };
        Launch::per_item(&KERNEL, &params, self.n * self.ho * self.wo.div_ceil(4))
            .with_layers(self.cout4())
    }

    /// `conv2d 3x3`, `conv2d 3x3 stride 2`, `conv2d 1x1`: they run different code paths.
    fn profile_kind(&self) -> String {
        match self.stride {
            1 => format!("conv2d {}x{}", self.k, self.k),
            s => format!("conv2d {}x{} stride {s}", self.k, self.k),
        }
    }

    fn macs(&self) -> u64 {
        super::product_u64(&[
            self.n, self.cout, self.ho, self.wo, self.cin, self.k, self.k,
        ])
    }
}
