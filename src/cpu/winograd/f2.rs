//! F(2x2, 3x3): 4x4 input patches at stride 2, 2x2 output tiles. The transforms use only 0,
//! ±1 and ±1/2, so f32 results stay within ~1e-6 of the direct sum.
//!
//! Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1],
//! Aᵀ = [1 1 1 0; 0 1 -1 -1].

use crate::ops::Conv2d;

/// G g Gᵀ (4x4, row-major) of one 3x3 kernel g (row-major).
pub(super) fn transform_kernel(g: &[f32; 9]) -> [f32; 16] {
    // G g: 4x3, then (G g) Gᵀ: 4x4.
    let mut gg = [[0f32; 3]; 4];
    for col in 0..3 {
        let (a, b, cc) = (g[col], g[3 + col], g[6 + col]);
        gg[0][col] = a;
        gg[1][col] = 0.5 * (a + b + cc);
        gg[2][col] = 0.5 * (a - b + cc);
        gg[3][col] = cc;
    }
    let mut u = [0f32; 16];
    for (row, r) in gg.iter().enumerate() {
        let t = [
            r[0],
            0.5 * (r[0] + r[1] + r[2]),
            0.5 * (r[0] - r[1] + r[2]),
            r[2],
        ];
        u[row * 4..row * 4 + 4].copy_from_slice(&t);
    }
    u
}

crate::cpu::simd_fn! {
    /// V_ξ[ci][tile] for `images` images starting at `x`. Vectorised along a row of tiles:
    /// each input row is split into even and odd columns (of the zero-padded row), so the
    /// 4 taps of tile tx are e[tx], o[tx], e[tx+1], o[tx+1], all contiguous in tx. `rows`
    /// holds the row-transformed rows of one channel, [`rows_len`] floats.
    pub(super) fn input_transform(c: &Conv2d, x: &[f32], images: usize, v: &mut [f32], rows: &mut [f32]) {
        let (th, tw) = (c.h / 2, c.w / 2);
        let t = images * th * tw;
        let plane = t * c.cin;
        let (eo, rows) = rows[..rows_len(c)].split_at_mut(2 * (tw + 1));
        let (e, o) = eo.split_at_mut(tw + 1);
        for img in 0..images {
            for ci in 0..c.cin {
                let src = &x[(img * c.cin + ci) * c.h * c.w..][..c.h * c.w];
                // Padded row yp is input row yp - 1; its row transform goes to rows[yp].
                for (yp, r) in rows.chunks_exact_mut(4 * tw).enumerate() {
                    e.fill(0.0);
                    o.fill(0.0);
                    if (1..=c.h).contains(&yp) {
                        let row = &src[(yp - 1) * c.w..][..c.w];
                        for (i, pair) in row.chunks_exact(2).enumerate() {
                            o[i] = pair[0];
                            e[i + 1] = pair[1];
                        }
                    }
                    let (r0, r) = r.split_at_mut(tw);
                    let (r1, r) = r.split_at_mut(tw);
                    let (r2, r3) = r.split_at_mut(tw);
                    for tx in 0..tw {
                        r0[tx] = e[tx] - e[tx + 1];
                        r1[tx] = o[tx] + e[tx + 1];
                        r2[tx] = e[tx + 1] - o[tx];
                        r3[tx] = o[tx] - o[tx + 1];
                    }
                }
                for ty in 0..th {
                    let at = ci * t + (img * th + ty) * tw;
                    let d = &rows[2 * ty * 4 * tw..][..16 * tw];
                    for j in 0..4 {
                        let row = |i: usize| &d[(i * 4 + j) * tw..][..tw];
                        let (d0, d1, d2, d3) = (row(0), row(1), row(2), row(3));
                        // Bᵀ on the columns: rows 0-2, 1+2, 2-1, 1-3 of the 4x4 patch.
                        for (i, (a, b, sign)) in
                            [(d0, d2, -1.0), (d1, d2, 1.0), (d2, d1, -1.0), (d1, d3, -1.0)]
                                .into_iter()
                                .enumerate()
                        {
                            let dst = &mut v[(i * 4 + j) * plane + at..][..tw];
                            for ((o, &x), &y) in dst.iter_mut().zip(a).zip(b) {
                                *o = x + sign * y;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Floats of [`input_transform`]'s `rows`.
pub(super) fn rows_len(c: &Conv2d) -> usize {
    2 * (c.w / 2 + 1) + (c.h + 2) * 4 * (c.w / 2)
}

crate::cpu::simd_fn! {
    /// out[n0 + img][co] from M_ξ[co][tile]: Aᵀ M A per tile, Aᵀ = [1 1 1 0; 0 1 -1 -1], plus
    /// bias and time term. Per output channel, the transform runs along all the chunk's tiles
    /// (long contiguous loops that vectorise even for 8x8 images) into four planes y_rc
    /// (`ys`, 4 x tiles floats), which are then interleaved into the image rows.
    pub(super) fn output_transform(
        c: &Conv2d,
        m: &[f32],
        t: usize,
        n0: usize,
        images: usize,
        time: Option<&[f32]>,
        bias: &[f32],
        out: &mut [f32],
        ys: &mut [f32],
    ) {
        let (th, tw) = (c.h / 2, c.w / 2);
        let plane = c.cout * t;
        let (y00, ys) = ys.split_at_mut(t);
        let (y01, ys) = ys.split_at_mut(t);
        let (y10, y11) = ys.split_at_mut(t);
        let y11 = &mut y11[..t];
        for co in 0..c.cout {
            let q: [&[f32]; 16] = std::array::from_fn(|xi| &m[xi * plane + co * t..][..t]);
            for j in 0..t {
                // Aᵀ M (2 x 4), then (Aᵀ M) A (2 x 2).
                let a0: [f32; 4] = std::array::from_fn(|col| q[col][j] + q[4 + col][j] + q[8 + col][j]);
                let a1: [f32; 4] =
                    std::array::from_fn(|col| q[4 + col][j] - q[8 + col][j] - q[12 + col][j]);
                y00[j] = a0[0] + a0[1] + a0[2];
                y01[j] = a0[1] - a0[2] - a0[3];
                y10[j] = a1[0] + a1[1] + a1[2];
                y11[j] = a1[1] - a1[2] - a1[3];
            }
            for img in 0..images {
                let b = n0 + img;
                let add = bias[co] + c.time_row(time, b).map_or(0.0, |t| t[co]);
                let dst = &mut out[(b * c.cout + co) * c.h * c.w..][..c.h * c.w];
                for (ty, rows) in dst.chunks_exact_mut(2 * c.w).enumerate() {
                    let at = (img * th + ty) * tw;
                    let (top, bottom) = rows.split_at_mut(c.w);
                    for tx in 0..tw {
                        top[2 * tx] = y00[at + tx] + add;
                        top[2 * tx + 1] = y01[at + tx] + add;
                        bottom[2 * tx] = y10[at + tx] + add;
                        bottom[2 * tx + 1] = y11[at + tx] + add;
                    }
                }
            }
        }
    }
}
