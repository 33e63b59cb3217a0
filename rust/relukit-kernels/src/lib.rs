//! relukit's kernels in plain Rust, with no Python dependency.
//!
//! * [`elementwise`]: ReLU and its derivative ([`elementwise::relu`]), the piecewise-linear
//!   ops ([`elementwise::piecewise`]: leaky ReLU, PReLU, hardtanh, threshold) and the smooth
//!   ones ([`elementwise::smooth`]: ELU, GELU, sigmoid, tanh), for slices and for
//!   n-dimensional arrays of any layout.
//! * [`dense`]: the dense layer `relu(x @ w + b)`, the affine layer `x @ w + b` and its
//!   backward pass.
//! * [`runtime`]: the CPU's path (explicit AVX2 when the CPU has it, unless
//!   `RELUKIT_FORCE_PORTABLE=1`), its caches, the thresholds derived from them, the thread
//!   pool and the split of a call over it; [`runtime::info`] sums it up.
//!
//! Numeric contract of ReLU (bit for bit, for `f32` and `f64`):
//!
//! * `relu(x)` is `x` for `x > 0` (including `+inf` and positive subnormals) and for every NaN
//!   (payload and sign kept exactly, signaling NaNs too); it is `+0.0` for `±0.0` and for every
//!   negative number, including `-inf`.
//! * `relu_grad(x)` is `1` for `x > 0`, `0` for `±0.0` and negatives, and `x` itself for NaN.
//! * For `i64`, `relu(x) = max(x, 0)` and `relu_grad(x) = (x > 0) as i64`.
//!
//! The float kernels decide on the bit pattern, never with float compares, so NaNs pass
//! through untouched and FTZ/DAZ cannot move a subnormal. The results are bit-identical on
//! every path, thread count and threshold setting.

use std::fmt;

pub mod dense;
pub mod elementwise;
pub mod runtime;

pub use dense::{
    dense_backward, dense_backward_with, dense_forward, dense_forward_with, linear_forward,
    linear_forward_with, MatFloat,
};
pub use elementwise::activation::{
    activation_inplace, activation_inplace_with, activation_nd, activation_nd_inplace,
    activation_slice, activation_slice_with, Activation, ActivationFloat,
};
pub use elementwise::has_self_overlap;
pub use elementwise::piecewise::{prelu_nd, prelu_nd_inplace};
pub use elementwise::relu::{
    relu_grad_i64, relu_grad_inplace, relu_grad_nd, relu_grad_nd_inplace, relu_grad_slice,
    relu_i64, relu_inplace, relu_nd, relu_nd_inplace, relu_slice,
};
pub use runtime::pool;
pub use runtime::{num_threads, set_num_threads};

mod sealed {
    use crate::elementwise::relu::Op;

    /// Per-type entries into the explicit AVX2 kernels; a supertrait of [`crate::Float`].
    pub trait Kernels: Copy + Sized + Send + Sync {
        /// `y[i] = op(x[i])`, `i < n`.
        ///
        /// # Safety
        ///
        /// AVX2; `x`, `y` valid for `n` elements, equal or disjoint; `stream` only if
        /// disjoint.
        #[cfg(target_arch = "x86_64")]
        unsafe fn relu_avx2(op: Op, x: *const Self, y: *mut Self, n: usize, stream: bool);

        /// One tile of the dense forward pass.
        ///
        /// # Safety
        ///
        /// The contract of `dense/avx2.rs`.
        #[cfg(target_arch = "x86_64")]
        unsafe fn dense_tile_avx2(
            p: &crate::dense::Bufs<Self>,
            rows: (usize, usize),
            cols: (usize, usize),
        );
    }

    macro_rules! impl_kernels {
        ($t:ident) => {
            impl Kernels for $t {
                #[cfg(target_arch = "x86_64")]
                unsafe fn relu_avx2(op: Op, x: *const $t, y: *mut $t, n: usize, stream: bool) {
                    // SAFETY: forwarded contract.
                    unsafe { crate::elementwise::relu::avx2::$t::run(op, x, y, n, stream) }
                }

                #[cfg(target_arch = "x86_64")]
                unsafe fn dense_tile_avx2(
                    p: &crate::dense::Bufs<$t>,
                    rows: (usize, usize),
                    cols: (usize, usize),
                ) {
                    // SAFETY: forwarded contract.
                    unsafe { crate::dense::avx2::$t::tile(p, rows, cols) }
                }
            }
        };
    }

    impl_kernels!(f32);
    impl_kernels!(f64);
}

/// A float type the kernels accept: implemented for `f32` and `f64` only (sealed).
pub trait Float: sealed::Kernels + 'static {
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
