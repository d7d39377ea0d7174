//! Self-attention on the CPU, per (image, head): scores transposed (key j by query i) so every
//! inner loop runs along contiguous queries and vectorises: S^T = K^T Q * scale, a softmax down
//! each column, then out = V S^T (normalised by the column sums).

use super::norm::exp;
use crate::ops::Attention;

/// Scratch: one head's T x T scores plus two rows of T.
pub fn scratch_len(att: &Attention) -> usize {
    att.t * att.t + 2 * att.t
}

super::simd_fn! {
    /// qkv: (N, 3C, T) -> out: (N, C, T).
    pub fn run(att: &Attention, qkv: &[f32], out: &mut [f32], scratch: &mut [f32]) {
        let (c, t, d) = (att.c, att.t, att.head_dim());
        let scale = 1.0 / (d as f32).sqrt();
        let (s, rest) = scratch[..scratch_len(att)].split_at_mut(t * t);
        let (max, total) = rest.split_at_mut(t);
        for b in 0..att.n {
            for h in 0..att.heads {
                let q = &qkv[(b * 3 * c + h * d) * t..][..d * t];
                let k = &qkv[(b * 3 * c + c + h * d) * t..][..d * t];
                let v = &qkv[(b * 3 * c + 2 * c + h * d) * t..][..d * t];
                s.fill(0.0);
                for e in 0..d {
                    let qe = &q[e * t..][..t];
                    for j in 0..t {
                        let kj = k[e * t + j] * scale;
                        for (sv, &qv) in s[j * t..][..t].iter_mut().zip(qe) {
                            *sv += kj * qv;
                        }
                    }
                }
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
                for e in 0..d {
                    let o = &mut out[(b * c + h * d + e) * t..][..t];
                    o.fill(0.0);
                    for j in 0..t {
                        let ve = v[e * t + j];
                        for (ov, &p) in o.iter_mut().zip(&s[j * t..][..t]) {
                            *ov += ve * p;
                        }
                    }
                    for (ov, &sum) in o.iter_mut().zip(total.iter()) {
                        *ov /= sum;
                    }
                }
            }
        }
    }
}
