//! Spherical interpolation between two noise tensors (x_T), as the DDIM paper interpolates
//! latents (§5.4): Gaussian noise of many dimensions lives near a sphere, where a straight line
//! between two draws would pass through improbably small norms.

/// `slerp(a, b, t) = sin((1 - t) theta) / sin(theta) * a + sin(t theta) / sin(theta) * b`,
/// theta the angle between `a` and `b` (computed in f64). t = 0 gives `a` and t = 1 gives `b`
/// exactly; (nearly) parallel vectors fall back to the straight line.
///
/// # Panics
/// If `a` and `b` differ in length.
pub fn slerp(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    assert_eq!(a.len(), b.len(), "slerp of vectors of different lengths");
    if t == 0.0 {
        return a.to_vec();
    }
    if t == 1.0 {
        return b.to_vec();
    }
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    let t = f64::from(t);
    let cos = if na > 0.0 && nb > 0.0 {
        (dot / (na.sqrt() * nb.sqrt())).clamp(-1.0, 1.0)
    } else {
        1.0
    };
    let theta = libm::acos(cos);
    let (wa, wb) = if libm::sin(theta).abs() < 1e-6 {
        (1.0 - t, t)
    } else {
        let s = libm::sin(theta);
        (libm::sin((1.0 - t) * theta) / s, libm::sin(t * theta) / s)
    };
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (wa * f64::from(x) + wb * f64::from(y)) as f32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::slerp;

    #[test]
    fn ends_and_norm() {
        let a = crate::rng::initial_noise(1, 1, 3072);
        let b = crate::rng::initial_noise(2, 1, 3072);
        assert_eq!(slerp(&a, &b, 0.0), a);
        assert_eq!(slerp(&a, &b, 1.0), b);
        let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        let mid = slerp(&a, &b, 0.5);
        // Between two near-orthogonal draws of equal norm, slerp keeps the norm (a line would
        // shrink it by ~1/sqrt(2)).
        assert!(
            (norm(&mid) / norm(&a) - 1.0).abs() < 0.05,
            "{}",
            norm(&mid) / norm(&a)
        );
        let same = slerp(&a, &a, 0.3);
        assert!(same.iter().zip(&a).all(|(x, y)| (x - y).abs() < 1e-5));
    }
}
