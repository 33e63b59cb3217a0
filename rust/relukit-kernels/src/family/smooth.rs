//! `f32` sigmoid, tanh, ELU, GELU (tanh form) and their derivatives, computed in `f64` lanes with
//! this module's own `exp`/`expm1`: the algorithm of `csrc/family.c` ("float: sigmoid, tanh,
//! ..."), the same operations in the same order, so C and Rust give the same bits.
//!
//! * The exp core, for `y <= 0` (every caller passes `-|something|`): `k = round(y / ln2)`
//!   (`t = y log2(e) + 1.5·2^52` rounds to an integer and holds `k` in its low bits),
//!   `r = (y - k ln2_hi) - k ln2_lo` (two fused multiply-adds), `p = expm1(r) = r + r²(1/2! +
//!   r/3! + … + r^10/12!)` (Estrin's scheme; Taylor's remainder is below 4.9e-16 |r| at
//!   `|r| = ln2/2`), `s = 2^k`; then `exp(y) = s p + s` and `expm1(y) = s p + (s - 1)`, each one
//!   fused multiply-add. Below `y = -708`, `s = 0`: `exp(y) = 0`, `expm1(y) = -1`.
//! * Each op then rounds its `f64` result (within ~1e-15 relative) once to `f32`: within
//!   0.5 ulp + ~2^-26 ulp of the true value.
//! * Three forms, the same bits: `run_avx2_fma` (x86-64 with AVX2 and FMA, eight floats per
//!   step, a tail of 1–7 padded to eight), the scalar loop compiled for FMA (the portable path on
//!   an FMA CPU) and [`apply`] in the family's plain loops (`f64::mul_add` is then libm's
//!   correctly rounded `fma`).

use super::Activation;

/// The ops this module computes (with ELU's `alpha` as `f64`).
#[derive(Debug, Clone, Copy, PartialEq)]
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

use super::{BETA, GELU_CUT, KAPPA};

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

/// Whether this CPU has FMA (always `false` off x86-64: the plain loop runs there).
pub(crate) fn fma_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
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
        return false;
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

// ---- AVX2 + FMA -------------------------------------------------------------------------------

#[cfg(target_arch = "x86_64")]
pub(crate) use vector::run_avx2_fma;

#[cfg(target_arch = "x86_64")]
mod vector {
    use core::arch::x86_64::*;

    use super::*;

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

    /// `-|d|`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn negabs(d: __m256d) -> __m256d {
        _mm256_or_pd(d, v(-0.0))
    }

    /// `m`'s sign bit set ? `a` : `b`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn sign_sel(m: __m256d, a: __m256d, b: __m256d) -> __m256d {
        _mm256_blendv_pd(b, a, m)
    }

    /// The vector form of [`super::core`].
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn core(y: __m256d) -> (__m256d, __m256d) {
        let keep = _mm256_cmp_pd::<_CMP_GE_OQ>(y, v(YMIN));
        let y = _mm256_max_pd(y, v(YMIN));
        let t = fma(y, v(LOG2E), v(SHIFTER));
        let k = _mm256_sub_pd(t, v(SHIFTER));
        let r = fma(k, v(-LN2_LO), fma(k, v(-LN2_HI), y));
        let r2 = _mm256_mul_pd(r, r);
        let r4 = _mm256_mul_pd(r2, r2);
        let b0 = fma(fma(v(C5), r, v(C4)), r2, fma(v(C3), r, v(C2)));
        let b1 = fma(fma(v(C9), r, v(C8)), r2, fma(v(C7), r, v(C6)));
        let b2 = fma(v(C12), r2, fma(v(C11), r, v(C10)));
        let q = fma(fma(b2, r4, b1), r4, b0);
        let tb = _mm256_add_epi64(_mm256_castpd_si256(t), _mm256_set1_epi64x(1023));
        let s = _mm256_and_pd(keep, _mm256_castsi256_pd(_mm256_slli_epi64::<52>(tb)));
        (s, fma(r2, q, r))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn exp(y: __m256d) -> __m256d {
        let (s, p) = core(y);
        fma(s, p, s)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn expm1(y: __m256d) -> __m256d {
        let (s, p) = core(y);
        fma(s, p, _mm256_sub_pd(s, v(1.0)))
    }

    /// The op's `f64` lanes (before the float-bit fixes), as [`super::eval`].
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn lanes(op: Smooth, d: __m256d, a: __m256d) -> __m256d {
        let one = v(1.0);
        match op {
            Smooth::Sigmoid => {
                let e = exp(negabs(d));
                _mm256_div_pd(sign_sel(d, e, one), _mm256_add_pd(one, e))
            }
            Smooth::SigmoidGrad => {
                let e = exp(negabs(d));
                let dd = _mm256_add_pd(one, e);
                _mm256_div_pd(e, _mm256_mul_pd(dd, dd))
            }
            Smooth::Tanh => {
                let m = expm1(_mm256_mul_pd(v(2.0), negabs(d)));
                let t = _mm256_andnot_pd(v(-0.0), _mm256_div_pd(m, _mm256_add_pd(v(2.0), m)));
                _mm256_or_pd(t, _mm256_and_pd(d, v(-0.0)))
            }
            Smooth::TanhGrad => {
                let e = exp(_mm256_mul_pd(v(2.0), negabs(d)));
                let dd = _mm256_add_pd(one, e);
                _mm256_div_pd(_mm256_mul_pd(v(4.0), e), _mm256_mul_pd(dd, dd))
            }
            Smooth::Elu => _mm256_mul_pd(a, _mm256_add_pd(expm1(negabs(d)), _mm256_setzero_pd())),
            Smooth::EluGrad => _mm256_mul_pd(a, exp(negabs(d))),
            Smooth::GeluTanh => {
                let cube = _mm256_mul_pd(_mm256_mul_pd(d, d), d);
                let u = _mm256_mul_pd(v(BETA), _mm256_add_pd(d, _mm256_mul_pd(v(KAPPA), cube)));
                let e = exp(_mm256_mul_pd(v(2.0), negabs(u)));
                let s = _mm256_div_pd(sign_sel(u, e, one), _mm256_add_pd(one, e));
                _mm256_mul_pd(d, s)
            }
            Smooth::GeluTanhGrad => {
                let xc = _mm256_min_pd(_mm256_max_pd(d, v(-GELU_CUT)), v(GELU_CUT));
                let sq = _mm256_mul_pd(xc, xc);
                let cube = _mm256_mul_pd(sq, xc);
                let u = _mm256_mul_pd(v(BETA), _mm256_add_pd(xc, _mm256_mul_pd(v(KAPPA), cube)));
                let du = _mm256_mul_pd(
                    v(BETA),
                    _mm256_add_pd(one, _mm256_mul_pd(v(3.0 * KAPPA), sq)),
                );
                let e = exp(_mm256_mul_pd(v(2.0), negabs(u)));
                let dd = _mm256_add_pd(one, e);
                let s = _mm256_div_pd(sign_sel(u, e, one), dd);
                let num = _mm256_mul_pd(_mm256_mul_pd(_mm256_mul_pd(v(2.0), xc), du), e);
                _mm256_add_pd(s, _mm256_div_pd(num, _mm256_mul_pd(dd, dd)))
            }
        }
    }

    /// Eight floats (bits `u`): both halves in `f64` lanes, rounded, the op's fixes on the float
    /// bits (ELU's `x > 0` pieces, gelu_tanh's `x < -40`), NaN kept.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn block(op: Smooth, u: __m256i, a: __m256d) -> __m256i {
        let xf = _mm256_castsi256_ps(u);
        let lo = lanes(op, _mm256_cvtps_pd(_mm256_castps256_ps128(xf)), a);
        let hi = lanes(op, _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(xf)), a);
        let r = _mm256_castps_si256(_mm256_set_m128(_mm256_cvtpd_ps(hi), _mm256_cvtpd_ps(lo)));
        let zero = _mm256_setzero_si256();
        let r = match op {
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

    /// One loop for every op (the `match` in [`lanes`] and [`block`] is on a loop-invariant
    /// `op`; the kernel is instantiated per op below).
    #[inline(always)]
    unsafe fn kernel(op: Smooth, x: *const f32, y: *mut f32, n: usize, a: f64) {
        // SAFETY (whole body): the caller (run_avx2_fma) guarantees AVX2+FMA and that x, y are
        // valid for n elements, equal or disjoint; every access below is at an index < n, and
        // each block's loads precede its stores.
        unsafe {
            let av = _mm256_set1_pd(a);
            let mut i = 0;
            while i + 16 <= n {
                let u0 = _mm256_loadu_si256(x.add(i).cast());
                let u1 = _mm256_loadu_si256(x.add(i + 8).cast());
                _mm256_storeu_si256(y.add(i).cast(), block(op, u0, av));
                _mm256_storeu_si256(y.add(i + 8).cast(), block(op, u1, av));
                i += 16;
            }
            while i + 8 <= n {
                let u = _mm256_loadu_si256(x.add(i).cast());
                _mm256_storeu_si256(y.add(i).cast(), block(op, u, av));
                i += 8;
            }
            if i < n {
                let mut buf = [0.0f32; 8];
                core::ptr::copy_nonoverlapping(x.add(i), buf.as_mut_ptr(), n - i);
                let u = _mm256_loadu_si256(buf.as_ptr().cast());
                _mm256_storeu_si256(buf.as_mut_ptr().cast(), block(op, u, av));
                core::ptr::copy_nonoverlapping(buf.as_ptr(), y.add(i), n - i);
            }
        }
    }

    /// `y = op(x)` for `n` floats with AVX2 and FMA: eight per step, the last 1–7 through a
    /// zero-padded buffer (every element takes the same vector arithmetic).
    ///
    /// # Safety
    ///
    /// The CPU supports AVX2 and FMA; `x` and `y` are valid for `n` elements and either equal
    /// or non-overlapping.
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn run_avx2_fma(op: Smooth, x: *const f32, y: *mut f32, n: usize, a: f64) {
        // One monomorphic loop per op: `op` is a constant in each arm.
        // SAFETY: forwarded from this function's contract.
        unsafe {
            match op {
                Smooth::Sigmoid => kernel(Smooth::Sigmoid, x, y, n, a),
                Smooth::SigmoidGrad => kernel(Smooth::SigmoidGrad, x, y, n, a),
                Smooth::Tanh => kernel(Smooth::Tanh, x, y, n, a),
                Smooth::TanhGrad => kernel(Smooth::TanhGrad, x, y, n, a),
                Smooth::Elu => kernel(Smooth::Elu, x, y, n, a),
                Smooth::EluGrad => kernel(Smooth::EluGrad, x, y, n, a),
                Smooth::GeluTanh => kernel(Smooth::GeluTanh, x, y, n, a),
                Smooth::GeluTanhGrad => kernel(Smooth::GeluTanhGrad, x, y, n, a),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::{activation_inplace, activation_slice_with};
    use crate::simd::{self, Path};

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
        use super::super as fam;
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

    /// Float bit patterns: every 4099th, and every 1021st with 2^-32 <= |x| < 128 (every one with
    /// RELUKIT_TEST_EXHAUSTIVE=1, in release: minutes); 16x sparser in a debug build.
    fn patterns() -> Vec<u32> {
        let exhaustive = std::env::var_os("RELUKIT_TEST_EXHAUSTIVE").is_some_and(|v| v == "1");
        let k: u64 = if cfg!(debug_assertions) { 16 } else { 1 };
        let mut v = Vec::new();
        if exhaustive {
            v.extend(0..=u32::MAX);
            return v;
        }
        v.extend(
            (0..1u64 << 32)
                .step_by((4099 * k) as usize)
                .map(|u| u as u32),
        );
        for sign in [0u32, 0x8000_0000] {
            v.extend(
                (0x2f80_0000u32..0x4300_0000)
                    .step_by((1021 * k) as usize)
                    .map(|u| u | sign),
            );
        }
        v
    }

    #[test]
    fn every_form_gives_the_same_bits_within_half_an_ulp() {
        let avx2 = simd::avx2_available() && fma_available();
        let xs: Vec<f32> = patterns().into_iter().map(f32::from_bits).collect();
        for (op, a) in OPS {
            let (mut max_err, mut worst) = (0.0f64, 0.0f32);
            for chunk in xs.chunks(4096) {
                let n = chunk.len();
                let plain: Vec<f32> = chunk.iter().map(|&x| apply(op, x, a)).collect();
                let mut forms = Vec::new();
                #[cfg(target_arch = "x86_64")]
                if fma_available() {
                    let mut y = vec![0.0f32; n];
                    // SAFETY: FMA detected; chunk and y hold n elements and do not overlap.
                    unsafe { scalar_loop_fma(op, chunk.as_ptr(), y.as_mut_ptr(), n, a) };
                    forms.push(("scalar fma", y));
                }
                #[cfg(target_arch = "x86_64")]
                if avx2 {
                    let mut y = vec![0.0f32; n];
                    // SAFETY: AVX2 and FMA detected; chunk and y hold n elements, disjoint.
                    unsafe { run_avx2_fma(op, chunk.as_ptr(), y.as_mut_ptr(), n, a) };
                    forms.push(("avx2+fma", y));
                }
                for (name, y) in &forms {
                    for ((&g, &p), &x) in y.iter().zip(&plain).zip(chunk) {
                        assert_eq!(
                            g.to_bits(),
                            p.to_bits(),
                            "{op:?}({a}) {name} vs plain x={x:e}"
                        );
                    }
                }
                for (&g, &x) in plain.iter().zip(chunk) {
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
            assert!(
                max_err <= 0.5 + 1.0 / 4096.0,
                "{op:?}({a}): max error {max_err} ulp at x = {worst:e}"
            );
        }
        assert!(!xs.is_empty() && (avx2 || !simd::avx2_available()));
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
        if simd::avx2_available() {
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
                        activation_slice_with(path, act, &x[off..], out, usize::MAX).unwrap();
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
