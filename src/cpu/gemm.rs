//! Packed single-precision GEMM for the CPU executor: C (M x N) = A (M x K) * B (K x N) + a
//! per-row addend. A is a weight, packed once into MR-row panels; B is packed per call in
//! KC x NR panels by a caller-supplied packer (im2col for convolutions), so a convolution never
//! materialises its whole column matrix. The micro-kernel keeps an MR x NR tile of C in
//! registers; it is plain Rust over fixed-size arrays that LLVM vectorises: 4-lane `simd128` in
//! wasm (`.cargo/config.toml` enables it), AVX2 + FMA natively when the CPU has them (checked
//! at run time), SSE2 otherwise.

/// Rows of A (and C) per micro-tile.
pub const MR: usize = 4;
/// Columns of B (and C) per micro-tile: two AVX registers natively, two `v128` in wasm.
#[cfg(target_arch = "wasm32")]
pub const NR: usize = 8;
#[cfg(not(target_arch = "wasm32"))]
pub const NR: usize = 16;
/// Depth of one packed block of B (keeps a KC x NR panel in L1).
const KC: usize = 256;
/// Columns of one packed block of B (a multiple of NR; KC x NC fits in L2).
const NC: usize = 256;

/// An (M x K) matrix as [`pack_a`] lays it out: MR-row panels, each stored k-major ([K][MR])
/// and zero-padded to MR rows. The executor packs weights once and keeps the floats.
#[derive(Clone, Copy, Debug)]
pub struct PackedA<'a> {
    pub m: usize,
    pub k: usize,
    pub data: &'a [f32],
}

/// Packs the (M x K) matrix whose element (row, col) is `at(row, col)` for [`PackedA`].
pub fn pack_a(m: usize, k: usize, at: impl Fn(usize, usize) -> f32) -> Vec<f32> {
    let mut data = vec![0.0; packed_a_len(m, k)];
    pack_a_into(m, k, at, &mut data);
    data
}

/// Floats of an (M x K) matrix packed by [`pack_a`].
pub fn packed_a_len(m: usize, k: usize) -> usize {
    m.div_ceil(MR) * MR * k
}

/// [`pack_a`] into `data` ([`packed_a_len`] floats), for operands packed per call (attention's
/// keys and values) without allocating.
pub fn pack_a_into(m: usize, k: usize, at: impl Fn(usize, usize) -> f32, data: &mut [f32]) {
    let panels = m.div_ceil(MR);
    let data = &mut data[..panels * MR * k];
    data.fill(0.0);
    for p in 0..panels {
        for col in 0..k {
            for r in 0..MR {
                let row = p * MR + r;
                if row < m {
                    data[(p * k + col) * MR + r] = at(row, col);
                }
            }
        }
    }
}

impl PackedA<'_> {
    fn panel(&self, p: usize, k0: usize, kc: usize) -> &[f32] {
        &self.data[(p * self.k + k0) * MR..(p * self.k + k0 + kc) * MR]
    }
}

/// Fills a packed block of B: rows `k0..k0 + kc`, columns `n0..n0 + nc` (nc <= NC), as
/// ceil(nc / NR) panels of [kc][NR], columns past `n0 + nc` zero.
pub trait PackB {
    fn pack(&self, k0: usize, kc: usize, n0: usize, nc: usize, out: &mut [f32]);
}

/// B stored row-major with `n` columns (a 1x1 convolution's input: Cin x HW).
pub struct Rows<'a> {
    pub b: &'a [f32],
    pub n: usize,
}

impl PackB for Rows<'_> {
    fn pack(&self, k0: usize, kc: usize, n0: usize, nc: usize, out: &mut [f32]) {
        for (jp, panel) in out
            .chunks_exact_mut(kc * NR)
            .take(nc.div_ceil(NR))
            .enumerate()
        {
            let c0 = n0 + jp * NR;
            let w = NR.min(n0 + nc - c0);
            for (kk, dst) in panel.chunks_exact_mut(NR).enumerate() {
                let row = &self.b[(k0 + kk) * self.n + c0..];
                if w == NR {
                    // Fixed length: a few vector moves, not a memcpy call (in wasm, a fifth
                    // of the Winograd GEMMs' time).
                    dst.copy_from_slice(&row[..NR]);
                } else {
                    dst[..w].copy_from_slice(&row[..w]);
                    dst[w..].fill(0.0);
                }
            }
        }
    }
}

/// Scratch a [`gemm`] call needs for its packed B blocks.
pub fn scratch_len(k: usize) -> usize {
    KC.min(k) * NC
}

/// C = A * B + `row_add[i]` on every row i; C is row-major with row stride `ldc`, `n` columns.
/// `scratch` holds at least [`scratch_len`]`(a.k)` floats.
pub fn gemm(
    a: PackedA,
    b: &dyn PackB,
    n: usize,
    row_add: &dyn Fn(usize) -> f32,
    c: &mut [f32],
    ldc: usize,
    scratch: &mut [f32],
) {
    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    if super::avx2_fma() {
        // SAFETY: the CPU has the features the function is compiled for (checked above).
        unsafe { gemm_fused(a, b, n, row_add, c, ldc, scratch) };
        return;
    }
    #[cfg(all(target_arch = "wasm32", feature = "relaxed-simd"))]
    {
        // SAFETY: this module was built for browsers with relaxed SIMD (the page loads it only
        // where `WebAssembly.validate` accepts a relaxed-SIMD module).
        unsafe { gemm_fused(a, b, n, row_add, c, ldc, scratch) };
        return;
    }
    #[allow(unreachable_code)]
    gemm_impl::<false>(a, b, n, row_add, c, ldc, scratch)
}

/// [`gemm_impl`] with a fused multiply-add: AVX2 + FMA natively (chosen at run time), relaxed
/// SIMD's `f32x4.relaxed_madd` in the wasm build for browsers that have it (`--features
/// relaxed-simd`; one fused instruction where the CPU has FMA).
#[cfg(any(
    target_arch = "x86_64",
    target_arch = "x86",
    all(target_arch = "wasm32", feature = "relaxed-simd")
))]
#[cfg_attr(not(target_arch = "wasm32"), target_feature(enable = "avx2,fma"))]
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "relaxed-simd"))]
unsafe fn gemm_fused(
    a: PackedA,
    b: &dyn PackB,
    n: usize,
    row_add: &dyn Fn(usize) -> f32,
    c: &mut [f32],
    ldc: usize,
    scratch: &mut [f32],
) {
    gemm_impl::<true>(a, b, n, row_add, c, ldc, scratch)
}

#[inline(always)]
fn gemm_impl<const FMA: bool>(
    a: PackedA,
    b: &dyn PackB,
    n: usize,
    row_add: &dyn Fn(usize) -> f32,
    c: &mut [f32],
    ldc: usize,
    scratch: &mut [f32],
) {
    let (m, k) = (a.m, a.k);
    for n0 in (0..n).step_by(NC) {
        let nc = NC.min(n - n0);
        // Equal K blocks of at most KC (576 = 2 x 288, not 256 + 256 + 64: a short block
        // costs a full pass over C for little work).
        let kb = k.div_ceil(k.div_ceil(KC));
        for k0 in (0..k).step_by(kb) {
            let kc = kb.min(k - k0);
            let packed = &mut scratch[..nc.div_ceil(NR) * kc * NR];
            b.pack(k0, kc, n0, nc, packed);
            // B's panel (KC x NR) stays in L1 while A's panels stream past it from L2.
            for (jp, bp) in packed.chunks_exact(kc * NR).enumerate() {
                let c0 = n0 + jp * NR;
                let cols = NR.min(n - c0);
                for p in 0..m.div_ceil(MR) {
                    let ap = a.panel(p, k0, kc);
                    let rows = MR.min(m - p * MR);
                    let mut acc = [[0f32; NR]; MR];
                    if rows == MR && cols == NR {
                        // The common case, with fixed-size copies the compiler keeps in registers.
                        for (i, row) in acc.iter_mut().enumerate() {
                            let at = (p * MR + i) * ldc + c0;
                            *row = if k0 == 0 {
                                [row_add(p * MR + i); NR]
                            } else {
                                c[at..at + NR].try_into().unwrap()
                            };
                        }
                        micro::<FMA>(ap, bp, &mut acc);
                        for (i, row) in acc.iter().enumerate() {
                            let at = (p * MR + i) * ldc + c0;
                            c[at..at + NR].copy_from_slice(row);
                        }
                        continue;
                    }
                    for (i, row) in acc.iter_mut().enumerate().take(rows) {
                        let at = (p * MR + i) * ldc + c0;
                        if k0 == 0 {
                            *row = [row_add(p * MR + i); NR];
                        } else {
                            row[..cols].copy_from_slice(&c[at..at + cols]);
                        }
                    }
                    micro::<FMA>(ap, bp, &mut acc);
                    for (i, row) in acc.iter().enumerate().take(rows) {
                        let at = (p * MR + i) * ldc + c0;
                        c[at..at + cols].copy_from_slice(&row[..cols]);
                    }
                }
            }
        }
    }
}

/// acc += A panel (kc x MR, k-major) * B panel (kc x NR).
#[inline(always)]
fn micro<const FMA: bool>(a: &[f32], b: &[f32], acc: &mut [[f32; NR]; MR]) {
    #[cfg(all(target_arch = "wasm32", feature = "relaxed-simd"))]
    if FMA {
        // SAFETY: FMA is chosen only by `gemm_fused`, built for relaxed SIMD in wasm.
        unsafe { micro_relaxed(a, b, acc) };
        return;
    }
    let mut t = *acc;
    for (av, bv) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        let av: &[f32; MR] = av.try_into().unwrap();
        let bv: &[f32; NR] = bv.try_into().unwrap();
        for i in 0..MR {
            for j in 0..NR {
                t[i][j] = if FMA {
                    av[i].mul_add(bv[j], t[i][j])
                } else {
                    av[i] * bv[j] + t[i][j]
                };
            }
        }
    }
    *acc = t;
}

/// [`micro`] with `f32x4.relaxed_madd` (NR = 8: two vectors per row of the tile).
#[cfg(all(target_arch = "wasm32", feature = "relaxed-simd"))]
#[target_feature(enable = "relaxed-simd")]
#[inline]
unsafe fn micro_relaxed(a: &[f32], b: &[f32], acc: &mut [[f32; NR]; MR]) {
    use core::arch::wasm32::*;
    let load = |x: &[f32]| -> v128 {
        let x: &[f32; 4] = x[..4].try_into().unwrap();
        f32x4(x[0], x[1], x[2], x[3])
    };
    let mut t: [[v128; 2]; MR] = std::array::from_fn(|i| [load(&acc[i][..4]), load(&acc[i][4..])]);
    for (av, bv) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        let (b0, b1) = (load(&bv[..4]), load(&bv[4..]));
        for (i, row) in t.iter_mut().enumerate() {
            let s = f32x4_splat(av[i]);
            row[0] = f32x4_relaxed_madd(s, b0, row[0]);
            row[1] = f32x4_relaxed_madd(s, b1, row[1]);
        }
    }
    for (row, v) in acc.iter_mut().zip(t) {
        for (half, x) in row.chunks_exact_mut(4).zip(v) {
            half.copy_from_slice(&[
                f32x4_extract_lane::<0>(x),
                f32x4_extract_lane::<1>(x),
                f32x4_extract_lane::<2>(x),
                f32x4_extract_lane::<3>(x),
            ]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_naive_on_ragged_shapes() {
        for &(m, k, n) in &[
            (1, 1, 1),
            (3, 27, 1024),
            (5, 300, 37),
            (130, 513, 70),
            (4, 256, 16),
        ] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7 % 13) as f32 - 6.0) / 7.0)
                .collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 5 % 11) as f32 - 5.0) / 5.0)
                .collect();
            let mut c = vec![f32::NAN; m * n];
            let mut scratch = vec![0.0; scratch_len(k)];
            let data = pack_a(m, k, |r, c| a[r * k + c]);
            let pa = PackedA { m, k, data: &data };
            gemm(
                pa,
                &Rows { b: &b, n },
                n,
                &|i| i as f32,
                &mut c,
                n,
                &mut scratch,
            );
            for i in 0..m {
                for j in 0..n {
                    let want: f32 =
                        i as f32 + (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum::<f32>();
                    let got = c[i * n + j];
                    assert!(
                        (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                        "{m}x{k}x{n} at ({i},{j}): {got} vs {want}"
                    );
                }
            }
        }
    }
}
