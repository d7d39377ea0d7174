//! F(4x4, 3x3): 6x6 input patches at stride 4, 4x4 output tiles, with Lavin & Gray's points
//! 0, ±1, ±2 and ∞:
//!
//! Bᵀ = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1],
//! G = [¼ 0 0; -⅙ -⅙ -⅙; -⅙ ⅙ -⅙; 1/24 1/12 ⅙; 1/24 -1/12 ⅙; 0 0 1],
//! Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1].
//!
//! The larger constants cost some precision: on the UNet's activations the results stay
//! within ~1e-5 (relative) of the direct sum, well inside the 1e-3 the model is held to.

use super::super::lanes::F32x4;
use crate::ops::Conv2d;
use std::ops::{Add, Mul, Sub};

/// G g Gᵀ (6x6, row-major) of one 3x3 kernel g (row-major), computed in f64.
pub(super) fn transform_kernel(g: &[f32; 9]) -> [f32; 36] {
    const G: [[f64; 3]; 6] = [
        [0.25, 0.0, 0.0],
        [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
        [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
        [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
        [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
        [0.0, 0.0, 1.0],
    ];
    let mut gg = [[0f64; 3]; 6]; // G g
    for (row, gr) in G.iter().enumerate() {
        for col in 0..3 {
            gg[row][col] = (0..3).map(|k| gr[k] * g[k * 3 + col] as f64).sum();
        }
    }
    let mut u = [0f32; 36];
    for row in 0..6 {
        for col in 0..6 {
            u[row * 6 + col] = (0..3).map(|k| gg[row][k] * G[col][k]).sum::<f64>() as f32;
        }
    }
    u
}

/// What [`bt`] and [`at`] compute on: one f32, or four lanes of them.
trait Lane: Copy + Add<Output = Self> + Sub<Output = Self>
where
    f32: Mul<Self, Output = Self>,
{
}
impl Lane for f32 {}
impl Lane for F32x4 {}

/// Bᵀ d for one 6-vector d.
#[inline(always)]
fn bt<T: Lane>(d: [T; 6]) -> [T; 6]
where
    f32: Mul<T, Output = T>,
{
    let [d0, d1, d2, d3, d4, d5] = d;
    [
        4.0 * d0 - 5.0 * d2 + d4,
        (d3 + d4) - 4.0 * (d1 + d2),
        (d4 - d3) + 4.0 * (d1 - d2),
        (d4 - d2) + 2.0 * (d3 - d1),
        (d4 - d2) - 2.0 * (d3 - d1),
        4.0 * d1 - 5.0 * d3 + d5,
    ]
}

/// out_i[f] = (Bᵀ (d_0[f], …, d_5[f]))_i for f in 0..n rounded up to a multiple of 4 (every
/// plane must be that long), four lanes at a time.
#[inline(always)]
fn bt_planes(d: [&[f32]; 6], out: [&mut [f32]; 6], n: usize) {
    let n4 = n.next_multiple_of(4);
    let [d0, d1, d2, d3, d4, d5] = d.map(|p| &p[..n4]);
    let [o0, o1, o2, o3, o4, o5] = out.map(|p| &mut p[..n4]);
    for f in (0..n4).step_by(4) {
        let l = |p: &[f32]| F32x4::load(&p[f..]);
        let o = bt([l(d0), l(d1), l(d2), l(d3), l(d4), l(d5)]);
        o[0].store(&mut o0[f..]);
        o[1].store(&mut o1[f..]);
        o[2].store(&mut o2[f..]);
        o[3].store(&mut o3[f..]);
        o[4].store(&mut o4[f..]);
        o[5].store(&mut o5[f..]);
    }
}

/// Aᵀ v for one 6-vector v.
#[inline(always)]
fn at<T: Lane>(v: [T; 6]) -> [T; 4]
where
    f32: Mul<T, Output = T>,
{
    let (s12, d12) = (v[1] + v[2], v[1] - v[2]);
    let (s34, d34) = (v[3] + v[4], v[3] - v[4]);
    [
        v[0] + s12 + s34,
        d12 + 2.0 * d34,
        s12 + 4.0 * s34,
        d12 + 8.0 * d34 + v[5],
    ]
}

/// Aᵀ M A of one tile (or four lanes of tiles): `q(ξ)` is M_ξ; returns Y row-major (4x4).
#[inline(always)]
fn at_tile<T: Lane>(q: impl Fn(usize) -> T) -> [T; 16]
where
    f32: Mul<T, Output = T>,
{
    // Aᵀ M (4 x 6), then (Aᵀ M) A (4 x 4).
    let cols: [[T; 4]; 6] = std::array::from_fn(|col| at(std::array::from_fn(|i| q(i * 6 + col))));
    let rows: [[T; 4]; 4] = std::array::from_fn(|r| at(std::array::from_fn(|col| cols[col][r])));
    std::array::from_fn(|k| rows[k / 4][k % 4])
}

crate::cpu::simd_fn! {
    /// V_ξ[ci][tile] for `images` images starting at `x`, with every loop over a whole
    /// channel rather than one row of tiles (a 16x16 image has rows of only 4 tiles, too
    /// short to vectorise). Per channel:
    /// 1. the zero-padded image is split into 16 phase planes P[k][s] by column mod 4 (k) and
    ///    row mod 4 (s): P[k][s][a][i] = padded[4a + s][4i + k], row pitch tw + 1;
    /// 2. Bᵀ along x: R[j][s] = Bᵀ_j (P[0][s], P[1][s], P[2][s], P[3][s], P[0][s] and P[1][s]
    ///    one further), each one contiguous loop over the plane (the last column of each row
    ///    is junk, never read below);
    /// 3. Bᵀ along y: the six rows 4ty..4ty+5 of tile row ty are R[j][0..4] at row ty and
    ///    R[j][0..2] at row ty + 1, again one loop over the plane, into `tmp` (pitch tw + 1),
    ///    whose rows are then copied into V without the junk column.
    /// `work` holds [`rows_len`] floats.
    pub(super) fn input_transform(c: &Conv2d, x: &[f32], images: usize, v: &mut [f32], work: &mut [f32]) {
        let (th, tw) = (c.h / 4, c.w / 4);
        let t = images * th * tw;
        let plane = t * c.cin;
        let pitch = tw + 1;
        let (ap, rp, tp) = lens(c);
        let (p, rest) = work[..rows_len(c)].split_at_mut(16 * ap);
        let (r, tmp) = rest.split_at_mut(24 * rp);
        // Every channel writes the same places of P, so its padding, zeroed once, stays zero.
        p.fill(0.0);
        for img in 0..images {
            for ci in 0..c.cin {
                let src = &x[(img * c.cin + ci) * c.h * c.w..][..c.h * c.w];
                // 1. P[k][s] at p[(k * 4 + s) * ap..].
                for (y, row) in src.chunks_exact(c.w).enumerate() {
                    let (a, s) = ((y + 1) / 4, (y + 1) % 4);
                    let at = |k: usize| (k * 4 + s) * ap + a * pitch;
                    // Padded column 4i + k is input column 4i + k - 1.
                    for (i, quad) in row.chunks_exact(4).enumerate() {
                        p[at(1) + i] = quad[0];
                        p[at(2) + i] = quad[1];
                        p[at(3) + i] = quad[2];
                        p[at(0) + i + 1] = quad[3];
                    }
                }
                // 2. R[j][s] at r[(j * 4 + s) * rp..].
                for s in 0..4 {
                    let ph = |k: usize| &p[(k * 4 + s) * ap..][..rp + 1];
                    let (p0, p1, p2, p3) = (ph(0), ph(1), ph(2), ph(3));
                    let [o0, o1, o2, o3, o4, o5]: [&mut [f32]; 6] = {
                        let mut it = r.chunks_exact_mut(4 * rp).map(|js| &mut js[s * rp..][..rp]);
                        std::array::from_fn(|_| it.next().unwrap())
                    };
                    bt_planes([p0, p1, p2, p3, &p0[1..], &p1[1..]], [o0, o1, o2, o3, o4, o5], rp);
                }
                // 3. Per j: the six V_(i, j) rows into tmp, then into v.
                for j in 0..6 {
                    let rs = |s: usize| &r[(j * 4 + s) * rp..][..rp];
                    let (r0, r1, r2, r3) = (rs(0), rs(1), rs(2), rs(3));
                    let (r4, r5) = (&r0[pitch..][..tp], &r1[pitch..][..tp]);
                    let [o0, o1, o2, o3, o4, o5]: [&mut [f32]; 6] = {
                        let mut it = tmp.chunks_exact_mut(tp);
                        std::array::from_fn(|_| it.next().unwrap())
                    };
                    bt_planes([r0, r1, r2, r3, r4, r5], [o0, o1, o2, o3, o4, o5], tp);
                    for (i, rows) in tmp.chunks_exact(tp).take(6).enumerate() {
                        let base = (i * 6 + j) * plane + ci * t + img * th * tw;
                        let dst = &mut v[base..][..th * tw];
                        for (d, s) in dst.chunks_exact_mut(tw).zip(rows.chunks_exact(pitch)) {
                            d.copy_from_slice(&s[..tw]);
                        }
                    }
                }
            }
        }
    }
}

/// Floats per phase plane, per R plane and per tmp plane. [`bt_planes`] reads and writes whole lanes of four: every plane is rounded up, with room
/// for the shifted reads (junk past the valid floats, never used).
fn lens(c: &Conv2d) -> (usize, usize, usize) {
    let (th, tw) = (c.h / 4, c.w / 4);
    let rp = ((th + 1) * (tw + 1)).next_multiple_of(4) + 4;
    (rp + 4, rp, (th * (tw + 1)).next_multiple_of(4))
}

/// Floats of [`input_transform`]'s `work`: 16 phase planes, 24 R planes and 6 tmp planes.
pub(super) fn rows_len(c: &Conv2d) -> usize {
    let (ap, rp, tp) = lens(c);
    16 * ap + 24 * rp + 6 * tp
}

crate::cpu::simd_fn! {
    /// out[n0 + img][co] from M_ξ[co][tile]: Aᵀ M A per tile, plus bias and time term. Per
    /// output channel, the transform runs along all the chunk's tiles, four at a time, into
    /// sixteen planes y_rc (`ys`, 16 x tiles floats); then each image row takes y_r0..y_r3 of
    /// four tiles at a time, transposed into 16 consecutive pixels.
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
        let (th, tw) = (c.h / 4, c.w / 4);
        let plane = c.cout * t;
        let t4 = t - t % 4;
        let ys = &mut ys[..16 * t];
        for co in 0..c.cout {
            let q: [&[f32]; 36] = std::array::from_fn(|xi| &m[xi * plane + co * t..][..t]);
            for j in (0..t4).step_by(4) {
                let y = at_tile(|xi| F32x4::load(&q[xi][j..]));
                for (k, y) in y.into_iter().enumerate() {
                    y.store(&mut ys[k * t + j..]);
                }
            }
            for j in t4..t {
                let y = at_tile(|xi| q[xi][j]);
                for (k, y) in y.into_iter().enumerate() {
                    ys[k * t + j] = y;
                }
            }
            for img in 0..images {
                let b = n0 + img;
                let add = bias[co] + c.time_row(time, b).map_or(0.0, |t| t[co]);
                let dst = &mut out[(b * c.cout + co) * c.h * c.w..][..c.h * c.w];
                for (ty, rows) in dst.chunks_exact_mut(4 * c.w).enumerate() {
                    let at = (img * th + ty) * tw;
                    for (r, row) in rows.chunks_exact_mut(c.w).enumerate() {
                        let y: [&[f32]; 4] = std::array::from_fn(|cc| &ys[(r * 4 + cc) * t + at..][..tw]);
                        let tw4 = tw - tw % 4;
                        for tx in (0..tw4).step_by(4) {
                            // Tiles tx..tx+4, columns cc: transposed, pixels 4tx..4tx+16.
                            let v = F32x4::transpose(std::array::from_fn(|cc| F32x4::load(&y[cc][tx..])));
                            for (k, v) in v.into_iter().enumerate() {
                                (v + F32x4::splat(add)).store(&mut row[4 * (tx + k)..]);
                            }
                        }
                        for tx in tw4..tw {
                            for cc in 0..4 {
                                row[4 * tx + cc] = y[cc][tx] + add;
                            }
                        }
                    }
                }
            }
        }
    }
}
