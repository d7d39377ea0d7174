//! Convolution on the CPU: per image, one GEMM of the packed weight (Cout x Cin*K*K) with the
//! image's columns, packed block by block straight from the image (im2col fused into B's
//! packing, see [`gemm::PackB`]). Bias and the time-embedding term are the GEMM's row addend.
//!
//! Stride-1 convolutions use "shifted rows": the image is copied once into a zero-padded
//! plane per channel, row pitch W + 2*pad, and the GEMM computes every position of that pitch
//! (the pad columns' results are dropped). Then the column of tap (ci, ky, kx) for output
//! positions p..p+NR is one contiguous run of the padded plane, starting at
//! `ci * plane + ky * pitch + kx + p`, so packing B is a copy of NR floats per tap, with no
//! index arithmetic or bounds checks per pixel. A 1x1 unpadded convolution needs neither: the
//! image itself is B (Cin x HW, row-major) and the GEMM writes the output in place.

use super::gemm::{self, PackB, PackedA, Rows, NR};
use crate::ops::Conv2d;

/// The weight (Cout, Cin, K, K) as the GEMM's packed A.
pub fn pack_weight(conv: &Conv2d, weight: &[f32]) -> Vec<f32> {
    let taps = conv.cin * conv.k * conv.k;
    gemm::pack_a(conv.cout, taps, |r, c| weight[r * taps + c])
}

/// Scratch for B blocks, and for shifted rows the padded image and the GEMM's output rows.
pub fn scratch_len(conv: &Conv2d) -> usize {
    let gemm = gemm::scratch_len(conv.cin * conv.k * conv.k);
    match Shifted::layout(conv) {
        Some(l) => gemm + l.padded_len + conv.cout * l.positions,
        None => gemm,
    }
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
    let shifted = Shifted::layout(conv);
    for (b, (xb, ob)) in x
        .chunks_exact(image)
        .zip(out.chunks_exact_mut(conv.cout * pixels))
        .enumerate()
    {
        let time_row = conv.time_row(time, b);
        let add = |co: usize| bias[co] + time_row.map_or(0.0, |t| t[co]);
        if direct(conv) {
            let rows = Rows { b: xb, n: pixels };
            gemm::gemm(a, &rows, pixels, &add, ob, pixels, scratch);
        } else if let Some(l) = shifted {
            let (blocks, rest) = scratch.split_at_mut(gemm::scratch_len(taps));
            let (padded, rows) = rest.split_at_mut(l.padded_len);
            let rows = &mut rows[..conv.cout * l.positions];
            l.pad(xb, padded);
            let cols = Shifted { l, x: padded };
            gemm::gemm(a, &cols, l.positions, &add, rows, l.positions, blocks);
            l.unpad(rows, ob);
        } else {
            let cols = Im2col { conv, x: xb };
            gemm::gemm(a, &cols, pixels, &add, ob, pixels, scratch);
        }
    }
}

/// A 1x1 convolution without stride or padding: B is the image as it is.
fn direct(c: &Conv2d) -> bool {
    c.k == 1 && c.stride == 1 && c.pad_top == 0 && c.pad_left == 0 && c.ho == c.h && c.wo == c.w
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
        for (jp, panel) in out
            .chunks_exact_mut(kc * NR)
            .take(nc.div_ceil(NR))
            .enumerate()
        {
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

/// Where a stride-1 convolution's shifted rows live (see the module docs).
#[derive(Clone, Copy, Debug)]
struct Layout {
    h: usize,
    w: usize,
    k: usize,
    pad_top: usize,
    pad_left: usize,
    /// Row pitch of the padded planes: W + left + right padding.
    pitch: usize,
    /// Floats per padded plane, with room below for the last taps' reads.
    plane: usize,
    /// Output positions computed: Ho rows of `pitch` (the last W..pitch of each dropped).
    positions: usize,
    padded_len: usize,
}

/// B of a stride-1 convolution over a padded image.
struct Shifted<'a> {
    l: Layout,
    x: &'a [f32],
}

impl Shifted<'_> {
    fn layout(c: &Conv2d) -> Option<Layout> {
        if c.stride != 1 || direct(c) {
            return None;
        }
        let pitch = c.wo + c.k - 1;
        let positions = c.ho * pitch;
        // Reads reach position (positions - 1 + NR-padding) + (k-1) * (pitch + 1).
        let plane = positions.next_multiple_of(NR) + (c.k - 1) * (pitch + 1);
        Some(Layout {
            h: c.h,
            w: c.w,
            k: c.k,
            pad_top: c.pad_top,
            pad_left: c.pad_left,
            pitch,
            plane,
            positions,
            padded_len: c.cin * plane,
        })
    }
}

impl Layout {
    /// Copies one image (Cin, H, W) into zero-padded planes.
    fn pad(&self, x: &[f32], out: &mut [f32]) {
        out.fill(0.0);
        for (src, dst) in x
            .chunks_exact(self.h * self.w)
            .zip(out.chunks_exact_mut(self.plane))
        {
            for (y, row) in src.chunks_exact(self.w).enumerate() {
                let at = (y + self.pad_top) * self.pitch + self.pad_left;
                dst[at..at + self.w].copy_from_slice(row);
            }
        }
    }

    /// Keeps the first Wo of every `pitch` columns of each output row.
    fn unpad(&self, rows: &[f32], out: &mut [f32]) {
        let wo = self.pitch + 1 - self.k;
        for (src, dst) in rows
            .chunks_exact(self.positions)
            .zip(out.chunks_exact_mut(self.positions / self.pitch * wo))
        {
            for (s, d) in src.chunks_exact(self.pitch).zip(dst.chunks_exact_mut(wo)) {
                d.copy_from_slice(&s[..wo]);
            }
        }
    }
}

impl PackB for Shifted<'_> {
    fn pack(&self, k0: usize, kc: usize, n0: usize, nc: usize, out: &mut [f32]) {
        let l = &self.l;
        let kk2 = l.k * l.k;
        for (jp, panel) in out
            .chunks_exact_mut(kc * NR)
            .take(nc.div_ceil(NR))
            .enumerate()
        {
            let p = n0 + jp * NR;
            for (i, dst) in panel.chunks_exact_mut(NR).enumerate() {
                let tap = k0 + i;
                let (ci, ky, kx) = (tap / kk2, (tap / l.k) % l.k, tap % l.k);
                let at = ci * l.plane + ky * l.pitch + kx + p;
                dst.copy_from_slice(&self.x[at..at + NR]);
            }
        }
    }
}
