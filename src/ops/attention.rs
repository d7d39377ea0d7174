//! Multi-head self-attention over spatial tokens (`shaders/attention.wgsl`), taking the fused
//! q/k/v projection (a 1x1 conv with 3C outputs) and returning heads merged on channels.

use super::{checked_len, shape_err, u32_of, Op, ShapeError, Signature};
use crate::gpu::{KernelSource, Launch};

static KERNEL: KernelSource = crate::kernel!("attention", 64);

/// Largest head dimension the kernel supports (its per-invocation accumulator size x 64).
pub const MAX_HEAD_DIM: usize = 512;

/// qkv: (N, 3C, T) -> out: (N, C, T), with `heads` heads of C / heads channels each.
#[derive(Clone, Debug, PartialEq)]
pub struct Attention {
    pub n: usize,
    pub c: usize,
    pub t: usize,
    pub heads: usize,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    /// n, c, t, heads, head_dim
    sizes: [u32; 5],
    scale: f32,
    _p: [u32; 2],
}

impl Attention {
    pub fn new(n: usize, c: usize, t: usize, heads: usize) -> Result<Self, ShapeError> {
        if heads == 0 || !c.is_multiple_of(heads) {
            return Err(shape_err(
                "attention",
                format!("{c} channels cannot be split into {heads} heads"),
            ));
        }
        if c / heads > MAX_HEAD_DIM {
            return Err(shape_err(
                "attention",
                format!(
                    "head dimension {} exceeds the supported {MAX_HEAD_DIM}",
                    c / heads
                ),
            ));
        }
        if checked_len("attention", &[n, 3, c, t])? == 0 || checked_len("attention", &[t, t])? == 0
        {
            return Err(shape_err("attention", "empty input"));
        }
        Ok(Attention { n, c, t, heads })
    }

    pub fn head_dim(&self) -> usize {
        self.c / self.heads
    }

    fn scale(&self) -> f32 {
        1.0 / (self.head_dim() as f32).sqrt()
    }
}

impl Op for Attention {
    fn signature(&self) -> Signature {
        Signature {
            inputs: vec![self.n * 3 * self.c * self.t],
            input_slots: 1,
            params: vec![],
            output: self.n * self.c * self.t,
        }
    }

    fn reference(&self, inputs: &[&[f32]], _: &[&[f32]], out: &mut [f32]) {
        let qkv = inputs[0];
        let (c, t, d) = (self.c, self.t, self.head_dim());
        let mut scores = vec![0f64; t];
        for b in 0..self.n {
            for h in 0..self.heads {
                let q = (b * 3 * c + h * d) * t;
                let k = q + c * t;
                let v = k + c * t;
                for i in 0..t {
                    let mut max = f64::NEG_INFINITY;
                    for (j, s) in scores.iter_mut().enumerate() {
                        let mut dot = 0f64;
                        for e in 0..d {
                            dot += qkv[q + e * t + i] as f64 * qkv[k + e * t + j] as f64;
                        }
                        *s = dot * self.scale() as f64;
                        max = max.max(*s);
                    }
                    let mut sum = 0f64;
                    for s in scores.iter_mut() {
                        *s = (*s - max).exp();
                        sum += *s;
                    }
                    for e in 0..d {
                        let mut acc = 0f64;
                        for (j, s) in scores.iter().enumerate() {
                            acc += s * qkv[v + e * t + j] as f64;
                        }
                        out[(b * c + h * d + e) * t + i] = (acc / sum) as f32;
                    }
                }
            }
        }
    }

    fn cpu_scratch(&self) -> usize {
        crate::cpu::attention::scratch_len(self)
    }

    fn cpu(&self, inputs: &[&[f32]], _: &[&[f32]], out: &mut [f32], scratch: &mut [f32]) {
        crate::cpu::attention::run(self, inputs[0], out, scratch)
    }

    fn launch(&self) -> Launch {
        let params = Params {
            sizes: [self.n, self.c, self.t, self.heads, self.head_dim()].map(u32_of),
            scale: self.scale(),
            _p: [0; 2],
        };
        Launch::per_group(&KERNEL, &params, self.n * self.heads * self.t.div_ceil(4))
    }

    fn macs(&self) -> u64 {
        super::product_u64(&[2, self.n, self.c, self.t, self.t])
    }
}
