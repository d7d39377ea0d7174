//! Group normalisation with an optional SiLU, and a SiLU that vectorises: `exp` is a
//! polynomial on f32 lanes (relative error ~2e-7), not a libm call per value.

use crate::ops::GroupNorm;

/// e^x for x in about [-87, 88] (clamped outside): 2^(x log2 e) split into 2^n * 2^f, with a
/// degree-6 polynomial for 2^f on [-0.5, 0.5].
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // Round to nearest by adding and removing 1.5 * 2^23 (plain adds vectorise everywhere;
    // `round` is a libm call without SSE4.1).
    const ROUND: f32 = 12_582_912.0;
    let t = (x * std::f32::consts::LOG2_E).clamp(-126.0, 126.0);
    let n = (t + ROUND) - ROUND;
    let f = t - n;
    let p = 1.535_336_2e-4_f32;
    let p = p * f + 1.339_887_4e-3;
    let p = p * f + 9.618_437e-3;
    let p = p * f + 5.550_332_5e-2;
    let p = p * f + 2.402_264_6e-1;
    let p = p * f + 6.931_472e-1;
    let p = p * f + 1.0;
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// x * sigmoid(x) with [`exp`].
#[inline(always)]
pub fn silu(x: f32) -> f32 {
    x / (1.0 + exp(-x))
}

/// Sum of a slice in 8 interleaved partial sums (vectorises; more accurate than one running sum).
#[inline(always)]
fn sum(xs: &[f32], f: impl Fn(f32) -> f32) -> f64 {
    let mut acc = [0f32; 8];
    let mut chunks = xs.chunks_exact(8);
    for c in &mut chunks {
        for l in 0..8 {
            acc[l] += f(c[l]);
        }
    }
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    acc.iter().map(|&v| v as f64).sum::<f64>() + tail as f64
}

super::simd_fn! {
    /// `x` (N, C, HW) -> `out`, two passes per group (mean, then variance about it).
    pub fn group_norm(gn: &GroupNorm, x: &[f32], gamma: &[f32], beta: &[f32], out: &mut [f32]) {
        let cpg = gn.c / gn.groups;
        let len = cpg * gn.hw;
        for (g_all, (xs, os)) in x
            .chunks_exact(len)
            .zip(out.chunks_exact_mut(len))
            .enumerate()
        {
            let g = g_all % gn.groups;
            let mean = sum(xs, |v| v) / len as f64;
            let m = mean as f32;
            let var = sum(xs, |v| (v - m) * (v - m)) / len as f64;
            let inv = (1.0 / (var + gn.eps as f64).sqrt()) as f32;
            for (ci, (xc, oc)) in xs
                .chunks_exact(gn.hw)
                .zip(os.chunks_exact_mut(gn.hw))
                .enumerate()
            {
                let ch = g * cpg + ci;
                let scale = inv * gamma[ch];
                let shift = beta[ch] - m * scale;
                if gn.silu {
                    for (o, &v) in oc.iter_mut().zip(xc) {
                        *o = silu(v * scale + shift);
                    }
                } else {
                    for (o, &v) in oc.iter_mut().zip(xc) {
                        *o = v * scale + shift;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn exp_is_close_to_libm() {
        for i in -2000..=2000 {
            let x = i as f32 * 0.04;
            let (got, want) = (super::exp(x), x.exp());
            // f32 rounding of x * log2(e) alone costs ~3e-6 relative at |x| = 80.
            assert!(
                ((got - want) / want).abs() < 5e-6,
                "exp({x}) = {got}, want {want}"
            );
        }
        assert!(super::silu(-200.0).abs() < 1e-30 && super::silu(200.0) == 200.0);
    }
}
