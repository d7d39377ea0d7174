//! Fully connected layer (`shaders/linear.wgsl`) with optional SiLU before and after.

use super::{checked_len, shape_err, silu, u32_of, Op, ShapeError, Signature};
use crate::gpu::{KernelSource, Launch};

static KERNEL: KernelSource = crate::kernel!(per_item "linear", 64);

/// x: (M, K), weight (N, K) as torch's Linear, bias (N) -> (M, N).
#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub silu_in: bool,
    pub silu_out: bool,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    m: u32,
    k: u32,
    n: u32,
    silu_in: u32,
    silu_out: u32,
    _p: [u32; 3],
}

impl Linear {
    pub fn new(
        m: usize,
        k: usize,
        n: usize,
        silu_in: bool,
        silu_out: bool,
    ) -> Result<Self, ShapeError> {
        for dims in [[m, k], [n, k], [m, n]] {
            if checked_len("linear", &dims)? == 0 {
                return Err(shape_err(
                    "linear",
                    format!("empty shape m={m} k={k} n={n}"),
                ));
            }
        }
        Ok(Linear {
            m,
            k,
            n,
            silu_in,
            silu_out,
        })
    }
}

impl Op for Linear {
    fn signature(&self) -> Signature {
        Signature {
            inputs: vec![self.m * self.k],
            input_slots: 1,
            params: vec![self.n * self.k, self.n],
            output: self.m * self.n,
        }
    }

    fn reference(&self, inputs: &[&[f32]], params: &[&[f32]], out: &mut [f32]) {
        let (x, weight, bias) = (inputs[0], params[0], params[1]);
        for row in 0..self.m {
            for col in 0..self.n {
                let mut acc = bias[col];
                for i in 0..self.k {
                    let mut v = x[row * self.k + i];
                    if self.silu_in {
                        v = silu(v);
                    }
                    acc += v * weight[col * self.k + i];
                }
                if self.silu_out {
                    acc = silu(acc);
                }
                out[row * self.n + col] = acc;
            }
        }
    }

    /// One input row, with SiLU applied.
    fn cpu_scratch(&self) -> usize {
        self.k
    }

    /// The reference's loops with SiLU applied once per input (not once per product) and
    /// the vectorised [`crate::cpu::norm::silu`].
    fn cpu(&self, inputs: &[&[f32]], params: &[&[f32]], out: &mut [f32], scratch: &mut [f32]) {
        use crate::cpu::norm::silu;
        let (x, weight, bias) = (inputs[0], params[0], params[1]);
        let row = &mut scratch[..self.k];
        for (xr, or) in x.chunks_exact(self.k).zip(out.chunks_exact_mut(self.n)) {
            for (r, &v) in row.iter_mut().zip(xr) {
                *r = if self.silu_in { silu(v) } else { v };
            }
            for ((o, wr), &b) in or.iter_mut().zip(weight.chunks_exact(self.k)).zip(bias) {
                let dot: f32 = wr.iter().zip(row.iter()).map(|(w, v)| w * v).sum();
                *o = if self.silu_out {
                    silu(dot + b)
                } else {
                    dot + b
                };
            }
        }
    }

    fn launch(&self) -> Launch {
        let params = Params {
            m: u32_of(self.m),
            k: u32_of(self.k),
            n: u32_of(self.n),
            silu_in: self.silu_in as u32,
            silu_out: self.silu_out as u32,
            _p: [0; 3],
        };
        Launch::per_item(&KERNEL, &params, self.m * self.n)
    }

    fn macs(&self) -> u64 {
        super::product_u64(&[self.m, self.k, self.n])
    }
}
