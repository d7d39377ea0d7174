//! Convolution on the CPU: per image, one GEMM of the packed weight (Cout x Cin*K*K) with the
//! image's columns, which are packed block by block straight from the image (im2col fused into
//! B's packing, see [`gemm::PackB`]); a 1x1 stride-1 convolution reads the image as B directly.
//! Bias and the time-embedding term are the GEMM's row addend, so the output is written once.

use super::gemm::{self, PackB, PackedA, Rows, NR};
use crate::ops::Conv2d;

/// The weight (Cout, Cin, K, K) as the GEMM's packed A.
pub fn pack_weight(conv: &Conv2d, weight: &[f32]) -> Vec<f32> {
    let taps = conv.cin * conv.k * conv.k;
    gemm::pack_a(conv.cout, taps, |r, c| weight[r * taps + c])
}

pub fn scratch_len(conv: &Conv2d) -> usize {
    gemm::scratch_len(conv.cin * conv.k * conv.k)
}

/// `x` (N, Cin, H, W) -> `out` (N, Cout, Ho, Wo); `time`, when the conv has a time bias, the
/// (N, stride) time projections; `weight` from [`pack_weight`].
pub fn run(
    conv: &Conv2d,
    x: &[f32],
    time: Option<&[f32]>,
    weight: &[f32],
    bias: &[f32],
    out: &mut [f32],
    scratch: &mut [f32],
) {
    let (image, taps, pixels) = (
        conv.cin * conv.h * conv.w,
        conv.cin * conv.k * conv.k,
        conv.ho * conv.wo,
    );
    let a = PackedA {
        m: conv.cout,
        k: taps,
        data: weight,
    };
    let direct = conv.k == 1 && conv.stride == 1 && conv.pad_top == 0 && conv.pad_left == 0;
    for (b, (xb, ob)) in x
        .chunks_exact(image)
        .zip(out.chunks_exact_mut(conv.cout * pixels))
        .enumerate()
    {
        let time_row = match (conv.time_bias, time) {
            (Some(tb), Some(t)) => Some(&t[b * tb.stride + tb.offset..][..conv.cout]),
            _ => None,
        };
        let add = |co: usize| bias[co] + time_row.map_or(0.0, |t| t[co]);
        if direct {
            let rows = Rows { b: xb, n: pixels };
            gemm::gemm(a, &rows, pixels, &add, ob, pixels, scratch);
        } else {
            let cols = Im2col { conv, x: xb };
            gemm::gemm(a, &cols, pixels, &add, ob, pixels, scratch);
        }
    }
}

/// The column matrix of one image: row (ci, ky, kx), column (oy, ox) is the input pixel under
/// that tap, zero in the padding.
struct Im2col<'a> {
    conv: &'a Conv2d,
    x: &'a [f32],
}

impl PackB for Im2col<'_> {
    fn pack(&self, k0: usize, kc: usize, n0: usize, nc: usize, out: &mut [f32]) {
        let c = self.conv;
        let (h, w, k) = (c.h as isize, c.w as isize, c.k);
        let pixels = c.ho * c.wo;
        for (jp, panel) in out.chunks_exact_mut(kc * NR).take(nc.div_ceil(NR)).enumerate() {
            // Top-left input corner of each output pixel in the panel (columns past the end
            // read nothing: their corner is out of range).
            let mut iy0 = [isize::MIN / 2; NR];
            let mut ix0 = [isize::MIN / 2; NR];
            for l in 0..NR {
                let p = n0 + jp * NR + l;
                if p < (n0 + nc).min(pixels) {
                    iy0[l] = ((p / c.wo) * c.stride) as isize - c.pad_top as isize;
                    ix0[l] = ((p % c.wo) * c.stride) as isize - c.pad_left as isize;
                }
            }
            for (kk, dst) in panel.chunks_exact_mut(NR).enumerate() {
                let tap = k0 + kk;
                let (ci, ky, kx) = (tap / (k * k), (tap / k) % k, tap % k);
                let plane = &self.x[ci * c.h * c.w..][..c.h * c.w];
                for l in 0..NR {
                    let (iy, ix) = (iy0[l] + ky as isize, ix0[l] + kx as isize);
                    dst[l] = if iy >= 0 && iy < h && ix >= 0 && ix < w {
                        plane[(iy * w + ix) as usize]
                    } else {
                        0.0
                    };
                }
            }
        }
    }
}
