//! The dense layer `y = relu(x @ w + b)`, the affine layer `y = x @ w + b`
//! (`relukit.nn.Linear`) and its backward pass.
//!
//! All buffers are row-major and contiguous: `x` is `(batch, inp)`, `w` is `(inp, out)`, `b`
//! and `db` are `(out)`, `y` and `dy` are `(batch, out)`, `dx` is `(batch, inp)`, `dw` is
//! `(inp, out)`. Every length is checked (shape products too, for overflow) before anything is
//! written. The summation orders are those of the C kernels (contract in `relukit.h`),
//! so both give the same bits:
//!
//! * forward: `y[r, j] = b[j] + x[r, 0] * w[0, j] + x[r, 1] * w[1, j] + ...` in increasing
//!   `k`, then (dense) [`crate::Float::relu`];
//! * `dw[k, j]` and `db[j]` start from `+0.0` and add the rows `r = 0, 1, ...` in order;
//! * `dx[r, k] = dot(dy[r, :], w[k, :])` with eight partial sums (lane `l` adds
//!   `j = l, l + 8, ...` below `8 * (out / 8)`), combined as
//!   `((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7))`, then the tail in order.
//!
//! Plain multiply and add, never a fused multiply-add: every path, tiling and thread count
//! computes each element with the same operations, so the bits never change with them.

use core::ops::{Add, Mul};

use crate::{Float, ShapeError};

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
pub mod backward;
pub mod forward;

pub use backward::{dense_backward, dense_backward_with};
pub use forward::{dense_forward, dense_forward_with, linear_forward, linear_forward_with};

/// The element types of the matrix kernels: `f32` and `f64` (`Default` is `+0.0`).
pub trait MatFloat: Float + Default + Add<Output = Self> + Mul<Output = Self> {
    /// [`backward`]'s eight-lane dot product with explicit AVX2 vectors (LLVM does not
    /// vectorize the eight generic lanes by itself); the same operations in the same order.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2; `a` and `b` have the same length.
    #[doc(hidden)]
    #[cfg(target_arch = "x86_64")]
    unsafe fn dot8_avx2(a: &[Self], b: &[Self]) -> Self;
}

impl MatFloat for f32 {
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn dot8_avx2(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: the caller's contract (AVX2, equal lengths).
        unsafe { avx2::dot8_f32(a, b) }
    }
}

impl MatFloat for f64 {
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn dot8_avx2(a: &[f64], b: &[f64]) -> f64 {
        // SAFETY: the caller's contract (AVX2, equal lengths).
        unsafe { avx2::dot8_f64(a, b) }
    }
}

/// `Err` unless buffer `name` has exactly `rows * cols` elements (product checked).
pub(crate) fn check_shape(
    name: &str,
    len: usize,
    rows: usize,
    cols: usize,
) -> Result<(), ShapeError> {
    match rows.checked_mul(cols) {
        Some(n) if n == len => Ok(()),
        Some(n) => Err(ShapeError(format!(
            "{name} has {len} elements, expected {n} for shape ({rows}, {cols})"
        ))),
        None => Err(ShapeError(format!(
            "{name} shape ({rows}, {cols}) overflows the address space"
        ))),
    }
}

/// Raw views of the buffers of one forward call: `x` (batch, inp), `w` (inp, out), `b`
/// (out), `y` (batch, out), row-major, valid for the whole call; `y` does not overlap the
/// others. Tiles of `y` are handed to different threads, which is why these are raw
/// pointers. (Public only because a sealed trait method takes it; nothing outside can build
/// one.)
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct Bufs<T> {
    pub(crate) x: *const T,
    pub(crate) w: *const T,
    pub(crate) b: *const T,
    pub(crate) y: *mut T,
    pub(crate) inp: usize,
    pub(crate) out: usize,
    /// Dense (`relu` of the sum) or affine (the sum itself).
    pub(crate) relu: bool,
}

// SAFETY: the pointers come from slices borrowed for the whole call (shared for x, w, b,
// exclusive for y); threads only read the inputs and write disjoint tiles of y.
unsafe impl<T: Send> Send for Bufs<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Bufs<T> {}
