//! The ReLU family: leaky ReLU (and PReLU), hardtanh (and ReLU6), threshold, ELU, GELU (erf and
//! tanh forms), sigmoid, tanh, and the derivative of each. Contract: `docs/activations.md`.
//!
//! * A NaN input gives that same NaN (exact bits) in every op.
//! * Piecewise-linear ops ([`Activation::LeakyRelu`], [`Activation::Hardtanh`],
//!   [`Activation::Threshold`] and their derivatives) choose the piece on integer keys of the
//!   bit patterns (`+|bits|` for a clear sign bit, `-|bits|` for a set one), never a float
//!   compare, so FTZ/DAZ cannot move a subnormal to another piece; the only float arithmetic is
//!   leaky's `x * slope`. They are bit-for-bit equal to the C and NumPy kernels. On x86-64 with
//!   AVX2 the slice kernels use explicit AVX2 code chosen like relu's ([`crate::simd`]: same
//!   run-time choice, `RELUKIT_FORCE_PORTABLE`, streaming stores above
//!   [`crate::simd::NT_MIN_BYTES`] out of place) with the loop shape of relu's `map_body!`.
//! * Transcendental ops are computed in `f64` (an `f32` is converted, computed, rounded once).
//!   `f64`, and `f32` GELU (erf form): std's `exp`, `exp_m1`, `tanh`, `mul_add` and the `libm`
//!   crate's `erfc`, in scalar loops, with the formulas every backend shares (see
//!   `csrc/family.c`). `f32` sigmoid, tanh, ELU, GELU (tanh form) and their derivatives: the
//!   module `smooth`'s own `exp`/`expm1` in `f64` lanes, with AVX2+FMA on the AVX2 path when
//!   the CPU has FMA, bit for bit equal to the C kernels on every path.

use ndarray::{ArrayViewD, ArrayViewMutD, Axis, Zip};

use crate::simd::{self, Path};
use crate::{Float, ShapeError};

mod smooth;
use smooth::Smooth;

/// One op of the family with its parameters (in the array's type).
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
            _ => return None,
        })
    }
}

// ---- the f64 formulas of the transcendental ops (shared with csrc/family.c) ----------------

const SQRT1_2: f64 = std::f64::consts::FRAC_1_SQRT_2; // 1/sqrt(2) rounded ...
const SQRT1_2_LO: f64 = -4.833_646_656_726_457e-17; // ... and the rest
const TWO_OVER_SQRTPI: f64 = std::f64::consts::FRAC_2_SQRT_PI;
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
const BETA: f64 = 0.797_884_560_802_865_4; // sqrt(2/pi)
const KAPPA: f64 = 0.044715;
const GELU_CUT: f64 = 40.0;

fn clamp_cut(x: f64) -> f64 {
    x.clamp(-GELU_CUT, GELU_CUT) // x is never NaN here
}

/// `erfc(-xc/sqrt(2))` for `|xc| <= 40`, corrected for the rounding of the argument.
fn erfc_scaled(xc: f64) -> f64 {
    let n = -xc;
    let z = n * SQRT1_2;
    let zerr = n.mul_add(SQRT1_2, -z) + n * SQRT1_2_LO;
    libm::erfc(z) - TWO_OVER_SQRTPI * (-z * z).exp() * zerr
}

fn elu_neg(x: f64, a: f64) -> f64 {
    a * (x.exp_m1() + 0.0)
}

fn sigmoid(x: f64) -> f64 {
    let e = (-x.abs()).exp();
    (if x >= 0.0 { 1.0 } else { e }) / (1.0 + e)
}

fn sigmoid_grad(x: f64) -> f64 {
    let e = (-x.abs()).exp();
    let d = 1.0 + e;
    e / (d * d)
}

fn tanh_grad(x: f64) -> f64 {
    let e = (-2.0 * x.abs()).exp();
    let d = 1.0 + e;
    4.0 * e / (d * d)
}

fn gelu(x: f64) -> f64 {
    if x < -GELU_CUT {
        return -0.0;
    }
    (0.5 * x) * erfc_scaled(x.min(GELU_CUT))
}

fn gelu_grad(x: f64) -> f64 {
    let xc = clamp_cut(x);
    let cdf = 0.5 * erfc_scaled(xc);
    let sq = xc * xc;
    let sqerr = xc.mul_add(xc, -sq);
    let pdf = INV_SQRT_2PI * ((-0.5 * sq).exp() * (1.0 - 0.5 * sqerr));
    cdf + xc * pdf
}

fn gelu_tanh(x: f64) -> f64 {
    if x < -GELU_CUT {
        return -0.0;
    }
    let u = BETA * (x + KAPPA * (x * x * x));
    let e = (-2.0 * u.abs()).exp();
    x * ((if u >= 0.0 { 1.0 } else { e }) / (1.0 + e))
}

fn gelu_tanh_grad(x: f64) -> f64 {
    let xc = clamp_cut(x);
    let u = BETA * (xc + KAPPA * (xc * xc * xc));
    let du = BETA * (1.0 + (3.0 * KAPPA) * (xc * xc));
    let e = (-2.0 * u.abs()).exp();
    let d = 1.0 + e;
    let s = (if u >= 0.0 { 1.0 } else { e }) / d;
    s + 2.0 * xc * du * e / (d * d)
}

// ---- per-type elements ---------------------------------------------------------------------

/// A float type the family's kernels accept (`f32` and `f64`).
pub trait FamilyFloat: Float {
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

/// Which form computes sigmoid, tanh, ELU, GELU (tanh form) and their derivatives: `f32` the
/// module `smooth` (its own `exp`/`expm1` in `f64`), `f64` the libm formulas (`f64_form`).
trait SmoothElem: Sized {
    fn smooth(op: Smooth, x: Self, a: f64, f64_form: impl Fn(Self) -> Self) -> Self;
}

impl SmoothElem for f32 {
    #[inline(always)]
    fn smooth(op: Smooth, x: f32, a: f64, _f64_form: impl Fn(f32) -> f32) -> f32 {
        smooth::apply(op, x, a)
    }
}

impl SmoothElem for f64 {
    #[inline(always)]
    fn smooth(_op: Smooth, x: f64, _a: f64, f64_form: impl Fn(f64) -> f64) -> f64 {
        f64_form(x)
    }
}

/// `f32`: the `smooth` kernels on a CPU with FMA (see [`smooth::run`]); `f64`: none.
///
/// # Safety
///
/// As [`smooth::run`].
trait SmoothKernels: Sized {
    unsafe fn smooth_kernel(
        op: Activation<Self>,
        x: *const Self,
        y: *mut Self,
        n: usize,
        avx2: bool,
    ) -> bool;
}

impl SmoothKernels for f32 {
    unsafe fn smooth_kernel(
        op: Activation<f32>,
        x: *const f32,
        y: *mut f32,
        n: usize,
        avx2: bool,
    ) -> bool {
        // SAFETY: forwarded from this function's contract.
        unsafe { smooth::run(op, x, y, n, avx2) }
    }
}

impl SmoothKernels for f64 {
    unsafe fn smooth_kernel(
        _: Activation<f64>,
        _: *const f64,
        _: *mut f64,
        _: usize,
        _: bool,
    ) -> bool {
        false
    }
}

/// Runs `$body` with `$f` bound to the element function of `$op` for the type `$t` (one
/// monomorphised loop per op).
macro_rules! family_dispatch {
    ($m:ident, $t:ty, $op:expr, |$f:ident| $body:expr) => {{
        use crate::family::elems::$m as e;
        use crate::family::Activation as A;
        match $op {
            A::LeakyRelu(s) => {
                let $f = |v: $t| e::leaky(v, s);
                $body
            }
            A::LeakyReluGrad(s) => {
                let $f = |v: $t| e::leaky_grad(v, s);
                $body
            }
            A::Hardtanh(lo, hi) => {
                let (klo, khi) = (e::key_of(lo), e::key_of(hi));
                let $f = |v: $t| e::clamp(v, lo, hi, klo, khi);
                $body
            }
            A::HardtanhGrad(lo, hi) => {
                let (klo, khi) = (e::key_of(lo), e::key_of(hi));
                let $f = |v: $t| e::clamp_grad(v, klo, khi);
                $body
            }
            A::Threshold(th, value) => {
                let kth = e::key_of(th);
                let $f = |v: $t| e::thresh(v, kth, value);
                $body
            }
            A::ThresholdGrad(th) => {
                let kth = e::key_of(th);
                let $f = |v: $t| e::thresh_grad(v, kth);
                $body
            }
            A::Elu(a) => {
                let a = a as f64;
                let $f = |v: $t| {
                    <$t as SmoothElem>::smooth(Smooth::Elu, v, a, |w| {
                        if e::positive(w) {
                            w
                        } else {
                            e::via_f64(w, |d| crate::family::elu_neg(d, a))
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
                let $f = |v: $t| e::via_f64(v, crate::family::gelu);
                $body
            }
            A::GeluGrad => {
                let $f = |v: $t| e::via_f64(v, crate::family::gelu_grad);
                $body
            }
            A::GeluTanh => {
                let $f = |v: $t| {
                    <$t as SmoothElem>::smooth(Smooth::GeluTanh, v, 0.0, |w| {
                        e::via_f64(w, crate::family::gelu_tanh)
                    })
                };
                $body
            }
            A::GeluTanhGrad => {
                let $f = |v: $t| {
                    <$t as SmoothElem>::smooth(Smooth::GeluTanhGrad, v, 0.0, |w| {
                        e::via_f64(w, crate::family::gelu_tanh_grad)
                    })
                };
                $body
            }
            A::Sigmoid => {
                let $f = |v: $t| {
                    <$t as SmoothElem>::smooth(Smooth::Sigmoid, v, 0.0, |w| {
                        e::via_f64(w, crate::family::sigmoid)
                    })
                };
                $body
            }
            A::SigmoidGrad => {
                let $f = |v: $t| {
                    <$t as SmoothElem>::smooth(Smooth::SigmoidGrad, v, 0.0, |w| {
                        e::via_f64(w, crate::family::sigmoid_grad)
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
                        e::via_f64(w, crate::family::tanh_grad)
                    })
                };
                $body
            }
        }
    }};
}

macro_rules! family_elems {
    ($m:ident, $t:ty, $avx:ident) => {
        impl FamilyFloat for $t {
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
                family_dispatch!($m, $t, op, |f| y
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
                family_dispatch!($m, $t, op, |f| y.iter_mut().for_each(|v| *v = f(*v)));
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

/// Scalar elements, per type: the reference the vector code matches.
mod elems {
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
                pub(crate) fn leaky(x: $t, s: $t) -> $t {
                    let u = x.to_bits();
                    if key(u) > 0 || is_nan(u) {
                        x
                    } else {
                        x * s
                    }
                }

                #[inline(always)]
                pub(crate) fn leaky_grad(x: $t, s: $t) -> $t {
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
                pub(crate) fn clamp(x: $t, lo: $t, hi: $t, klo: $i, khi: $i) -> $t {
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
                pub(crate) fn clamp_grad(x: $t, klo: $i, khi: $i) -> $t {
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
                pub(crate) fn thresh(x: $t, kth: $i, v: $t) -> $t {
                    let u = x.to_bits();
                    if key(u) > kth || is_nan(u) {
                        x
                    } else {
                        v
                    }
                }

                #[inline(always)]
                pub(crate) fn thresh_grad(x: $t, kth: $i) -> $t {
                    let u = x.to_bits();
                    if is_nan(u) {
                        x
                    } else if key(u) > kth {
                        1.0
                    } else {
                        0.0
                    }
                }

                /// A transcendental op: NaN kept, else the f64 formula rounded once.
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

// ---- AVX2 ----------------------------------------------------------------------------------

/// The vector part of [`avx2_body!`]: four vectors per iteration, then single vectors, from
/// element `$i` on, stored with `$store`.
#[cfg(target_arch = "x86_64")]
macro_rules! avx2_vectors {
    ($t:ty, $x:ident, $y:ident, $n:ident, $i:ident, $store:ident, |$uv:ident| $vop:expr) => {
        let l = 32 / size_of::<$t>();
        while $i + 4 * l <= $n {
            // SAFETY: i + 4L <= n: the four vectors lie inside both buffers; loads precede
            // stores (x == y is fine); y.add(i) is 32-byte aligned after the head.
            unsafe {
                let a0 = _mm256_loadu_si256($x.add($i).cast());
                let a1 = _mm256_loadu_si256($x.add($i + l).cast());
                let a2 = _mm256_loadu_si256($x.add($i + 2 * l).cast());
                let a3 = _mm256_loadu_si256($x.add($i + 3 * l).cast());
                let $uv = a0;
                $store($y.add($i).cast(), $vop);
                let $uv = a1;
                $store($y.add($i + l).cast(), $vop);
                let $uv = a2;
                $store($y.add($i + 2 * l).cast(), $vop);
                let $uv = a3;
                $store($y.add($i + 3 * l).cast(), $vop);
            }
            $i += 4 * l;
        }
        while $i + l <= $n {
            // SAFETY: i + L <= n, inside both buffers; y.add(i) is 32-byte aligned.
            unsafe {
                let $uv = _mm256_loadu_si256($x.add($i).cast());
                $store($y.add($i).cast(), $vop);
            }
            $i += l;
        }
    };
}

/// relu's `map_body!` loop (avx2.rs) with the op's vector and scalar bodies given as
/// expressions: a scalar head up to a 32-byte aligned `y`, four vectors per iteration, single
/// vectors, a scalar tail; non-temporal stores and `sfence` when `$stream`.
#[cfg(target_arch = "x86_64")]
macro_rules! avx2_body {
    ($t:ty, $x:ident, $y:ident, $n:ident, $stream:ident, |$uv:ident| $vop:expr, |$sv:ident| $sop:expr) => {{
        let mis = ($y as usize) & 31;
        let head = if mis == 0 {
            0
        } else {
            (32 - mis) / size_of::<$t>()
        };
        let head = head.min($n);
        let mut i = 0;
        while i < head {
            // SAFETY: i < head <= n, inside both buffers.
            unsafe {
                let $sv = *$x.add(i);
                *$y.add(i) = $sop;
            }
            i += 1;
        }
        if $stream {
            avx2_vectors!($t, $x, $y, $n, i, _mm256_stream_si256, |$uv| $vop);
            _mm_sfence();
        } else {
            avx2_vectors!($t, $x, $y, $n, i, _mm256_storeu_si256, |$uv| $vop);
        }
        while i < $n {
            // SAFETY: i < n, inside both buffers.
            unsafe {
                let $sv = *$x.add(i);
                *$y.add(i) = $sop;
            }
            i += 1;
        }
    }};
}

#[cfg(target_arch = "x86_64")]
macro_rules! avx2_for {
    ($m:ident, $em:ident, $t:ty, $u:ty, $i:ty, $set1:ident, $cmpgt:ident, $sub:ident, $mul:ident,
     $cast_in:ident, $cast_out:ident) => {
        mod $m {
            use core::arch::x86_64::*;
            use core::mem::size_of;

            use super::elems::$em as e;
            use super::Activation;

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
            unsafe fn leaky_v(u: __m256i, s: __m256i) -> __m256i {
                let keep = _mm256_or_si256($cmpgt(u, _mm256_setzero_si256()), nan_v(u));
                let prod = $cast_out($mul($cast_in(u), $cast_in(s)));
                sel(keep, u, prod)
            }

            #[inline]
            #[target_feature(enable = "avx2")]
            unsafe fn leaky_grad_v(u: __m256i, s: __m256i) -> __m256i {
                let r = sel($cmpgt(u, _mm256_setzero_si256()), splat(ONE), s);
                sel(nan_v(u), u, r)
            }

            #[inline]
            #[target_feature(enable = "avx2")]
            unsafe fn clamp_v(
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
            unsafe fn clamp_grad_v(u: __m256i, klo: __m256i, khi: __m256i) -> __m256i {
                let k = key_v(u);
                let inside = _mm256_and_si256($cmpgt(k, klo), $cmpgt(khi, k));
                sel(nan_v(u), u, _mm256_and_si256(inside, splat(ONE)))
            }

            #[inline]
            #[target_feature(enable = "avx2")]
            unsafe fn thresh_v(u: __m256i, kth: __m256i, v: __m256i) -> __m256i {
                let keep = _mm256_or_si256($cmpgt(key_v(u), kth), nan_v(u));
                sel(keep, u, v)
            }

            #[inline]
            #[target_feature(enable = "avx2")]
            unsafe fn thresh_grad_v(u: __m256i, kth: __m256i) -> __m256i {
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
            pub(super) unsafe fn run(
                op: Activation<$t>,
                x: *const $t,
                y: *mut $t,
                n: usize,
                stream: bool,
            ) -> bool {
                match op {
                    Activation::LeakyRelu(s) => {
                        let sv = splat(s.to_bits());
                        avx2_body!($t, x, y, n, stream, |u| leaky_v(u, sv), |v| e::leaky(v, s));
                    }
                    Activation::LeakyReluGrad(s) => {
                        let sv = splat(s.to_bits());
                        avx2_body!($t, x, y, n, stream, |u| leaky_grad_v(u, sv), |v| {
                            e::leaky_grad(v, s)
                        });
                    }
                    Activation::Hardtanh(lo, hi) => {
                        let (klo, khi) = (e::key_of(lo), e::key_of(hi));
                        let (lov, hiv) = (splat(lo.to_bits()), splat(hi.to_bits()));
                        let (klov, khiv) = ($set1(klo as _), $set1(khi as _));
                        avx2_body!(
                            $t,
                            x,
                            y,
                            n,
                            stream,
                            |u| clamp_v(u, lov, hiv, klov, khiv),
                            |v| e::clamp(v, lo, hi, klo, khi)
                        );
                    }
                    Activation::HardtanhGrad(lo, hi) => {
                        let (klo, khi) = (e::key_of(lo), e::key_of(hi));
                        let (klov, khiv) = ($set1(klo as _), $set1(khi as _));
                        avx2_body!($t, x, y, n, stream, |u| clamp_grad_v(u, klov, khiv), |v| {
                            e::clamp_grad(v, klo, khi)
                        });
                    }
                    Activation::Threshold(th, value) => {
                        let kth = e::key_of(th);
                        let (kthv, vv) = ($set1(kth as _), splat(value.to_bits()));
                        avx2_body!($t, x, y, n, stream, |u| thresh_v(u, kthv, vv), |v| {
                            e::thresh(v, kth, value)
                        });
                    }
                    Activation::ThresholdGrad(th) => {
                        let kth = e::key_of(th);
                        let kthv = $set1(kth as _);
                        avx2_body!($t, x, y, n, stream, |u| thresh_grad_v(u, kthv), |v| {
                            e::thresh_grad(v, kth)
                        });
                    }
                    _ => return false,
                }
                true
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
avx2_for!(
    avx2_f32,
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
#[cfg(target_arch = "x86_64")]
avx2_for!(
    avx2_f64,
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

family_elems!(f32, f32, avx2_f32);
family_elems!(f64, f64, avx2_f64);

// ---- public entry points --------------------------------------------------------------------

fn check_lengths<T>(x: &[T], y: &[T]) -> Result<(), ShapeError> {
    if x.len() == y.len() {
        Ok(())
    } else {
        Err(ShapeError(format!(
            "x has {} elements but y has {}",
            x.len(),
            y.len()
        )))
    }
}

/// `y = op(x)` on the given path (tests and benchmarks; the public functions use
/// [`simd::active_path`]); `nt_min_bytes` as in [`simd::map_with`]. Panics if `path` is AVX2
/// and the CPU lacks it.
pub fn activation_slice_with<T: FamilyFloat>(
    path: Path,
    op: Activation<T>,
    x: &[T],
    y: &mut [T],
    nt_min_bytes: usize,
) -> Result<(), ShapeError> {
    check_lengths(x, y)?;
    if path == Path::Avx2 {
        assert!(
            simd::avx2_available(),
            "relukit: the AVX2 kernel path was requested but this CPU does not support AVX2"
        );
        #[cfg(target_arch = "x86_64")]
        {
            let n = x.len();
            let stream = n.saturating_mul(2 * core::mem::size_of::<T>()) > nt_min_bytes;
            // SAFETY: AVX2 checked above; both slices hold n elements and, being & and &mut,
            // do not overlap (so streaming is allowed).
            if unsafe { T::avx2(op, x.as_ptr(), y.as_mut_ptr(), n, stream) } {
                return Ok(());
            }
        }
    }
    let _ = nt_min_bytes;
    T::portable(op, x, y);
    Ok(())
}

/// `y[i] = op(x[i])`; `Err` (touching nothing) if the lengths differ.
pub fn activation_slice<T: FamilyFloat>(
    op: Activation<T>,
    x: &[T],
    y: &mut [T],
) -> Result<(), ShapeError> {
    activation_slice_with(simd::active_path(), op, x, y, simd::NT_MIN_BYTES)
}

/// `y[i] = op(y[i])`.
pub fn activation_inplace<T: FamilyFloat>(op: Activation<T>, y: &mut [T]) {
    #[cfg(target_arch = "x86_64")]
    if simd::active_path() == Path::Avx2 {
        let p = y.as_mut_ptr();
        // As relu's in-place kernels: hide that the input is the output from LLVM.
        let xp: *const T = core::hint::black_box(p);
        // SAFETY: active_path() is Avx2 only on a CPU with AVX2; xp == p is valid for y.len()
        // elements and the cached-store loop allows input == output.
        if unsafe { T::avx2(op, xp, p, y.len(), false) } {
            return;
        }
    }
    T::portable_inplace(op, y);
}

/// `y = op(x)` for arrays of the same shape and any layout; `Err` (touching nothing) if the
/// shapes differ.
pub fn activation_nd<T: FamilyFloat>(
    op: Activation<T>,
    x: ArrayViewD<'_, T>,
    mut y: ArrayViewMutD<'_, T>,
) -> Result<(), ShapeError> {
    if x.shape() != y.shape() {
        return Err(ShapeError(format!(
            "x has shape {:?} but y has shape {:?}",
            x.shape(),
            y.shape()
        )));
    }
    if x.strides() == y.strides() {
        if let (Some(xs), Some(ys)) = (x.as_slice_memory_order(), y.as_slice_memory_order_mut()) {
            return activation_slice(op, xs, ys);
        }
    }
    Zip::from(&mut y)
        .and(&x)
        .for_each(|o, &v| *o = T::apply(op, v));
    Ok(())
}

/// `y = op(y)` for an array of any layout.
pub fn activation_nd_inplace<T: FamilyFloat>(op: Activation<T>, mut y: ArrayViewMutD<'_, T>) {
    if let Some(ys) = y.as_slice_memory_order_mut() {
        activation_inplace(op, ys);
    } else {
        y.map_inplace(|v| *v = T::apply(op, *v));
    }
}

fn prelu_op<T: FamilyFloat>(grad: bool, slope: T) -> Activation<T> {
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
pub fn prelu_nd<T: FamilyFloat>(
    x: ArrayViewD<'_, T>,
    w: &[T],
    mut y: ArrayViewMutD<'_, T>,
    grad: bool,
) -> Result<(), ShapeError> {
    check_prelu(x.shape(), w)?;
    if x.shape() != y.shape() {
        return Err(ShapeError(format!(
            "x has shape {:?} but y has shape {:?}",
            x.shape(),
            y.shape()
        )));
    }
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
pub fn prelu_nd_inplace<T: FamilyFloat>(
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

#[cfg(test)]
mod tests {
    use super::Activation as A;
    use super::*;
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
            _ => unreachable!(),
        }
    }

    fn paths() -> Vec<(Path, usize)> {
        let mut p = vec![(Path::Portable, usize::MAX)];
        if simd::avx2_available() {
            p.push((Path::Avx2, usize::MAX));
            p.push((Path::Avx2, 0)); // every out-of-place call streams
        }
        p
    }

    #[test]
    fn piecewise_every_path_length_and_offset_bit_exact() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for op in piecewise_ops64() {
            let pool = pool64(&mut rng, &[0.1, 1.0, 6.0, 2.5, 20.0]);
            let pool32: Vec<f32> = pool.iter().map(|&v| v as f32).collect();
            let op32 = to32(op);
            for (path, nt) in paths() {
                for n in (0..70).chain([129, 1000]) {
                    for off in 0..4 {
                        let x: Vec<f64> =
                            (0..n + off).map(|i| pool[(i * 7) % pool.len()]).collect();
                        let mut y = vec![7.0; n + 3];
                        activation_slice_with(
                            path,
                            op,
                            &x[off..],
                            &mut y[3 - off.min(3)..][..n],
                            nt,
                        )
                        .unwrap();
                        let got = &y[3 - off.min(3)..][..n];
                        for (g, &v) in got.iter().zip(&x[off..]) {
                            let want = reference64(op, v);
                            assert_eq!(g.to_bits(), want.to_bits(), "{op:?} {path:?} x={v:e}");
                        }
                        let x32: Vec<f32> = (0..n + off)
                            .map(|i| pool32[(i * 7) % pool32.len()])
                            .collect();
                        let mut y32 = vec![7.0f32; n];
                        activation_slice_with(path, op32, &x32[off..], &mut y32, nt).unwrap();
                        for (g, &v) in y32.iter().zip(&x32[off..]) {
                            let want = reference32(op32, v);
                            assert_eq!(g.to_bits(), want.to_bits(), "{op32:?} {path:?} x={v:e}");
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
    fn transcendental_values() {
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
