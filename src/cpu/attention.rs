//! Self-attention on the CPU, per (image, head), on the packed GEMM ([`super::gemm`]): scores
//! transposed (key j by query i), S^T = (K^T * scale) Q, so the softmax runs down each column
//! with contiguous loops over the queries; then out = V P, normalised by the column sums.

use super::gemm::{self, PackedA, Rows};
use super::norm::exp;
use crate::ops::Attention;

/// Scratch: one head's T x T scores, two rows of T, the packed K^T or V, and the GEMM's blocks.
pub fn scratch_len(att: &Attention) -> usize {
    let (t, d) = (att.t, att.head_dim());
    t * t
        + 2 * t
        + gemm::packed_a_len(t, d).max(gemm::packed_a_len(d, t))
        + gemm::scratch_len(d).max(gemm::scratch_len(t))
}

super::simd_fn! {
    /// qkv: (N, 3C, T) -> out: (N, C, T).
    pub fn run(att: &Attention, qkv: &[f32], out: &mut [f32], scratch: &mut [f32]) {
        let (c, t, d) = (att.c, att.t, att.head_dim());
        let scale = 1.0 / (d as f32).sqrt();
        let (s, rest) = scratch[..scratch_len(att)].split_at_mut(t * t);
        let (max, rest) = rest.split_at_mut(t);
        let (total, rest) = rest.split_at_mut(t);
        let (packed, blocks) = rest.split_at_mut(gemm::packed_a_len(t, d).max(gemm::packed_a_len(d, t)));
        for b in 0..att.n {
            for h in 0..att.heads {
                let q = &qkv[(b * 3 * c + h * d) * t..][..d * t];
                let k = &qkv[(b * 3 * c + c + h * d) * t..][..d * t];
                let v = &qkv[(b * 3 * c + 2 * c + h * d) * t..][..d * t];
                // S^T (T x T) = (K^T scale) (T x D) Q (D x T).
                gemm::pack_a_into(t, d, |j, e| k[e * t + j] * scale, packed);
                let a = PackedA { m: t, k: d, data: packed };
                gemm::gemm(a, &Rows { b: q, n: t }, t, &|_| 0.0, s, t, blocks);
                max.fill(f32::NEG_INFINITY);
                for row in s.chunks_exact(t) {
                    for (m, &v) in max.iter_mut().zip(row) {
                        *m = m.max(v);
                    }
                }
                total.fill(0.0);
                for row in s.chunks_exact_mut(t) {
                    for ((v, &m), sum) in row.iter_mut().zip(max.iter()).zip(total.iter_mut()) {
                        *v = exp(*v - m);
                        *sum += *v;
                    }
                }
                // out (D x T) = V (D x T) P (T x T), then each column over its sum.
                gemm::pack_a_into(d, t, |e, j| v[e * t + j], packed);
                let a = PackedA { m: d, k: t, data: packed };
                let o = &mut out[(b * c + h * d) * t..][..d * t];
                gemm::gemm(a, &Rows { b: s, n: t }, t, &|_| 0.0, o, t, blocks);
                for row in o.chunks_exact_mut(t) {
                    for (ov, &sum) in row.iter_mut().zip(total.iter()) {
                        *ov /= sum;
                    }
                }
            }
        }
    }
}
