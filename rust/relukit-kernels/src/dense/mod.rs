//! The dense layer `y = relu(x @ w + b)`, the affine layer `y = x @ w + b`
//! (`relukit.nn.Linear`), the affine layer with any activation of the op table
//! ([`affine_forward`]) and the backward pass, all on one hand-written matrix product
//! ([`gemm`]: packed panels, cache blocking, FMA micro-kernels for AVX2 and AVX-512).
//!
//! All buffers are row-major and contiguous: `x` is `(batch, inp)`, `w` is `(inp, out)`, `b`
//! and `db` are `(out)`, `y` and `dy` are `(batch, out)`, `dx` is `(batch, inp)`, `dw` is
//! `(inp, out)`. Every length is checked (shape products too, for overflow) before anything is
//! written.
//!
//! The numeric definition, the same in the C kernels (`relukit.h`), on every path (portable
//! `mul_add`, AVX2 `vfmadd`, AVX-512 `vfmadd`), block size and thread count:
//!
//! * forward: `y[i, j] = act(acc)`, where `acc` starts as `b[j]` and, for
//!   `k = 0, 1, ..., inp - 1` in increasing order, becomes `fma(x[i, k], w[k, j], acc)` (one
//!   fused multiply-add, rounded once); `act` is [`crate::Float::relu`] for
//!   [`dense_forward`], the identity for [`linear_forward`], the op for [`affine_forward`].
//!   `inp == 0` gives `act(b[j])`;
//! * backward: `dx[i, k]` starts at `+0.0` and becomes `fma(dy[i, j], w[k, j], acc)` for
//!   `j = 0, 1, ..., out - 1`; `dw[k, j]` starts at `+0.0` and becomes
//!   `fma(x[i, k], dy[i, j], acc)` for `i = 0, 1, ..., batch - 1`; `db[j]` starts at `+0.0`
//!   and adds `dy[i, j]` for `i = 0, 1, ..., batch - 1` (plain adds).

use core::ops::{Add, Mul};

use crate::runtime::GemmKernel;
use crate::{Float, ShapeError};

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
pub mod backward;
pub mod forward;
#[doc(hidden)]
pub mod gemm;

pub use backward::{dense_backward, dense_backward_with};
pub use forward::{
    affine_forward, affine_forward_with, dense_forward, dense_forward_with, linear_forward,
    linear_forward_with,
};

/// The element types of the matrix kernels: `f32` and `f64` (`Default` is `+0.0`).
pub trait MatFloat:
    Float
    + crate::elementwise::activation::ActivationFloat
    + Default
    + Add<Output = Self>
    + Mul<Output = Self>
{
    /// `self * a + b` rounded once (`mul_add`).
    fn fma(self, a: Self, b: Self) -> Self;

    /// The micro-kernels `kernel` runs for this type (`wide`: the family for products of
    /// very few rows); `None` if the CPU cannot run them.
    #[doc(hidden)]
    fn micro(kernel: GemmKernel, wide: bool) -> Option<gemm::Micro<Self>>;
}

macro_rules! mat_float {
    ($t:ident, $avx2:ident, $avx512:ident) => {
        impl MatFloat for $t {
            #[inline(always)]
            fn fma(self, a: $t, b: $t) -> $t {
                self.mul_add(a, b)
            }

            fn micro(kernel: GemmKernel, wide: bool) -> Option<gemm::Micro<$t>> {
                if !kernel.available() {
                    return None;
                }
                match kernel {
                    GemmKernel::Portable => Some(gemm::portable_micro::<$t>(wide)),
                    #[cfg(target_arch = "x86_64")]
                    GemmKernel::Avx2Fma => Some(gemm::x86::$avx2(wide)),
                    #[cfg(target_arch = "x86_64")]
                    GemmKernel::Avx512 => Some(gemm::x86::$avx512(wide)),
                    #[cfg(not(target_arch = "x86_64"))]
                    _ => None,
                }
            }
        }
    };
}

mat_float!(f32, avx2_f32_micro, avx512_f32_micro);
mat_float!(f64, avx2_f64_micro, avx512_f64_micro);

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
