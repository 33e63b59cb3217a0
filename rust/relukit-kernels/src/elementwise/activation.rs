//! The elementwise ops other than relu as one enum, [`Activation`]: the piecewise-linear ones
//! (leaky ReLU, hardtanh, threshold: [`super::piecewise`]) and the smooth ones (ELU, GELU,
//! sigmoid, tanh: [`super::smooth`]), each with its derivative. Contract:
//! `docs/activations.md`.
//!
//! * A NaN input gives that same NaN (exact bits) in every op.
//! * Piecewise-linear ops choose the piece on integer keys of the bit patterns, never a float
//!   compare, so FTZ/DAZ cannot move a subnormal to another piece; the only float arithmetic
//!   is leaky's `x * slope`. They are bit-for-bit equal to the C and NumPy kernels, with
//!   explicit AVX2 code on the AVX2 path.
//! * Smooth ops are computed in `f64` and rounded once (see [`super::smooth`]).
//!
//! The slice kernels run like relu's: the run-time path, the split over threads and, out of
//! place, streaming stores above the threshold ([`crate::runtime`]).

use ndarray::{ArrayViewD, ArrayViewMutD};

#[cfg(target_arch = "x86_64")]
use super::piecewise::avx2::{f32 as avx2_f32, f64 as avx2_f64};
use super::smooth::{Smooth, SmoothElem, SmoothKernels};
use super::{map_nd, map_nd_inplace, run_inplace, run_slice};
use crate::runtime::{Config, Path};
use crate::{Float, ShapeError};

/// One elementwise op with its parameters (in the array's type).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation<T> {
    /// `x` for `x > 0`, else `x * slope`.
    LeakyRelu(T),
    /// `1` for `x > 0`, else `slope` (`slope` at `±0.0`, as PyTorch).
    LeakyReluGrad(T),
    /// `lo` for `x < lo`, `hi` for `x > hi`, else `x` (a tie keeps `x`, as `torch.clamp`).
    Hardtanh(T, T),
    /// `1` for `lo < x < hi`, else `0` (`0` at both bounds).
    HardtanhGrad(T, T),
    /// `x` for `x > threshold`, else `value`.
    Threshold(T, T),
    /// `1` for `x > threshold`, else `0`.
    ThresholdGrad(T),
    /// `x` for `x > 0`, else `alpha * expm1(x)` (`+0.0` at `-0.0`, as PyTorch).
    Elu(T),
    /// `1` for `x > 0`, else `alpha * exp(x)`.
    EluGrad(T),
    /// `x * Phi(x)`.
    Gelu,
    /// `Phi(x) + x phi(x)`.
    GeluGrad,
    /// PyTorch's `approximate="tanh"` GELU, `x * sigmoid(2u)`, `u = sqrt(2/pi)(x + 0.044715 x^3)`.
    GeluTanh,
    /// Its derivative.
    GeluTanhGrad,
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
    /// `sigmoid(x) * sigmoid(-x)`.
    SigmoidGrad,
    /// `tanh(x)`.
    Tanh,
    /// `1 - tanh(x)^2`.
    TanhGrad,
    /// `x * sigmoid(x)` (SiLU, swish).
    Silu,
    /// Its derivative, `s + x s (1 - s)`.
    SiluGrad,
    /// `x` where `beta * x > threshold` (the product in the type), else
    /// `log1p(exp(beta x)) / beta`: `Softplus(beta, threshold)`.
    Softplus(T, T),
    /// `1` where `beta * x > threshold`, else `sigmoid(beta x)`.
    SoftplusGrad(T, T),
    /// `scale * x` for `x > 0`, else `scale * alpha * expm1(x)` (PyTorch's constants).
    Selu,
    /// `scale` for `x > 0`, else `scale * alpha * exp(x)`.
    SeluGrad,
    /// `x * tanh(softplus(x))`.
    Mish,
    /// Its derivative.
    MishGrad,
    /// `-0.0` for `x <= -3`, `x` for `x >= 3`, else `(x * (x + 3)) / 6` (each step in the type).
    Hardswish,
    /// `0` for `x < -3`, `1` for `x > 3`, else `x / 3 + 0.5`.
    HardswishGrad,
    /// `0` for `x <= -3`, `1` for `x >= 3`, else `(x + 3) / 6`.
    Hardsigmoid,
    /// `1/6` for `-3 < x < 3`, else `0`.
    HardsigmoidGrad,
}

impl<T: Copy> Activation<T> {
    /// The op's name in relukit's op table (`relukit/ops.py`), e.g. `"leaky_relu_grad"`.
    pub const NAMES: &'static [&'static str] = &[
        "leaky_relu",
        "leaky_relu_grad",
        "hardtanh",
        "hardtanh_grad",
        "threshold",
        "threshold_grad",
        "elu",
        "elu_grad",
        "gelu",
        "gelu_grad",
        "gelu_tanh",
        "gelu_tanh_grad",
        "sigmoid",
        "sigmoid_grad",
        "tanh",
        "tanh_grad",
        "silu",
        "silu_grad",
        "softplus",
        "softplus_grad",
        "selu",
        "selu_grad",
        "mish",
        "mish_grad",
        "hardswish",
        "hardswish_grad",
        "hardsigmoid",
        "hardsigmoid_grad",
    ];

    /// The op called `name` (see [`Activation::NAMES`]) with parameters `p0`, `p1` in the
    /// op table's order (unused ones ignored); `None` for an unknown name.
    pub fn from_name(name: &str, p0: T, p1: T) -> Option<Self> {
        Some(match name {
            "leaky_relu" => Activation::LeakyRelu(p0),
            "leaky_relu_grad" => Activation::LeakyReluGrad(p0),
            "hardtanh" => Activation::Hardtanh(p0, p1),
            "hardtanh_grad" => Activation::HardtanhGrad(p0, p1),
            "threshold" => Activation::Threshold(p0, p1),
            "threshold_grad" => Activation::ThresholdGrad(p0),
            "elu" => Activation::Elu(p0),
            "elu_grad" => Activation::EluGrad(p0),
            "gelu" => Activation::Gelu,
            "gelu_grad" => Activation::GeluGrad,
            "gelu_tanh" => Activation::GeluTanh,
            "gelu_tanh_grad" => Activation::GeluTanhGrad,
            "sigmoid" => Activation::Sigmoid,
            "sigmoid_grad" => Activation::SigmoidGrad,
            "tanh" => Activation::Tanh,
            "tanh_grad" => Activation::TanhGrad,
            "silu" => Activation::Silu,
            "silu_grad" => Activation::SiluGrad,
            "softplus" => Activation::Softplus(p0, p1),
            "softplus_grad" => Activation::SoftplusGrad(p0, p1),
            "selu" => Activation::Selu,
            "selu_grad" => Activation::SeluGrad,
            "mish" => Activation::Mish,
            "mish_grad" => Activation::MishGrad,
            "hardswish" => Activation::Hardswish,
            "hardswish_grad" => Activation::HardswishGrad,
            "hardsigmoid" => Activation::Hardsigmoid,
            "hardsigmoid_grad" => Activation::HardsigmoidGrad,
            _ => return None,
        })
    }
}

/// A float type the activation kernels accept (`f32` and `f64`).
pub trait ActivationFloat: Float {
    /// The op applied to one value.
    fn apply(op: Activation<Self>, x: Self) -> Self;

    #[doc(hidden)]
    fn portable(op: Activation<Self>, x: &[Self], y: &mut [Self]);

    #[doc(hidden)]
    fn portable_inplace(op: Activation<Self>, y: &mut [Self]);

    /// `y = op(x)` over `n` elements with AVX2 (and FMA for the `f32` smooth ops); `false`
    /// (touching nothing) for an op without such a kernel.
    ///
    /// # Safety
    ///
    /// The CPU supports AVX2; `x` and `y` are valid for `n` elements and either equal or
    /// non-overlapping; `stream` only if they do not overlap.
    #[doc(hidden)]
    #[cfg(target_arch = "x86_64")]
    unsafe fn avx2(
        op: Activation<Self>,
        x: *const Self,
        y: *mut Self,
        n: usize,
        stream: bool,
    ) -> bool;
}

/// Runs `$body` with `$f` bound to the element function of `$op` for the type `$t` (one
/// monomorphised loop per op).
macro_rules! activation_dispatch {
    ($m:ident, $t:ty, $op:expr, |$f:ident| $body:expr) => {{
        use crate::elementwise::activation::Activation as A;
        use crate::elementwise::piecewise::elems::$m as e;
        use crate::elementwise::smooth as s;
        match $op {
            A::LeakyRelu(s) => {
                let $f = |v: $t| e::leaky_relu(v, s);
                $body
            }
            A::LeakyReluGrad(s) => {
                let $f = |v: $t| e::leaky_relu_grad(v, s);
                $body
            }
            A::Hardtanh(lo, hi) => {
                let (klo, khi) = (e::key_of(lo), e::key_of(hi));
                let $f = |v: $t| e::hardtanh(v, lo, hi, klo, khi);
                $body
            }
            A::HardtanhGrad(lo, hi) => {
                let (klo, khi) = (e::key_of(lo), e::key_of(hi));
                let $f = |v: $t| e::hardtanh_grad(v, klo, khi);
                $body
            }
            A::Threshold(th, value) => {
                let kth = e::key_of(th);
                let $f = |v: $t| e::threshold(v, kth, value);
                $body
            }
            A::ThresholdGrad(th) => {
                let kth = e::key_of(th);
                let $f = |v: $t| e::threshold_grad(v, kth);
                $body
            }
            A::Elu(a) => {
                let a = a as f64;
                let $f = |v: $t| {
                    <$t as SmoothElem>::smooth(Smooth::Elu, v, a, |w| {
                        if e::positive(w) {
                            w
                        } else {
                            e::via_f64(w, |d| s::elu_neg(d, a))
                        }
                    })
                };
                $body
            }
            A::EluGrad(a) => {
                let a = a as f64;
                let $f = |v: $t| {
                    <$t as SmoothElem>::smooth(Smooth::EluGrad, v, a, |w| {
                        if e::positive(w) {
                            1.0
                        } else {
                            e::via_f64(w, |d| a * d.exp())
                        }
                    })
                };
                $body
            }
            A::Gelu => {
                let $f = |v: $t| e::via_f64(v, s::gelu);
                $body
            }
            A::GeluGrad => {
                let $f = |v: $t| e::via_f64(v, s::gelu_grad);
                $body
            }
            A::GeluTanh => {
                let $f = |v: $t| {
                    <$t as SmoothElem>::smooth(Smooth::GeluTanh, v, 0.0, |w| {
                        e::via_f64(w, s::gelu_tanh)
                    })
                };
                $body
            }
            A::GeluTanhGrad => {
                let $f = |v: $t| {
                    <$t as SmoothElem>::smooth(Smooth::GeluTanhGrad, v, 0.0, |w| {
                        e::via_f64(w, s::gelu_tanh_grad)
                    })
                };
                $body
            }
            A::Sigmoid => {
                let $f = |v: $t| {
                    <$t as SmoothElem>::smooth(Smooth::Sigmoid, v, 0.0, |w| {
                        e::via_f64(w, s::sigmoid)
                    })
                };
                $body
            }
            A::SigmoidGrad => {
                let $f = |v: $t| {
                    <$t as SmoothElem>::smooth(Smooth::SigmoidGrad, v, 0.0, |w| {
                        e::via_f64(w, s::sigmoid_grad)
                    })
                };
                $body
            }
            A::Tanh => {
                let $f = |v: $t| {
                    <$t as SmoothElem>::smooth(Smooth::Tanh, v, 0.0, |w| e::via_f64(w, f64::tanh))
                };
                $body
            }
            A::TanhGrad => {
                let $f = |v: $t| {
                    <$t as SmoothElem>::smooth(Smooth::TanhGrad, v, 0.0, |w| {
                        e::via_f64(w, s::tanh_grad)
                    })
                };
                $body
            }
            A::Hardswish => {
                let $f = |v: $t| e::hardswish(v);
                $body
            }
            A::HardswishGrad => {
                let $f = |v: $t| e::hardswish_grad(v);
                $body
            }
            A::Hardsigmoid => {
                let $f = |v: $t| e::hardsigmoid(v);
                $body
            }
            A::HardsigmoidGrad => {
                let $f = |v: $t| e::hardsigmoid_grad(v);
                $body
            }
            o @ (A::Silu
            | A::SiluGrad
            | A::Softplus(..)
            | A::SoftplusGrad(..)
            | A::Selu
            | A::SeluGrad
            | A::Mish
            | A::MishGrad) => {
                let $f = |v: $t| <$t as s::Family>::family(o, v);
                $body
            }
        }
    }};
}

macro_rules! activation_float {
    ($m:ident, $t:ty, $avx:ident) => {
        impl ActivationFloat for $t {
            #[inline(always)]
            fn apply(op: Activation<$t>, x: $t) -> $t {
                let mut y = [x];
                Self::portable(op, &[x], &mut y);
                y[0]
            }

            #[inline(always)]
            fn portable(op: Activation<$t>, x: &[$t], y: &mut [$t]) {
                let n = x.len().min(y.len());
                // SAFETY: not the AVX2 path; x and y are distinct slices with n elements.
                if unsafe { <$t>::smooth_kernel(op, x.as_ptr(), y.as_mut_ptr(), n, false) } {
                    return;
                }
                activation_dispatch!($m, $t, op, |f| y
                    .iter_mut()
                    .zip(x)
                    .for_each(|(o, &v)| *o = f(v)));
            }

            #[inline(always)]
            fn portable_inplace(op: Activation<$t>, y: &mut [$t]) {
                let p = y.as_mut_ptr();
                // SAFETY: not the AVX2 path; input == output, valid for y.len() elements.
                if unsafe { <$t>::smooth_kernel(op, p, p, y.len(), false) } {
                    return;
                }
                activation_dispatch!($m, $t, op, |f| y.iter_mut().for_each(|v| *v = f(*v)));
            }

            #[cfg(target_arch = "x86_64")]
            unsafe fn avx2(
                op: Activation<$t>,
                x: *const $t,
                y: *mut $t,
                n: usize,
                stream: bool,
            ) -> bool {
                // SAFETY: forwarded from this function's contract (AVX2, buffers).
                unsafe { $avx::run(op, x, y, n, stream) || <$t>::smooth_kernel(op, x, y, n, true) }
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
activation_float!(f32, f32, avx2_f32);
#[cfg(target_arch = "x86_64")]
activation_float!(f64, f64, avx2_f64);
#[cfg(not(target_arch = "x86_64"))]
activation_float!(f32, f32, none);
#[cfg(not(target_arch = "x86_64"))]
activation_float!(f64, f64, none);

/// `y = op(x)` on one thread and `path` (lengths equal), streaming stores if `stream`.
#[inline]
fn kernel<T: ActivationFloat>(path: Path, op: Activation<T>, x: &[T], y: &mut [T], stream: bool) {
    #[cfg(target_arch = "x86_64")]
    if path == Path::Avx2 {
        // SAFETY: run_slice passes Avx2 only after require_avx2(); both slices hold x.len()
        // elements and, being & and &mut, do not overlap (so streaming is allowed).
        if unsafe { T::avx2(op, x.as_ptr(), y.as_mut_ptr(), x.len(), stream) } {
            return;
        }
    }
    let _ = (path, stream);
    T::portable(op, x, y);
}

/// `y = op(y)` on one thread and `path`.
#[inline]
fn kernel_inplace<T: ActivationFloat>(path: Path, op: Activation<T>, y: &mut [T]) {
    #[cfg(target_arch = "x86_64")]
    if path == Path::Avx2 {
        let p = y.as_mut_ptr();
        // As relu's in-place kernels: hide that the input is the output from LLVM.
        let xp: *const T = core::hint::black_box(p);
        // SAFETY: run_inplace passes Avx2 only after require_avx2(); xp == p is valid for
        // y.len() elements and the cached-store loop allows input == output.
        if unsafe { T::avx2(op, xp, p, y.len(), false) } {
            return;
        }
    }
    let _ = path;
    T::portable_inplace(op, y);
}

/// `y[i] = op(x[i])` with the settings of `cfg` (path, threads, streaming threshold); `Err`
/// (touching nothing) if the lengths differ. Panics if `cfg.path` is `Avx2` and the CPU
/// lacks AVX2.
pub fn activation_slice_with<T: ActivationFloat>(
    cfg: &Config,
    op: Activation<T>,
    x: &[T],
    y: &mut [T],
) -> Result<(), ShapeError> {
    run_slice(cfg, x, y, |path, xs, ys, stream| {
        kernel(path, op, xs, ys, stream)
    })
}

/// `y[i] = op(y[i])` with the settings of `cfg`. Panics if `cfg.path` is `Avx2` and the CPU
/// lacks AVX2.
pub fn activation_inplace_with<T: ActivationFloat>(cfg: &Config, op: Activation<T>, y: &mut [T]) {
    run_inplace(cfg, y, |path, ys| kernel_inplace(path, op, ys))
}

/// `y[i] = op(x[i])`; `Err` (touching nothing) if the lengths differ.
pub fn activation_slice<T: ActivationFloat>(
    op: Activation<T>,
    x: &[T],
    y: &mut [T],
) -> Result<(), ShapeError> {
    activation_slice_with(&Config::current(), op, x, y)
}

/// `y[i] = op(y[i])`.
pub fn activation_inplace<T: ActivationFloat>(op: Activation<T>, y: &mut [T]) {
    activation_inplace_with(&Config::current(), op, y)
}

/// `y = op(x)` for arrays of the same shape and any layout; `Err` (touching nothing) if the
/// shapes differ.
pub fn activation_nd<T: ActivationFloat>(
    op: Activation<T>,
    x: ArrayViewD<'_, T>,
    y: ArrayViewMutD<'_, T>,
) -> Result<(), ShapeError> {
    map_nd(
        x,
        y,
        |xs, ys| activation_slice(op, xs, ys),
        |v| T::apply(op, v),
    )
}

/// `y = op(y)` for an array of any layout. The view must not overlap itself (see
/// [`crate::elementwise`]; one that does is computed from a copy, each address once).
pub fn activation_nd_inplace<T: ActivationFloat>(op: Activation<T>, y: ArrayViewMutD<'_, T>) {
    map_nd_inplace(y, |ys| activation_inplace(op, ys), |v| T::apply(op, v))
}

#[cfg(test)]
mod tests {
    use super::Activation as A;
    use super::*;
    use crate::elementwise::piecewise::{prelu_nd, prelu_nd_inplace};
    use ndarray::{ArrayD, IxDyn, ShapeBuilder};

    /// xorshift64*: deterministic pseudo-random bits.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn normalish(&mut self) -> f64 {
            let s: f64 = (0..4)
                .map(|_| (self.next() >> 11) as f64 / (1u64 << 53) as f64)
                .sum();
            (s - 2.0) * [0.3, 1.0, 3.0, 10.0, 30.0][(self.next() % 5) as usize]
        }
    }

    fn pool64(rng: &mut Rng, kinks: &[f64]) -> Vec<f64> {
        let mut v = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            -f64::MAX,
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            f64::from_bits(1),
            f64::from_bits(0x8000_0000_0000_0001),
            f64::from_bits(0x7ff8_0000_0001_2345),
            f64::from_bits(0xfff0_0000_0000_0001), // -sNaN
            f64::from_bits(0x7ff0_0000_0000_0001), // +sNaN
        ];
        for &k in kinks {
            v.extend([k, -k, k.next_up(), k.next_down()]);
        }
        while v.len() < 300 {
            let r = rng.next();
            v.push(if r & 3 == 0 {
                f64::from_bits(rng.next())
            } else {
                rng.normalish()
            });
        }
        v
    }

    fn piecewise_ops64() -> Vec<A<f64>> {
        vec![
            A::LeakyRelu(0.01),
            A::LeakyRelu(-1.5),
            A::LeakyReluGrad(0.2),
            A::Hardtanh(-1.0, 1.0),
            A::Hardtanh(0.0, 6.0),
            A::HardtanhGrad(0.0, 6.0),
            A::HardtanhGrad(-0.1, 2.5),
            A::Threshold(0.1, 20.0),
            A::Threshold(-1.0, -0.0),
            A::ThresholdGrad(0.1),
            A::Hardswish,
            A::HardswishGrad,
            A::Hardsigmoid,
            A::HardsigmoidGrad,
        ]
    }

    fn to32(op: A<f64>) -> A<f32> {
        match op {
            A::LeakyRelu(s) => A::LeakyRelu(s as f32),
            A::LeakyReluGrad(s) => A::LeakyReluGrad(s as f32),
            A::Hardtanh(a, b) => A::Hardtanh(a as f32, b as f32),
            A::HardtanhGrad(a, b) => A::HardtanhGrad(a as f32, b as f32),
            A::Threshold(a, b) => A::Threshold(a as f32, b as f32),
            A::ThresholdGrad(a) => A::ThresholdGrad(a as f32),
            A::Elu(a) => A::Elu(a as f32),
            A::EluGrad(a) => A::EluGrad(a as f32),
            A::Gelu => A::Gelu,
            A::GeluGrad => A::GeluGrad,
            A::GeluTanh => A::GeluTanh,
            A::GeluTanhGrad => A::GeluTanhGrad,
            A::Sigmoid => A::Sigmoid,
            A::SigmoidGrad => A::SigmoidGrad,
            A::Tanh => A::Tanh,
            A::TanhGrad => A::TanhGrad,
            A::Silu => A::Silu,
            A::SiluGrad => A::SiluGrad,
            A::Softplus(b, t) => A::Softplus(b as f32, t as f32),
            A::SoftplusGrad(b, t) => A::SoftplusGrad(b as f32, t as f32),
            A::Selu => A::Selu,
            A::SeluGrad => A::SeluGrad,
            A::Mish => A::Mish,
            A::MishGrad => A::MishGrad,
            A::Hardswish => A::Hardswish,
            A::HardswishGrad => A::HardswishGrad,
            A::Hardsigmoid => A::Hardsigmoid,
            A::HardsigmoidGrad => A::HardsigmoidGrad,
        }
    }

    /// The contract, written with float compares (valid in the default FP mode).
    fn reference64(op: A<f64>, x: f64) -> f64 {
        if x.is_nan() {
            return x;
        }
        match op {
            A::LeakyRelu(s) => {
                if x > 0.0 {
                    x
                } else {
                    x * s
                }
            }
            A::LeakyReluGrad(s) => {
                if x > 0.0 {
                    1.0
                } else {
                    s
                }
            }
            A::Hardtanh(lo, hi) => {
                if x < lo {
                    lo
                } else if x > hi {
                    hi
                } else {
                    x
                }
            }
            A::HardtanhGrad(lo, hi) => f64::from(u8::from(x > lo && x < hi)),
            A::Threshold(th, v) => {
                if x > th {
                    x
                } else {
                    v
                }
            }
            A::ThresholdGrad(th) => f64::from(u8::from(x > th)),
            // PyTorch's branches with float compares, each step in the type
            A::Hardswish if x <= -3.0 => -0.0,
            A::Hardswish if x >= 3.0 => x,
            A::Hardswish => (x * (x + 3.0)) / 6.0,
            A::HardswishGrad if x < -3.0 => 0.0,
            A::HardswishGrad if x > 3.0 => 1.0,
            A::HardswishGrad => x / 3.0 + 0.5,
            A::Hardsigmoid if x <= -3.0 => 0.0,
            A::Hardsigmoid if x >= 3.0 => 1.0,
            A::Hardsigmoid => (x + 3.0) / 6.0,
            A::HardsigmoidGrad => f64::from(u8::from(x > -3.0 && x < 3.0)) / 6.0,
            _ => unreachable!(),
        }
    }

    fn reference32(op: A<f32>, x: f32) -> f32 {
        if x.is_nan() {
            return x;
        }
        match op {
            A::LeakyRelu(s) => {
                if x > 0.0 {
                    x
                } else {
                    x * s
                }
            }
            A::LeakyReluGrad(s) => {
                if x > 0.0 {
                    1.0
                } else {
                    s
                }
            }
            A::Hardtanh(lo, hi) => {
                if x < lo {
                    lo
                } else if x > hi {
                    hi
                } else {
                    x
                }
            }
            A::HardtanhGrad(lo, hi) => f32::from(u8::from(x > lo && x < hi)),
            A::Threshold(th, v) => {
                if x > th {
                    x
                } else {
                    v
                }
            }
            A::ThresholdGrad(th) => f32::from(u8::from(x > th)),
            // PyTorch's branches with float compares, each step in the type
            A::Hardswish if x <= -3.0 => -0.0,
            A::Hardswish if x >= 3.0 => x,
            A::Hardswish => (x * (x + 3.0)) / 6.0,
            A::HardswishGrad if x < -3.0 => 0.0,
            A::HardswishGrad if x > 3.0 => 1.0,
            A::HardswishGrad => x / 3.0 + 0.5,
            A::Hardsigmoid if x <= -3.0 => 0.0,
            A::Hardsigmoid if x >= 3.0 => 1.0,
            A::Hardsigmoid => (x + 3.0) / 6.0,
            A::HardsigmoidGrad => f32::from(u8::from(x > -3.0 && x < 3.0)) / 6.0,
            _ => unreachable!(),
        }
    }

    fn paths() -> Vec<Config> {
        let mut p = vec![Config::single(Path::Portable, usize::MAX)];
        if crate::runtime::avx2_available() {
            p.push(Config::single(Path::Avx2, usize::MAX));
            p.push(Config::single(Path::Avx2, 0)); // every out-of-place call streams
        }
        p
    }

    #[test]
    fn piecewise_every_path_length_and_offset_bit_exact() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for op in piecewise_ops64() {
            let pool = pool64(&mut rng, &[0.1, 1.0, 6.0, 2.5, 20.0, 3.0, 1.5]);
            let pool32: Vec<f32> = pool.iter().map(|&v| v as f32).collect();
            let op32 = to32(op);
            for cfg in paths() {
                for n in (0..70).chain([129, 1000]) {
                    for off in 0..4 {
                        let x: Vec<f64> =
                            (0..n + off).map(|i| pool[(i * 7) % pool.len()]).collect();
                        let mut y = vec![7.0; n + 3];
                        activation_slice_with(&cfg, op, &x[off..], &mut y[3 - off.min(3)..][..n])
                            .unwrap();
                        let got = &y[3 - off.min(3)..][..n];
                        for (g, &v) in got.iter().zip(&x[off..]) {
                            let want = reference64(op, v);
                            assert_eq!(g.to_bits(), want.to_bits(), "{op:?} {cfg:?} x={v:e}");
                        }
                        let x32: Vec<f32> = (0..n + off)
                            .map(|i| pool32[(i * 7) % pool32.len()])
                            .collect();
                        let mut y32 = vec![7.0f32; n];
                        activation_slice_with(&cfg, op32, &x32[off..], &mut y32).unwrap();
                        for (g, &v) in y32.iter().zip(&x32[off..]) {
                            let want = reference32(op32, v);
                            assert_eq!(g.to_bits(), want.to_bits(), "{op32:?} {cfg:?} x={v:e}");
                        }
                    }
                }
            }
            // in place on the active path
            let mut z = pool.clone();
            activation_inplace(op, &mut z);
            for (g, &v) in z.iter().zip(&pool) {
                assert_eq!(
                    g.to_bits(),
                    reference64(op, v).to_bits(),
                    "{op:?} in place x={v:e}"
                );
            }
        }
    }

    #[test]
    fn lengths_must_match() {
        let x = [1.0f64, 2.0];
        let mut y = [0.0f64; 3];
        assert!(activation_slice(A::Sigmoid, &x, &mut y).is_err());
        assert_eq!(y, [0.0; 3]);
        let a = ArrayD::<f32>::zeros(IxDyn(&[2, 3]));
        let mut b = ArrayD::<f32>::zeros(IxDyn(&[3, 2]));
        assert!(activation_nd(A::Tanh, a.view(), b.view_mut()).is_err());
        assert!(prelu_nd(a.view(), &[1.0, 2.0], b.view_mut(), false).is_err());
    }

    #[test]
    fn fixed_points_of_the_contract() {
        let n0 = -0.0f64;
        let ap = |op: A<f64>, x: f64| f64::apply(op, x);
        assert_eq!(ap(A::Hardtanh(0.0, 6.0), n0).to_bits(), n0.to_bits()); // relu6(-0) = -0
        assert_eq!(ap(A::HardtanhGrad(0.0, 6.0), 6.0), 0.0);
        assert_eq!(ap(A::HardtanhGrad(0.0, 6.0), 0.0), 0.0);
        assert_eq!(ap(A::LeakyReluGrad(0.01), n0), 0.01);
        assert_eq!(ap(A::LeakyRelu(0.01), n0).to_bits(), n0.to_bits());
        assert_eq!(ap(A::Elu(1.0), n0).to_bits(), 0); // +0.0, as PyTorch
        assert_eq!(ap(A::EluGrad(0.3), 0.0), 0.3);
        assert_eq!(ap(A::Elu(1.0), f64::NEG_INFINITY), -1.0);
        assert_eq!(ap(A::Gelu, f64::NEG_INFINITY).to_bits(), n0.to_bits());
        assert_eq!(ap(A::Gelu, f64::INFINITY), f64::INFINITY);
        assert_eq!(ap(A::Gelu, 50.0), 50.0);
        assert_eq!(ap(A::GeluGrad, 0.0), 0.5);
        assert_eq!(ap(A::GeluGrad, f64::INFINITY), 1.0);
        assert_eq!(ap(A::GeluGrad, f64::NEG_INFINITY), 0.0);
        assert_eq!(ap(A::GeluTanh, 1e300), 1e300);
        assert_eq!(ap(A::GeluTanh, f64::NEG_INFINITY).to_bits(), n0.to_bits());
        assert_eq!(ap(A::GeluTanhGrad, 0.0), 0.5);
        assert_eq!(ap(A::Sigmoid, 0.0), 0.5);
        assert_eq!(ap(A::Sigmoid, -800.0), 0.0);
        assert!(ap(A::Sigmoid, -740.0) > 0.0); // a subnormal, not 0
        assert_eq!(ap(A::SigmoidGrad, 0.0), 0.25);
        assert_eq!(ap(A::Tanh, n0).to_bits(), n0.to_bits());
        assert_eq!(ap(A::TanhGrad, 0.0), 1.0);
        assert_eq!(ap(A::TanhGrad, 400.0), 0.0);
        for op in [
            A::Gelu,
            A::SigmoidGrad,
            A::Elu(1.0),
            A::LeakyRelu(0.5),
            A::Tanh,
        ] {
            for bits in [0x7ff0_0000_0000_0001u64, 0xfff8_0000_0000_0123] {
                assert_eq!(
                    ap(op, f64::from_bits(bits)).to_bits(),
                    bits,
                    "{op:?} NaN bits"
                );
            }
            let snan = f32::from_bits(0xff80_0001);
            assert_eq!(
                f32::apply(to32(op), snan).to_bits(),
                0xff80_0001,
                "{op:?} f32 sNaN"
            );
        }
    }

    #[test]
    fn smooth_values() {
        // f64 against independently known values (a few ulp)
        let close = |a: f64, b: f64, ulps: f64| (a - b).abs() <= ulps * f64::EPSILON * b.abs();
        assert!(close(
            f64::apply(A::Gelu, 1.0),
            0.841_344_746_068_542_9,
            4.0
        ));
        assert!(close(
            f64::apply(A::Gelu, -1.0),
            -0.158_655_253_931_457_05,
            4.0
        ));
        assert!(close(
            f64::apply(A::Sigmoid, 1.0),
            0.731_058_578_630_004_9,
            2.0
        ));
        assert!(close(
            f64::apply(A::Elu(1.0), -1.0),
            -0.632_120_558_828_557_7,
            2.0
        ));
        assert!(close(
            f64::apply(A::TanhGrad, 1.0),
            0.419_974_341_614_026_1,
            4.0
        ));
        // far tail of the erf form: x Phi(x) at x = -30 (2.9e-198 relative accuracy kept)
        assert!(close(
            f64::apply(A::Gelu, -30.0),
            -1.472_014_178_144_456e-196,
            8.0
        ));
        // float32 GELU (erf form) is the float64 formula rounded once; the others (module
        // smooth: their own exp/expm1 in f64) are within 0.5 ulp + 2^-12 of that formula's value
        // (its own error is far below a float ulp); smooth's tests check every op on sweeps of
        // float bit patterns
        let mut rng = Rng(7);
        for _ in 0..2000 {
            let x = rng.normalish() as f32;
            let want = f64::apply(A::Gelu, f64::from(x)) as f32;
            assert_eq!(f32::apply(A::Gelu, x).to_bits(), want.to_bits(), "Gelu {x}");
            for op in [A::Sigmoid, A::TanhGrad, A::Elu(0.3)] {
                let op64 = if let A::Elu(_) = op {
                    A::Elu(f64::from(0.3f32))
                } else {
                    op
                };
                let want = f64::apply(op64, f64::from(x));
                let got = f64::from(f32::apply(to32(op), x));
                let w32 = want.abs() as f32;
                let ulp = f64::from(f32::from_bits(w32.to_bits() + 1) - w32);
                assert!(
                    (got - want).abs() <= (0.5 + 1.0 / 4096.0) * ulp,
                    "{op:?} {x}: {got:e} vs {want:e}"
                );
            }
        }
    }

    #[test]
    fn nd_layouts_and_prelu_channels() {
        let mut rng = Rng(3);
        let data: Vec<f64> = (0..2 * 3 * 5).map(|_| rng.normalish()).collect();
        let x = ArrayD::from_shape_vec(IxDyn(&[2, 3, 5]), data).unwrap();
        let w = [0.25, -1.0, 2.0];
        for grad in [false, true] {
            let want = ArrayD::from_shape_fn(IxDyn(&[2, 3, 5]), |ix| {
                let op = if grad {
                    A::LeakyReluGrad(w[ix[1]])
                } else {
                    A::LeakyRelu(w[ix[1]])
                };
                reference64(op, x[&ix])
            });
            let mut y = ArrayD::<f64>::zeros(IxDyn(&[2, 3, 5]));
            prelu_nd(x.view(), &w, y.view_mut(), grad).unwrap();
            assert_eq!(y, want);
            // a Fortran-ordered output and a transposed-copy input: the strided path
            let mut yf = ArrayD::<f64>::zeros(IxDyn(&[2, 3, 5]).f());
            prelu_nd(x.view(), &w, yf.view_mut(), grad).unwrap();
            assert_eq!(yf, want);
            let mut z = x.clone();
            prelu_nd_inplace(z.view_mut(), &w, grad).unwrap();
            assert_eq!(z, want);
            // inner == 1: (batch, channels)
            let x2 = x.clone().into_shape_with_order(IxDyn(&[10, 3])).unwrap();
            let mut y2 = ArrayD::<f64>::zeros(IxDyn(&[10, 3]));
            prelu_nd(x2.view(), &w, y2.view_mut(), grad).unwrap();
            for ((ix, &g), &v) in y2.indexed_iter().zip(x2.iter()) {
                let op = if grad {
                    A::LeakyReluGrad(w[ix[1]])
                } else {
                    A::LeakyRelu(w[ix[1]])
                };
                assert_eq!(g.to_bits(), reference64(op, v).to_bits());
            }
        }
        // any op on a reversed view equals the op on a copy
        let xr = x.slice_each_axis(|_| ndarray::Slice::new(0, None, -1));
        for op in [A::Gelu, A::Hardtanh(-1.0, 1.0), A::ThresholdGrad(0.0)] {
            let mut a = ArrayD::<f64>::zeros(xr.raw_dim());
            activation_nd(op, xr.view(), a.view_mut()).unwrap();
            let mut b = ArrayD::<f64>::zeros(xr.raw_dim());
            activation_nd(op, xr.to_owned().view(), b.view_mut()).unwrap();
            assert_eq!(a, b);
            let mut c = xr.to_owned();
            activation_nd_inplace(op, c.view_mut());
            assert_eq!(c, b);
        }
    }
}
