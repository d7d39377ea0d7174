//! Fast CPU kernels for the ops (the [`crate::exec::cpu::CpuExecutor`] runs them through
//! [`crate::ops::Op::cpu`]): a packed, register-tiled GEMM ([`gemm`]) that convolutions
//! ([`conv`]) run on, group normalisation with a vectorised SiLU ([`norm`]) and attention
//! ([`attention`]). Each is tested against its op's plain-loop reference in `tests/kernels.rs`.

pub mod attention;
pub mod conv;
pub mod gemm;
pub mod norm;

/// The SIMD the CPU kernels run with here, for the model info line and benchmarks.
pub fn simd() -> &'static str {
    #[cfg(target_arch = "wasm32")]
    {
        if cfg!(target_feature = "simd128") {
            "wasm simd128"
        } else {
            "wasm scalar"
        }
    }
    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
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
