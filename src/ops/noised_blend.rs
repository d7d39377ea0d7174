//! Inpainting's per-element blend in place (`shaders/noised_blend.wgsl`): the known pixels
//! replaced by a noised copy of x_0, or the whole sample pushed one step back up the forward
//! process (RePaint's resampling). [`NoisedBlend::cpu`] is the plain-loop reference.

use super::{checked_len, shape_err, u32_of, ShapeError};
use crate::gpu::{KernelSource, Launch};

static KERNEL: KernelSource = crate::kernel!(per_item "noised_blend", 256);

/// The scalars of one blend:
/// `x <- w (known_scale known + known_noise z) + (1 - w)(x_scale x + x_noise z)`,
/// `w = use_mask * mask`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Blend {
    pub known_scale: f32,
    pub known_noise: f32,
    pub x_scale: f32,
    pub x_noise: f32,
    /// 1 to blend by the mask, 0 to apply `x_scale`, `x_noise` everywhere.
    pub use_mask: f32,
}

impl Blend {
    /// Known pixels (mask 1) become a draw from q(x_t | x_0) at alpha-bar `abar`; the rest stays.
    pub fn known_at(abar: f32) -> Blend {
        let abar = f64::from(abar);
        Blend {
            known_scale: libm::sqrt(abar) as f32,
            known_noise: libm::sqrt(1.0 - abar) as f32,
            x_scale: 1.0,
            x_noise: 0.0,
            use_mask: 1.0,
        }
    }

    /// Every pixel goes from alpha-bar `abar_from` up to the noisier `abar_to`:
    /// x <- sqrt(abar_to / abar_from) x + sqrt(1 - abar_to / abar_from) z.
    pub fn renoise(abar_from: f32, abar_to: f32) -> Blend {
        let a = f64::from(abar_to) / f64::from(abar_from);
        Blend {
            known_scale: 0.0,
            known_noise: 0.0,
            x_scale: libm::sqrt(a) as f32,
            x_noise: libm::sqrt((1.0 - a).max(0.0)) as f32,
            use_mask: 0.0,
        }
    }

    /// Whether the blend reads noise (else `noise` may be empty in [`NoisedBlend::cpu`]).
    pub fn needs_noise(&self) -> bool {
        self.known_noise != 0.0 || self.x_noise != 0.0
    }
}

/// x (len, in place), known (len), mask (len), noise (len).
#[derive(Clone, Debug, PartialEq)]
pub struct NoisedBlend {
    pub len: usize,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    blend: Blend,
    len: u32,
    _p: [u32; 2],
}

impl NoisedBlend {
    pub fn new(len: usize) -> Result<Self, ShapeError> {
        if checked_len("noised_blend", &[len])? == 0 {
            return Err(shape_err("noised_blend", "empty input"));
        }
        Ok(NoisedBlend { len })
    }

    /// The uniform's bytes for one blend (rewrite a dispatch's params with them).
    pub fn params(&self, blend: Blend) -> Vec<u8> {
        let p = Params {
            blend,
            len: u32_of(self.len),
            _p: [0; 2],
        };
        bytemuck::bytes_of(&p).to_vec()
    }

    /// Binds x (in place), known, mask, noise.
    pub fn launch(&self, blend: Blend) -> Launch {
        let p = Params {
            blend,
            len: u32_of(self.len),
            _p: [0; 2],
        };
        Launch::per_item(&KERNEL, &p, self.len)
    }

    /// The plain-loop reference, in the kernel's order of f32 operations. `noise` may be empty
    /// when the blend needs none.
    ///
    /// # Panics
    /// If the slices' lengths differ from `len`.
    pub fn cpu(&self, b: Blend, x: &mut [f32], known: &[f32], mask: &[f32], noise: &[f32]) {
        assert!(x.len() == self.len && known.len() == self.len && mask.len() == self.len);
        assert!(noise.len() == self.len || (noise.is_empty() && !b.needs_noise()));
        for i in 0..self.len {
            let z = if noise.is_empty() { 0.0 } else { noise[i] };
            let w = b.use_mask * mask[i];
            x[i] = w * (b.known_scale * known[i] + b.known_noise * z)
                + (1.0 - w) * (b.x_scale * x[i] + b.x_noise * z);
        }
    }
}
