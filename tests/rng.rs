//! The noise generator: determinism, batch independence, distribution sanity, and a golden
//! test that pins the exact numbers (any platform or refactor that changes them fails).

use diffusion_playground::rng::{
    fill_gaussian, initial_noise, step_noise, step_noise_purpose, INITIAL_NOISE_PURPOSE,
};

#[test]
fn golden_first_values_seed_42() {
    // Computed once by this implementation on x86_64 Linux, and independently by a Python
    // transcription of the same algorithm (SplitMix64 key -> xoshiro256++ -> Box-Muller):
    // -0.4992238, 0.8013055, -0.29763356, -0.9897855, -0.23529984, -0.097807735, -0.016520226,
    // -0.22374476. Must be bit-identical everywhere, wasm32 included. If this fails, the
    // generator changed and every saved seed changes meaning.
    const GOLDEN: [u32; 8] = [
        0xbeff9a43, 0x3f4d225b, 0xbe98636d, 0xbf7d6295, 0xbe70f271, 0xbdc84f6c, 0xbc87556d,
        0xbe651d59,
    ];
    let got = initial_noise(42, 1, 8);
    let got_bits: Vec<u32> = got.iter().map(|x| x.to_bits()).collect();
    assert_eq!(got_bits, GOLDEN, "initial_noise(42, 1, 8) = {got:?}");
}

#[test]
fn deterministic() {
    assert_eq!(initial_noise(7, 2, 100), initial_noise(7, 2, 100));
    assert_eq!(step_noise(7, 3, 2, 100), step_noise(7, 3, 2, 100));
}

#[test]
fn independent_of_batch_size() {
    let len = 3 * 8 * 8;
    let one = initial_noise(123, 1, len);
    let sixteen = initial_noise(123, 16, len);
    assert_eq!(&sixteen[..len], &one[..]);
    let four = initial_noise(123, 4, len);
    assert_eq!(&sixteen[..4 * len], &four[..]);
    let s1 = step_noise(123, 5, 1, len);
    let s16 = step_noise(123, 5, 16, len);
    assert_eq!(&s16[..len], &s1[..]);
    // Image k is the stream (seed, purpose, k).
    let mut img3 = vec![0.0; len];
    fill_gaussian(123, INITIAL_NOISE_PURPOSE, 3, &mut img3);
    assert_eq!(&sixteen[3 * len..4 * len], &img3[..]);
    let mut step5_img2 = vec![0.0; len];
    fill_gaussian(123, step_noise_purpose(5), 2, &mut step5_img2);
    assert_eq!(&s16[2 * len..3 * len], &step5_img2[..]);
}

#[test]
fn longer_buffers_extend_shorter_ones() {
    // Element i depends only on i (also across an odd length, where a Box-Muller pair is split).
    let mut short = vec![0.0; 7];
    let mut long = vec![0.0; 20];
    fill_gaussian(9, 1, 0, &mut short);
    fill_gaussian(9, 1, 0, &mut long);
    assert_eq!(&long[..7], &short[..]);
}

#[test]
fn streams_differ() {
    let len = 64;
    let base = initial_noise(1, 1, len);
    assert_ne!(base, initial_noise(2, 1, len), "seeds");
    assert_ne!(base, step_noise(1, 0, 1, len), "x_T vs first step noise");
    assert_ne!(step_noise(1, 0, 1, len), step_noise(1, 1, 1, len), "steps");
    let two = initial_noise(1, 2, len);
    assert_ne!(&two[..len], &two[len..], "images of a batch");
}

#[test]
fn standard_normal_moments() {
    for (seed, purpose) in [(0u64, 0u64), (42, 1), (u64::MAX, 999)] {
        let mut v = vec![0.0f32; 100_000];
        fill_gaussian(seed, purpose, 0, &mut v);
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = v
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / n;
        assert!(mean.abs() < 0.02, "seed {seed}: mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "seed {seed}: variance {var}");
        assert!(v.iter().all(|x| x.is_finite()));
        // Tails present but sane: about 0.27% beyond 3 sigma.
        let beyond3 = v.iter().filter(|x| x.abs() > 3.0).count() as f64 / n;
        assert!((0.001..0.005).contains(&beyond3), "seed {seed}: {beyond3}");
    }
}
