//! Fast CPU kernels for the ops (the [`crate::exec::cpu::CpuExecutor`] runs them through
//! [`crate::ops::Op::cpu`]): a packed, register-tiled GEMM ([`gemm`]) that convolutions
//! run on (3x3 by Winograd F(4x4, 3x3) or F(2x2, 3x3) in [`winograd`], the others by im2col in
//! [`conv`]), group normalisation with a vectorised SiLU ([`norm`]) and attention
//! ([`attention`]); [`lanes`] is a four-float vector for loops the compiler leaves scalar. Each is tested against its op's plain-loop reference in `tests/kernels.rs`.

/// Defines `fn $name(args)` to run its body compiled for AVX2 + FMA when the CPU has them
/// (checked at run time, cached by std), else as built (SSE2 natively; simd128 in wasm). The
/// body must not call `f32::mul_add` (a libm call without FMA): plain `a * b + c` vectorises
/// everywhere.
macro_rules! simd_fn {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn body($($arg: $ty),*) $body
            #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
            {
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($arg: $ty),*) {
                    body($($arg),*)
                }
                if $crate::cpu::avx2_fma() {
                    // SAFETY: the CPU has AVX2 and FMA (checked just now).
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}
pub(crate) use simd_fn;

/// Whether this x86 CPU has AVX2 and FMA.
#[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
pub fn avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

pub mod attention;
pub mod conv;
pub mod gemm;
pub mod lanes;
pub mod norm;
pub mod winograd;

/// The SIMD the CPU kernels run with here, for the model info line and benchmarks.
pub fn simd() -> &'static str {
    #[cfg(target_arch = "wasm32")]
    {
        if cfg!(feature = "relaxed-simd") {
            "wasm simd128 + relaxed-simd FMA"
        } else if cfg!(target_feature = "simd128") {
            "wasm simd128"
        } else {
            "wasm scalar"
        }
    }
    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    {
        if avx2_fma() {
            "AVX2+FMA"
        } else {
            "SSE2"
        }
    }
    #[cfg(not(any(target_arch = "wasm32", target_arch = "x86_64", target_arch = "x86")))]
    {
        "portable"
    }
}
