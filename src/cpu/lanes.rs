//! `F32x4`: four f32 lanes for kernels whose loops the compiler does not vectorise by itself
//! (short rows, many streams). In wasm it is a `v128` (simd128 instructions, guaranteed);
//! natively four floats that LLVM keeps in one SSE/AVX register.

use std::ops::{Add, Mul, Sub};

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod imp {
    use core::arch::wasm32::*;

    #[derive(Clone, Copy)]
    pub struct F32x4(pub(super) v128);

    impl F32x4 {
        #[inline(always)]
        pub fn load(s: &[f32]) -> F32x4 {
            let s: &[f32; 4] = s[..4].try_into().unwrap();
            // SAFETY: `s` is four readable floats; v128_load allows unaligned addresses.
            F32x4(unsafe { v128_load(s.as_ptr() as *const v128) })
        }
        #[inline(always)]
        pub fn store(self, d: &mut [f32]) {
            let d: &mut [f32; 4] = (&mut d[..4]).try_into().unwrap();
            // SAFETY: `d` is four writable floats; v128_store allows unaligned addresses.
            unsafe { v128_store(d.as_mut_ptr() as *mut v128, self.0) }
        }
        #[inline(always)]
        pub fn splat(v: f32) -> F32x4 {
            F32x4(f32x4_splat(v))
        }
        #[inline(always)]
        pub(super) fn add(self, o: F32x4) -> F32x4 {
            F32x4(f32x4_add(self.0, o.0))
        }
        #[inline(always)]
        pub(super) fn sub(self, o: F32x4) -> F32x4 {
            F32x4(f32x4_sub(self.0, o.0))
        }
        #[inline(always)]
        pub(super) fn scale(self, k: f32) -> F32x4 {
            F32x4(f32x4_mul(self.0, f32x4_splat(k)))
        }
        /// The 4x4 transpose of four rows.
        #[inline(always)]
        pub fn transpose([a, b, c, d]: [F32x4; 4]) -> [F32x4; 4] {
            let ab_lo = i32x4_shuffle::<0, 4, 1, 5>(a.0, b.0); // a0 b0 a1 b1
            let ab_hi = i32x4_shuffle::<2, 6, 3, 7>(a.0, b.0); // a2 b2 a3 b3
            let cd_lo = i32x4_shuffle::<0, 4, 1, 5>(c.0, d.0);
            let cd_hi = i32x4_shuffle::<2, 6, 3, 7>(c.0, d.0);
            [
                F32x4(i64x2_shuffle::<0, 2>(ab_lo, cd_lo)), // a0 b0 c0 d0
                F32x4(i64x2_shuffle::<1, 3>(ab_lo, cd_lo)),
                F32x4(i64x2_shuffle::<0, 2>(ab_hi, cd_hi)),
                F32x4(i64x2_shuffle::<1, 3>(ab_hi, cd_hi)),
            ]
        }
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod imp {
    #[derive(Clone, Copy)]
    pub struct F32x4(pub(super) [f32; 4]);

    impl F32x4 {
        #[inline(always)]
        pub fn load(s: &[f32]) -> F32x4 {
            F32x4(s[..4].try_into().unwrap())
        }
        #[inline(always)]
        pub fn store(self, d: &mut [f32]) {
            d[..4].copy_from_slice(&self.0);
        }
        #[inline(always)]
        pub fn splat(v: f32) -> F32x4 {
            F32x4([v; 4])
        }
        #[inline(always)]
        pub(super) fn add(self, o: F32x4) -> F32x4 {
            F32x4(std::array::from_fn(|l| self.0[l] + o.0[l]))
        }
        #[inline(always)]
        pub(super) fn sub(self, o: F32x4) -> F32x4 {
            F32x4(std::array::from_fn(|l| self.0[l] - o.0[l]))
        }
        #[inline(always)]
        pub(super) fn scale(self, k: f32) -> F32x4 {
            F32x4(std::array::from_fn(|l| self.0[l] * k))
        }
        /// The 4x4 transpose of four rows.
        #[inline(always)]
        pub fn transpose(rows: [F32x4; 4]) -> [F32x4; 4] {
            std::array::from_fn(|c| F32x4(std::array::from_fn(|r| rows[r].0[c])))
        }
    }
}

pub use imp::F32x4;

impl Add for F32x4 {
    type Output = F32x4;
    #[inline(always)]
    fn add(self, o: F32x4) -> F32x4 {
        F32x4::add(self, o)
    }
}

impl Sub for F32x4 {
    type Output = F32x4;
    #[inline(always)]
    fn sub(self, o: F32x4) -> F32x4 {
        F32x4::sub(self, o)
    }
}

impl Mul<F32x4> for f32 {
    type Output = F32x4;
    #[inline(always)]
    fn mul(self, v: F32x4) -> F32x4 {
        v.scale(self)
    }
}

#[cfg(test)]
mod tests {
    use super::F32x4;

    #[test]
    fn arithmetic_and_transpose() {
        let rows: [F32x4; 4] = std::array::from_fn(|r| {
            F32x4::load(&[
                r as f32 * 4.0,
                r as f32 * 4.0 + 1.0,
                r as f32 * 4.0 + 2.0,
                r as f32 * 4.0 + 3.0,
            ])
        });
        let t = F32x4::transpose(rows);
        let mut out = [0f32; 16];
        for (r, v) in t.into_iter().enumerate() {
            v.store(&mut out[4 * r..]);
        }
        assert_eq!(
            out,
            [0., 4., 8., 12., 1., 5., 9., 13., 2., 6., 10., 14., 3., 7., 11., 15.]
        );
        let mut v = [0f32; 4];
        (2.0 * (rows[1] - rows[0]) + F32x4::splat(1.0)).store(&mut v);
        assert_eq!(v, [9.0; 4]);
    }
}
