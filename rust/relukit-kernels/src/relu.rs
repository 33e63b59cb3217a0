//! ReLU and its derivative: scalar ([`Float`] for `f32`/`f64`, plus `i64`), contiguous slices,
//! and n-dimensional arrays of any memory layout.

use ndarray::{ArrayViewD, ArrayViewMutD, Zip};

use crate::simd::{self, Op};
use crate::{Float, ShapeError};

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

/// `y = f(x)` elementwise over arrays of the same shape and any layout.
#[inline(always)]
fn map_nd<T: Float>(
    x: ArrayViewD<'_, T>,
    mut y: ArrayViewMutD<'_, T>,
    op: Op,
    f: impl Fn(T) -> T,
) -> Result<(), ShapeError> {
    if x.shape() != y.shape() {
        return Err(ShapeError(format!(
            "x has shape {:?} but y has shape {:?}",
            x.shape(),
            y.shape()
        )));
    }
    // Identical strides and both contiguous: element i sits at the same place in both memory
    // orders, so the flat slice kernel applies.
    if x.strides() == y.strides() {
        if let (Some(xs), Some(ys)) = (x.as_slice_memory_order(), y.as_slice_memory_order_mut()) {
            return simd::map(op, xs, ys);
        }
    }
    Zip::from(&mut y).and(&x).for_each(|out, &v| *out = f(v));
    Ok(())
}

/// `y = f(y)` elementwise over an array of any layout.
#[inline(always)]
fn map_nd_inplace<T: Float>(mut y: ArrayViewMutD<'_, T>, op: Op, f: impl Fn(T) -> T) {
    if let Some(ys) = y.as_slice_memory_order_mut() {
        simd::map_inplace(op, ys);
    } else {
        y.map_inplace(|v| *v = f(*v));
    }
}

/// `y[i] = relu(x[i])`; `Err` (touching nothing) if the lengths differ.
pub fn relu_slice<T: Float>(x: &[T], y: &mut [T]) -> Result<(), ShapeError> {
    simd::map(Op::Relu, x, y)
}

/// `y[i] = relu(y[i])`.
pub fn relu_inplace<T: Float>(y: &mut [T]) {
    simd::map_inplace(Op::Relu, y)
}

/// `y[i] = relu_grad(x[i])`; `Err` (touching nothing) if the lengths differ.
pub fn relu_grad_slice<T: Float>(x: &[T], y: &mut [T]) -> Result<(), ShapeError> {
    simd::map(Op::Grad, x, y)
}

/// `y[i] = relu_grad(y[i])`.
pub fn relu_grad_inplace<T: Float>(y: &mut [T]) {
    simd::map_inplace(Op::Grad, y)
}

/// `y = relu(x)` elementwise for arrays of any shape and memory layout (strided, negative
/// strides, Fortran order); `Err` (touching nothing) if the shapes differ.
pub fn relu_nd<T: Float>(x: ArrayViewD<'_, T>, y: ArrayViewMutD<'_, T>) -> Result<(), ShapeError> {
    map_nd(x, y, Op::Relu, T::relu)
}

/// `y = relu(y)` elementwise for an array of any shape and memory layout.
pub fn relu_nd_inplace<T: Float>(y: ArrayViewMutD<'_, T>) {
    map_nd_inplace(y, Op::Relu, T::relu)
}

/// `y = relu_grad(x)` elementwise for arrays of any shape and memory layout; `Err` (touching
/// nothing) if the shapes differ.
pub fn relu_grad_nd<T: Float>(
    x: ArrayViewD<'_, T>,
    y: ArrayViewMutD<'_, T>,
) -> Result<(), ShapeError> {
    map_nd(x, y, Op::Grad, T::relu_grad)
}

/// `y = relu_grad(y)` elementwise for an array of any shape and memory layout.
pub fn relu_grad_nd_inplace<T: Float>(y: ArrayViewMutD<'_, T>) {
    map_nd_inplace(y, Op::Grad, T::relu_grad)
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
