//! relukit's ReLU kernels in plain Rust, with no Python dependency.
//!
//! Numeric contract (bit for bit, for `f32` and `f64`):
//!
//! * `relu(x)` is `x` for `x > 0` (including `+inf` and positive subnormals) and for every NaN
//!   (payload and sign kept exactly, signaling NaNs too); it is `+0.0` for `±0.0` and for every
//!   negative number, including `-inf`.
//! * `relu_grad(x)` is `1` for `x > 0`, `0` for `±0.0` and negatives, and `x` itself for NaN.
//!
//! The float kernels decide on the bit pattern, never with float arithmetic or comparisons, so
//! NaNs pass through untouched and the loops auto-vectorize. On x86-64 CPUs with AVX2 the slice
//! kernels (and the n-d ones on contiguous arrays) use explicit AVX2 code chosen at run time,
//! with non-temporal stores for large out-of-place calls; `RELUKIT_FORCE_PORTABLE=1` keeps the
//! portable loops. For `i64`, `relu(x) = max(x, 0)` and
//! `relu_grad(x) = (x > 0) as i64`.
//!
//! Large calls are split over a small persistent thread pool ([`pool`]; [`set_num_threads`],
//! default: the CPUs available to the process): elementwise calls moving at least
//! [`simd::SPLIT_MIN_BYTES`] in 64-byte aligned chunks, dense calls of at least
//! [`dense::DENSE_SPLIT_MIN_MACS`] multiply-adds by column blocks or row groups. The results
//! are bit-identical whatever the thread count.
//!
//! Where each op lives: [`relu`] (scalar, slice and n-dimensional ReLU and its gradient) and
//! [`dense`] (the dense layer forward pass).

use std::fmt;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx2_dense;
pub mod dense;
pub mod dense_backward;
pub mod family;
pub mod pool;
pub mod relu;
#[doc(hidden)]
pub mod simd;

pub use dense::{dense_forward, dense_forward_cfg};
pub use family::{
    activation_nd, activation_nd_inplace, activation_slice, prelu_nd, prelu_nd_inplace, Activation,
    FamilyFloat,
};
pub use pool::{num_threads, set_num_threads};
pub use relu::{
    relu_grad_i64, relu_grad_inplace, relu_grad_nd, relu_grad_nd_inplace, relu_grad_slice,
    relu_i64, relu_inplace, relu_nd, relu_nd_inplace, relu_slice,
};

mod sealed {
    pub trait Sealed: crate::simd::private::SimdFloat {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A float type the kernels accept: implemented for `f32` and `f64` only (sealed).
pub trait Float: sealed::Sealed + Copy + Send + Sync + 'static {
    /// ReLU of one value: `self` if positive or NaN (exact bits), else `+0.0`.
    fn relu(self) -> Self;
    /// ReLU derivative of one value: `1` if positive, `0` if `±0.0` or negative, `self` if NaN.
    fn relu_grad(self) -> Self;
}

/// Buffer lengths or array shapes that do not fit together; the message says which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError(pub String);

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ShapeError {}
