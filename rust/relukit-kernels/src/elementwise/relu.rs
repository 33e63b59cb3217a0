//! ReLU and its derivative: scalar ([`Float`] for `f32`/`f64`, plus `i64`), contiguous slices,
//! and n-dimensional arrays of any memory layout.
//!
//! The explicit AVX2 form works on the bit pattern as signed integers, never with float
//! compares, so NaN payloads (signaling ones too) pass through and DAZ/FTZ cannot flush
//! subnormals:
//!
//! * `relu`: as a signed integer, every value with the sign set that is not a NaN (`-0.0`,
//!   negative subnormals and normals, `-inf`) is `<= bits(-inf)`, and everything else (the sign
//!   clear, or a negative NaN) is `> bits(-inf)`. So `relu(x) = x & (x > bits(-inf))`, one
//!   compare and one `and` per vector.
//! * `relu_grad`: NaN is `|x| > bits(+inf)`; positive is `x > 0` as a signed integer (sign
//!   clear, nonzero; positive NaNs too, but the NaN mask wins). Result
//!   `(x & nan) | (1.0 & pos & !nan)`.

use ndarray::{ArrayViewD, ArrayViewMutD};

use super::{map_nd, map_nd_inplace, run_inplace, run_slice};
use crate::runtime::{Config, Path};
use crate::{Float, ShapeError};

/// Which of the two ops a relu kernel applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// [`Float::relu`].
    Relu,
    /// [`Float::relu_grad`].
    Grad,
}

impl Op {
    /// The op on one value.
    #[inline(always)]
    pub fn apply<T: Float>(self, x: T) -> T {
        match self {
            Op::Relu => x.relu(),
            Op::Grad => x.relu_grad(),
        }
    }
}

/// Implements [`Float`] for a float type on its bit pattern (`$bits` is the same-width unsigned).
///
/// Both functions are branch-free selects on masks, so slice loops auto-vectorize, and they never
/// do float arithmetic or comparisons, so NaN bits (signaling ones too) come out exactly as given.
macro_rules! impl_float {
    ($t:ty, $bits:ty) => {
        impl Float for $t {
            #[inline(always)]
            fn relu(self) -> Self {
                const SIGN: $bits = 1 << (<$bits>::BITS - 1);
                const ABS: $bits = !SIGN;
                const INF: $bits = <$t>::INFINITY.to_bits();
                let bits = self.to_bits();
                // Keep x when the sign bit is clear (+0.0, positives, +inf, +NaN) or x is a NaN.
                let keep = ((bits & SIGN) == 0) | ((bits & ABS) > INF);
                let keep_mask = <$bits>::wrapping_sub(0, keep as $bits);
                <$t>::from_bits(bits & keep_mask)
            }

            #[inline(always)]
            fn relu_grad(self) -> Self {
                const SIGN: $bits = 1 << (<$bits>::BITS - 1);
                const ABS: $bits = !SIGN;
                const INF: $bits = <$t>::INFINITY.to_bits();
                const ONE: $bits = (1.0 as $t).to_bits();
                let bits = self.to_bits();
                let abs = bits & ABS;
                let nan = abs > INF;
                // Positive: sign clear and 0 < |x| <= inf (abs - 1 wraps to MAX for zero).
                let pos = ((bits & SIGN) == 0) & (abs.wrapping_sub(1) < INF);
                let nan_mask = <$bits>::wrapping_sub(0, nan as $bits);
                let pos_mask = <$bits>::wrapping_sub(0, pos as $bits);
                <$t>::from_bits((bits & nan_mask) | (ONE & pos_mask))
            }
        }
    };
}

impl_float!(f32, u32);
impl_float!(f64, u64);

/// ReLU of an `i64`: `max(x, 0)`.
#[inline]
pub fn relu_i64(x: i64) -> i64 {
    x.max(0)
}

/// ReLU derivative of an `i64`: `1` if `x > 0`, else `0`.
#[inline]
pub fn relu_grad_i64(x: i64) -> i64 {
    i64::from(x > 0)
}

/// `y = op(x)` on one thread and `path` (lengths equal), streaming stores if `stream`.
#[inline]
fn kernel<T: Float>(path: Path, op: Op, x: &[T], y: &mut [T], stream: bool) {
    match path {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: run_slice passes Avx2 only after require_avx2(); the slices hold the same
        // number of elements and, being & and &mut, do not overlap (so streaming is allowed).
        Path::Avx2 => unsafe { T::relu_avx2(op, x.as_ptr(), y.as_mut_ptr(), x.len(), stream) },
        _ => {
            let _ = stream;
            match op {
                Op::Relu => y.iter_mut().zip(x).for_each(|(o, &v)| *o = v.relu()),
                Op::Grad => y.iter_mut().zip(x).for_each(|(o, &v)| *o = v.relu_grad()),
            }
        }
    }
}

/// `y = op(y)` on one thread and `path`.
#[inline]
fn kernel_inplace<T: Float>(path: Path, op: Op, y: &mut [T]) {
    match path {
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => {
            let p = y.as_mut_ptr();
            // Hide from LLVM that the input pointer is the output: knowing it, LLVM turns
            // load-and-store into a masked store of zeros (vpmaskmovq), about 2x slower on AMD.
            let xp: *const T = core::hint::black_box(p);
            // SAFETY: run_inplace passes Avx2 only after require_avx2(); xp == p is valid for
            // y.len() elements and the cached-store loop allows input == output.
            unsafe { T::relu_avx2(op, xp, p, y.len(), false) }
        }
        _ => match op {
            Op::Relu => y.iter_mut().for_each(|v| *v = v.relu()),
            Op::Grad => y.iter_mut().for_each(|v| *v = v.relu_grad()),
        },
    }
}

/// `y = op(x)` with the settings of `cfg` (path, threads, streaming threshold); `Err`
/// (touching nothing) if the lengths differ. Panics if `cfg.path` is `Avx2` and the CPU
/// lacks AVX2.
pub fn map_with<T: Float>(cfg: &Config, op: Op, x: &[T], y: &mut [T]) -> Result<(), ShapeError> {
    run_slice(cfg, x, y, |path, xs, ys, stream| {
        kernel(path, op, xs, ys, stream)
    })
}

/// `y = op(y)` with the settings of `cfg`. Panics if `cfg.path` is `Avx2` and the CPU lacks
/// AVX2.
pub fn map_inplace_with<T: Float>(cfg: &Config, op: Op, y: &mut [T]) {
    run_inplace(cfg, y, |path, ys| kernel_inplace(path, op, ys))
}

/// `y[i] = relu(x[i])`; `Err` (touching nothing) if the lengths differ.
pub fn relu_slice<T: Float>(x: &[T], y: &mut [T]) -> Result<(), ShapeError> {
    map_with(&Config::current(), Op::Relu, x, y)
}

/// `y[i] = relu(y[i])`.
pub fn relu_inplace<T: Float>(y: &mut [T]) {
    map_inplace_with(&Config::current(), Op::Relu, y)
}

/// `y[i] = relu_grad(x[i])`; `Err` (touching nothing) if the lengths differ.
pub fn relu_grad_slice<T: Float>(x: &[T], y: &mut [T]) -> Result<(), ShapeError> {
    map_with(&Config::current(), Op::Grad, x, y)
}

/// `y[i] = relu_grad(y[i])`.
pub fn relu_grad_inplace<T: Float>(y: &mut [T]) {
    map_inplace_with(&Config::current(), Op::Grad, y)
}

/// `y = op(x)` elementwise for arrays of any shape and memory layout with the settings of
/// `cfg`; `Err` (touching nothing) if the shapes differ.
pub fn map_nd_with<T: Float>(
    cfg: &Config,
    op: Op,
    x: ArrayViewD<'_, T>,
    y: ArrayViewMutD<'_, T>,
) -> Result<(), ShapeError> {
    map_nd(x, y, |xs, ys| map_with(cfg, op, xs, ys), |v| op.apply(v))
}

/// `y = op(y)` elementwise for an array of any layout with the settings of `cfg`. The view
/// must not overlap itself (see [`crate::elementwise`]; one that does is computed from a copy).
pub fn map_nd_inplace_with<T: Float>(cfg: &Config, op: Op, y: ArrayViewMutD<'_, T>) {
    map_nd_inplace(y, |ys| map_inplace_with(cfg, op, ys), |v| op.apply(v))
}

/// `y = relu(x)` elementwise for arrays of any shape and memory layout (strided, negative
/// strides, Fortran order); `Err` (touching nothing) if the shapes differ.
pub fn relu_nd<T: Float>(x: ArrayViewD<'_, T>, y: ArrayViewMutD<'_, T>) -> Result<(), ShapeError> {
    map_nd_with(&Config::current(), Op::Relu, x, y)
}

/// `y = relu(y)` elementwise for an array of any shape and memory layout. The view must not
/// overlap itself (see [`crate::elementwise`]; one that does is computed from a copy).
pub fn relu_nd_inplace<T: Float>(y: ArrayViewMutD<'_, T>) {
    map_nd_inplace_with(&Config::current(), Op::Relu, y)
}

/// `y = relu_grad(x)` elementwise for arrays of any shape and memory layout; `Err` (touching
/// nothing) if the shapes differ.
pub fn relu_grad_nd<T: Float>(
    x: ArrayViewD<'_, T>,
    y: ArrayViewMutD<'_, T>,
) -> Result<(), ShapeError> {
    map_nd_with(&Config::current(), Op::Grad, x, y)
}

/// `y = relu_grad(y)` elementwise for an array of any shape and memory layout. The view must
/// not overlap itself (see [`crate::elementwise`]; one that does is computed from a copy).
pub fn relu_grad_nd_inplace<T: Float>(y: ArrayViewMutD<'_, T>) {
    map_nd_inplace_with(&Config::current(), Op::Grad, y)
}

/// The AVX2 kernels, one module per element type.
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    macro_rules! relu_avx2 {
        ($m:ident, $t:ty, $set1:ident, $cmpgt:ident, $ibits:ty) => {
            pub(crate) mod $m {
                use core::arch::x86_64::*;
                use core::mem::size_of;

                use crate::elementwise::relu::Op;
                use crate::Float;

                /// ReLU of one vector of bit patterns.
                #[inline]
                #[target_feature(enable = "avx2")]
                pub(crate) unsafe fn relu_v(b: __m256i) -> __m256i {
                    let keep = $cmpgt(b, $set1(<$t>::NEG_INFINITY.to_bits() as $ibits));
                    _mm256_and_si256(b, keep)
                }

                /// ReLU derivative of one vector of bit patterns.
                #[inline]
                #[target_feature(enable = "avx2")]
                unsafe fn grad_v(b: __m256i) -> __m256i {
                    let abs = _mm256_and_si256(b, $set1(<$ibits>::MAX));
                    let nan = $cmpgt(abs, $set1(<$t>::INFINITY.to_bits() as $ibits));
                    let pos = $cmpgt(b, _mm256_setzero_si256());
                    let one = _mm256_and_si256(pos, $set1((1.0 as $t).to_bits() as $ibits));
                    _mm256_or_si256(_mm256_and_si256(nan, b), _mm256_andnot_si256(nan, one))
                }

                /// `y[i] = op(x[i])` for `i < n`, streaming stores if `stream`.
                ///
                /// # Safety
                ///
                /// AVX2; `x`, `y` valid for `n` elements, equal or disjoint; `stream` only
                /// if disjoint.
                #[target_feature(enable = "avx2")]
                pub(crate) unsafe fn run(op: Op, x: *const $t, y: *mut $t, n: usize, stream: bool) {
                    match op {
                        Op::Relu => avx2_loop!($t, x, y, n, stream, |u| relu_v(u), |v| v.relu()),
                        Op::Grad => {
                            avx2_loop!($t, x, y, n, stream, |u| grad_v(u), |v| v.relu_grad())
                        }
                    }
                }
            }
        };
    }

    relu_avx2!(f32, f32, _mm256_set1_epi32, _mm256_cmpgt_epi32, i32);
    relu_avx2!(f64, f64, _mm256_set1_epi64x, _mm256_cmpgt_epi64, i64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relu_f32_bits() {
        let cases: [(u32, u32); 6] = [
            (0x0000_0000, 0x0000_0000), // +0.0
            (0x8000_0000, 0x0000_0000), // -0.0 -> +0.0
            (0x0000_0001, 0x0000_0001), // smallest positive subnormal kept
            (0x8000_0001, 0x0000_0000), // smallest negative subnormal -> +0.0
            (0x7f80_0001, 0x7f80_0001), // +sNaN kept
            (0xff80_0001, 0xff80_0001), // -sNaN kept
        ];
        for (x, want) in cases {
            assert_eq!(f32::from_bits(x).relu().to_bits(), want, "{x:#010x}");
        }
    }

    #[test]
    fn relu_grad_f64_bits() {
        let one = 1.0f64.to_bits();
        let cases: [(u64, u64); 7] = [
            (0x0000_0000_0000_0000, 0),   // +0.0
            (0x8000_0000_0000_0000, 0),   // -0.0
            (0x0000_0000_0000_0001, one), // positive subnormal
            (0x7ff0_0000_0000_0000, one), // +inf
            (0xfff0_0000_0000_0000, 0),   // -inf
            (0x7ff0_0000_0000_0001, 0x7ff0_0000_0000_0001),
            (0xfff0_0000_0000_0001, 0xfff0_0000_0000_0001),
        ];
        for (x, want) in cases {
            assert_eq!(f64::from_bits(x).relu_grad().to_bits(), want, "{x:#018x}");
        }
    }

    #[test]
    fn i64_edges() {
        for (x, r, g) in [
            (i64::MIN, 0, 0),
            (-1, 0, 0),
            (0, 0, 0),
            (1, 1, 1),
            (i64::MAX, i64::MAX, 1),
        ] {
            assert_eq!(relu_i64(x), r);
            assert_eq!(relu_grad_i64(x), g);
        }
    }
}
