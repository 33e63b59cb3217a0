/* smooth.c: the smooth activations elu, gelu (erf form), gelu_tanh (PyTorch's
 * approximate="tanh"), sigmoid and tanh, and their derivatives (contract in relukit.h and in
 * docs/activations.md). Plain C11, no Python.h.
 *
 * double: scalar loops around libm (exp, expm1, erfc, tanh, fma). float: computed in double
 * and rounded once; gelu (erf form) by the double formula below, the others by this file's own
 * exp/expm1 in double lanes: the avx2 path (AVX2+FMA, 16 floats a step) when the kernels' path
 * is AVX2 and the CPU has FMA, else the portable loop, compiled for FMA when the CPU has it
 * (see "float: sigmoid, tanh, ..." further down). Large calls are split over threads like
 * relu's (runtime/split.c); stores stay cached: at a few cycles per element these loops are
 * compute bound, far from memory speed.
 * The double formulas (shared by every backend's float64):
 *   elu        x > 0 ? x : a * (expm1(x) + 0.0)        (+ 0.0: elu(-0.0) = +0.0, as PyTorch)
 *   elu_grad   x > 0 ? 1 : a * exp(x)
 *   sigmoid    e = exp(-|x|); (x >= 0 ? 1 : e) / (1 + e)
 *   sigmoid'   e / (1 + e)^2
 *   tanh'      e = exp(-2|x|); 4 e / (1 + e)^2
 *   gelu       x < -40 ? -0.0 : (x / 2) * erfc(-x/sqrt2)   with the argument's rounding error
 *              corrected to first order (fma gives it exactly): erfc(z + dz) = erfc(z) -
 *              2/sqrt(pi) exp(-z^2) dz, else the tail loses ~1.5 x^2 ulp
 *   gelu'      Phi(x) + x phi(x) with x clamped to [-40, 40] and x^2 = sq + sqerr exact (fma)
 *   gelu_tanh  x < -40 ? -0.0 : x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3)
 *   gelu_tanh' s + 2 x u' e / (1 + e)^2, s = sigmoid(2u), e = exp(-2|u|), x clamped to +-40
 * NaN inputs return x itself (exact bits) everywhere. */
#include "elementwise.h"

#include <math.h>

/* ---- double formulas (see the top of this file) ------------------------------------------- */

static const double SQRT1_2 = 0.7071067811865476;     /* 1/sqrt(2) rounded ... */
static const double SQRT1_2_LO = -4.833646656726457e-17; /* ... and the rest */
static const double TWO_OVER_SQRTPI = 1.1283791670955126;
static const double INV_SQRT_2PI = 0.3989422804014327;
static const double BETA = 0.7978845608028654; /* sqrt(2/pi) */
static const double KAPPA = 0.044715;
static const double GELU_CUT = 40.0;

/* always inlined: the scalar float code below is also compiled into target("fma") loops */
#if defined(__GNUC__)
#define SMOOTH_INLINE static inline __attribute__((always_inline))
#else
#define SMOOTH_INLINE static inline
#endif

/* x > 0 on the bits (sign clear, not zero, not NaN): DAZ cannot turn a subnormal into 0 */
static inline int positive_d(double x)
{
    const uint64_t u = relukit_bits_f64(x);
    return relukit_key_f64(u) > 0 && !relukit_isnan_bit_f64(u);
}

SMOOTH_INLINE double clamp_cut(double x)
{
    return x < -GELU_CUT ? -GELU_CUT : (x > GELU_CUT ? GELU_CUT : x);
}

static double elu_d(double x, double a) { return positive_d(x) ? x : a * (expm1(x) + 0.0); }
static double elu_grad_d(double x, double a) { return positive_d(x) ? 1.0 : a * exp(x); }

static double sigmoid_d(double x)
{
    const double e = exp(-fabs(x));
    return (x >= 0.0 ? 1.0 : e) / (1.0 + e);
}

static double sigmoid_grad_d(double x)
{
    const double e = exp(-fabs(x));
    const double d = 1.0 + e;
    return e / (d * d);
}

static double tanh_d(double x) { return tanh(x); }

static double tanh_grad_d(double x)
{
    const double e = exp(-2.0 * fabs(x));
    const double d = 1.0 + e;
    return 4.0 * e / (d * d);
}

/* erfc(-xc/sqrt(2)) for |xc| <= 40, corrected for the rounding of the argument */
static double erfc_scaled(double xc)
{
    const double n = -xc;
    const double z = n * SQRT1_2;
    const double zerr = fma(n, SQRT1_2, -z) + n * SQRT1_2_LO;
    return erfc(z) - TWO_OVER_SQRTPI * exp(-z * z) * zerr;
}

static double gelu_d(double x)
{
    if (x < -GELU_CUT)
        return -0.0;
    return (0.5 * x) * erfc_scaled(x > GELU_CUT ? GELU_CUT : x);
}

static double gelu_grad_d(double x)
{
    const double xc = clamp_cut(x);
    const double cdf = 0.5 * erfc_scaled(xc);
    const double sq = xc * xc;
    const double sqerr = fma(xc, xc, -sq);
    const double pdf = INV_SQRT_2PI * (exp(-0.5 * sq) * (1.0 - 0.5 * sqerr));
    return cdf + xc * pdf;
}

static double gelu_tanh_d(double x)
{
    if (x < -GELU_CUT)
        return -0.0;
    const double u = BETA * (x + KAPPA * (x * x * x));
    const double e = exp(-2.0 * fabs(u));
    return x * ((u >= 0.0 ? 1.0 : e) / (1.0 + e));
}

static double gelu_tanh_grad_d(double x)
{
    const double xc = clamp_cut(x);
    const double u = BETA * (xc + KAPPA * (xc * xc * xc));
    const double du = BETA * (1.0 + (3.0 * KAPPA) * (xc * xc));
    const double e = exp(-2.0 * fabs(u));
    const double d = 1.0 + e;
    const double s = (u >= 0.0 ? 1.0 : e) / d;
    return s + 2.0 * xc * du * e / (d * d);
}

/* A range function over a double formula (params: the op's one parameter, or NULL). */
#define SMOOTH_F64_RANGE(OP, CALL)                                                               \
    static void OP##_f64_portable(const void *xv, void *yv, size_t n, const void *pv)            \
    {                                                                                            \
        const double *x = xv;                                                                    \
        double *y = yv;                                                                          \
        const double *p = pv;                                                                    \
        (void)p;                                                                                 \
        for (size_t i = 0; i < n; i++)                                                           \
            y[i] = CALL;                                                                         \
    }

/* Check, split over threads, run fn: the array call of every smooth op. */
static int smooth_run(relukit_range_fn fn, const void *params, const void *x, void *y, size_t n,
                      size_t esize)
{
    relukit__ew_run(fn, params, x, y, n, esize, relukit__ew_threads(n, esize));
    return RELUKIT_OK;
}

/* SMOOTH_F64(OP, FN) / SMOOTH_F64_P(OP, FN): relukit_OP_f64 and its array form from the double
 * formula FN (without / with one parameter), NaN passed through with its bits. */
#define SMOOTH_F64(OP, FN)                                                                       \
    double relukit_##OP##_f64(double x)                                                          \
    {                                                                                            \
        return relukit_isnan_bit_f64(relukit_bits_f64(x)) ? x : FN(x);                           \
    }                                                                                            \
    SMOOTH_F64_RANGE(OP, relukit_##OP##_f64(x[i]))                                               \
    int relukit_##OP##_array_f64(const double *x, size_t x_len, double *y, size_t y_len)         \
    {                                                                                            \
        RELUKIT_EW_CHECK(x, x_len, y, y_len, double);                                            \
        return smooth_run(OP##_f64_portable, NULL, x, y, x_len, sizeof(double));                 \
    }
#define SMOOTH_F64_P(OP, FN)                                                                     \
    double relukit_##OP##_f64(double x, double a)                                                \
    {                                                                                            \
        return relukit_isnan_bit_f64(relukit_bits_f64(x)) ? x : FN(x, a);                        \
    }                                                                                            \
    SMOOTH_F64_RANGE(OP, relukit_##OP##_f64(x[i], *p))                                           \
    int relukit_##OP##_array_f64(const double *x, size_t x_len, double *y, size_t y_len,         \
                                 double a)                                                       \
    {                                                                                            \
        RELUKIT_EW_CHECK(x, x_len, y, y_len, double);                                            \
        return smooth_run(OP##_f64_portable, &a, x, y, x_len, sizeof(double));                   \
    }

SMOOTH_F64_P(elu, elu_d)
SMOOTH_F64_P(elu_grad, elu_grad_d)
SMOOTH_F64(sigmoid, sigmoid_d)
SMOOTH_F64(sigmoid_grad, sigmoid_grad_d)
SMOOTH_F64(tanh, tanh_d)
SMOOTH_F64(tanh_grad, tanh_grad_d)
SMOOTH_F64(gelu, gelu_d)
SMOOTH_F64(gelu_grad, gelu_grad_d)
SMOOTH_F64(gelu_tanh, gelu_tanh_d)
SMOOTH_F64(gelu_tanh_grad, gelu_tanh_grad_d)

/* float GELU (erf form): the double formula, rounded once (no vector erfc). */
float relukit_gelu_f32(float x)
{
    return relukit_isnan_bit_f32(relukit_bits_f32(x)) ? x : (float)gelu_d((double)x);
}
float relukit_gelu_grad_f32(float x)
{
    return relukit_isnan_bit_f32(relukit_bits_f32(x)) ? x : (float)gelu_grad_d((double)x);
}
#define SMOOTH_GELU_F32(OP)                                                                      \
    static void OP##_f32_portable(const void *xv, void *yv, size_t n, const void *p)             \
    {                                                                                            \
        const float *x = xv;                                                                     \
        float *y = yv;                                                                           \
        (void)p;                                                                                 \
        for (size_t i = 0; i < n; i++)                                                           \
            y[i] = relukit_##OP##_f32(x[i]);                                                     \
    }                                                                                            \
    int relukit_##OP##_array_f32(const float *x, size_t x_len, float *y, size_t y_len)           \
    {                                                                                            \
        RELUKIT_EW_CHECK(x, x_len, y, y_len, float);                                             \
        return smooth_run(OP##_f32_portable, NULL, x, y, x_len, sizeof(float));                  \
    }
SMOOTH_GELU_F32(gelu)
SMOOTH_GELU_F32(gelu_grad)

/* ---- float: sigmoid, tanh, elu, gelu_tanh and derivatives in double lanes ------------------
 *
 * One algorithm, written twice: a scalar form (the portable path and the scalar entry points)
 * and an AVX2+FMA form on 4 doubles per __m256d (16 floats per step: four quarters converted
 * exactly to double, computed, each rounded once to float; a tail of 1-15 padded to 16).
 * Both use the same operations in the same order, fma() where the vector uses vfmadd (both
 * correctly rounded), so they give the same bits (test_piecewise_smooth.c compares them on
 * float bit patterns, strided or all 2^32; the Rust kernel crate's smooth kernels are the same algorithm
 * again, bit for bit).
 *
 * The exp core, for y <= 0 (every caller's argument is -|something|); below -708 it gives
 * exp(y) = 0 and expm1(y) = -1 (libm's exp goes subnormal there and 0 below -745; every float
 * result built on it is saturated long before, to 0, 1 or -alpha):
 *   k = round(y / ln2) (t = y * log2(e) + 1.5 * 2^52 rounds to an integer; its low bits hold k)
 *   r = (y - k ln2_hi) - k ln2_lo, |r| <= ln2/2 + 2^-40        (two fma: Cody-Waite in fma)
 *   p = r + r^2 (1/2! + r/3! + ... + r^10/12!) = expm1(r)      (Estrin's scheme, 10 fma and
 *       2 mul; Taylor's remainder r^13/13! < 4.9e-16 |r| at |r| = ln2/2)
 *   s = 2^k (exponent bits built from t)
 *   exp(y) = fma(s, p, s),  expm1(y) = fma(s, p, s - 1)  (exact p at k = 0: expm1(y) keeps
 *            its relative accuracy for tiny y)
 * so exp and expm1 are within ~1e-15 relative in double and each float result, rounded once,
 * is within 0.5 ulp + ~2^-26 ulp of the true value (1 ulp is the stated bound). Sampled on
 * every 3rd float bit pattern, the results equal the libm double formulas' (the float64 ops
 * above) rounded once, bit for bit, but for the sign of zero of gelu_tanh' at -21.5 < x <
 * -21.1 (-0.0 from libm's subnormal exp, +0.0 here).
 *
 * The formulas (x float, d = (double)x, decisions on the bits of x):
 *   sigmoid     e = exp(-|d|); (sign(x) ? e : 1) / (1 + e)
 *   sigmoid'    e / (1 + e)^2
 *   tanh        m = expm1(-2|d|); copysign(|m / (2 + m)|, x)
 *   tanh'       e = exp(-2|d|); 4e / (1 + e)^2
 *   elu         x > 0 ? x : a * (expm1(-|d|) + 0.0)
 *   elu'        x > 0 ? 1 : a * exp(-|d|)
 *   gelu_tanh   x < -40 ? -0.0 : d * s, u = BETA (d + KAPPA d^3), s = (sign(u) ? e : 1) / (1 + e),
 *               e = exp(-2|u|)
 *   gelu_tanh'  xc = clamp(d, -40, 40), u and e of xc, du = BETA (1 + 3 KAPPA xc^2),
 *               s + 2 xc du e / (1 + e)^2
 * The vector path needs AVX2 and FMA (both detected at run time) and the AVX2 path of relu
 * (RELUKIT_FORCE_PORTABLE unset); else the scalar loop, compiled for FMA when the CPU has it,
 * else with libm's fma() (correctly rounded too: the same bits, slower). */

static const double SMOOTH_YMIN = -708.0; /* exp(y) = 0 below (libm: subnormal to -745) */
static const double SMOOTH_SHIFTER = 6755399441055744.0; /* 1.5 * 2^52 */
static const double SMOOTH_LOG2E = 1.4426950408889634;
static const double SMOOTH_LN2_HI = 0.6931471805599453;     /* ln 2 rounded ... */
static const double SMOOTH_LN2_LO = 2.3190468138462996e-17; /* ... and the rest */
#define SMOOTH_C2 (1.0 / 2.0)
#define SMOOTH_C3 (1.0 / 6.0)
#define SMOOTH_C4 (1.0 / 24.0)
#define SMOOTH_C5 (1.0 / 120.0)
#define SMOOTH_C6 (1.0 / 720.0)
#define SMOOTH_C7 (1.0 / 5040.0)
#define SMOOTH_C8 (1.0 / 40320.0)
#define SMOOTH_C9 (1.0 / 362880.0)
#define SMOOTH_C10 (1.0 / 3628800.0)
#define SMOOTH_C11 (1.0 / 39916800.0)
#define SMOOTH_C12 (1.0 / 479001600.0)

/* scalar form ------------------------------------------------------------------------------ */

/* p = expm1(r) and *s = 2^k for y = k ln2 + r (y <= 0 on entry); below -708, *s = 0 (so
 * exp(y) = 0 and expm1(y) = -1 exactly) */
SMOOTH_INLINE double smooth_core(double y, double *s)
{
    const int flush = y < SMOOTH_YMIN;
    if (flush)
        y = SMOOTH_YMIN;
    const double t = fma(y, SMOOTH_LOG2E, SMOOTH_SHIFTER);
    const double k = t - SMOOTH_SHIFTER;
    const double r = fma(k, -SMOOTH_LN2_LO, fma(k, -SMOOTH_LN2_HI, y));
    const double r2 = r * r, r4 = r2 * r2;
    const double b0 = fma(fma(SMOOTH_C5, r, SMOOTH_C4), r2, fma(SMOOTH_C3, r, SMOOTH_C2));
    const double b1 = fma(fma(SMOOTH_C9, r, SMOOTH_C8), r2, fma(SMOOTH_C7, r, SMOOTH_C6));
    const double b2 = fma(SMOOTH_C12, r2, fma(SMOOTH_C11, r, SMOOTH_C10));
    const double q = fma(fma(b2, r4, b1), r4, b0);
    *s = flush ? 0.0 : relukit_from_bits_f64((relukit_bits_f64(t) + 1023u) << 52);
    return fma(r2, q, r);
}
SMOOTH_INLINE double smooth_exp(double y)
{
    double s;
    const double p = smooth_core(y, &s);
    return fma(s, p, s);
}
SMOOTH_INLINE double smooth_expm1(double y)
{
    double s;
    const double p = smooth_core(y, &s);
    return fma(s, p, s - 1.0);
}

static const int32_t SMOOTH_KEY_M40 = -0x42200000; /* relukit_key_f32(bits(-40.0f)) */

/* x > 0 on the bits (NaN excluded by every caller) */
SMOOTH_INLINE int smooth_pos(float x) { return relukit_keyof_f32(x) > 0; }

SMOOTH_INLINE float smooth_sigmoid_elem(float x, double a)
{
    (void)a;
    const double d = x;
    const double e = smooth_exp(-fabs(d));
    return (float)((signbit(d) ? e : 1.0) / (1.0 + e));
}
SMOOTH_INLINE float smooth_sigmoid_grad_elem(float x, double a)
{
    (void)a;
    const double d = x;
    const double e = smooth_exp(-fabs(d));
    const double dd = 1.0 + e;
    return (float)(e / (dd * dd));
}
SMOOTH_INLINE float smooth_tanh_elem(float x, double a)
{
    (void)a;
    const double d = x;
    const double m = smooth_expm1(-2.0 * fabs(d));
    const double t = fabs(m / (2.0 + m));
    return (float)(signbit(d) ? -t : t);
}
SMOOTH_INLINE float smooth_tanh_grad_elem(float x, double a)
{
    (void)a;
    const double d = x;
    const double e = smooth_exp(-2.0 * fabs(d));
    const double dd = 1.0 + e;
    return (float)(4.0 * e / (dd * dd));
}
SMOOTH_INLINE float smooth_elu_elem(float x, double a)
{
    const double d = x;
    return smooth_pos(x) ? x : (float)(a * (smooth_expm1(-fabs(d)) + 0.0));
}
SMOOTH_INLINE float smooth_elu_grad_elem(float x, double a)
{
    const double d = x;
    return smooth_pos(x) ? 1.0f : (float)(a * smooth_exp(-fabs(d)));
}
SMOOTH_INLINE float smooth_gelu_tanh_elem(float x, double a)
{
    (void)a;
    if (relukit_keyof_f32(x) < SMOOTH_KEY_M40)
        return -0.0f;
    const double d = x;
    const double u = BETA * (d + KAPPA * (d * d * d));
    const double e = smooth_exp(-2.0 * fabs(u));
    return (float)(d * ((signbit(u) ? e : 1.0) / (1.0 + e)));
}
SMOOTH_INLINE float smooth_gelu_tanh_grad_elem(float x, double a)
{
    (void)a;
    const double xc = clamp_cut((double)x);
    const double u = BETA * (xc + KAPPA * (xc * xc * xc));
    const double du = BETA * (1.0 + (3.0 * KAPPA) * (xc * xc));
    const double e = smooth_exp(-2.0 * fabs(u));
    const double dd = 1.0 + e;
    const double s = (signbit(u) ? e : 1.0) / dd;
    return (float)(s + 2.0 * xc * du * e / (dd * dd));
}

/* vector form ------------------------------------------------------------------------------ */

#if RELUKIT_X86_DISPATCH
#define SMOOTH_AVX2_FN __attribute__((target("avx2,fma")))
/* the helpers: always inlined (as one body per kernel; GCC would otherwise call the exp core) */
#define SMOOTH_VFN static inline __attribute__((always_inline, target("avx2,fma")))

/* Four __m256d (16 floats) go through every step together, each step written as a loop over
 * the four that the compiler unrolls: the instruction stream interleaves four independent
 * chains of ~60 cycles' latency, which the out-of-order core could not find on its own from
 * one chain after another (measured: 15 % faster than one 8-float block per step). */
#define QUAD 4
typedef struct {
    __m256d v[QUAD];
} quad;
#define QUAD_EACH _Pragma("GCC unroll 4") for (int j = 0; j < QUAD; j++)

SMOOTH_VFN __m256d vec_set(double v) { return _mm256_set1_pd(v); }
SMOOTH_VFN __m256d vec_fma(__m256d a, __m256d b, __m256d c)
{
    return _mm256_fmadd_pd(a, b, c);
}
/* sign(m) ? a : b on the sign bits of m */
SMOOTH_VFN __m256d vec_sign_sel(__m256d m, __m256d a, __m256d b)
{
    return _mm256_blendv_pd(b, a, m);
}
/* -|d| * c (c = 1 or 2: exact) */
SMOOTH_VFN quad quad_negabs(quad d, double c)
{
    quad r;
    QUAD_EACH r.v[j] = _mm256_mul_pd(vec_set(c), _mm256_or_pd(d.v[j], vec_set(-0.0)));
    return r;
}

/* the vector form of smooth_core: p (returned) and *s */
SMOOTH_VFN quad quad_core(quad y, quad *s)
{
    quad keep, t, k, r, r2, r4, b0, b1, b2, p;
    QUAD_EACH {
        keep.v[j] = _mm256_cmp_pd(y.v[j], vec_set(SMOOTH_YMIN), _CMP_GE_OQ);
        y.v[j] = _mm256_max_pd(y.v[j], vec_set(SMOOTH_YMIN));
    }
    QUAD_EACH t.v[j] = vec_fma(y.v[j], vec_set(SMOOTH_LOG2E), vec_set(SMOOTH_SHIFTER));
    QUAD_EACH k.v[j] = _mm256_sub_pd(t.v[j], vec_set(SMOOTH_SHIFTER));
    QUAD_EACH r.v[j] = vec_fma(k.v[j], vec_set(-SMOOTH_LN2_HI), y.v[j]);
    QUAD_EACH r.v[j] = vec_fma(k.v[j], vec_set(-SMOOTH_LN2_LO), r.v[j]);
    QUAD_EACH r2.v[j] = _mm256_mul_pd(r.v[j], r.v[j]);
    QUAD_EACH {
        b0.v[j] = vec_fma(vec_fma(vec_set(SMOOTH_C5), r.v[j], vec_set(SMOOTH_C4)), r2.v[j],
                          vec_fma(vec_set(SMOOTH_C3), r.v[j], vec_set(SMOOTH_C2)));
        b1.v[j] = vec_fma(vec_fma(vec_set(SMOOTH_C9), r.v[j], vec_set(SMOOTH_C8)), r2.v[j],
                          vec_fma(vec_set(SMOOTH_C7), r.v[j], vec_set(SMOOTH_C6)));
        b2.v[j] = vec_fma(vec_set(SMOOTH_C12), r2.v[j], vec_fma(vec_set(SMOOTH_C11), r.v[j], vec_set(SMOOTH_C10)));
        r4.v[j] = _mm256_mul_pd(r2.v[j], r2.v[j]);
    }
    QUAD_EACH {
        const __m256d q = vec_fma(vec_fma(b2.v[j], r4.v[j], b1.v[j]), r4.v[j], b0.v[j]);
        p.v[j] = vec_fma(r2.v[j], q, r.v[j]);
        const __m256i tb = _mm256_add_epi64(_mm256_castpd_si256(t.v[j]), _mm256_set1_epi64x(1023));
        s->v[j] = _mm256_and_pd(keep.v[j], _mm256_castsi256_pd(_mm256_slli_epi64(tb, 52)));
    }
    return p;
}
SMOOTH_VFN quad quad_exp(quad y)
{
    quad s, e;
    const quad p = quad_core(y, &s);
    QUAD_EACH e.v[j] = vec_fma(s.v[j], p.v[j], s.v[j]);
    return e;
}
SMOOTH_VFN quad quad_expm1(quad y)
{
    quad s, m;
    const quad p = quad_core(y, &s);
    QUAD_EACH m.v[j] = vec_fma(s.v[j], p.v[j], _mm256_sub_pd(s.v[j], vec_set(1.0)));
    return m;
}

/* per op: the double lanes (smooth_OP_vec, as smooth_OP_elem) and the float-bit fixes besides NaN
 * (smooth_OP_fix) */
SMOOTH_VFN quad smooth_sigmoid_vec(quad d, __m256d a)
{
    (void)a;
    const quad e = quad_exp(quad_negabs(d, 1.0));
    quad r;
    QUAD_EACH r.v[j] = _mm256_div_pd(vec_sign_sel(d.v[j], e.v[j], vec_set(1.0)),
                                    _mm256_add_pd(vec_set(1.0), e.v[j]));
    return r;
}
SMOOTH_VFN quad smooth_sigmoid_grad_vec(quad d, __m256d a)
{
    (void)a;
    const quad e = quad_exp(quad_negabs(d, 1.0));
    quad r;
    QUAD_EACH {
        const __m256d dd = _mm256_add_pd(vec_set(1.0), e.v[j]);
        r.v[j] = _mm256_div_pd(e.v[j], _mm256_mul_pd(dd, dd));
    }
    return r;
}
SMOOTH_VFN quad smooth_tanh_vec(quad d, __m256d a)
{
    (void)a;
    const quad m = quad_expm1(quad_negabs(d, 2.0));
    quad r;
    QUAD_EACH {
        const __m256d t = _mm256_div_pd(m.v[j], _mm256_add_pd(vec_set(2.0), m.v[j]));
        r.v[j] = _mm256_or_pd(_mm256_andnot_pd(vec_set(-0.0), t), _mm256_and_pd(d.v[j], vec_set(-0.0)));
    }
    return r;
}
SMOOTH_VFN quad smooth_tanh_grad_vec(quad d, __m256d a)
{
    (void)a;
    const quad e = quad_exp(quad_negabs(d, 2.0));
    quad r;
    QUAD_EACH {
        const __m256d dd = _mm256_add_pd(vec_set(1.0), e.v[j]);
        r.v[j] = _mm256_div_pd(_mm256_mul_pd(vec_set(4.0), e.v[j]), _mm256_mul_pd(dd, dd));
    }
    return r;
}
SMOOTH_VFN quad smooth_elu_vec(quad d, __m256d a)
{
    const quad m = quad_expm1(quad_negabs(d, 1.0));
    quad r;
    QUAD_EACH r.v[j] = _mm256_mul_pd(a, _mm256_add_pd(m.v[j], _mm256_setzero_pd()));
    return r;
}
SMOOTH_VFN quad smooth_elu_grad_vec(quad d, __m256d a)
{
    const quad e = quad_exp(quad_negabs(d, 1.0));
    quad r;
    QUAD_EACH r.v[j] = _mm256_mul_pd(a, e.v[j]);
    return r;
}
/* u = BETA (x + KAPPA x^3) */
SMOOTH_VFN __m256d vec_gelu_u(__m256d x)
{
    const __m256d cube = _mm256_mul_pd(_mm256_mul_pd(x, x), x);
    return _mm256_mul_pd(vec_set(BETA), _mm256_add_pd(x, _mm256_mul_pd(vec_set(KAPPA), cube)));
}
SMOOTH_VFN quad smooth_gelu_tanh_vec(quad d, __m256d a)
{
    (void)a;
    quad u, r;
    QUAD_EACH u.v[j] = vec_gelu_u(d.v[j]);
    const quad e = quad_exp(quad_negabs(u, 2.0));
    QUAD_EACH {
        const __m256d s = _mm256_div_pd(vec_sign_sel(u.v[j], e.v[j], vec_set(1.0)),
                                        _mm256_add_pd(vec_set(1.0), e.v[j]));
        r.v[j] = _mm256_mul_pd(d.v[j], s);
    }
    return r;
}
SMOOTH_VFN quad smooth_gelu_tanh_grad_vec(quad d, __m256d a)
{
    (void)a;
    quad xc, u, r;
    QUAD_EACH {
        xc.v[j] = _mm256_min_pd(_mm256_max_pd(d.v[j], vec_set(-GELU_CUT)), vec_set(GELU_CUT));
        u.v[j] = vec_gelu_u(xc.v[j]);
    }
    const quad e = quad_exp(quad_negabs(u, 2.0));
    QUAD_EACH {
        const __m256d sq = _mm256_mul_pd(xc.v[j], xc.v[j]);
        const __m256d du =
            _mm256_mul_pd(vec_set(BETA), _mm256_add_pd(vec_set(1.0), _mm256_mul_pd(vec_set(3.0 * KAPPA), sq)));
        const __m256d dd = _mm256_add_pd(vec_set(1.0), e.v[j]);
        const __m256d s = _mm256_div_pd(vec_sign_sel(u.v[j], e.v[j], vec_set(1.0)), dd);
        const __m256d num =
            _mm256_mul_pd(_mm256_mul_pd(_mm256_mul_pd(vec_set(2.0), xc.v[j]), du), e.v[j]);
        r.v[j] = _mm256_add_pd(s, _mm256_div_pd(num, _mm256_mul_pd(dd, dd)));
    }
    return r;
}

/* The vector ops on float bit patterns the fixes need (as piecewise.c's). */
SMOOTH_VFN __m256i sel(__m256i mask, __m256i a, __m256i b) { return _mm256_blendv_epi8(b, a, mask); }
SMOOTH_VFN __m256i set1_f32(uint32_t b) { return _mm256_set1_epi32((int)b); }
SMOOTH_VFN __m256i key_vec_f32(__m256i u)
{
    const __m256i mag = _mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff));
    const __m256i s = _mm256_srai_epi32(u, 31);
    return _mm256_sub_epi32(_mm256_xor_si256(mag, s), s);
}
SMOOTH_VFN __m256i nan_vec_f32(__m256i u)
{
    return _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)),
                              _mm256_set1_epi32(0x7f800000));
}

/* per op, the float-bit fixes besides NaN (smooth_OP_fix) */
SMOOTH_VFN __m256i smooth_none_fix(__m256i u, __m256i r)
{
    (void)u;
    return r;
}
#define smooth_sigmoid_fix smooth_none_fix
#define smooth_sigmoid_grad_fix smooth_none_fix
#define smooth_tanh_fix smooth_none_fix
#define smooth_tanh_grad_fix smooth_none_fix
#define smooth_gelu_tanh_grad_fix smooth_none_fix
/* x > 0 (signed bits > 0; +NaN too, but the NaN blend comes last) */
SMOOTH_VFN __m256i smooth_elu_fix(__m256i u, __m256i r)
{
    return sel(_mm256_cmpgt_epi32(u, _mm256_setzero_si256()), u, r);
}
SMOOTH_VFN __m256i smooth_elu_grad_fix(__m256i u, __m256i r)
{
    return sel(_mm256_cmpgt_epi32(u, _mm256_setzero_si256()), set1_f32(0x3f800000u), r);
}
SMOOTH_VFN __m256i smooth_gelu_tanh_fix(__m256i u, __m256i r)
{
    return sel(_mm256_cmpgt_epi32(_mm256_set1_epi32(SMOOTH_KEY_M40), key_vec_f32(u)),
               set1_f32(0x80000000u), r);
}

/* the four doubles of half h (0: low, 1: high) of eight floats */
SMOOTH_VFN __m256d vec_widen(__m256i u, int h)
{
    const __m256 f = _mm256_castsi256_ps(u);
    return _mm256_cvtps_pd(h ? _mm256_extractf128_ps(f, 1) : _mm256_castps256_ps128(f));
}
SMOOTH_VFN __m256i vec_narrow(__m256d lo, __m256d hi)
{
    return _mm256_castps_si256(_mm256_set_m128(_mm256_cvtpd_ps(hi), _mm256_cvtpd_ps(lo)));
}

/* SMOOTH_AVX2(OP): smooth_OP_f32_avx2, sixteen floats per step (the op's double lanes on four
 * __m256d, each rounded once, the fixes, NaN kept), the last 1-15 through a zero-padded buffer
 * so that every element takes the same vector arithmetic wherever a part of a split call
 * starts. Both loads precede the stores, so x == y is fine. */
#define SMOOTH_AVX2(OP)                                                                          \
    SMOOTH_VFN void smooth_##OP##_block(const float *x, float *y, __m256d a)                     \
    {                                                                                            \
        const __m256i u0 = RELUKIT_LOADV(x), u1 = RELUKIT_LOADV(x + 8);                          \
        quad d;                                                                                  \
        d.v[0] = vec_widen(u0, 0);                                                               \
        d.v[1] = vec_widen(u0, 1);                                                               \
        d.v[2] = vec_widen(u1, 0);                                                               \
        d.v[3] = vec_widen(u1, 1);                                                               \
        const quad r = smooth_##OP##_vec(d, a);                                                  \
        const __m256i r0 = smooth_##OP##_fix(u0, vec_narrow(r.v[0], r.v[1]));                   \
        const __m256i r1 = smooth_##OP##_fix(u1, vec_narrow(r.v[2], r.v[3]));                   \
        RELUKIT_STOREU(y, sel(nan_vec_f32(u0), u0, r0));                                         \
        RELUKIT_STOREU(y + 8, sel(nan_vec_f32(u1), u1, r1));                                     \
    }                                                                                            \
    SMOOTH_AVX2_FN static void OP##_f32_avx2(const void *xv, void *yv, size_t n, const void *pv) \
    {                                                                                            \
        const float *x = xv;                                                                     \
        float *y = yv;                                                                           \
        const __m256d a = _mm256_set1_pd(*(const double *)pv);                                   \
        size_t i = 0;                                                                            \
        for (; i + 16 <= n; i += 16)                                                             \
            smooth_##OP##_block(x + i, y + i, a);                                                \
        if (i < n) {                                                                             \
            float buf[16] = {0};                                                                 \
            memcpy(buf, x + i, (n - i) * sizeof *x);                                             \
            smooth_##OP##_block(buf, buf, a);                                                    \
            memcpy(y + i, buf, (n - i) * sizeof *y);                                             \
        }                                                                                        \
    }

SMOOTH_AVX2(sigmoid)
SMOOTH_AVX2(sigmoid_grad)
SMOOTH_AVX2(tanh)
SMOOTH_AVX2(tanh_grad)
SMOOTH_AVX2(elu)
SMOOTH_AVX2(elu_grad)
SMOOTH_AVX2(gelu_tanh)
SMOOTH_AVX2(gelu_tanh_grad)
#endif /* RELUKIT_X86_DISPATCH */

/* The portable loop (OP_f32_portable), and where x86 dispatch exists the same source compiled
 * for FMA (OP_f32_portable_fma: fma() becomes one instruction instead of a libm call): the
 * portable path on a CPU with FMA. Same source, same bits. */
#define SMOOTH_PORTABLE_LOOP(OP, NAME, ATTR)                                                     \
    ATTR static void NAME(const void *xv, void *yv, size_t n, const void *pv)                    \
    {                                                                                            \
        const float *x = xv;                                                                     \
        float *y = yv;                                                                           \
        const double a = *(const double *)pv;                                                    \
        for (size_t i = 0; i < n; i++) {                                                         \
            const float v = x[i];                                                                \
            y[i] = relukit_isnan_bit_f32(relukit_bits_f32(v)) ? v : smooth_##OP##_elem(v, a);    \
        }                                                                                        \
    }
#if RELUKIT_X86_DISPATCH
#define SMOOTH_PORTABLE(OP)                                                                      \
    SMOOTH_PORTABLE_LOOP(OP, OP##_f32_portable, )                                                \
    SMOOTH_PORTABLE_LOOP(OP, OP##_f32_portable_fma, __attribute__((target("fma"))))
/* avx2 iff the kernels' path is AVX2 (CPU, RELUKIT_FORCE_PORTABLE) and the CPU has FMA; else,
 * with FMA, the portable loop compiled for it; else the plain portable loop. */
#define SMOOTH_PICK(OP)                                                                          \
    (!relukit__have_fma()                                   ? OP##_f32_portable                  \
     : relukit__get_simd() == RELUKIT_SIMD_AVX2 ? OP##_f32_avx2                                  \
                                                : OP##_f32_portable_fma)
#else
#define SMOOTH_PORTABLE(OP) SMOOTH_PORTABLE_LOOP(OP, OP##_f32_portable, )
#define SMOOTH_PICK(OP) OP##_f32_portable
#endif

/* Test hook: 1 if the float smooth array kernels take the avx2 path now. */
int relukit__smooth_vector_path(void);
int relukit__smooth_vector_path(void)
{
    return RELUKIT_X86_DISPATCH && relukit__get_simd() == RELUKIT_SIMD_AVX2 &&
           relukit__have_fma();
}

/* SMOOTH_F32(OP) / SMOOTH_F32_P(OP): relukit_OP_f32 and relukit_OP_array_f32 (no parameter /
 * alpha) */
#define SMOOTH_F32(OP)                                                                           \
    SMOOTH_PORTABLE(OP)                                                                          \
    float relukit_##OP##_f32(float x)                                                            \
    {                                                                                            \
        return relukit_isnan_bit_f32(relukit_bits_f32(x)) ? x : smooth_##OP##_elem(x, 0.0);      \
    }                                                                                            \
    int relukit_##OP##_array_f32(const float *x, size_t x_len, float *y, size_t y_len)           \
    {                                                                                            \
        RELUKIT_EW_CHECK(x, x_len, y, y_len, float);                                             \
        const double a = 0.0;                                                                    \
        return smooth_run(SMOOTH_PICK(OP), &a, x, y, x_len, sizeof(float));                      \
    }
#define SMOOTH_F32_P(OP)                                                                         \
    SMOOTH_PORTABLE(OP)                                                                          \
    float relukit_##OP##_f32(float x, float a)                                                   \
    {                                                                                            \
        return relukit_isnan_bit_f32(relukit_bits_f32(x)) ? x : smooth_##OP##_elem(x, (double)a); \
    }                                                                                            \
    int relukit_##OP##_array_f32(const float *x, size_t x_len, float *y, size_t y_len, float a)  \
    {                                                                                            \
        RELUKIT_EW_CHECK(x, x_len, y, y_len, float);                                             \
        const double ad = (double)a;                                                             \
        return smooth_run(SMOOTH_PICK(OP), &ad, x, y, x_len, sizeof(float));                     \
    }

SMOOTH_F32(sigmoid)
SMOOTH_F32(sigmoid_grad)
SMOOTH_F32(tanh)
SMOOTH_F32(tanh_grad)
SMOOTH_F32_P(elu)
SMOOTH_F32_P(elu_grad)
SMOOTH_F32(gelu_tanh)
SMOOTH_F32(gelu_tanh_grad)

/* ---- silu, softplus, selu, mish and their derivatives ---------------------------------------
 *
 * double: the formulas below around libm (exp, expm1, log1p), as every backend writes them;
 * float: the same formulas in double with this file's exp/expm1 (smooth_exp, smooth_expm1:
 * every argument is -|something| <= 0), libm's log1p for softplus, rounded once; decisions on
 * the float bits. The scalar loop (compiled for FMA when the CPU has it, so smooth_core's fma
 * is one instruction) runs on every path and is split over threads like every smooth op; no
 * vector body yet. e = exp(-|x|) throughout:
 *   silu        x < -800 ? -0.0 : x * s,  s = (x >= 0 ? 1 : e) / (1 + e)
 *   silu'       xc = clamp(x, -800, 800): s + xc e / (1 + e)^2   (= s (1 + x (1 - s)))
 *   softplus    z = b x; x if fl(b x) > th (the product in x's type: PyTorch's test), else
 *               (max(z, 0) + log1p(exp(-|z|))) / b     (no overflow for any threshold)
 *   softplus'   1 if fl(b x) > th, else sigmoid(z) = (z >= 0 ? 1 : e_z) / (1 + e_z)
 *   selu        x > 0 ? SCALE x : SA (expm1(x) + 0.0)    (SA = SCALE * ALPHA, PyTorch's
 *   selu'       x > 0 ? SCALE : SA exp(x)                  constants, rounded to double)
 *   mish        x < -800 ? -0.0 : x num / den, tanh(softplus(x)) = num / den with
 *               x > 0: num = 1 + 2e, den = num + 2 e e;  x <= 0: num = e (e + 2), den = num + 2
 *   mish'       xc as silu': num/den + 4 xc g (1 + e) / den^2, g = e e (x > 0) or e (x <= 0)
 *               (t + x sigmoid(x) (1 - t^2), 1 - t^2 = (den - num)(den + num) / den^2 exactly)
 * Beyond |x| = 800 silu, mish and their derivatives are saturated exactly (|x e^x| < 1e-340).
 * NaN inputs return x itself. */

static const double SMOOTH_SAT = 800.0;
static const double SELU_SCALE = 1.0507009873554805;
static const double SELU_SA = 1.7580993408473768;
static const int32_t SMOOTH_KEY_M800 = -0x44480000; /* relukit_key_f32(bits(-800.0f)) */

SMOOTH_INLINE double clamp_sat(double x)
{
    return x < -SMOOTH_SAT ? -SMOOTH_SAT : (x > SMOOTH_SAT ? SMOOTH_SAT : x);
}

/* the double formulas over an exp (libm's for double, smooth_exp for float) */
#define FAMILY_FORMULAS(SFX, EXP, EXPM1)                                                         \
    SMOOTH_INLINE double silu_##SFX(double x)                                                   \
    {                                                                                            \
        const double e = EXP(-fabs(x));                                                          \
        return x * ((x >= 0.0 ? 1.0 : e) / (1.0 + e));                                           \
    }                                                                                            \
    SMOOTH_INLINE double silu_grad_##SFX(double x)                                              \
    {                                                                                            \
        const double xc = clamp_sat(x);                                                          \
        const double e = EXP(-fabs(xc));                                                         \
        const double d = 1.0 + e;                                                                \
        const double s = (xc >= 0.0 ? 1.0 : e) / d;                                              \
        return s + xc * e / (d * d);                                                             \
    }                                                                                            \
    SMOOTH_INLINE double softplus_##SFX(double z, double b)                                     \
    {                                                                                            \
        return ((z > 0.0 ? z : 0.0) + log1p(EXP(-fabs(z)))) / b;                                 \
    }                                                                                            \
    SMOOTH_INLINE double softplus_grad_##SFX(double z)                                          \
    {                                                                                            \
        const double e = EXP(-fabs(z));                                                          \
        return (z >= 0.0 ? 1.0 : e) / (1.0 + e);                                                 \
    }                                                                                            \
    SMOOTH_INLINE double selu_neg_##SFX(double x) { return SELU_SA * (EXPM1(-fabs(x)) + 0.0); } \
    SMOOTH_INLINE double selu_grad_neg_##SFX(double x) { return SELU_SA * EXP(-fabs(x)); }      \
    /* tanh(softplus(x)) = *num / *den; returns e, sets *g */                                     \
    SMOOTH_INLINE double mish_parts_##SFX(double x, int pos, double *num, double *den,         \
                                          double *g)                                             \
    {                                                                                            \
        const double e = EXP(-fabs(x));                                                          \
        if (pos) {                                                                               \
            *num = 1.0 + 2.0 * e;                                                                \
            *den = *num + 2.0 * e * e;                                                           \
            *g = e * e;                                                                          \
        } else {                                                                                 \
            *num = e * (e + 2.0);                                                                \
            *den = *num + 2.0;                                                                   \
            *g = e;                                                                              \
        }                                                                                        \
        return e;                                                                                \
    }                                                                                            \
    SMOOTH_INLINE double mish_##SFX(double x, int pos)                                          \
    {                                                                                            \
        double num, den, g;                                                                      \
        (void)mish_parts_##SFX(x, pos, &num, &den, &g);                                          \
        return x * (num / den);                                                                  \
    }                                                                                            \
    SMOOTH_INLINE double mish_grad_##SFX(double x, int pos)                                     \
    {                                                                                            \
        const double xc = clamp_sat(x);                                                          \
        double num, den, g;                                                                      \
        const double e = mish_parts_##SFX(xc, pos, &num, &den, &g);                              \
        return num / den + 4.0 * xc * g * (1.0 + e) / (den * den);                               \
    }

FAMILY_FORMULAS(libm, exp, expm1)
FAMILY_FORMULAS(own, smooth_exp, smooth_expm1)

/* double ---------------------------------------------------------------------------------- */

static double silu_d(double x) { return x < -SMOOTH_SAT ? -0.0 : silu_libm(x); }
static double selu_d(double x) { return positive_d(x) ? SELU_SCALE * x : selu_neg_libm(x); }
static double selu_grad_d(double x) { return positive_d(x) ? SELU_SCALE : selu_grad_neg_libm(x); }
static double mish_d(double x) { return x < -SMOOTH_SAT ? -0.0 : mish_libm(x, positive_d(x)); }
static double mish_grad_d(double x) { return mish_grad_libm(x, positive_d(x)); }

SMOOTH_F64(silu, silu_d)
SMOOTH_F64(silu_grad, silu_grad_libm)
SMOOTH_F64(selu, selu_d)
SMOOTH_F64(selu_grad, selu_grad_d)
SMOOTH_F64(mish, mish_d)
SMOOTH_F64(mish_grad, mish_grad_d)

/* float ------------------------------------------------------------------------------------ */

SMOOTH_INLINE float smooth_silu_elem(float x, double a)
{
    (void)a;
    return relukit_keyof_f32(x) < SMOOTH_KEY_M800 ? -0.0f : (float)silu_own((double)x);
}
SMOOTH_INLINE float smooth_silu_grad_elem(float x, double a)
{
    (void)a;
    return (float)silu_grad_own((double)x);
}
SMOOTH_INLINE float smooth_selu_elem(float x, double a)
{
    (void)a;
    const double d = x;
    return (float)(smooth_pos(x) ? SELU_SCALE * d : selu_neg_own(d));
}
SMOOTH_INLINE float smooth_selu_grad_elem(float x, double a)
{
    (void)a;
    return (float)(smooth_pos(x) ? SELU_SCALE : selu_grad_neg_own((double)x));
}
SMOOTH_INLINE float smooth_mish_elem(float x, double a)
{
    (void)a;
    if (relukit_keyof_f32(x) < SMOOTH_KEY_M800)
        return -0.0f;
    return (float)mish_own((double)x, smooth_pos(x));
}
SMOOTH_INLINE float smooth_mish_grad_elem(float x, double a)
{
    (void)a;
    return (float)mish_grad_own((double)x, smooth_pos(x));
}

/* the scalar loop on every path: with FMA compiled for it, else the plain portable loop */
#if RELUKIT_X86_DISPATCH
#define SMOOTH_PICK_SCALAR(OP) (relukit__have_fma() ? OP##_f32_portable_fma : OP##_f32_portable)
#else
#define SMOOTH_PICK_SCALAR(OP) OP##_f32_portable
#endif
#define SMOOTH_F32_SCALAR(OP)                                                                    \
    SMOOTH_PORTABLE(OP)                                                                          \
    float relukit_##OP##_f32(float x)                                                            \
    {                                                                                            \
        return relukit_isnan_bit_f32(relukit_bits_f32(x)) ? x : smooth_##OP##_elem(x, 0.0);      \
    }                                                                                            \
    int relukit_##OP##_array_f32(const float *x, size_t x_len, float *y, size_t y_len)           \
    {                                                                                            \
        RELUKIT_EW_CHECK(x, x_len, y, y_len, float);                                             \
        const double a = 0.0;                                                                    \
        return smooth_run(SMOOTH_PICK_SCALAR(OP), &a, x, y, x_len, sizeof(float));               \
    }

SMOOTH_F32_SCALAR(silu)
SMOOTH_F32_SCALAR(silu_grad)
SMOOTH_F32_SCALAR(selu)
SMOOTH_F32_SCALAR(selu_grad)
SMOOTH_F32_SCALAR(mish)
SMOOTH_F32_SCALAR(mish_grad)

/* softplus: two parameters, and the linear piece decided on fl(b x) against th in the type */
struct softplus_f32 {
    float b, th;
    int32_t kth;
};
struct softplus_f64 {
    double b, th;
    int64_t kth;
};

SMOOTH_INLINE float softplus_elem_f32(float x, const struct softplus_f32 *p, int grad)
{
    const float z32 = x * p->b; /* x and b finite or inf, b != 0: never NaN */
    if (relukit_keyof_f32(z32) > p->kth)
        return grad ? 1.0f : x;
    const double z = (double)x * (double)p->b; /* exact */
    return (float)(grad ? softplus_grad_own(z) : softplus_own(z, (double)p->b));
}
SMOOTH_INLINE double softplus_elem_f64(double x, const struct softplus_f64 *p, int grad)
{
    const double z = x * p->b;
    if (relukit_keyof_f64(z) > p->kth)
        return grad ? 1.0 : x;
    return grad ? softplus_grad_libm(z) : softplus_libm(z, p->b);
}

#define SOFTPLUS_LOOP(NAME, SFX, FT, GRAD, ATTR)                                                 \
    ATTR static void NAME(const void *xv, void *yv, size_t n, const void *pv)                    \
    {                                                                                            \
        const FT *x = xv;                                                                        \
        FT *y = yv;                                                                              \
        const struct softplus_##SFX *p = pv;                                                     \
        for (size_t i = 0; i < n; i++) {                                                         \
            const FT v = x[i];                                                                   \
            y[i] = relukit_isnan_bit_##SFX(relukit_bits_##SFX(v)) ? v                            \
                                                                 : softplus_elem_##SFX(v, p, GRAD); \
        }                                                                                        \
    }
#if RELUKIT_X86_DISPATCH
#define SOFTPLUS_LOOPS(OP, GRAD)                                                                 \
    SOFTPLUS_LOOP(OP##_f32_portable, f32, float, GRAD, )                                         \
    SOFTPLUS_LOOP(OP##_f32_portable_fma, f32, float, GRAD, __attribute__((target("fma"))))
#else
#define SOFTPLUS_LOOPS(OP, GRAD) SOFTPLUS_LOOP(OP##_f32_portable, f32, float, GRAD, )
#endif
#define SOFTPLUS_API(OP, GRAD)                                                                   \
    SOFTPLUS_LOOPS(OP, GRAD)                                                                     \
    SOFTPLUS_LOOP(OP##_f64_portable, f64, double, GRAD, )                                        \
    float relukit_##OP##_f32(float x, float b, float th)                                         \
    {                                                                                            \
        const struct softplus_f32 p = {b, th, relukit_keyof_f32(th)};                            \
        return relukit_isnan_bit_f32(relukit_bits_f32(x)) ? x : softplus_elem_f32(x, &p, GRAD);  \
    }                                                                                            \
    double relukit_##OP##_f64(double x, double b, double th)                                     \
    {                                                                                            \
        const struct softplus_f64 p = {b, th, relukit_keyof_f64(th)};                            \
        return relukit_isnan_bit_f64(relukit_bits_f64(x)) ? x : softplus_elem_f64(x, &p, GRAD);  \
    }                                                                                            \
    int relukit_##OP##_array_f32(const float *x, size_t x_len, float *y, size_t y_len, float b,  \
                                 float th)                                                       \
    {                                                                                            \
        RELUKIT_EW_CHECK(x, x_len, y, y_len, float);                                             \
        const struct softplus_f32 p = {b, th, relukit_keyof_f32(th)};                            \
        return smooth_run(SMOOTH_PICK_SCALAR(OP), &p, x, y, x_len, sizeof(float));               \
    }                                                                                            \
    int relukit_##OP##_array_f64(const double *x, size_t x_len, double *y, size_t y_len,         \
                                 double b, double th)                                            \
    {                                                                                            \
        RELUKIT_EW_CHECK(x, x_len, y, y_len, double);                                            \
        const struct softplus_f64 p = {b, th, relukit_keyof_f64(th)};                            \
        return smooth_run(OP##_f64_portable, &p, x, y, x_len, sizeof(double));                   \
    }

SOFTPLUS_API(softplus, 0)
SOFTPLUS_API(softplus_grad, 1)
