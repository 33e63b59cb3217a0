//! The piecewise-linear ops: leaky ReLU (and PReLU, its per-channel form), hardtanh (and
//! ReLU6), threshold, and their derivatives. Each input picks its piece on the integer key of
//! its bits (`+|bits|` for a clear sign bit, `-|bits|` for a set one), never with a float
//! compare; scalar elements here, their AVX2 vector forms below, both driven by
//! [`super::activation`].

use ndarray::{ArrayViewD, ArrayViewMutD, Axis};

use super::activation::{activation_nd, activation_nd_inplace, activation_slice};
use super::activation::{Activation, ActivationFloat};
use super::check_shapes;
use crate::ShapeError;

/// Scalar elements, per type: the reference the vector code matches (the smooth ops use
/// `via_f64` and `positive` too).
pub(crate) mod elems {
    macro_rules! elems_for {
        ($m:ident, $t:ty, $u:ty, $i:ty) => {
            pub(crate) mod $m {
                const SIGN: $u = 1 << (<$u>::BITS - 1);
                const ABS: $u = !SIGN;
                const INF: $u = <$t>::INFINITY.to_bits();

                /// Monotone key of a non-NaN bit pattern (`±0.0` both 0).
                #[inline(always)]
                pub(crate) fn key(u: $u) -> $i {
                    let mag = (u & ABS) as $i;
                    let s = -((u >> (<$u>::BITS - 1)) as $i);
                    (mag ^ s) - s
                }

                #[inline(always)]
                pub(crate) fn key_of(x: $t) -> $i {
                    key(x.to_bits())
                }

                #[inline(always)]
                pub(crate) fn is_nan(u: $u) -> bool {
                    (u & ABS) > INF
                }

                #[inline(always)]
                pub(crate) fn leaky_relu(x: $t, s: $t) -> $t {
                    let u = x.to_bits();
                    if key(u) > 0 || is_nan(u) {
                        x
                    } else {
                        x * s
                    }
                }

                #[inline(always)]
                pub(crate) fn leaky_relu_grad(x: $t, s: $t) -> $t {
                    let u = x.to_bits();
                    if is_nan(u) {
                        x
                    } else if key(u) > 0 {
                        1.0
                    } else {
                        s
                    }
                }

                #[inline(always)]
                pub(crate) fn hardtanh(x: $t, lo: $t, hi: $t, klo: $i, khi: $i) -> $t {
                    let u = x.to_bits();
                    let k = key(u);
                    if is_nan(u) {
                        x
                    } else if k < klo {
                        lo
                    } else if k > khi {
                        hi
                    } else {
                        x
                    }
                }

                #[inline(always)]
                pub(crate) fn hardtanh_grad(x: $t, klo: $i, khi: $i) -> $t {
                    let u = x.to_bits();
                    let k = key(u);
                    if is_nan(u) {
                        x
                    } else if k > klo && k < khi {
                        1.0
                    } else {
                        0.0
                    }
                }

                #[inline(always)]
                pub(crate) fn threshold(x: $t, kth: $i, v: $t) -> $t {
                    let u = x.to_bits();
                    if key(u) > kth || is_nan(u) {
                        x
                    } else {
                        v
                    }
                }

                #[inline(always)]
                pub(crate) fn threshold_grad(x: $t, kth: $i) -> $t {
                    let u = x.to_bits();
                    if is_nan(u) {
                        x
                    } else if key(u) > kth {
                        1.0
                    } else {
                        0.0
                    }
                }

                /// `key(3)` (the bits of `3.0`, sign clear): `-3` has key `-THREE`.
                const THREE: $i = (3.0 as $t).to_bits() as $i;

                /// Hardswish (PyTorch's arithmetic, each step in the type): `-0.0` for
                /// `x <= -3`, `x` for `x >= 3`, else `(x * (x + 3)) / 6`; NaN kept.
                #[inline(always)]
                pub(crate) fn hardswish(x: $t) -> $t {
                    let u = x.to_bits();
                    let k = key(u);
                    if is_nan(u) || k >= THREE {
                        x
                    } else if k <= -THREE {
                        -0.0
                    } else {
                        (x * (x + 3.0)) / 6.0
                    }
                }

                /// `0` for `x < -3`, `1` for `x > 3`, else `x / 3 + 0.5` (PyTorch's
                /// `hardswish_backward`: `-0.5` at `-3`, `1.5` at `3`); NaN kept.
                #[inline(always)]
                pub(crate) fn hardswish_grad(x: $t) -> $t {
                    let u = x.to_bits();
                    let k = key(u);
                    if is_nan(u) {
                        x
                    } else if k < -THREE {
                        0.0
                    } else if k > THREE {
                        1.0
                    } else {
                        x / 3.0 + 0.5
                    }
                }

                /// `0` for `x <= -3`, `1` for `x >= 3`, else `(x + 3) / 6`; NaN kept.
                #[inline(always)]
                pub(crate) fn hardsigmoid(x: $t) -> $t {
                    let u = x.to_bits();
                    let k = key(u);
                    if is_nan(u) {
                        x
                    } else if k <= -THREE {
                        0.0
                    } else if k >= THREE {
                        1.0
                    } else {
                        (x + 3.0) / 6.0
                    }
                }

                /// `1/6` (rounded to the type) for `-3 < x < 3`, else `0`; NaN kept.
                #[inline(always)]
                pub(crate) fn hardsigmoid_grad(x: $t) -> $t {
                    let u = x.to_bits();
                    let k = key(u);
                    if is_nan(u) {
                        x
                    } else if k > -THREE && k < THREE {
                        1.0 / 6.0
                    } else {
                        0.0
                    }
                }

                /// A smooth op: NaN kept, else the f64 formula rounded once.
                #[inline(always)]
                pub(crate) fn via_f64(x: $t, f: impl Fn(f64) -> f64) -> $t {
                    if is_nan(x.to_bits()) {
                        x
                    } else {
                        f(x as f64) as $t
                    }
                }

                /// `x > 0` on the bits (DAZ cannot make a subnormal 0), NaN excluded.
                #[inline(always)]
                pub(crate) fn positive(x: $t) -> bool {
                    key_of(x) > 0 && !is_nan(x.to_bits())
                }
            }
        };
    }

    elems_for!(f32, f32, u32, i32);
    elems_for!(f64, f64, u64, i64);
}

/// The AVX2 forms of the elements, one module per element type.
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    macro_rules! avx2_for {
        ($m:ident, $em:ident, $t:ty, $u:ty, $i:ty, $set1:ident, $cmpgt:ident, $sub:ident, $mul:ident,
         $cast_in:ident, $cast_out:ident) => {
            pub(crate) mod $m {
                use core::arch::x86_64::*;
                use core::mem::size_of;

                use crate::elementwise::activation::Activation;
                use crate::elementwise::piecewise::elems::$em as e;

                const ABS: $u = !(1 << (<$u>::BITS - 1));
                const INF: $u = <$t>::INFINITY.to_bits();
                const ONE: $u = (1.0 as $t).to_bits();

                #[inline]
                #[target_feature(enable = "avx2")]
                unsafe fn splat(b: $u) -> __m256i {
                    $set1(b as _)
                }

                #[inline]
                #[target_feature(enable = "avx2")]
                unsafe fn nan_v(u: __m256i) -> __m256i {
                    $cmpgt(_mm256_and_si256(u, splat(ABS)), splat(INF))
                }

                #[inline]
                #[target_feature(enable = "avx2")]
                unsafe fn key_v(u: __m256i) -> __m256i {
                    let mag = _mm256_and_si256(u, splat(ABS));
                    let s = $cmpgt(_mm256_setzero_si256(), u); // all ones where the sign is set
                    $sub(_mm256_xor_si256(mag, s), s)
                }

                /// `mask ? a : b`.
                #[inline]
                #[target_feature(enable = "avx2")]
                unsafe fn sel(mask: __m256i, a: __m256i, b: __m256i) -> __m256i {
                    _mm256_blendv_epi8(b, a, mask)
                }

                #[inline]
                #[target_feature(enable = "avx2")]
                unsafe fn leaky_relu_v(u: __m256i, s: __m256i) -> __m256i {
                    let keep = _mm256_or_si256($cmpgt(u, _mm256_setzero_si256()), nan_v(u));
                    let prod = $cast_out($mul($cast_in(u), $cast_in(s)));
                    sel(keep, u, prod)
                }

                #[inline]
                #[target_feature(enable = "avx2")]
                unsafe fn leaky_relu_grad_v(u: __m256i, s: __m256i) -> __m256i {
                    let r = sel($cmpgt(u, _mm256_setzero_si256()), splat(ONE), s);
                    sel(nan_v(u), u, r)
                }

                #[inline]
                #[target_feature(enable = "avx2")]
                unsafe fn hardtanh_v(
                    u: __m256i,
                    lo: __m256i,
                    hi: __m256i,
                    klo: __m256i,
                    khi: __m256i,
                ) -> __m256i {
                    let k = key_v(u);
                    let nan = nan_v(u);
                    let r = sel(_mm256_andnot_si256(nan, $cmpgt(klo, k)), lo, u);
                    sel(_mm256_andnot_si256(nan, $cmpgt(k, khi)), hi, r)
                }

                #[inline]
                #[target_feature(enable = "avx2")]
                unsafe fn hardtanh_grad_v(u: __m256i, klo: __m256i, khi: __m256i) -> __m256i {
                    let k = key_v(u);
                    let inside = _mm256_and_si256($cmpgt(k, klo), $cmpgt(khi, k));
                    sel(nan_v(u), u, _mm256_and_si256(inside, splat(ONE)))
                }

                #[inline]
                #[target_feature(enable = "avx2")]
                unsafe fn threshold_v(u: __m256i, kth: __m256i, v: __m256i) -> __m256i {
                    let keep = _mm256_or_si256($cmpgt(key_v(u), kth), nan_v(u));
                    sel(keep, u, v)
                }

                #[inline]
                #[target_feature(enable = "avx2")]
                unsafe fn threshold_grad_v(u: __m256i, kth: __m256i) -> __m256i {
                    let r = _mm256_and_si256($cmpgt(key_v(u), kth), splat(ONE));
                    sel(nan_v(u), u, r)
                }

                /// `y = op(x)` for the piecewise-linear ops; `false` for the others.
                ///
                /// # Safety
                ///
                /// AVX2; `x`, `y` valid for `n` elements, equal or disjoint; `stream` only if
                /// disjoint.
                #[target_feature(enable = "avx2")]
                pub(crate) unsafe fn run(
                    op: Activation<$t>,
                    x: *const $t,
                    y: *mut $t,
                    n: usize,
                    stream: bool,
                ) -> bool {
                    match op {
                        Activation::LeakyRelu(s) => {
                            let sv = splat(s.to_bits());
                            avx2_loop!($t, x, y, n, stream, |u| leaky_relu_v(u, sv), |v| {
                                e::leaky_relu(v, s)
                            });
                        }
                        Activation::LeakyReluGrad(s) => {
                            let sv = splat(s.to_bits());
                            avx2_loop!($t, x, y, n, stream, |u| leaky_relu_grad_v(u, sv), |v| {
                                e::leaky_relu_grad(v, s)
                            });
                        }
                        Activation::Hardtanh(lo, hi) => {
                            let (klo, khi) = (e::key_of(lo), e::key_of(hi));
                            let (lov, hiv) = (splat(lo.to_bits()), splat(hi.to_bits()));
                            let (klov, khiv) = ($set1(klo as _), $set1(khi as _));
                            avx2_loop!(
                                $t,
                                x,
                                y,
                                n,
                                stream,
                                |u| hardtanh_v(u, lov, hiv, klov, khiv),
                                |v| e::hardtanh(v, lo, hi, klo, khi)
                            );
                        }
                        Activation::HardtanhGrad(lo, hi) => {
                            let (klo, khi) = (e::key_of(lo), e::key_of(hi));
                            let (klov, khiv) = ($set1(klo as _), $set1(khi as _));
                            avx2_loop!(
                                $t,
                                x,
                                y,
                                n,
                                stream,
                                |u| hardtanh_grad_v(u, klov, khiv),
                                |v| { e::hardtanh_grad(v, klo, khi) }
                            );
                        }
                        Activation::Threshold(th, value) => {
                            let kth = e::key_of(th);
                            let (kthv, vv) = ($set1(kth as _), splat(value.to_bits()));
                            avx2_loop!($t, x, y, n, stream, |u| threshold_v(u, kthv, vv), |v| {
                                e::threshold(v, kth, value)
                            });
                        }
                        Activation::ThresholdGrad(th) => {
                            let kth = e::key_of(th);
                            let kthv = $set1(kth as _);
                            avx2_loop!($t, x, y, n, stream, |u| threshold_grad_v(u, kthv), |v| {
                                e::threshold_grad(v, kth)
                            });
                        }
                        _ => return false,
                    }
                    true
                }
            }
        };
    }

    avx2_for!(
        f32,
        f32,
        f32,
        u32,
        i32,
        _mm256_set1_epi32,
        _mm256_cmpgt_epi32,
        _mm256_sub_epi32,
        _mm256_mul_ps,
        _mm256_castsi256_ps,
        _mm256_castps_si256
    );
    avx2_for!(
        f64,
        f64,
        f64,
        u64,
        i64,
        _mm256_set1_epi64x,
        _mm256_cmpgt_epi64,
        _mm256_sub_epi64,
        _mm256_mul_pd,
        _mm256_castsi256_pd,
        _mm256_castpd_si256
    );
}

fn prelu_op<T: ActivationFloat>(grad: bool, slope: T) -> Activation<T> {
    if grad {
        Activation::LeakyReluGrad(slope)
    } else {
        Activation::LeakyRelu(slope)
    }
}

fn check_prelu<T>(shape: &[usize], w: &[T]) -> Result<(), ShapeError> {
    if shape.len() < 2 || shape[1] != w.len() {
        return Err(ShapeError(format!(
            "prelu needs x of ndim >= 2 with x.shape[1] == weight length; got shape {:?} and {} \
             weights",
            shape,
            w.len()
        )));
    }
    Ok(())
}

/// PReLU (or its derivative with `grad`): leaky ReLU with slope `w[c]` for the elements of
/// channel `c` (axis 1) of `x` (ndim >= 2, `x.shape[1] == w.len()`), any layout; `Err`
/// (touching nothing) on a shape mismatch.
pub fn prelu_nd<T: ActivationFloat>(
    x: ArrayViewD<'_, T>,
    w: &[T],
    mut y: ArrayViewMutD<'_, T>,
    grad: bool,
) -> Result<(), ShapeError> {
    check_prelu(x.shape(), w)?;
    check_shapes(x.shape(), y.shape())?;
    if let (Some(xs), Some(ys)) = (x.as_slice(), y.as_slice_mut()) {
        // C order: (outer, channels, inner) runs
        let inner: usize = x.shape()[2..].iter().product();
        if inner == 1 {
            for (xr, yr) in xs.chunks_exact(w.len()).zip(ys.chunks_exact_mut(w.len())) {
                for ((o, &v), &s) in yr.iter_mut().zip(xr).zip(w) {
                    *o = T::apply(prelu_op(grad, s), v);
                }
            }
        } else if inner > 0 {
            let runs = xs.chunks_exact(inner).zip(ys.chunks_exact_mut(inner));
            for (r, (xr, yr)) in runs.enumerate() {
                activation_slice(prelu_op(grad, w[r % w.len()]), xr, yr)?;
            }
        }
        return Ok(());
    }
    for (c, &s) in w.iter().enumerate() {
        activation_nd(
            prelu_op(grad, s),
            x.index_axis(Axis(1), c),
            y.index_axis_mut(Axis(1), c),
        )?;
    }
    Ok(())
}

/// PReLU (or its derivative) in place; `Err` (touching nothing) on a shape mismatch.
pub fn prelu_nd_inplace<T: ActivationFloat>(
    mut y: ArrayViewMutD<'_, T>,
    w: &[T],
    grad: bool,
) -> Result<(), ShapeError> {
    check_prelu(y.shape(), w)?;
    for (c, &s) in w.iter().enumerate() {
        activation_nd_inplace(prelu_op(grad, s), y.index_axis_mut(Axis(1), c));
    }
    Ok(())
}
