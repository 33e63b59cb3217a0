//! The smooth (exp-based) ops: ELU, GELU (erf and tanh forms), sigmoid, tanh and their
//! derivatives. Every one is computed in `f64` (an `f32` is converted, computed, rounded
//! once), NaN kept with its bits.
//!
//! * `f64`, and `f32` GELU (erf form): the formulas below (std's `exp`, `exp_m1`, `tanh`,
//!   `mul_add` and the `libm` crate's `erfc`) in scalar loops, as every backend writes them.
//! * `f32` sigmoid, tanh, ELU, GELU (tanh form) and their derivatives: this module's own
//!   `exp`/`expm1` in `f64` lanes, the algorithm of the C kernels (the same operations in the
//!   same order, so C and Rust give the same bits):
//!   - the exp core, for `y <= 0` (every caller passes `-|something|`): `k = round(y / ln2)`
//!     (`t = y log2(e) + 1.5·2^52` rounds to an integer and holds `k` in its low bits),
//!     `r = (y - k ln2_hi) - k ln2_lo` (two fused multiply-adds), `p = expm1(r) = r + r²(1/2!
//!     + r/3! + … + r^10/12!)` (Estrin's scheme; Taylor's remainder is below 4.9e-16 |r| at
//!     `|r| = ln2/2`), `s = 2^k`; then `exp(y) = s p + s` and `expm1(y) = s p + (s - 1)`, each
//!     one fused multiply-add. Below `y = -708`, `s = 0`: `exp(y) = 0`, `expm1(y) = -1`.
//!   - each op then rounds its `f64` result (within ~1e-15 relative) once to `f32`: within
//!     0.5 ulp + ~2^-26 ulp of the true value.
//!   - three forms, the same bits: `run_avx2_fma` (x86-64 with AVX2 and FMA, sixteen floats
//!     per step, a tail of 1–15 padded to sixteen), the scalar loop compiled for FMA (the
//!     portable path on an FMA CPU) and `apply` in the plain loops (`f64::mul_add` is then
//!     libm's correctly rounded `fma`).

use super::activation::Activation;
use crate::runtime::cpu::fma_available;

// ---- the f64 formulas (every backend writes them the same way) -----------------------------

const SQRT1_2: f64 = std::f64::consts::FRAC_1_SQRT_2; // 1/sqrt(2) rounded ...
const SQRT1_2_LO: f64 = -4.833_646_656_726_457e-17; // ... and the rest
const TWO_OVER_SQRTPI: f64 = std::f64::consts::FRAC_2_SQRT_PI;
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
pub(crate) const BETA: f64 = 0.797_884_560_802_865_4; // sqrt(2/pi)
pub(crate) const KAPPA: f64 = 0.044715;
pub(crate) const GELU_CUT: f64 = 40.0;

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

pub(crate) fn elu_neg(x: f64, a: f64) -> f64 {
    a * (x.exp_m1() + 0.0)
}

pub(crate) fn sigmoid(x: f64) -> f64 {
    let e = (-x.abs()).exp();
    (if x >= 0.0 { 1.0 } else { e }) / (1.0 + e)
}

pub(crate) fn sigmoid_grad(x: f64) -> f64 {
    let e = (-x.abs()).exp();
    let d = 1.0 + e;
    e / (d * d)
}

pub(crate) fn tanh_grad(x: f64) -> f64 {
    let e = (-2.0 * x.abs()).exp();
    let d = 1.0 + e;
    4.0 * e / (d * d)
}

pub(crate) fn gelu(x: f64) -> f64 {
    if x < -GELU_CUT {
        return -0.0;
    }
    (0.5 * x) * erfc_scaled(x.min(GELU_CUT))
}

pub(crate) fn gelu_grad(x: f64) -> f64 {
    let xc = clamp_cut(x);
    let cdf = 0.5 * erfc_scaled(xc);
    let sq = xc * xc;
    let sqerr = xc.mul_add(xc, -sq);
    let pdf = INV_SQRT_2PI * ((-0.5 * sq).exp() * (1.0 - 0.5 * sqerr));
    cdf + xc * pdf
}

pub(crate) fn gelu_tanh(x: f64) -> f64 {
    if x < -GELU_CUT {
        return -0.0;
    }
    let u = BETA * (x + KAPPA * (x * x * x));
    let e = (-2.0 * u.abs()).exp();
    x * ((if u >= 0.0 { 1.0 } else { e }) / (1.0 + e))
}

pub(crate) fn gelu_tanh_grad(x: f64) -> f64 {
    let xc = clamp_cut(x);
    let u = BETA * (xc + KAPPA * (xc * xc * xc));
    let du = BETA * (1.0 + (3.0 * KAPPA) * (xc * xc));
    let e = (-2.0 * u.abs()).exp();
    let d = 1.0 + e;
    let s = (if u >= 0.0 { 1.0 } else { e }) / d;
    s + 2.0 * xc * du * e / (d * d)
}

/// Which form computes sigmoid, tanh, ELU, GELU (tanh form) and their derivatives: `f32` the
/// this module (its own `exp`/`expm1` in `f64`), `f64` the libm formulas (`f64_form`).
pub(crate) trait SmoothElem: Sized {
    fn smooth(op: Smooth, x: Self, a: f64, f64_form: impl Fn(Self) -> Self) -> Self;
}

impl SmoothElem for f32 {
    #[inline(always)]
    fn smooth(op: Smooth, x: f32, a: f64, _f64_form: impl Fn(f32) -> f32) -> f32 {
        apply(op, x, a)
    }
}

impl SmoothElem for f64 {
    #[inline(always)]
    fn smooth(_op: Smooth, x: f64, _a: f64, f64_form: impl Fn(f64) -> f64) -> f64 {
        f64_form(x)
    }
}

/// `f32`: this module's kernels on a CPU with FMA (see [`run`]); `f64`: none.
///
/// # Safety
///
/// As [`run`].
pub(crate) trait SmoothKernels: Sized {
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
        unsafe { run(op, x, y, n, avx2) }
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

/// The ops this module computes (with ELU's `alpha` as `f64`).
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(u8)]
pub(crate) enum Smooth {
    Sigmoid,
    SigmoidGrad,
    Tanh,
    TanhGrad,
    Elu,
    EluGrad,
    GeluTanh,
    GeluTanhGrad,
}

impl Smooth {
    /// The op with code `k` (`op as u8`): the vector kernels take the op as a const generic,
    /// so that every op gets its own code whatever the inliner decides.
    #[cfg(target_arch = "x86_64")]
    const fn from_code(k: u8) -> Smooth {
        match k {
            0 => Smooth::Sigmoid,
            1 => Smooth::SigmoidGrad,
            2 => Smooth::Tanh,
            3 => Smooth::TanhGrad,
            4 => Smooth::Elu,
            5 => Smooth::EluGrad,
            6 => Smooth::GeluTanh,
            _ => Smooth::GeluTanhGrad,
        }
    }

    /// The op and its parameter, for the ops this module computes.
    pub(crate) fn of(op: Activation<f32>) -> Option<(Smooth, f64)> {
        Some(match op {
            Activation::Sigmoid => (Smooth::Sigmoid, 0.0),
            Activation::SigmoidGrad => (Smooth::SigmoidGrad, 0.0),
            Activation::Tanh => (Smooth::Tanh, 0.0),
            Activation::TanhGrad => (Smooth::TanhGrad, 0.0),
            Activation::Elu(a) => (Smooth::Elu, f64::from(a)),
            Activation::EluGrad(a) => (Smooth::EluGrad, f64::from(a)),
            Activation::GeluTanh => (Smooth::GeluTanh, 0.0),
            Activation::GeluTanhGrad => (Smooth::GeluTanhGrad, 0.0),
            _ => return None,
        })
    }
}

const YMIN: f64 = -708.0; // exp(y) = 0 below (libm: subnormal down to -745)
const SHIFTER: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52
const LOG2E: f64 = std::f64::consts::LOG2_E;
const LN2_HI: f64 = std::f64::consts::LN_2; // ln 2 rounded ...
const LN2_LO: f64 = 2.319_046_813_846_299_6e-17; // ... and the rest
const C2: f64 = 1.0 / 2.0;
const C3: f64 = 1.0 / 6.0;
const C4: f64 = 1.0 / 24.0;
const C5: f64 = 1.0 / 120.0;
const C6: f64 = 1.0 / 720.0;
const C7: f64 = 1.0 / 5040.0;
const C8: f64 = 1.0 / 40320.0;
const C9: f64 = 1.0 / 362_880.0;
const C10: f64 = 1.0 / 3_628_800.0;
const C11: f64 = 1.0 / 39_916_800.0;
const C12: f64 = 1.0 / 479_001_600.0;

/// `key(bits(-40.0f32))`: `x < -40` iff `key(x) < KEY_M40`.
const KEY_M40: i32 = -0x4220_0000;

// ---- scalar form ------------------------------------------------------------------------------

/// `(s, p)`: `s = 2^k`, `p = expm1(r)` for `y = k ln2 + r` (`y <= 0`); `s = 0` below -708.
#[inline(always)]
fn core(y: f64) -> (f64, f64) {
    let flush = y < YMIN;
    let y = if flush { YMIN } else { y };
    let t = y.mul_add(LOG2E, SHIFTER);
    let k = t - SHIFTER;
    let r = k.mul_add(-LN2_LO, k.mul_add(-LN2_HI, y));
    let r2 = r * r;
    let r4 = r2 * r2;
    let b0 = C5.mul_add(r, C4).mul_add(r2, C3.mul_add(r, C2));
    let b1 = C9.mul_add(r, C8).mul_add(r2, C7.mul_add(r, C6));
    let b2 = C12.mul_add(r2, C11.mul_add(r, C10));
    let q = b2.mul_add(r4, b1).mul_add(r4, b0);
    let s = if flush {
        0.0
    } else {
        f64::from_bits(t.to_bits().wrapping_add(1023) << 52)
    };
    (s, r2.mul_add(q, r))
}

#[inline(always)]
fn exp(y: f64) -> f64 {
    let (s, p) = core(y);
    s.mul_add(p, s)
}

#[inline(always)]
fn expm1(y: f64) -> f64 {
    let (s, p) = core(y);
    s.mul_add(p, s - 1.0)
}

/// `x > 0` on the bits (sign clear, not zero; NaN is excluded by the caller).
#[inline(always)]
fn positive(x: f32) -> bool {
    (x.to_bits() as i32) > 0
}

/// The monotone key of a float's bits (`±0.0` both 0), as in `elems`.
#[inline(always)]
fn key(x: f32) -> i32 {
    let u = x.to_bits();
    let mag = (u & 0x7fff_ffff) as i32;
    if u >> 31 == 1 {
        -mag
    } else {
        mag
    }
}

/// `if neg { a } else { b }` for the sign bit of `m`.
#[inline(always)]
fn sign_sel(m: f64, a: f64, b: f64) -> f64 {
    if m.is_sign_negative() {
        a
    } else {
        b
    }
}

/// The op on one non-NaN float.
#[inline(always)]
fn eval(op: Smooth, x: f32, a: f64) -> f32 {
    let d = f64::from(x);
    match op {
        Smooth::Sigmoid => {
            let e = exp(-d.abs());
            (sign_sel(d, e, 1.0) / (1.0 + e)) as f32
        }
        Smooth::SigmoidGrad => {
            let e = exp(-d.abs());
            let dd = 1.0 + e;
            (e / (dd * dd)) as f32
        }
        Smooth::Tanh => {
            let m = expm1(-2.0 * d.abs());
            let t = (m / (2.0 + m)).abs();
            (if d.is_sign_negative() { -t } else { t }) as f32
        }
        Smooth::TanhGrad => {
            let e = exp(-2.0 * d.abs());
            let dd = 1.0 + e;
            (4.0 * e / (dd * dd)) as f32
        }
        Smooth::Elu => {
            if positive(x) {
                x
            } else {
                (a * (expm1(-d.abs()) + 0.0)) as f32
            }
        }
        Smooth::EluGrad => {
            if positive(x) {
                1.0
            } else {
                (a * exp(-d.abs())) as f32
            }
        }
        Smooth::GeluTanh => {
            if key(x) < KEY_M40 {
                return -0.0;
            }
            let u = BETA * (d + KAPPA * (d * d * d));
            let e = exp(-2.0 * u.abs());
            (d * (sign_sel(u, e, 1.0) / (1.0 + e))) as f32
        }
        Smooth::GeluTanhGrad => {
            let xc = d.clamp(-GELU_CUT, GELU_CUT);
            let u = BETA * (xc + KAPPA * (xc * xc * xc));
            let du = BETA * (1.0 + (3.0 * KAPPA) * (xc * xc));
            let e = exp(-2.0 * u.abs());
            let dd = 1.0 + e;
            let s = sign_sel(u, e, 1.0) / dd;
            (s + 2.0 * xc * du * e / (dd * dd)) as f32
        }
    }
}

/// The op on one float, NaN kept with its bits.
#[inline(always)]
pub(crate) fn apply(op: Smooth, x: f32, a: f64) -> f32 {
    if x.is_nan() {
        x
    } else {
        eval(op, x, a)
    }
}

/// `y[i] = op(x[i])`, `i < n`, with the scalar form compiled for FMA (`mul_add` becomes one
/// instruction instead of a libm call; the same bits).
///
/// # Safety
///
/// The CPU supports FMA; `x` and `y` are valid for `n` elements and either equal or
/// non-overlapping.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
unsafe fn scalar_loop_fma(op: Smooth, x: *const f32, y: *mut f32, n: usize, a: f64) {
    for i in 0..n {
        // SAFETY: i < n; x[i] is read before y[i] is written (x == y is fine).
        unsafe { *y.add(i) = apply(op, *x.add(i), a) };
    }
}

/// `y = op(x)` for the ops of this module on a CPU with FMA: the AVX2+FMA kernel when `avx2`
/// (the caller's path), else the scalar loop compiled for FMA. `false` (touching nothing) for
/// any other op or without FMA (the caller's scalar loop then runs [`apply`]).
///
/// # Safety
///
/// `avx2` only if the CPU supports AVX2; `x` and `y` valid for `n` elements and either equal or
/// non-overlapping.
pub(crate) unsafe fn run(
    op: Activation<f32>,
    x: *const f32,
    y: *mut f32,
    n: usize,
    avx2: bool,
) -> bool {
    let Some((s, a)) = Smooth::of(op) else {
        // SAFETY: forwarded from this function's contract.
        return unsafe { family::run(op, x, y, n) };
    };
    #[cfg(target_arch = "x86_64")]
    if fma_available() {
        if avx2 {
            // SAFETY: AVX2 from the caller's contract, FMA just detected; buffers as required.
            unsafe { run_avx2_fma(s, x, y, n, a) };
        } else {
            // SAFETY: FMA just detected; buffers as required.
            unsafe { scalar_loop_fma(s, x, y, n, a) };
        }
        return true;
    }
    let _ = (s, a, x, y, n, avx2);
    false
}

// ---- silu, softplus, selu, mish ------------------------------------------------------------

pub(crate) use family::Family;

/// SiLU, softplus, SELU, Mish and their derivatives: the formulas of `csrc/kernels/smooth.c`
/// (the same operations in the same order, so C and Rust agree bit for bit), with `e =
/// exp(-|x|)`:
///
/// * silu `x < -800 ? -0.0 : x s`, `s = (x >= 0 ? 1 : e) / (1 + e)`; its derivative, with
///   `xc = clamp(x, -800, 800)`: `s + xc e / (1 + e)^2`;
/// * softplus `x` if `fl(b x) > th` (the product in the type), else `(max(z, 0) +
///   log1p(exp(-|z|))) / b`, `z = b x`; its derivative `1` there, else `sigmoid(z)`;
/// * selu `x > 0 ? SCALE x : SA (expm1(x) + 0)`; its derivative `x > 0 ? SCALE : SA exp(x)`;
/// * mish `x < -800 ? -0.0 : x num / den` (`tanh(softplus(x)) = num / den`: for `x > 0`
///   `num = 1 + 2e`, `den = num + 2 e e`; else `num = e (e + 2)`, `den = num + 2`); its
///   derivative `num / den + 4 xc g (1 + e) / den^2`, `g = e e` for `x > 0`, else `e`.
///
/// `f64`: std's `exp`, `exp_m1`, `ln_1p`; `f32`: this module's `exp`/`expm1` in `f64` (and
/// std's `ln_1p`), rounded once, decisions on the float bits; a scalar loop compiled for FMA
/// when the CPU has it, on every path (no vector body yet).
mod family {
    use super::super::activation::Activation;
    use super::super::piecewise::elems;
    use crate::runtime::cpu::fma_available;

    const SAT: f64 = 800.0;
    const SELU_SCALE: f64 = 1.050_700_987_355_480_5;
    const SELU_SA: f64 = 1.758_099_340_847_376_8;
    /// `key(bits(-800.0f32))`.
    const KEY_M800: i32 = -0x4448_0000;

    fn clamp_sat(x: f64) -> f64 {
        x.clamp(-SAT, SAT) // never NaN here
    }

    macro_rules! formulas {
        ($m:ident, $exp:path, $expm1:path) => {
            mod $m {
                use super::{clamp_sat, SELU_SA};

                #[inline(always)]
                pub(super) fn silu(x: f64) -> f64 {
                    let e = $exp(-x.abs());
                    x * ((if x >= 0.0 { 1.0 } else { e }) / (1.0 + e))
                }

                #[inline(always)]
                pub(super) fn silu_grad(x: f64) -> f64 {
                    let xc = clamp_sat(x);
                    let e = $exp(-xc.abs());
                    let d = 1.0 + e;
                    let s = (if xc >= 0.0 { 1.0 } else { e }) / d;
                    s + xc * e / (d * d)
                }

                #[inline(always)]
                pub(super) fn softplus(z: f64, b: f64) -> f64 {
                    ((if z > 0.0 { z } else { 0.0 }) + $exp(-z.abs()).ln_1p()) / b
                }

                #[inline(always)]
                pub(super) fn softplus_grad(z: f64) -> f64 {
                    let e = $exp(-z.abs());
                    (if z >= 0.0 { 1.0 } else { e }) / (1.0 + e)
                }

                #[inline(always)]
                pub(super) fn selu_neg(x: f64) -> f64 {
                    SELU_SA * ($expm1(-x.abs()) + 0.0)
                }

                #[inline(always)]
                pub(super) fn selu_grad_neg(x: f64) -> f64 {
                    SELU_SA * $exp(-x.abs())
                }

                /// `(num, den, g, e)`: `tanh(softplus(x)) = num / den`.
                #[inline(always)]
                fn mish_parts(x: f64, pos: bool) -> (f64, f64, f64, f64) {
                    let e = $exp(-x.abs());
                    if pos {
                        let num = 1.0 + 2.0 * e;
                        (num, num + 2.0 * e * e, e * e, e)
                    } else {
                        let num = e * (e + 2.0);
                        (num, num + 2.0, e, e)
                    }
                }

                #[inline(always)]
                pub(super) fn mish(x: f64, pos: bool) -> f64 {
                    let (num, den, _, _) = mish_parts(x, pos);
                    x * (num / den)
                }

                #[inline(always)]
                pub(super) fn mish_grad(x: f64, pos: bool) -> f64 {
                    let xc = clamp_sat(x);
                    let (num, den, g, e) = mish_parts(xc, pos);
                    num / den + 4.0 * xc * g * (1.0 + e) / (den * den)
                }
            }
        };
    }

    #[inline(always)]
    fn libm_exp(y: f64) -> f64 {
        y.exp()
    }

    #[inline(always)]
    fn libm_expm1(y: f64) -> f64 {
        y.exp_m1()
    }

    formulas!(libm, super::libm_exp, super::libm_expm1);
    formulas!(own, super::super::exp, super::super::expm1);

    /// The ops of this module on one value of a type.
    pub(crate) trait Family: Sized {
        /// `op(x)` for one of this module's ops (NaN kept with its bits).
        fn family(op: Activation<Self>, x: Self) -> Self;
    }

    impl Family for f64 {
        #[inline(always)]
        fn family(op: Activation<f64>, x: f64) -> f64 {
            use elems::f64 as e;
            if x.is_nan() {
                return x;
            }
            match op {
                Activation::Silu => {
                    if x < -SAT {
                        -0.0
                    } else {
                        libm::silu(x)
                    }
                }
                Activation::SiluGrad => libm::silu_grad(x),
                Activation::Softplus(b, th) | Activation::SoftplusGrad(b, th) => {
                    let z = x * b;
                    let grad = matches!(op, Activation::SoftplusGrad(..));
                    if e::key_of(z) > e::key_of(th) {
                        if grad {
                            1.0
                        } else {
                            x
                        }
                    } else if grad {
                        libm::softplus_grad(z)
                    } else {
                        libm::softplus(z, b)
                    }
                }
                Activation::Selu => {
                    if e::positive(x) {
                        SELU_SCALE * x
                    } else {
                        libm::selu_neg(x)
                    }
                }
                Activation::SeluGrad => {
                    if e::positive(x) {
                        SELU_SCALE
                    } else {
                        libm::selu_grad_neg(x)
                    }
                }
                Activation::Mish => {
                    if x < -SAT {
                        -0.0
                    } else {
                        libm::mish(x, e::positive(x))
                    }
                }
                Activation::MishGrad => libm::mish_grad(x, e::positive(x)),
                _ => unreachable!("not an op of this module"),
            }
        }
    }

    impl Family for f32 {
        #[inline(always)]
        fn family(op: Activation<f32>, x: f32) -> f32 {
            use elems::f32 as e;
            if x.is_nan() {
                return x;
            }
            let d = f64::from(x);
            match op {
                Activation::Silu => {
                    if e::key_of(x) < KEY_M800 {
                        -0.0
                    } else {
                        own::silu(d) as f32
                    }
                }
                Activation::SiluGrad => own::silu_grad(d) as f32,
                Activation::Softplus(b, th) | Activation::SoftplusGrad(b, th) => {
                    let grad = matches!(op, Activation::SoftplusGrad(..));
                    if e::key_of(x * b) > e::key_of(th) {
                        return if grad { 1.0 } else { x };
                    }
                    let z = d * f64::from(b); // exact
                    (if grad {
                        own::softplus_grad(z)
                    } else {
                        own::softplus(z, f64::from(b))
                    }) as f32
                }
                Activation::Selu => {
                    (if e::positive(x) {
                        SELU_SCALE * d
                    } else {
                        own::selu_neg(d)
                    }) as f32
                }
                Activation::SeluGrad => {
                    (if e::positive(x) {
                        SELU_SCALE
                    } else {
                        own::selu_grad_neg(d)
                    }) as f32
                }
                Activation::Mish => {
                    if e::key_of(x) < KEY_M800 {
                        -0.0
                    } else {
                        own::mish(d, e::positive(x)) as f32
                    }
                }
                Activation::MishGrad => own::mish_grad(d, e::positive(x)) as f32,
                _ => unreachable!("not an op of this module"),
            }
        }
    }

    /// Whether `op` is one of this module's.
    fn is_family<T>(op: &Activation<T>) -> bool {
        matches!(
            op,
            Activation::Silu
                | Activation::SiluGrad
                | Activation::Softplus(..)
                | Activation::SoftplusGrad(..)
                | Activation::Selu
                | Activation::SeluGrad
                | Activation::Mish
                | Activation::MishGrad
        )
    }

    /// `y[i] = op(x[i])` compiled for FMA (`mul_add` is one instruction; the same bits).
    ///
    /// # Safety
    ///
    /// The CPU supports FMA; `x` and `y` valid for `n` elements, equal or non-overlapping.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "fma")]
    unsafe fn loop_fma(op: Activation<f32>, x: *const f32, y: *mut f32, n: usize) {
        for i in 0..n {
            // SAFETY: i < n; x[i] is read before y[i] is written (x == y is fine).
            unsafe { *y.add(i) = f32::family(op, *x.add(i)) };
        }
    }

    /// `y = op(x)` for this module's ops on a CPU with FMA; `false` (touching nothing) for any
    /// other op or without FMA (the caller's plain loop then runs [`Family::family`]).
    ///
    /// # Safety
    ///
    /// `x` and `y` valid for `n` elements and either equal or non-overlapping.
    pub(crate) unsafe fn run(op: Activation<f32>, x: *const f32, y: *mut f32, n: usize) -> bool {
        if !is_family(&op) {
            return false;
        }
        #[cfg(target_arch = "x86_64")]
        if fma_available() {
            // SAFETY: FMA just detected; buffers as required.
            unsafe { loop_fma(op, x, y, n) };
            return true;
        }
        let _ = (x, y, n);
        false
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::elementwise::activation::activation_slice_with;
        use crate::runtime::{self, Config, Path};

        fn ops() -> Vec<(Activation<f32>, Activation<f64>)> {
            let sp = |b: f32, t: f32| {
                (
                    Activation::Softplus(b, t),
                    Activation::Softplus(f64::from(b), f64::from(t)),
                )
            };
            let spg = |b: f32, t: f32| {
                (
                    Activation::SoftplusGrad(b, t),
                    Activation::SoftplusGrad(f64::from(b), f64::from(t)),
                )
            };
            vec![
                (Activation::Silu, Activation::Silu),
                (Activation::SiluGrad, Activation::SiluGrad),
                sp(1.0, 20.0),
                sp(2.0, 5.0),
                sp(-0.5, 20.0),
                spg(1.0, 20.0),
                spg(2.0, 5.0),
                spg(-0.5, 20.0),
                (Activation::Selu, Activation::Selu),
                (Activation::SeluGrad, Activation::SeluGrad),
                (Activation::Mish, Activation::Mish),
                (Activation::MishGrad, Activation::MishGrad),
            ]
        }

        /// The size of the terms of the derivatives' cancelling sums (their roots), else 0.
        fn floor(op: Activation<f64>, d: f64) -> f64 {
            let xc = d.clamp(-SAT, SAT);
            let e = (-xc.abs()).exp();
            match op {
                Activation::SiluGrad | Activation::MishGrad => 1.0 + 4.0 * xc.abs() * e,
                _ => 0.0,
            }
        }

        /// Float bit patterns (every 4099th; 16x sparser in a debug build; every one with
        /// RELUKIT_TEST_EXHAUSTIVE=1, the error then on every 16th): the FMA-compiled loop, the
        /// plain element and every path and split give the same bits, within 0.5 + 2^-12 ulp
        /// of the f64 formulas (whose own error is far below a float ulp).
        #[test]
        fn family_same_bits_everywhere_within_half_an_ulp() {
            let exhaustive = std::env::var_os("RELUKIT_TEST_EXHAUSTIVE").is_some_and(|v| v == "1");
            let (step, err_every) = if exhaustive {
                (1u64, 16u64)
            } else if cfg!(debug_assertions) {
                (4099 * 16, 1)
            } else {
                (4099, 1)
            };
            for (op, op64) in ops() {
                let mut max_err = 0.0f64;
                let mut u = 0u64;
                let mut count = 0u64;
                while u < 1 << 32 {
                    let chunk: Vec<f32> = (0..4096)
                        .map_while(|i| {
                            let v = u + i * step;
                            (v < 1 << 32).then(|| f32::from_bits(v as u32))
                        })
                        .collect();
                    u += 4096 * step;
                    let plain: Vec<f32> = chunk.iter().map(|&x| f32::family(op, x)).collect();
                    #[cfg(target_arch = "x86_64")]
                    if fma_available() {
                        let mut y = vec![0.0f32; chunk.len()];
                        // SAFETY: FMA detected; chunk and y hold chunk.len() elements, disjoint.
                        unsafe { loop_fma(op, chunk.as_ptr(), y.as_mut_ptr(), chunk.len()) };
                        for ((a, b), x) in y.iter().zip(&plain).zip(&chunk) {
                            assert_eq!(a.to_bits(), b.to_bits(), "{op:?} fma loop x={x:e}");
                        }
                    }
                    for (i, (&g, &x)) in plain.iter().zip(&chunk).enumerate() {
                        if x.is_nan() {
                            assert_eq!(g.to_bits(), x.to_bits(), "{op:?} NaN bits");
                            continue;
                        }
                        if (count + i as u64) % err_every != 0 {
                            continue;
                        }
                        let d = f64::from(x);
                        let want = f64::family(op64, d);
                        if want.abs() > f64::from(f32::MAX) || x == 0.0 || x.is_infinite() {
                            assert_eq!(g.to_bits(), (want as f32).to_bits(), "{op:?} x={x:e}");
                            continue;
                        }
                        let scale = (want.abs().max(floor(op64, d)) as f32).min(f32::MAX);
                        let spacing =
                            f64::from(f32::from_bits(scale.to_bits() + 1)) - f64::from(scale);
                        let e = (f64::from(g) - want).abs() / spacing;
                        assert!(e <= 0.5 + 1.0 / 4096.0, "{op:?} x={x:e}: {g:e} vs {want:e}");
                        max_err = max_err.max(e);
                    }
                    count += chunk.len() as u64;
                }
                assert!(count > 1_000 && max_err > 0.0, "{op:?}: {count} inputs");
            }
            // every path, split and length gives the plain element's bits
            let mut cfgs = vec![
                Config::single(Path::Portable, usize::MAX),
                Config::single(Path::Portable, 0),
            ];
            if runtime::avx2_available() {
                cfgs.push(Config::single(Path::Avx2, usize::MAX));
            }
            let x: Vec<f32> = (0..1000u32)
                .map(|i| f32::from_bits(i.wrapping_mul(0x9e37_79b9)))
                .chain([
                    0.0,
                    -0.0,
                    f32::INFINITY,
                    f32::NEG_INFINITY,
                    -800.0,
                    20.0,
                    3.0,
                    -3.0,
                ])
                .collect();
            for (op, _) in ops() {
                let want: Vec<u32> = x.iter().map(|&v| f32::family(op, v).to_bits()).collect();
                for cfg in &cfgs {
                    for n in [0usize, 1, 7, 15, 16, 17, 33, 1008] {
                        let mut y = vec![0.0f32; n];
                        activation_slice_with(cfg, op, &x[..n], &mut y).unwrap();
                        let got: Vec<u32> = y.iter().map(|v| v.to_bits()).collect();
                        assert_eq!(got, want[..n], "{op:?} {cfg:?} n={n}");
                    }
                }
            }
        }
    }
}

// ---- AVX2 + FMA -------------------------------------------------------------------------------

#[cfg(target_arch = "x86_64")]
pub(crate) use vector::run_avx2_fma;

#[cfg(target_arch = "x86_64")]
mod vector {
    use core::arch::x86_64::*;

    use super::*;

    /// Four `__m256d` (16 floats) go through every step together, each step a loop over the
    /// four: the instruction stream interleaves four independent chains (as the C kernels).
    const Q: usize = 4;
    type Quad = [__m256d; Q];

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn v(c: f64) -> __m256d {
        _mm256_set1_pd(c)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn fma(a: __m256d, b: __m256d, c: __m256d) -> __m256d {
        _mm256_fmadd_pd(a, b, c)
    }

    /// `m`'s sign bit set ? `a` : `b`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn sign_sel(m: __m256d, a: __m256d, b: __m256d) -> __m256d {
        _mm256_blendv_pd(b, a, m)
    }

    /// `-|d| * c` (`c` = 1 or 2: exact).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn negabs(d: Quad, c: f64) -> Quad {
        let mut r = d;
        for j in 0..Q {
            r[j] = _mm256_mul_pd(v(c), _mm256_or_pd(d[j], v(-0.0)));
        }
        r
    }

    /// The vector form of [`super::core`]: `(s, p)`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn core(y: Quad) -> (Quad, Quad) {
        let z = _mm256_setzero_pd();
        let (mut keep, mut ym, mut t, mut k, mut r, mut r2) =
            ([z; Q], [z; Q], [z; Q], [z; Q], [z; Q], [z; Q]);
        let (mut b0, mut b1, mut b2, mut r4, mut p, mut s) =
            ([z; Q], [z; Q], [z; Q], [z; Q], [z; Q], [z; Q]);
        for j in 0..Q {
            keep[j] = _mm256_cmp_pd::<_CMP_GE_OQ>(y[j], v(YMIN));
            ym[j] = _mm256_max_pd(y[j], v(YMIN));
        }
        for j in 0..Q {
            t[j] = fma(ym[j], v(LOG2E), v(SHIFTER));
        }
        for j in 0..Q {
            k[j] = _mm256_sub_pd(t[j], v(SHIFTER));
        }
        for j in 0..Q {
            r[j] = fma(k[j], v(-LN2_HI), ym[j]);
        }
        for j in 0..Q {
            r[j] = fma(k[j], v(-LN2_LO), r[j]);
        }
        for j in 0..Q {
            r2[j] = _mm256_mul_pd(r[j], r[j]);
        }
        for j in 0..Q {
            b0[j] = fma(fma(v(C5), r[j], v(C4)), r2[j], fma(v(C3), r[j], v(C2)));
            b1[j] = fma(fma(v(C9), r[j], v(C8)), r2[j], fma(v(C7), r[j], v(C6)));
            b2[j] = fma(v(C12), r2[j], fma(v(C11), r[j], v(C10)));
            r4[j] = _mm256_mul_pd(r2[j], r2[j]);
        }
        for j in 0..Q {
            let q = fma(fma(b2[j], r4[j], b1[j]), r4[j], b0[j]);
            p[j] = fma(r2[j], q, r[j]);
            let tb = _mm256_add_epi64(_mm256_castpd_si256(t[j]), _mm256_set1_epi64x(1023));
            s[j] = _mm256_and_pd(keep[j], _mm256_castsi256_pd(_mm256_slli_epi64::<52>(tb)));
        }
        (s, p)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn exp(y: Quad) -> Quad {
        let (s, p) = core(y);
        let mut e = s;
        for j in 0..Q {
            e[j] = fma(s[j], p[j], s[j]);
        }
        e
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn expm1(y: Quad) -> Quad {
        let (s, p) = core(y);
        let mut m = s;
        for j in 0..Q {
            m[j] = fma(s[j], p[j], _mm256_sub_pd(s[j], v(1.0)));
        }
        m
    }

    /// `u = BETA (x + KAPPA x^3)`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn gelu_u(x: __m256d) -> __m256d {
        let cube = _mm256_mul_pd(_mm256_mul_pd(x, x), x);
        _mm256_mul_pd(v(BETA), _mm256_add_pd(x, _mm256_mul_pd(v(KAPPA), cube)))
    }

    /// The op's `f64` lanes (before the float-bit fixes), as [`super::eval`].
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn lanes<const OP: u8>(d: Quad, a: __m256d) -> Quad {
        let one = v(1.0);
        let mut r = d;
        match Smooth::from_code(OP) {
            Smooth::Sigmoid => {
                let e = exp(negabs(d, 1.0));
                for j in 0..Q {
                    r[j] = _mm256_div_pd(sign_sel(d[j], e[j], one), _mm256_add_pd(one, e[j]));
                }
            }
            Smooth::SigmoidGrad => {
                let e = exp(negabs(d, 1.0));
                for j in 0..Q {
                    let dd = _mm256_add_pd(one, e[j]);
                    r[j] = _mm256_div_pd(e[j], _mm256_mul_pd(dd, dd));
                }
            }
            Smooth::Tanh => {
                let m = expm1(negabs(d, 2.0));
                for j in 0..Q {
                    let t = _mm256_div_pd(m[j], _mm256_add_pd(v(2.0), m[j]));
                    r[j] = _mm256_or_pd(_mm256_andnot_pd(v(-0.0), t), _mm256_and_pd(d[j], v(-0.0)));
                }
            }
            Smooth::TanhGrad => {
                let e = exp(negabs(d, 2.0));
                for j in 0..Q {
                    let dd = _mm256_add_pd(one, e[j]);
                    r[j] = _mm256_div_pd(_mm256_mul_pd(v(4.0), e[j]), _mm256_mul_pd(dd, dd));
                }
            }
            Smooth::Elu => {
                let m = expm1(negabs(d, 1.0));
                for j in 0..Q {
                    r[j] = _mm256_mul_pd(a, _mm256_add_pd(m[j], _mm256_setzero_pd()));
                }
            }
            Smooth::EluGrad => {
                let e = exp(negabs(d, 1.0));
                for j in 0..Q {
                    r[j] = _mm256_mul_pd(a, e[j]);
                }
            }
            Smooth::GeluTanh => {
                let mut u = d;
                for j in 0..Q {
                    u[j] = gelu_u(d[j]);
                }
                let e = exp(negabs(u, 2.0));
                for j in 0..Q {
                    let s = _mm256_div_pd(sign_sel(u[j], e[j], one), _mm256_add_pd(one, e[j]));
                    r[j] = _mm256_mul_pd(d[j], s);
                }
            }
            Smooth::GeluTanhGrad => {
                let (mut xc, mut u) = (d, d);
                for j in 0..Q {
                    xc[j] = _mm256_min_pd(_mm256_max_pd(d[j], v(-GELU_CUT)), v(GELU_CUT));
                    u[j] = gelu_u(xc[j]);
                }
                let e = exp(negabs(u, 2.0));
                for j in 0..Q {
                    let sq = _mm256_mul_pd(xc[j], xc[j]);
                    let du = _mm256_mul_pd(
                        v(BETA),
                        _mm256_add_pd(one, _mm256_mul_pd(v(3.0 * KAPPA), sq)),
                    );
                    let dd = _mm256_add_pd(one, e[j]);
                    let s = _mm256_div_pd(sign_sel(u[j], e[j], one), dd);
                    let num = _mm256_mul_pd(_mm256_mul_pd(_mm256_mul_pd(v(2.0), xc[j]), du), e[j]);
                    r[j] = _mm256_add_pd(s, _mm256_div_pd(num, _mm256_mul_pd(dd, dd)));
                }
            }
        }
        r
    }

    /// The op's fixes on the float bits `u` of eight results `r` (ELU's `x > 0` pieces,
    /// gelu_tanh's `x < -40`), then NaN kept.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn fix<const OP: u8>(u: __m256i, r: __m256i) -> __m256i {
        let zero = _mm256_setzero_si256();
        let r = match Smooth::from_code(OP) {
            // x > 0: signed bits > 0 (+NaN too, but the NaN blend comes last)
            Smooth::Elu => _mm256_blendv_epi8(r, u, _mm256_cmpgt_epi32(u, zero)),
            Smooth::EluGrad => _mm256_blendv_epi8(
                r,
                _mm256_set1_epi32(1.0f32.to_bits() as i32),
                _mm256_cmpgt_epi32(u, zero),
            ),
            Smooth::GeluTanh => {
                let mag = _mm256_and_si256(u, _mm256_set1_epi32(i32::MAX));
                let s = _mm256_cmpgt_epi32(zero, u);
                let k = _mm256_sub_epi32(_mm256_xor_si256(mag, s), s);
                let below = _mm256_cmpgt_epi32(_mm256_set1_epi32(KEY_M40), k);
                _mm256_blendv_epi8(r, _mm256_set1_epi32(i32::MIN), below)
            }
            _ => r,
        };
        let mag = _mm256_and_si256(u, _mm256_set1_epi32(i32::MAX));
        let nan = _mm256_cmpgt_epi32(mag, _mm256_set1_epi32(f32::INFINITY.to_bits() as i32));
        _mm256_blendv_epi8(r, u, nan)
    }

    /// The four doubles of half `H` (0: low, 1: high) of eight floats.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn widen<const H: i32>(u: __m256i) -> __m256d {
        _mm256_cvtps_pd(_mm256_extractf128_ps::<H>(_mm256_castsi256_ps(u)))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn narrow(lo: __m256d, hi: __m256d) -> __m256i {
        _mm256_castps_si256(_mm256_set_m128(_mm256_cvtpd_ps(hi), _mm256_cvtpd_ps(lo)))
    }

    /// Sixteen floats: `y[..16] = op(x[..16])`, both loads before the stores.
    ///
    /// # Safety
    ///
    /// AVX2 and FMA; `x`, `y` valid for 16 elements, equal or disjoint.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn block<const OP: u8>(x: *const f32, y: *mut f32, a: __m256d) {
        // SAFETY: x, y valid for 16 floats (this function's contract); unaligned accesses.
        unsafe {
            let u0 = _mm256_loadu_si256(x.cast());
            let u1 = _mm256_loadu_si256(x.add(8).cast());
            let d = [
                widen::<0>(u0),
                widen::<1>(u0),
                widen::<0>(u1),
                widen::<1>(u1),
            ];
            let r = lanes::<OP>(d, a);
            _mm256_storeu_si256(y.cast(), fix::<OP>(u0, narrow(r[0], r[1])));
            _mm256_storeu_si256(y.add(8).cast(), fix::<OP>(u1, narrow(r[2], r[3])));
        }
    }

    /// One loop for every op, instantiated per op (`OP`: the op's code).
    #[inline(always)]
    unsafe fn kernel<const OP: u8>(x: *const f32, y: *mut f32, n: usize, a: f64) {
        // SAFETY (whole body): the caller (run_avx2_fma) guarantees AVX2+FMA and that x, y are
        // valid for n elements, equal or disjoint; every block lies below n, the tail goes
        // through a local buffer.
        unsafe {
            let av = _mm256_set1_pd(a);
            let mut i = 0;
            while i + 16 <= n {
                block::<OP>(x.add(i), y.add(i), av);
                i += 16;
            }
            if i < n {
                let mut buf = [0.0f32; 16];
                core::ptr::copy_nonoverlapping(x.add(i), buf.as_mut_ptr(), n - i);
                let p = buf.as_mut_ptr();
                block::<OP>(p, p, av);
                core::ptr::copy_nonoverlapping(buf.as_ptr(), y.add(i), n - i);
            }
        }
    }

    /// `y = op(x)` for `n` floats with AVX2 and FMA: sixteen per step, the last 1–15 through a
    /// zero-padded buffer (every element takes the same vector arithmetic).
    ///
    /// # Safety
    ///
    /// The CPU supports AVX2 and FMA; `x` and `y` are valid for `n` elements and either equal
    /// or non-overlapping.
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn run_avx2_fma(op: Smooth, x: *const f32, y: *mut f32, n: usize, a: f64) {
        const SIGMOID: u8 = Smooth::Sigmoid as u8;
        const SIGMOID_GRAD: u8 = Smooth::SigmoidGrad as u8;
        const TANH: u8 = Smooth::Tanh as u8;
        const TANH_GRAD: u8 = Smooth::TanhGrad as u8;
        const ELU: u8 = Smooth::Elu as u8;
        const ELU_GRAD: u8 = Smooth::EluGrad as u8;
        const GELU_TANH: u8 = Smooth::GeluTanh as u8;
        const GELU_TANH_GRAD: u8 = Smooth::GeluTanhGrad as u8;
        // SAFETY: forwarded from this function's contract.
        unsafe {
            match op {
                Smooth::Sigmoid => kernel::<SIGMOID>(x, y, n, a),
                Smooth::SigmoidGrad => kernel::<SIGMOID_GRAD>(x, y, n, a),
                Smooth::Tanh => kernel::<TANH>(x, y, n, a),
                Smooth::TanhGrad => kernel::<TANH_GRAD>(x, y, n, a),
                Smooth::Elu => kernel::<ELU>(x, y, n, a),
                Smooth::EluGrad => kernel::<ELU_GRAD>(x, y, n, a),
                Smooth::GeluTanh => kernel::<GELU_TANH>(x, y, n, a),
                Smooth::GeluTanhGrad => kernel::<GELU_TANH_GRAD>(x, y, n, a),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elementwise::activation::{activation_inplace, activation_slice_with};
    use crate::runtime::{self, Config, Path};

    const OPS: [(Smooth, f64); 10] = [
        (Smooth::Sigmoid, 0.0),
        (Smooth::SigmoidGrad, 0.0),
        (Smooth::Tanh, 0.0),
        (Smooth::TanhGrad, 0.0),
        (Smooth::Elu, 1.0),
        (Smooth::Elu, 0.30000001192092896), // 0.3f32
        (Smooth::EluGrad, 1.0),
        (Smooth::EluGrad, 0.30000001192092896),
        (Smooth::GeluTanh, 0.0),
        (Smooth::GeluTanhGrad, 0.0),
    ];

    fn activation(op: Smooth, a: f64) -> Activation<f32> {
        match op {
            Smooth::Sigmoid => Activation::Sigmoid,
            Smooth::SigmoidGrad => Activation::SigmoidGrad,
            Smooth::Tanh => Activation::Tanh,
            Smooth::TanhGrad => Activation::TanhGrad,
            Smooth::Elu => Activation::Elu(a as f32),
            Smooth::EluGrad => Activation::EluGrad(a as f32),
            Smooth::GeluTanh => Activation::GeluTanh,
            Smooth::GeluTanhGrad => Activation::GeluTanhGrad,
        }
    }

    /// The float64 ops' libm formulas at `x` (their error is below 2^-26 float ulp) and the
    /// floor of the error scale (the terms of gelu_tanh's derivative, which cancel at its root).
    fn reference(op: Smooth, x: f32, a: f64) -> (f64, f64) {
        use super as fam;
        let d = f64::from(x);
        match op {
            Smooth::Sigmoid => (fam::sigmoid(d), 0.0),
            Smooth::SigmoidGrad => (fam::sigmoid_grad(d), 0.0),
            Smooth::Tanh => (d.tanh(), 0.0),
            Smooth::TanhGrad => (fam::tanh_grad(d), 0.0),
            Smooth::Elu if d > 0.0 => (d, 0.0),
            Smooth::Elu => (fam::elu_neg(d, a), 0.0),
            Smooth::EluGrad if d > 0.0 => (1.0, 0.0),
            Smooth::EluGrad => (a * d.exp(), 0.0),
            Smooth::GeluTanh => (fam::gelu_tanh(d), 0.0),
            Smooth::GeluTanhGrad => {
                let xc = d.clamp(-GELU_CUT, GELU_CUT);
                let u = BETA * (xc + KAPPA * (xc * xc * xc));
                let du = BETA * (1.0 + (3.0 * KAPPA) * (xc * xc));
                let e = (-2.0 * u.abs()).exp();
                let dd = 1.0 + e;
                let s = (if u < 0.0 { e } else { 1.0 }) / dd;
                let term = 2.0 * xc * du * e / (dd * dd);
                (fam::gelu_tanh_grad(d), s.abs() + term.abs())
            }
        }
    }

    /// Error of `got` in float ulps at max(|want|, floor); exact bits where the contract fixes
    /// them (NaN, ±0, ±inf, ELU's x > 0): 0 or infinity there.
    fn error(op: Smooth, x: f32, a: f64, got: f32) -> f64 {
        if x.is_nan() {
            return if got.to_bits() == x.to_bits() {
                0.0
            } else {
                f64::INFINITY
            };
        }
        let (want, floor) = reference(op, x, a);
        let exact =
            x == 0.0 || x.is_infinite() || (x > 0.0 && matches!(op, Smooth::Elu | Smooth::EluGrad));
        if exact || got.is_infinite() {
            return if got.to_bits() == (want as f32).to_bits() {
                0.0
            } else {
                f64::INFINITY
            };
        }
        let scale = want.abs().max(floor) as f32;
        let spacing = if scale >= f32::MAX {
            f64::from(f32::MAX) - f64::from(f32::from_bits(f32::MAX.to_bits() - 1))
        } else {
            f64::from(f32::from_bits(scale.to_bits() + 1)) - f64::from(scale)
        };
        (f64::from(got) - want).abs() / spacing
    }

    /// Float bit patterns: every 4099th, and every 1021st with 2^-32 <= |x| < 128 (16x sparser
    /// in a debug build); with RELUKIT_TEST_EXHAUSTIVE=1 every one (release build: the plain form
    /// then on every 61st, the error on every 16th; tens of minutes).
    fn patterns() -> (Box<dyn Iterator<Item = u32>>, u64, u64) {
        let exhaustive = std::env::var_os("RELUKIT_TEST_EXHAUSTIVE").is_some_and(|v| v == "1");
        if exhaustive {
            return (Box::new(0..=u32::MAX), 61, 16);
        }
        let k = if cfg!(debug_assertions) { 16 } else { 1 };
        let strided = (0..1u64 << 32).step_by(4099 * k).map(|u| u as u32);
        let dense = [0u32, 0x8000_0000].into_iter().flat_map(move |sign| {
            (0x2f80_0000u32..0x4300_0000)
                .step_by(1021 * k)
                .map(move |u| u | sign)
        });
        (Box::new(strided.chain(dense)), 1, 1)
    }

    #[test]
    fn every_form_gives_the_same_bits_within_half_an_ulp() {
        for (op, a) in OPS {
            let (mut it, plain_every, err_every) = patterns();
            let (mut max_err, mut worst, mut count) = (0.0f64, 0.0f32, 0u64);
            loop {
                let chunk: Vec<f32> = it.by_ref().take(4096).map(f32::from_bits).collect();
                if chunk.is_empty() {
                    break;
                }
                let n = chunk.len();
                let mut forms: Vec<(&str, Vec<f32>)> = Vec::new();
                #[cfg(target_arch = "x86_64")]
                if fma_available() {
                    let mut y = vec![0.0f32; n];
                    // SAFETY: FMA detected; chunk and y hold n elements and do not overlap.
                    unsafe { scalar_loop_fma(op, chunk.as_ptr(), y.as_mut_ptr(), n, a) };
                    forms.push(("scalar fma", y));
                    if runtime::avx2_available() {
                        let mut y = vec![0.0f32; n];
                        // SAFETY: AVX2 and FMA detected; chunk and y hold n elements, disjoint.
                        unsafe { run_avx2_fma(op, chunk.as_ptr(), y.as_mut_ptr(), n, a) };
                        forms.push(("avx2+fma", y));
                    }
                }
                if forms.is_empty() {
                    forms.push(("plain", chunk.iter().map(|&x| apply(op, x, a)).collect()));
                }
                let got = &forms[0].1;
                for (i, (&g, &x)) in got.iter().zip(&chunk).enumerate() {
                    let idx = count + i as u64;
                    for (name, y) in &forms[1..] {
                        assert_eq!(g.to_bits(), y[i].to_bits(), "{op:?}({a}) {name} x={x:e}");
                    }
                    if idx % plain_every == 0 {
                        let p = apply(op, x, a);
                        assert_eq!(g.to_bits(), p.to_bits(), "{op:?}({a}) plain x={x:e}");
                    }
                    if idx % err_every == 0 {
                        let e = error(op, x, a, g);
                        assert!(
                            e <= 1.0,
                            "{op:?}({a}) x={x:e} ({:#x}): {g:e}, {e} ulp",
                            x.to_bits()
                        );
                        if e > max_err {
                            (max_err, worst) = (e, x);
                        }
                    }
                }
                count += n as u64;
            }
            assert!(count > 50_000, "{op:?}: only {count} inputs");
            assert!(
                max_err <= 0.5 + 1.0 / 4096.0,
                "{op:?}({a}): max error {max_err} ulp at x = {worst:e}"
            );
        }
    }

    #[test]
    fn lengths_offsets_in_place_and_paths() {
        let special = [
            0.0f32,
            -0.0,
            1.0,
            -1.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            f32::MIN,
            f32::MIN_POSITIVE,
            f32::from_bits(1),
            f32::from_bits(0x8000_0001),
            f32::from_bits(0x7fc1_2345),
            f32::from_bits(0xff80_0001), // -sNaN
            -40.0,
            f32::from_bits(0xc220_0001), // just below -40
            40.0,
            -21.3, // where gelu_tanh' is a negative subnormal in f64
            -104.0,
            88.8,
            -7.5,
            3.25,
            1e-5,
        ];
        let mut paths = vec![Path::Portable];
        if runtime::avx2_available() {
            paths.push(Path::Avx2);
        }
        for (op, a) in OPS {
            let act = activation(op, a);
            for &path in &paths {
                for n in 0..70 {
                    for off in 0..4 {
                        let x: Vec<f32> =
                            (0..n + off).map(|i| special[(i * 5 + off) % 22]).collect();
                        let mut y = vec![7.0f32; n + 3];
                        let out = &mut y[3 - off.min(3)..][..n];
                        activation_slice_with(
                            &Config::single(path, usize::MAX),
                            act,
                            &x[off..],
                            out,
                        )
                        .unwrap();
                        for (&g, &v) in out.iter().zip(&x[off..]) {
                            assert_eq!(
                                g.to_bits(),
                                apply(op, v, a).to_bits(),
                                "{op:?} {path:?} n={n} x={v:e}"
                            );
                            assert!(error(op, v, a, g) <= 1.0, "{op:?} x={v:e} got {g:e}");
                        }
                    }
                }
            }
            let mut z: Vec<f32> = special.to_vec();
            activation_inplace(act, &mut z);
            for (&g, &v) in z.iter().zip(&special) {
                assert_eq!(
                    g.to_bits(),
                    apply(op, v, a).to_bits(),
                    "{op:?} in place x={v:e}"
                );
            }
        }
    }

    #[test]
    fn fixed_points() {
        let ap = |op, a, x: f32| apply(op, x, a).to_bits();
        assert_eq!(ap(Smooth::Sigmoid, 0.0, -0.0), 0.5f32.to_bits());
        assert_eq!(ap(Smooth::Sigmoid, 0.0, f32::INFINITY), 1.0f32.to_bits());
        assert_eq!(ap(Smooth::Sigmoid, 0.0, f32::NEG_INFINITY), 0);
        assert_eq!(ap(Smooth::SigmoidGrad, 0.0, 0.0), 0.25f32.to_bits());
        assert_eq!(ap(Smooth::Tanh, 0.0, -0.0), 0x8000_0000);
        assert_eq!(
            ap(Smooth::Tanh, 0.0, f32::NEG_INFINITY),
            (-1.0f32).to_bits()
        );
        assert_eq!(ap(Smooth::TanhGrad, 0.0, 0.0), 1.0f32.to_bits());
        assert_eq!(ap(Smooth::TanhGrad, 0.0, f32::INFINITY), 0);
        assert_eq!(ap(Smooth::Elu, 1.0, -0.0), 0); // +0.0, as PyTorch
        assert_eq!(ap(Smooth::Elu, 0.5, f32::NEG_INFINITY), (-0.5f32).to_bits());
        assert_eq!(ap(Smooth::Elu, 1.0, f32::from_bits(1)), 1); // a positive subnormal is x
        assert_eq!(ap(Smooth::EluGrad, 0.5, 0.0), 0.5f32.to_bits());
        assert_eq!(ap(Smooth::GeluTanh, 0.0, f32::NEG_INFINITY), 0x8000_0000);
        assert_eq!(
            ap(Smooth::GeluTanh, 0.0, f32::INFINITY),
            f32::INFINITY.to_bits()
        );
        assert_eq!(ap(Smooth::GeluTanhGrad, 0.0, 0.0), 0.5f32.to_bits());
        assert_eq!(ap(Smooth::GeluTanhGrad, 0.0, f32::NEG_INFINITY), 0);
        assert_eq!(
            ap(Smooth::GeluTanhGrad, 0.0, f32::INFINITY),
            1.0f32.to_bits()
        );
        for bits in [0x7f80_0001u32, 0xffc0_1234] {
            for (op, a) in OPS {
                assert_eq!(ap(op, a, f32::from_bits(bits)), bits, "{op:?} NaN");
            }
        }
        // exp and expm1 themselves at their ends
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(expm1(-0.0).to_bits(), 0);
        assert_eq!(exp(-709.0), 0.0);
        assert_eq!(expm1(-709.0), -1.0);
        assert!(exp(-707.0) > 0.0);
    }
}
