//! Reproducible Gaussian noise: the same numbers natively and in wasm, for any batch size.
//!
//! Every noise value is a pure function of `(seed, purpose, sample, element index)`:
//!
//! * `purpose` says what the noise is for: [`INITIAL_NOISE_PURPOSE`] for x_T, and
//!   [`step_noise_purpose`]`(i)` for the noise of reverse step `i`. x_T therefore does not
//!   depend on the sampler, so switching DDPM / DDIM with the same seed starts from the same x_T.
//! * `sample` is the image's index within the batch, so image 0 of a batch of 16 equals the
//!   single image of a batch of 1 with the same seed, and image k is the same in every batch
//!   that contains it.
//!
//! Each `(seed, purpose, sample)` triple gets its own xoshiro256++ stream (Blackman & Vigna),
//! keyed by SplitMix64 mixing of the three numbers and seeded by SplitMix64, as the xoshiro
//! authors recommend. Gaussians come from the Box–Muller transform in f64 using the `libm`
//! crate (pure Rust) rather than `f64::ln` / `cos`, which call the platform's C library and can
//! differ in the last bit between Linux, macOS, Windows and the browser. Integer operations and
//! IEEE `+ - * / sqrt` are exact everywhere, so the whole pipeline is bit-reproducible.
//!
//! These are not torch's numbers: torch's `randn` cannot be reproduced outside torch, and
//! diffusers' own pipelines differ between CPU and CUDA generators anyway.

/// `purpose` of the initial noise x_T.
pub const INITIAL_NOISE_PURPOSE: u64 = 0;

/// `purpose` of the noise added by reverse step `step_index` (0 = the first step taken).
pub fn step_noise_purpose(step_index: usize) -> u64 {
    1 + step_index as u64
}

/// `purpose` of inpainting's noise ([`crate::inpaint`]): `kind` 1 = the known pixels' draw
/// from q(x_t | x_0) after step `step_index`, 2 = the re-noising of a resampling round, 3 = the
/// known pixels' draw at the start; `round` is the resampling round. Far above every
/// [`step_noise_purpose`] (at most 2^24 steps), so the streams never meet.
pub fn inpaint_noise_purpose(kind: u64, step_index: usize, round: usize) -> u64 {
    (kind << 56) | ((round as u64 & 0xFF_FFFF) << 32) | (step_index as u64 & 0xFFFF_FFFF)
}

/// Images `images` of the noise stream `purpose`, laid out like [`initial_noise`].
pub fn noise_of(
    seed: u64,
    purpose: u64,
    images: std::ops::Range<usize>,
    sample_len: usize,
) -> Vec<f32> {
    batch_noise(seed, purpose, images, sample_len)
}

/// x_T: `batch * sample_len` standard Gaussian values, sample-major (image `b` occupies
/// `b * sample_len .. (b + 1) * sample_len`).
pub fn initial_noise(seed: u64, batch: usize, sample_len: usize) -> Vec<f32> {
    batch_noise(seed, INITIAL_NOISE_PURPOSE, 0..batch, sample_len)
}

/// Images `images` of [`initial_noise`]'s batch (a part of a batch that another session, e.g. a
/// worker's, samples).
pub fn initial_noise_of(seed: u64, images: std::ops::Range<usize>, sample_len: usize) -> Vec<f32> {
    batch_noise(seed, INITIAL_NOISE_PURPOSE, images, sample_len)
}

/// The fresh noise of reverse step `step_index` (0 = first step taken), laid out like
/// [`initial_noise`].
pub fn step_noise(seed: u64, step_index: usize, batch: usize, sample_len: usize) -> Vec<f32> {
    batch_noise(seed, step_noise_purpose(step_index), 0..batch, sample_len)
}

/// Images `images` of [`step_noise`]'s batch.
pub fn step_noise_of(
    seed: u64,
    step_index: usize,
    images: std::ops::Range<usize>,
    sample_len: usize,
) -> Vec<f32> {
    batch_noise(seed, step_noise_purpose(step_index), images, sample_len)
}

/// The primitive: fills `out` with standard Gaussian values of the stream
/// `(seed, purpose, sample)`. Element `i` depends only on the stream and `i`, so a longer `out`
/// extends a shorter one.
pub fn fill_gaussian(seed: u64, purpose: u64, sample: u64, out: &mut [f32]) {
    let mut rng = Xoshiro256PlusPlus::for_stream(seed, purpose, sample);
    for pair in out.chunks_mut(2) {
        let (z0, z1) = box_muller(&mut rng);
        pair[0] = z0 as f32;
        if let Some(second) = pair.get_mut(1) {
            *second = z1 as f32;
        }
    }
}

fn batch_noise(
    seed: u64,
    purpose: u64,
    images: std::ops::Range<usize>,
    sample_len: usize,
) -> Vec<f32> {
    let mut out = vec![0.0f32; images.len() * sample_len];
    if sample_len > 0 {
        for (b, chunk) in images.zip(out.chunks_mut(sample_len)) {
            fill_gaussian(seed, purpose, b as u64, chunk);
        }
    }
    out
}

/// Two independent standard normals from two uniforms (Box–Muller, f64, `libm`).
fn box_muller(rng: &mut Xoshiro256PlusPlus) -> (f64, f64) {
    const TWO_POW_MINUS_53: f64 = 1.0 / (1u64 << 53) as f64;
    // u1 in (0, 1] so the log is finite; u2 in [0, 1). 53 random bits each.
    let u1 = ((rng.next_u64() >> 11) + 1) as f64 * TWO_POW_MINUS_53;
    let u2 = (rng.next_u64() >> 11) as f64 * TWO_POW_MINUS_53;
    let r = libm::sqrt(-2.0 * libm::log(u1));
    let theta = 2.0 * core::f64::consts::PI * u2;
    (r * libm::cos(theta), r * libm::sin(theta))
}

/// SplitMix64's output function (Steele, Lea & Flood): a bijective 64-bit mixer.
fn splitmix64_mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const SPLITMIX64_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64 as a generator: used only to expand a 64-bit key into xoshiro's 256-bit state.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(SPLITMIX64_GAMMA);
        splitmix64_mix(self.0)
    }
}

/// xoshiro256++ 1.0 (Blackman & Vigna, public domain reference implementation).
struct Xoshiro256PlusPlus([u64; 4]);

impl Xoshiro256PlusPlus {
    /// The stream of `(seed, purpose, sample)`: the three numbers are folded into one key by
    /// repeated mixing (each step is a bijection, so different purposes or samples for the
    /// same seed give different keys), and the key seeds SplitMix64, which fills the state
    /// (never all zero: SplitMix64's outputs are distinct).
    fn for_stream(seed: u64, purpose: u64, sample: u64) -> Self {
        let mut key = splitmix64_mix(seed.wrapping_add(SPLITMIX64_GAMMA));
        key = splitmix64_mix(key ^ purpose.wrapping_mul(SPLITMIX64_GAMMA));
        key = splitmix64_mix(key ^ sample);
        let mut sm = SplitMix64(key);
        Xoshiro256PlusPlus([sm.next_u64(), sm.next_u64(), sm.next_u64(), sm.next_u64()])
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Output of the authors' reference xoshiro256plusplus.c for state {1, 2, 3, 4} (the vector
    /// rand_xoshiro also tests against).
    #[test]
    fn xoshiro256plusplus_matches_reference() {
        let mut rng = Xoshiro256PlusPlus([1, 2, 3, 4]);
        let expected: [u64; 4] = [41943041, 58720359, 3588806011781223, 3591011842654386];
        for e in expected {
            assert_eq!(rng.next_u64(), e);
        }
    }

    /// SplitMix64 reference outputs for seed 1234567 (the widely published vector, e.g. Rosetta Code).
    #[test]
    fn splitmix64_matches_reference() {
        let mut sm = SplitMix64(1234567);
        let expected: [u64; 3] = [
            6457827717110365317,
            3203168211198807973,
            9817491932198370423,
        ];
        for e in expected {
            assert_eq!(sm.next_u64(), e);
        }
    }
}
