/* test_piecewise_smooth.c: standalone tests of the piecewise (csrc/kernels/piecewise.c) and
 * smooth (csrc/kernels/smooth.c) activation kernels.
 *
 * Build: make ctest (every file of csrc/sources.txt, csrc/tests/harness.c and this one).
 * Prints one line per failure, then "N passed, M failed"; exits nonzero on any failure.
 *
 * Piecewise-linear ops are checked bit for bit against references written here with plain
 * float compares, on every path and threshold setting (portable; AVX2 with cached stores;
 * AVX2 with every out-of-place call streaming; each with every call split over 2 threads, and
 * with the machine's own thresholds), for all lengths 0..70, 129 and 1000, unaligned starts, in place
 * and out of place, and again under FTZ+DAZ (where the decisions must not change: a positive
 * subnormal stays x). Smooth ops are checked against long-double references (glibc's
 * expm1l, expl, tanhl, erfcl) within the ulp bounds of docs/activations.md, bit for bit at NaN,
 * +-0 and +-inf. Length and shape errors must return RELUKIT_ESIZE, overlaps other than in
 * place RELUKIT_EOVERLAP, and both touch nothing. */
#define _POSIX_C_SOURCE 200809L
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relukit.h"
#include "runtime.h"
#include "elementwise.h"

#include "harness.h"

#if defined(__SSE2__) || defined(_M_X64)
#include <xmmintrin.h>
#define HAVE_MXCSR 1
#else
#define HAVE_MXCSR 0
#endif




/* roughly normal, scaled: the region where the ops bend */
static double rng_normalish(void)
{
    double s = 0.0;
    for (int i = 0; i < 4; i++)
        s += (double)(rng() >> 11) * 0x1p-53 - 0.5;
    static const double scales[] = {0.3, 1.0, 3.0, 10.0, 30.0};
    return s * 1.7 * scales[rng() % 5];
}

static int fp_daz; /* 1 while FTZ+DAZ are on */

/* ---- the ops under test, behind one signature -------------------------------------------- */

typedef struct {
    double a, b;
} params_t;

typedef int (*arr32_fn)(const float *, size_t, float *, size_t, params_t);
typedef int (*arr64_fn)(const double *, size_t, double *, size_t, params_t);
typedef float (*s32_fn)(float, params_t);
typedef double (*s64_fn)(double, params_t);
/* long-double reference of a smooth op; *floor gets the magnitude below which errors
 * are measured against the floor (the terms of a cancelling sum), else 0 */
typedef long double (*refl_fn)(long double, params_t, long double *floor);

struct op {
    const char *name;
    arr32_fn a32;
    arr64_fn a64;
    s32_fn s32;
    s64_fn s64;
    s32_fn ref32; /* piecewise ops: the expected value (float compares, default FP mode) */
    s64_fn ref64;
    int selection; /* piecewise op with no float arithmetic: the same bits under DAZ */
    refl_fn refl;  /* smooth ops */
    double ulp64_base, ulp64_per_u, floor64;
    size_t n_params;
    params_t params[3];
    double kinks[2]; /* x where the piece changes (params a/b for hardtanh/threshold) */
};

#define WRAP_P2(OP)                                                                              \
    static int a32_##OP(const float *x, size_t n, float *y, size_t m, params_t p)               \
    {                                                                                            \
        return relukit_##OP##_array_f32(x, n, y, m, (float)p.a, (float)p.b);                     \
    }                                                                                            \
    static int a64_##OP(const double *x, size_t n, double *y, size_t m, params_t p)             \
    {                                                                                            \
        return relukit_##OP##_array_f64(x, n, y, m, p.a, p.b);                                   \
    }                                                                                            \
    static float s32_##OP(float x, params_t p) { return relukit_##OP##_f32(x, (float)p.a, (float)p.b); } \
    static double s64_##OP(double x, params_t p) { return relukit_##OP##_f64(x, p.a, p.b); }
#define WRAP_P1(OP)                                                                              \
    static int a32_##OP(const float *x, size_t n, float *y, size_t m, params_t p)               \
    {                                                                                            \
        return relukit_##OP##_array_f32(x, n, y, m, (float)p.a);                                 \
    }                                                                                            \
    static int a64_##OP(const double *x, size_t n, double *y, size_t m, params_t p)             \
    {                                                                                            \
        return relukit_##OP##_array_f64(x, n, y, m, p.a);                                        \
    }                                                                                            \
    static float s32_##OP(float x, params_t p) { return relukit_##OP##_f32(x, (float)p.a); }     \
    static double s64_##OP(double x, params_t p) { return relukit_##OP##_f64(x, p.a); }
#define WRAP_P0(OP)                                                                              \
    static int a32_##OP(const float *x, size_t n, float *y, size_t m, params_t p)               \
    {                                                                                            \
        (void)p;                                                                                 \
        return relukit_##OP##_array_f32(x, n, y, m);                                             \
    }                                                                                            \
    static int a64_##OP(const double *x, size_t n, double *y, size_t m, params_t p)             \
    {                                                                                            \
        (void)p;                                                                                 \
        return relukit_##OP##_array_f64(x, n, y, m);                                             \
    }                                                                                            \
    static float s32_##OP(float x, params_t p)                                                   \
    {                                                                                            \
        (void)p;                                                                                 \
        return relukit_##OP##_f32(x);                                                            \
    }                                                                                            \
    static double s64_##OP(double x, params_t p)                                                 \
    {                                                                                            \
        (void)p;                                                                                 \
        return relukit_##OP##_f64(x);                                                            \
    }

WRAP_P1(leaky_relu)
WRAP_P1(leaky_relu_grad)
WRAP_P2(hardtanh)
WRAP_P2(hardtanh_grad)
WRAP_P2(threshold)
WRAP_P2(threshold_grad)
WRAP_P1(elu)
WRAP_P1(elu_grad)
WRAP_P0(gelu)
WRAP_P0(gelu_grad)
WRAP_P0(gelu_tanh)
WRAP_P0(gelu_tanh_grad)
WRAP_P0(sigmoid)
WRAP_P0(sigmoid_grad)
WRAP_P0(tanh)
WRAP_P0(tanh_grad)
WRAP_P0(silu)
WRAP_P0(silu_grad)
WRAP_P2(softplus)
WRAP_P2(softplus_grad)
WRAP_P0(selu)
WRAP_P0(selu_grad)
WRAP_P0(mish)
WRAP_P0(mish_grad)
WRAP_P0(hardswish)
WRAP_P0(hardswish_grad)
WRAP_P0(hardsigmoid)
WRAP_P0(hardsigmoid_grad)

/* piecewise references: float compares (valid in the default FP mode), written from the
 * contract. Under DAZ, leaky's reference decides on the sign bit and the zero test on bits
 * (what the contract says) and multiplies in the current mode, as the kernel must. */
#define PIECEWISE_REFS(SFX, FT, BITS, ONE)                                                       \
    static FT r_leaky_##SFX(FT x, FT s)                                                          \
    {                                                                                            \
        if (isnan(x))                                                                            \
            return x;                                                                            \
        if (fp_daz) {                                                                            \
            const int pos = !signbit(x) && (BITS(x) << 1) != 0;                                  \
            return pos ? x : x * s;                                                              \
        }                                                                                        \
        return x > 0 ? x : x * s;                                                                \
    }                                                                                            \
    static FT ref32_leaky_##SFX(FT x, params_t p) { return r_leaky_##SFX(x, (FT)p.a); }          \
    static FT ref_leaky_grad_##SFX(FT x, params_t p)                                             \
    {                                                                                            \
        return isnan(x) ? x : (x > 0 ? (FT)1 : (FT)p.a);                                         \
    }                                                                                            \
    static FT ref_hardtanh_##SFX(FT x, params_t p)                                               \
    {                                                                                            \
        const FT lo = (FT)p.a, hi = (FT)p.b;                                                     \
        if (isnan(x))                                                                            \
            return x;                                                                            \
        return x < lo ? lo : (x > hi ? hi : x);                                                  \
    }                                                                                            \
    static FT ref_hardtanh_grad_##SFX(FT x, params_t p)                                          \
    {                                                                                            \
        return isnan(x) ? x : ((x > (FT)p.a && x < (FT)p.b) ? (FT)1 : (FT)0);                    \
    }                                                                                            \
    static FT ref_threshold_##SFX(FT x, params_t p)                                              \
    {                                                                                            \
        return isnan(x) ? x : (x > (FT)p.a ? x : (FT)p.b);                                       \
    }                                                                                            \
    static FT ref_threshold_grad_##SFX(FT x, params_t p)                                         \
    {                                                                                            \
        return isnan(x) ? x : (x > (FT)p.a ? (FT)1 : (FT)0);                                     \
    }

PIECEWISE_REFS(f32, float, bits32, 1.0f)
PIECEWISE_REFS(f64, double, bits64, 1.0)

/* hardswish, hardsigmoid: PyTorch's branches with float compares, each step in the type */
#define HARD_REFS(SFX, FT)                                                                       \
    static FT ref_hardswish_##SFX(FT x, params_t p)                                              \
    {                                                                                            \
        (void)p;                                                                                 \
        if (isnan(x) || x >= (FT)3)                                                              \
            return x;                                                                            \
        return x <= (FT)-3 ? (FT)-0.0 : (x * (x + (FT)3)) / (FT)6;                               \
    }                                                                                            \
    static FT ref_hardswish_grad_##SFX(FT x, params_t p)                                         \
    {                                                                                            \
        (void)p;                                                                                 \
        if (isnan(x))                                                                            \
            return x;                                                                            \
        return x < (FT)-3 ? (FT)0 : (x > (FT)3 ? (FT)1 : x / (FT)3 + (FT)0.5);                   \
    }                                                                                            \
    static FT ref_hardsigmoid_##SFX(FT x, params_t p)                                            \
    {                                                                                            \
        (void)p;                                                                                 \
        if (isnan(x))                                                                            \
            return x;                                                                            \
        return x <= (FT)-3 ? (FT)0 : (x >= (FT)3 ? (FT)1 : (x + (FT)3) / (FT)6);                 \
    }                                                                                            \
    static FT ref_hardsigmoid_grad_##SFX(FT x, params_t p)                                       \
    {                                                                                            \
        (void)p;                                                                                 \
        if (isnan(x))                                                                            \
            return x;                                                                            \
        return (x > (FT)-3 && x < (FT)3) ? (FT)1 / (FT)6 : (FT)0;                                \
    }
HARD_REFS(f32, float)
HARD_REFS(f64, double)

/* smooth references in long double */
static const long double SQRT1_2L = 0.707106781186547524400844362104849039L;
static const long double INV_SQRT_2PIL = 0.398942280401432677939946059934381868L;
static const long double BETAL = 0.797884560802865355879892119868763737L; /* sqrt(2/pi) */
static const long double KAPPAL = 0.044715L;

static long double rl_elu(long double x, params_t p, long double *fl)
{
    *fl = 0;
    return x > 0 ? x : (long double)p.a * (expm1l(x) + 0.0L);
}
static long double rl_elu_grad(long double x, params_t p, long double *fl)
{
    *fl = 0;
    return x > 0 ? 1.0L : (long double)p.a * expl(x);
}
static long double rl_sigmoid(long double x, params_t p, long double *fl)
{
    (void)p;
    *fl = 0;
    return 1.0L / (1.0L + expl(-x));
}
static long double rl_sigmoid_grad(long double x, params_t p, long double *fl)
{
    (void)p;
    *fl = 0;
    const long double e = expl(-fabsl(x));
    return e / ((1 + e) * (1 + e));
}
static long double rl_tanh(long double x, params_t p, long double *fl)
{
    (void)p;
    *fl = 0;
    return tanhl(x);
}
static long double rl_tanh_grad(long double x, params_t p, long double *fl)
{
    (void)p;
    *fl = 0;
    const long double e = expl(-2 * fabsl(x));
    return 4 * e / ((1 + e) * (1 + e));
}
static long double rl_gelu(long double x, params_t p, long double *fl)
{
    (void)p;
    *fl = 0;
    if (isinf(x))
        return x > 0 ? x : -0.0L;
    return x * 0.5L * erfcl(-x * SQRT1_2L);
}
static long double rl_gelu_grad(long double x, params_t p, long double *fl)
{
    (void)p;
    if (isinf(x)) {
        *fl = 0;
        return x > 0 ? 1.0L : 0.0L;
    }
    const long double cdf = 0.5L * erfcl(-x * SQRT1_2L);
    const long double xpdf = x * INV_SQRT_2PIL * expl(-0.5L * x * x);
    *fl = fabsl(cdf) + fabsl(xpdf);
    return cdf + xpdf;
}
static long double sig2(long double u, long double *ss) /* sigmoid(2u); *ss = s(2u) s(-2u) */
{
    const long double e = expl(-2 * fabsl(u)), d = 1 + e;
    *ss = e / (d * d);
    return (u >= 0 ? 1.0L : e) / d;
}
static long double rl_gelu_tanh(long double x, params_t p, long double *fl)
{
    (void)p;
    *fl = 0;
    if (isinf(x))
        return x > 0 ? x : -0.0L;
    long double ss;
    return x * sig2(BETAL * (x + KAPPAL * x * x * x), &ss);
}
static long double rl_gelu_tanh_grad(long double x, params_t p, long double *fl)
{
    (void)p;
    if (isinf(x)) {
        *fl = 0;
        return x > 0 ? 1.0L : 0.0L;
    }
    long double ss;
    const long double s = sig2(BETAL * (x + KAPPAL * x * x * x), &ss);
    const long double term = ss == 0 ? 0.0L : 2 * x * BETAL * (1 + 3 * KAPPAL * x * x) * ss;
    *fl = fabsl(s) + fabsl(term);
    return s + term;
}

/* silu, softplus, selu, mish and derivatives: independent long-double forms (the kernels'
 * rewritings of 1 - t^2 aside, used by mish' here too) */
static const long double SELU_SCALEL = 1.0507009873554804934193349852946L;
static const long double SELU_ALPHAL = 1.6732632423543772848170429916717L;
static long double sigl(long double z)
{
    const long double e = expl(-fabsl(z));
    return z >= 0 ? 1.0L / (1.0L + e) : e / (1.0L + e);
}
static long double rl_silu(long double x, params_t p, long double *fl)
{
    (void)p;
    *fl = 0;
    return isinf(x) ? (x > 0 ? x : -0.0L) : x * sigl(x);
}
static long double rl_silu_grad(long double x, params_t p, long double *fl)
{
    (void)p;
    const long double s = sigl(x), term = isinf(x) ? 0.0L : x * s * sigl(-x);
    *fl = fabsl(s) + fabsl(term);
    return s + term;
}
/* softplus: the test parameters have beta = +-2^k, so beta * x is exact in every type and the
 * linear piece's test is the same here as in the kernels */
static long double rl_softplus(long double x, params_t p, long double *fl)
{
    const long double b = p.a, z = x * b;
    *fl = 0;
    if (z > (long double)p.b)
        return x;
    return (fmaxl(z, 0.0L) + log1pl(expl(-fabsl(z)))) / b;
}
static long double rl_softplus_grad(long double x, params_t p, long double *fl)
{
    const long double z = x * (long double)p.a;
    *fl = 0;
    return z > (long double)p.b ? 1.0L : sigl(z);
}
static long double rl_selu(long double x, params_t p, long double *fl)
{
    (void)p;
    *fl = 0;
    return x > 0 ? SELU_SCALEL * x : SELU_SCALEL * SELU_ALPHAL * (expm1l(x) + 0.0L);
}
static long double rl_selu_grad(long double x, params_t p, long double *fl)
{
    (void)p;
    *fl = 0;
    return x > 0 ? SELU_SCALEL : SELU_SCALEL * SELU_ALPHAL * expl(x);
}
static long double tanh_softplusl(long double x)
{
    return tanhl(fmaxl(x, 0.0L) + log1pl(expl(-fabsl(x))));
}
static long double rl_mish(long double x, params_t p, long double *fl)
{
    (void)p;
    *fl = 0;
    return isinf(x) ? (x > 0 ? x : -0.0L) : x * tanh_softplusl(x);
}
static long double rl_mish_grad(long double x, params_t p, long double *fl)
{
    (void)p;
    const long double t = tanh_softplusl(x), e = expl(-fabsl(x));
    const long double den = x > 0 ? 1 + 2 * e + 2 * e * e : e * (e + 2) + 2;
    const long double omt2 = (x > 0 ? 4 * e * e : 4.0L) * (1 + e) * (1 + e) / (den * den);
    const long double term = isinf(x) ? 0.0L : x * sigl(x) * omt2;
    *fl = fabsl(t) + fabsl(term);
    return t + term;
}

#define P(a, b) {(a), (b)}
#define NOP_F32 NULL, NULL
static const struct op OPS[] = {
    {"leaky_relu", a32_leaky_relu, a64_leaky_relu, s32_leaky_relu, s64_leaky_relu,
     ref32_leaky_f32, ref32_leaky_f64, 0, NULL, 0, 0, 0, 3,
     {P(0.01, 0), P(0.2, 0), P(-1.5, 0)}, {0, 0}},
    {"leaky_relu_grad", a32_leaky_relu_grad, a64_leaky_relu_grad, s32_leaky_relu_grad,
     s64_leaky_relu_grad, ref_leaky_grad_f32, ref_leaky_grad_f64, 1, NULL, 0, 0, 0, 3,
     {P(0.01, 0), P(0.2, 0), P(-1.5, 0)}, {0, 0}},
    {"hardtanh", a32_hardtanh, a64_hardtanh, s32_hardtanh, s64_hardtanh, ref_hardtanh_f32,
     ref_hardtanh_f64, 1, NULL, 0, 0, 0, 3, {P(-1, 1), P(0, 6), P(-0.1, 2.5)}, {0, 0}},
    {"hardtanh_grad", a32_hardtanh_grad, a64_hardtanh_grad, s32_hardtanh_grad,
     s64_hardtanh_grad, ref_hardtanh_grad_f32, ref_hardtanh_grad_f64, 1, NULL, 0, 0, 0, 3,
     {P(-1, 1), P(0, 6), P(-0.1, 2.5)}, {0, 0}},
    {"threshold", a32_threshold, a64_threshold, s32_threshold, s64_threshold, ref_threshold_f32,
     ref_threshold_f64, 1, NULL, 0, 0, 0, 3, {P(0.1, 20), P(-1, -0.0), P(0, 0)}, {0, 0}},
    {"threshold_grad", a32_threshold_grad, a64_threshold_grad, s32_threshold_grad,
     s64_threshold_grad, ref_threshold_grad_f32, ref_threshold_grad_f64, 1, NULL, 0, 0, 0, 3,
     {P(0.1, 20), P(-1, -0.0), P(0, 0)}, {0, 0}},
    {"elu", a32_elu, a64_elu, s32_elu, s64_elu, NOP_F32, 0, rl_elu, 2, 0, 0, 2,
     {P(1, 0), P(0.3, 0)}, {0, 0}},
    {"elu_grad", a32_elu_grad, a64_elu_grad, s32_elu_grad, s64_elu_grad, NOP_F32, 0,
     rl_elu_grad, 2, 0, 0, 2, {P(1, 0), P(0.3, 0)}, {0, 0}},
    {"gelu", a32_gelu, a64_gelu, s32_gelu, s64_gelu, NOP_F32, 0, rl_gelu, 6, 0, 0x1p-1016, 1,
     {P(0, 0)}, {0, 0}},
    {"gelu_grad", a32_gelu_grad, a64_gelu_grad, s32_gelu_grad, s64_gelu_grad, NOP_F32, 0,
     rl_gelu_grad, 6, 0, 0x1p-1016, 1, {P(0, 0)}, {0, 0}},
    {"gelu_tanh", a32_gelu_tanh, a64_gelu_tanh, s32_gelu_tanh, s64_gelu_tanh, NOP_F32, 0,
     rl_gelu_tanh, 4, 8, 0, 1, {P(0, 0)}, {0, 0}},
    {"gelu_tanh_grad", a32_gelu_tanh_grad, a64_gelu_tanh_grad, s32_gelu_tanh_grad,
     s64_gelu_tanh_grad, NOP_F32, 0, rl_gelu_tanh_grad, 4, 8, 0, 1, {P(0, 0)}, {0, 0}},
    {"sigmoid", a32_sigmoid, a64_sigmoid, s32_sigmoid, s64_sigmoid, NOP_F32, 0, rl_sigmoid, 4,
     0, 0, 1, {P(0, 0)}, {0, 0}},
    {"sigmoid_grad", a32_sigmoid_grad, a64_sigmoid_grad, s32_sigmoid_grad, s64_sigmoid_grad,
     NOP_F32, 0, rl_sigmoid_grad, 8, 0, 0, 1, {P(0, 0)}, {0, 0}},
    {"tanh", a32_tanh, a64_tanh, s32_tanh, s64_tanh, NOP_F32, 0, rl_tanh, 3, 0, 0, 1,
     {P(0, 0)}, {0, 0}},
    {"tanh_grad", a32_tanh_grad, a64_tanh_grad, s32_tanh_grad, s64_tanh_grad, NOP_F32, 0,
     rl_tanh_grad, 8, 0, 0, 1, {P(0, 0)}, {0, 0}},
    /* the parameters of the ops without any only put their kinks into the input pool */
    {"silu", a32_silu, a64_silu, s32_silu, s64_silu, NOP_F32, 0, rl_silu, 4, 0, 0x1p-1012, 1,
     {P(800, 1.2785)}, {0, 0}},
    {"silu_grad", a32_silu_grad, a64_silu_grad, s32_silu_grad, s64_silu_grad, NOP_F32, 0,
     rl_silu_grad, 8, 0, 0x1p-1012, 1, {P(800, 2.3994)}, {0, 0}},
    {"softplus", a32_softplus, a64_softplus, s32_softplus, s64_softplus, NOP_F32, 0,
     rl_softplus, 4, 0, 0, 3, {P(1, 20), P(2, 5), P(-0.5, 20)}, {0, 0}},
    {"softplus_grad", a32_softplus_grad, a64_softplus_grad, s32_softplus_grad,
     s64_softplus_grad, NOP_F32, 0, rl_softplus_grad, 4, 0, 0, 3,
     {P(1, 20), P(2, 5), P(-0.5, 20)}, {0, 0}},
    {"selu", a32_selu, a64_selu, s32_selu, s64_selu, NOP_F32, 0, rl_selu, 3, 0, 0, 1,
     {P(708, 88)}, {0, 0}},
    {"selu_grad", a32_selu_grad, a64_selu_grad, s32_selu_grad, s64_selu_grad, NOP_F32, 0,
     rl_selu_grad, 3, 0, 0, 1, {P(708, 88)}, {0, 0}},
    {"mish", a32_mish, a64_mish, s32_mish, s64_mish, NOP_F32, 0, rl_mish, 6, 0, 0x1p-1012, 1,
     {P(800, 0.3088)}, {0, 0}},
    {"mish_grad", a32_mish_grad, a64_mish_grad, s32_mish_grad, s64_mish_grad, NOP_F32, 0,
     rl_mish_grad, 8, 0, 0x1p-1012, 1, {P(800, 1.1924)}, {0, 0}},
    {"hardswish", a32_hardswish, a64_hardswish, s32_hardswish, s64_hardswish,
     ref_hardswish_f32, ref_hardswish_f64, 0, NULL, 0, 0, 0, 2, {P(-3, 3), P(1.5, 6)}, {0, 0}},
    {"hardswish_grad", a32_hardswish_grad, a64_hardswish_grad, s32_hardswish_grad,
     s64_hardswish_grad, ref_hardswish_grad_f32, ref_hardswish_grad_f64, 0, NULL, 0, 0, 0, 2,
     {P(-3, 3), P(1.5, 6)}, {0, 0}},
    {"hardsigmoid", a32_hardsigmoid, a64_hardsigmoid, s32_hardsigmoid, s64_hardsigmoid,
     ref_hardsigmoid_f32, ref_hardsigmoid_f64, 0, NULL, 0, 0, 0, 2, {P(-3, 3), P(1.5, 6)},
     {0, 0}},
    {"hardsigmoid_grad", a32_hardsigmoid_grad, a64_hardsigmoid_grad, s32_hardsigmoid_grad,
     s64_hardsigmoid_grad, ref_hardsigmoid_grad_f32, ref_hardsigmoid_grad_f64, 1, NULL, 0, 0, 0,
     2, {P(-3, 3), P(1.5, 6)}, {0, 0}},
};
#define N_OPS (sizeof OPS / sizeof OPS[0])

/* ---- input vectors ------------------------------------------------------------------------ */

#define MAXN 1024
static const uint32_t special32[] = {
    0x00000000u, 0x80000000u, 0x3f800000u, 0xbf800000u, 0x7f800000u, 0xff800000u, 0x7f7fffffu,
    0xff7fffffu, 0x00800000u, 0x80800000u, 0x00000001u, 0x80000001u, 0x007fffffu, 0x807fffffu,
    0x7fc00000u, 0xffc00000u, 0x7fc12345u, 0xffc12345u, 0x7f800001u, 0xff800001u, 0x7fbfffffu,
    0xffffffffu, 0x3dcccccdu /* 0.1f */, 0x40c00000u /* 6 */, 0xc0200000u /* -2.5 */};
static const uint64_t special64[] = {
    0x0000000000000000u, 0x8000000000000000u, 0x3ff0000000000000u, 0xbff0000000000000u,
    0x7ff0000000000000u, 0xfff0000000000000u, 0x7fefffffffffffffu, 0xffefffffffffffffu,
    0x0010000000000000u, 0x8010000000000000u, 0x0000000000000001u, 0x8000000000000001u,
    0x000fffffffffffffu, 0x800fffffffffffffu, 0x7ff8000000000000u, 0xfff8000000000000u,
    0x7ff8000000012345u, 0xfff8000000012345u, 0x7ff0000000000001u, 0xfff0000000000001u,
    0x7ff7ffffffffffffu, 0xffffffffffffffffu, 0x3fb999999999999au /* 0.1 */};

/* a pool of values: the specials, each parameter and kink with its neighbours (both signs),
 * random bit patterns and normal-ish values */
static size_t pool32(float *v, const struct op *op, params_t p)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof special32 / sizeof special32[0]; i++)
        v[n++] = f32_of(special32[i]);
    const float pts[] = {(float)p.a, (float)p.b, -(float)p.a, -(float)p.b, 0.0f, 40.0f, 14.0f};
    for (size_t i = 0; i < sizeof pts / sizeof pts[0]; i++) {
        if (!isfinite(pts[i]))
            continue;
        v[n++] = pts[i];
        v[n++] = nextafterf(pts[i], INFINITY);
        v[n++] = nextafterf(pts[i], -INFINITY);
    }
    (void)op;
    while (n < 400) {
        v[n] = (rng() & 3) == 0 ? f32_of((uint32_t)rng()) : (float)rng_normalish();
        n++;
    }
    return n;
}
static size_t pool64(double *v, const struct op *op, params_t p)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof special64 / sizeof special64[0]; i++)
        v[n++] = f64_of(special64[i]);
    const double pts[] = {p.a, p.b, -p.a, -p.b, 0.0, 40.0, 37.5, 1.1932427};
    for (size_t i = 0; i < sizeof pts / sizeof pts[0]; i++) {
        v[n++] = pts[i];
        v[n++] = nextafter(pts[i], INFINITY);
        v[n++] = nextafter(pts[i], -INFINITY);
    }
    (void)op;
    while (n < 400) {
        v[n] = (rng() & 3) == 0 ? f64_of(rng()) : rng_normalish();
        n++;
    }
    return n;
}

/* ---- checking one result ------------------------------------------------------------------ */

/* The expected value of a piecewise op: selection-only ops in the default FP mode (their bits
 * must not depend on FTZ/DAZ), leaky in the current mode (its product may flush, as any float
 * multiply; its reference decides on bits under DAZ). */
static float expect32(const struct op *op, float x, params_t p)
{
#if HAVE_MXCSR
    if (fp_daz && op->selection) {
        const unsigned int csr = _mm_getcsr();
        _mm_setcsr(csr & ~0x8040u);
        fp_daz = 0;
        const float r = op->ref32(x, p);
        fp_daz = 1;
        _mm_setcsr(csr);
        return r;
    }
#endif
    return op->ref32(x, p);
}
static double expect64(const struct op *op, double x, params_t p)
{
#if HAVE_MXCSR
    if (fp_daz && op->selection) {
        const unsigned int csr = _mm_getcsr();
        _mm_setcsr(csr & ~0x8040u);
        fp_daz = 0;
        const double r = op->ref64(x, p);
        fp_daz = 1;
        _mm_setcsr(csr);
        return r;
    }
#endif
    return op->ref64(x, p);
}

static double ulp_bound64(const struct op *op, double x)
{
    double a = fabs(x);
    if (!(a <= 40.0))
        a = 40.0;
    const double u = 0.7978845608028654 * (a + 0.044715 * a * a * a);
    return op->ulp64_base + op->ulp64_per_u * u;
}

/* smooth: 1 if got is within the bound of the reference (exact bits at NaN, +-0, +-inf
 * and where elu/elu_grad give x / 1 for x > 0) */
/* v rounded to float and back (through memory: GCC 12 -O2 was seen folding (double)(float)v
 * to v here) */
static double via_f32(double v)
{
    volatile float f = (float)v;
    return (double)f;
}

/* error of got in float ulps (at max(|ref|, floor)); 0 or INFINITY where exact bits are
 * required (NaN, +-0, +-inf, and elu/elu_grad at x > 0) */
static double trans_err32(const struct op *op, params_t p, float x, float got)
{
    if (isnan(x))
        return bits32(got) == bits32(x) ? 0.0 : INFINITY;
    long double fl;
    params_t pr = {via_f32(p.a), via_f32(p.b)};
    const long double r = op->refl((long double)x, pr, &fl);
    if (x == 0 || isinf(x) || (x > 0 && strncmp(op->name, "elu", 3) == 0))
        return bits32(got) == bits32((float)r) ? 0.0 : INFINITY;
    const long double scale = fabsl(r) > fl ? fabsl(r) : fl;
    float sf = (float)scale;
    if (isinf(sf))
        sf = FLT_MAX;
    const long double spacing = sf == FLT_MAX ? (long double)sf - (long double)nextafterf(sf, 0)
                                              : (long double)nextafterf(sf, INFINITY) - sf;
    if (isinf(got) || isnan(got))
        return bits32(got) == bits32((float)r) ? 0.0 : INFINITY;
    return (double)(fabsl((long double)got - r) / spacing);
}
static int trans_ok32(const struct op *op, params_t p, float x, float got)
{
    return trans_err32(op, p, x, got) <= 1.0; /* 1 ulp */
}
static int trans_ok64(const struct op *op, params_t p, double x, double got)
{
    if (isnan(x))
        return bits64(got) == bits64(x);
    long double fl;
    const long double r = op->refl((long double)x, p, &fl);
    if (x == 0 || isinf(x) || (x > 0 && strncmp(op->name, "elu", 3) == 0))
        return bits64(got) == bits64((double)r);
    if (fl < op->floor64)
        fl = op->floor64;
    long double scale = fabsl(r) > fl ? fabsl(r) : fl;
    double sd = (double)scale;
    if (isinf(sd) || sd == DBL_MAX)
        sd = nextafter(DBL_MAX, 0);
    const long double spacing = (long double)nextafter(sd, INFINITY) - (long double)sd;
    if (isinf(got) || isnan(got))
        return bits64(got) == bits64((double)r);
    return fabsl((long double)got - r) <= (long double)ulp_bound64(op, x) * spacing;
}

/* ---- the array tests ---------------------------------------------------------------------- */

static float xs32[MAXN + 8], ys32[MAXN + 8];
static double xs64[MAXN + 8], ys64[MAXN + 8];

/* every length 0..70 (around the vector widths: 4, 8 and 16 elements per step, 32-byte heads),
 * then 129 and 1000 */
#define N_LENGTHS 73
static size_t length_at(size_t li) { return li <= 70 ? li : (li == 71 ? 129 : 1000); }

static void test_op_f32(const struct op *op, const char *path)
{
    float pool[MAXN];
    for (size_t k = 0; k < op->n_params; k++) {
        const params_t p = op->params[k];
        const size_t np = pool32(pool, op, p);
        for (size_t li = 0; li < N_LENGTHS; li++) {
            const size_t n = length_at(li);
            for (size_t off = 0; off < 4; off++) {
                for (int inplace = 0; inplace < 2; inplace++) {
                    float *x = xs32 + off, *y = inplace ? x : ys32 + (3 - off);
                    for (size_t i = 0; i < n; i++)
                        x[i] = pool[(i * 7 + off + k) % np];
                    float keep[MAXN];
                    memcpy(keep, x, n * sizeof *x);
                    const int st = op->a32(x, n, y, n, p);
                    CHECK(st == RELUKIT_OK, "[%s] %s f32 n=%zu status %d", path, op->name, n, st);
                    for (size_t i = 0; i < n; i++) {
                        const float xi = keep[i];
                        int ok;
                        float want = 0;
                        if (op->ref32) {
                            want = expect32(op, xi, p);
                            ok = bits32(y[i]) == bits32(want);
                        } else {
                            ok = trans_ok32(op, p, xi, y[i]);
                        }
                        CHECK(ok, "[%s] %s(p=%g,%g) f32 n=%zu off=%zu inplace=%d x=%a (0x%08x): got "
                                  "%a (0x%08x) want %a",
                              path, op->name, p.a, p.b, n, off, inplace, (double)xi,
                              (unsigned)bits32(xi), (double)y[i], (unsigned)bits32(y[i]),
                              (double)want);
                        const float s = op->s32(xi, p);
                        CHECK(bits32(s) == bits32(y[i]), "[%s] %s f32 scalar %a != array %a",
                              path, op->name, (double)s, (double)y[i]);
                    }
                    if (!inplace)
                        CHECK(memcmp(keep, x, n * sizeof *x) == 0, "[%s] %s f32: x changed",
                              path, op->name);
                }
            }
        }
    }
}

static void test_op_f64(const struct op *op, const char *path)
{
    double pool[MAXN];
    for (size_t k = 0; k < op->n_params; k++) {
        const params_t p = op->params[k];
        const size_t np = pool64(pool, op, p);
        for (size_t li = 0; li < N_LENGTHS; li++) {
            const size_t n = length_at(li);
            for (size_t off = 0; off < 4; off++) {
                for (int inplace = 0; inplace < 2; inplace++) {
                    double *x = xs64 + off, *y = inplace ? x : ys64 + (3 - off);
                    for (size_t i = 0; i < n; i++)
                        x[i] = pool[(i * 7 + off + k) % np];
                    double keep[MAXN];
                    memcpy(keep, x, n * sizeof *x);
                    const int st = op->a64(x, n, y, n, p);
                    CHECK(st == RELUKIT_OK, "[%s] %s f64 n=%zu status %d", path, op->name, n, st);
                    for (size_t i = 0; i < n; i++) {
                        const double xi = keep[i];
                        int ok;
                        double want = 0;
                        if (op->ref64) {
                            want = expect64(op, xi, p);
                            ok = bits64(y[i]) == bits64(want);
                        } else {
                            ok = trans_ok64(op, p, xi, y[i]);
                        }
                        CHECK(ok, "[%s] %s(p=%g,%g) f64 n=%zu off=%zu inplace=%d x=%a: got %a "
                                  "want %a",
                              path, op->name, p.a, p.b, n, off, inplace, xi, y[i], want);
                        const double s = op->s64(xi, p);
                        CHECK(bits64(s) == bits64(y[i]), "[%s] %s f64 scalar %a != array %a",
                              path, op->name, s, y[i]);
                    }
                    if (!inplace)
                        CHECK(memcmp(keep, x, n * sizeof *x) == 0, "[%s] %s f64: x changed",
                              path, op->name);
                }
            }
        }
    }
}

/* one path and FP mode: every op (smooth ones only in the default mode: libm under
 * DAZ is not part of the contract) */
static void test_all_ops(const char *path)
{
    for (size_t i = 0; i < N_OPS; i++) {
        const struct op *op = &OPS[i];
        if (fp_daz && !op->ref32)
            continue;
        test_op_f32(op, path);
        test_op_f64(op, path);
    }
}

/* ---- prelu -------------------------------------------------------------------------------- */

static void test_prelu(const char *path)
{
    static const size_t shapes[][3] = {{0, 3, 2}, {2, 3, 1}, {3, 5, 4},  {1, 1, 1},
                                       {4, 7, 33}, {5, 1, 9}, {2, 40, 1}, {3, 2, 0}};
    static float x[4 * 7 * 33 + 8], y[4 * 7 * 33 + 8];
    static double xd[4 * 7 * 33 + 8], yd[4 * 7 * 33 + 8];
    const float w[40] = {0.25f, -1.0f, 2.0f, 0.0f, 0.1f, -0.0f, 3.0f};
    double wd[40];
    for (size_t c = 0; c < 40; c++)
        wd[c] = (double)w[c];
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const size_t outer = shapes[s][0], ch = shapes[s][1], inner = shapes[s][2];
        const size_t n = outer * ch * inner;
        for (int grad = 0; grad < 2; grad++) {
            for (size_t i = 0; i < n; i++) {
                x[i] = (i % 5 == 0) ? f32_of((uint32_t)rng()) : (float)rng_normalish();
                xd[i] = (double)x[i];
            }
            int st = grad ? relukit_prelu_grad_array_f32(x, n, y, n, w, ch, outer, ch, inner)
                          : relukit_prelu_array_f32(x, n, y, n, w, ch, outer, ch, inner);
            CHECK(st == RELUKIT_OK, "[%s] prelu f32 status %d", path, st);
            st = grad ? relukit_prelu_grad_array_f64(xd, n, yd, n, wd, ch, outer, ch, inner)
                      : relukit_prelu_array_f64(xd, n, yd, n, wd, ch, outer, ch, inner);
            CHECK(st == RELUKIT_OK, "[%s] prelu f64 status %d", path, st);
            for (size_t i = 0; i < n; i++) {
                const size_t c = (i / inner) % ch;
                const params_t p = {(double)w[c], 0};
                const struct op *op = &OPS[grad ? 1 : 0]; /* leaky_relu(_grad) */
                const float want = expect32(op, x[i], p);
                const double wantd = expect64(op, xd[i], p);
                CHECK(bits32(y[i]) == bits32(want), "[%s] prelu%s f32 (%zu,%zu,%zu)[%zu]: %a != %a",
                      path, grad ? "_grad" : "", outer, ch, inner, i, (double)y[i], (double)want);
                CHECK(bits64(yd[i]) == bits64(wantd), "[%s] prelu%s f64 (%zu,%zu,%zu)[%zu]", path,
                      grad ? "_grad" : "", outer, ch, inner, i);
            }
        }
    }
}

/* ---- errors: RELUKIT_ESIZE, nothing touched ------------------------------------------------ */

static void test_errors(void)
{
    float x[8] = {1, -2, 3, -4, 5, -6, 7, -8}, y[8], w[3] = {0.1f, 0.2f, 0.3f};
    double xd[8] = {1, -2, 3, -4, 5, -6, 7, -8}, yd[8];
    const params_t p = {0.5, 1.0};
    for (size_t i = 0; i < N_OPS; i++) {
        const struct op *op = &OPS[i];
        for (size_t k = 0; k < 8; k++) {
            y[k] = 42.0f;
            yd[k] = 42.0;
        }
        CHECK(op->a32(x, 8, y, 7, p) == RELUKIT_ESIZE, "%s f32 length mismatch", op->name);
        CHECK(op->a64(xd, 7, yd, 8, p) == RELUKIT_ESIZE, "%s f64 length mismatch", op->name);
        CHECK(op->a32(NULL, 8, y, 8, p) == RELUKIT_ESIZE, "%s f32 NULL x", op->name);
        CHECK(op->a64(xd, 8, NULL, 8, p) == RELUKIT_ESIZE, "%s f64 NULL y", op->name);
        CHECK(op->a32(NULL, 0, NULL, 0, p) == RELUKIT_OK, "%s f32 empty NULL", op->name);
        CHECK(op->a64(NULL, 0, NULL, 0, p) == RELUKIT_OK, "%s f64 empty NULL", op->name);
        int untouched = 1;
        for (size_t k = 0; k < 8; k++)
            untouched &= y[k] == 42.0f && yd[k] == 42.0;
        CHECK(untouched, "%s: a rejected call wrote y", op->name);
        /* overlap other than in place: y one element after x, and x one after y */
        float buf[10];
        double bufd[10];
        for (size_t k = 0; k < 10; k++) {
            buf[k] = (float)k - 4.5f;
            bufd[k] = (double)k - 4.5;
        }
        CHECK(op->a32(buf, 8, buf + 1, 8, p) == RELUKIT_EOVERLAP, "%s f32 y = x + 1", op->name);
        CHECK(op->a32(buf + 1, 8, buf, 8, p) == RELUKIT_EOVERLAP, "%s f32 y = x - 1", op->name);
        CHECK(op->a64(bufd, 8, bufd + 7, 3, p) == RELUKIT_ESIZE, "%s f64 lengths first",
              op->name);
        CHECK(op->a64(bufd + 2, 8, bufd, 8, p) == RELUKIT_EOVERLAP, "%s f64 y = x - 2", op->name);
        CHECK(op->a64(bufd, 5, bufd + 5, 5, p) == RELUKIT_OK, "%s f64 adjacent halves", op->name);
        untouched = 1;
        for (size_t k = 0; k < 10; k++)
            untouched &= buf[k] == (float)k - 4.5f && (k >= 5 || bufd[k] == (double)k - 4.5);
        CHECK(untouched, "%s: an overlapping call wrote y", op->name);
    }
    /* prelu: y overlapping x (other than in place) or w */
    {
        float buf[12] = {1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -12};
        CHECK(relukit_prelu_array_f32(buf, 6, buf + 2, 6, w, 3, 1, 3, 2) == RELUKIT_EOVERLAP,
              "prelu y overlaps x");
        CHECK(relukit_prelu_grad_array_f32(buf, 6, buf + 6, 6, buf + 9, 3, 1, 3, 2) ==
                  RELUKIT_EOVERLAP,
              "prelu_grad y overlaps w");
        CHECK(relukit_prelu_array_f32(buf, 6, buf, 6, buf + 6, 3, 1, 3, 2) == RELUKIT_OK,
              "prelu in place, w apart");
        CHECK(bits32(buf[0]) == bits32(1.0f) && bits32(buf[1]) == bits32(-2.0f * 7.0f) &&
                  buf[6] == 7.0f,
              "prelu in place values");
    }
    /* prelu: lengths, weight length, overflowing shapes, NULL weight */
    CHECK(relukit_prelu_array_f32(x, 6, y, 6, w, 3, 1, 3, 2) == RELUKIT_OK, "prelu ok");
    CHECK(relukit_prelu_array_f32(x, 6, y, 6, w, 2, 1, 3, 2) == RELUKIT_ESIZE, "prelu w_len");
    CHECK(relukit_prelu_array_f32(x, 6, y, 5, w, 3, 1, 3, 2) == RELUKIT_ESIZE, "prelu y_len");
    CHECK(relukit_prelu_array_f32(x, 8, y, 8, w, 3, 1, 3, 2) == RELUKIT_ESIZE, "prelu x_len");
    CHECK(relukit_prelu_grad_array_f32(x, 6, y, 6, NULL, 3, 1, 3, 2) == RELUKIT_ESIZE,
          "prelu NULL w");
    CHECK(relukit_prelu_array_f64(xd, 2, yd, 2, (const double *)NULL, 0, 1, 0, 2) ==
              RELUKIT_ESIZE,
          "prelu 0 channels but 2 elements");
    CHECK(relukit_prelu_array_f64(xd, 0, yd, 0, (const double *)NULL, 0, 5, 0, 3) == RELUKIT_OK,
          "prelu empty");
    CHECK(relukit_prelu_grad_array_f64(xd, 8, yd, 8, (const double *)xd, 2, SIZE_MAX / 2 + 1, 2,
                                       2) == RELUKIT_ESIZE,
          "prelu shape overflow");
    CHECK(relukit_prelu_array_f32(x, 8, y, 8, w, 2, 4, 2, SIZE_MAX) == RELUKIT_ESIZE,
          "prelu inner overflow");
}

/* ---- fixed points of the contract (docs/activations.md) ----------------------------------- */

static void test_fixed_points(void)
{
    const float ninf = -INFINITY, pinf = INFINITY;
    /* relu6 keeps -0.0 (a tie keeps x, as torch.clamp); its grad is 0 at both kinks */
    CHECK(bits32(relukit_hardtanh_f32(-0.0f, 0.0f, 6.0f)) == 0x80000000u, "relu6(-0) = -0");
    CHECK(relukit_hardtanh_grad_f32(6.0f, 0.0f, 6.0f) == 0.0f, "relu6'(6) = 0");
    CHECK(relukit_hardtanh_grad_f32(0.0f, 0.0f, 6.0f) == 0.0f, "relu6'(0) = 0");
    CHECK(relukit_leaky_relu_grad_f64(-0.0, 0.01) == 0.01, "leaky'(-0) = slope");
    CHECK(bits64(relukit_leaky_relu_f64(-0.0, 0.01)) == 0x8000000000000000u, "leaky(-0) = -0");
    CHECK(relukit_threshold_f64(0.5, 0.5, -3.0) == -3.0, "threshold at th = value");
    CHECK(relukit_threshold_grad_f64(0.5, 0.5, 9.0) == 0.0, "threshold'(th) = 0");
    CHECK(bits64(relukit_elu_f64(-0.0, 1.0)) == 0, "elu(-0) = +0 (PyTorch)");
    CHECK(relukit_elu_grad_f64(0.0, 0.3) == 0.3, "elu'(0) = alpha");
    CHECK(relukit_elu_f32(ninf, 1.0f) == -1.0f, "elu(-inf) = -alpha");
    CHECK(bits64(relukit_gelu_f64(-INFINITY)) == 0x8000000000000000u, "gelu(-inf) = -0");
    CHECK(relukit_gelu_f32(pinf) == pinf, "gelu(inf) = inf");
    CHECK(relukit_gelu_grad_f64(-INFINITY) == 0.0 && relukit_gelu_grad_f64(INFINITY) == 1.0,
          "gelu'(+-inf)");
    CHECK(relukit_gelu_grad_f64(0.0) == 0.5, "gelu'(0) = 0.5");
    CHECK(bits64(relukit_gelu_tanh_f64(-INFINITY)) == 0x8000000000000000u, "gelu_tanh(-inf)");
    CHECK(relukit_gelu_tanh_f64(1e300) == 1e300, "gelu_tanh(1e300), x^3 overflows");
    CHECK(relukit_gelu_tanh_grad_f64(-INFINITY) == 0.0, "gelu_tanh'(-inf)");
    CHECK(relukit_sigmoid_f64(-800.0) == 0.0 && relukit_sigmoid_f64(800.0) == 1.0, "sigmoid");
    CHECK(relukit_sigmoid_f64(-740.0) > 0.0, "sigmoid(-740) is a subnormal, not 0");
    CHECK(relukit_sigmoid_grad_f64(0.0) == 0.25, "sigmoid'(0)");
    CHECK(bits32(relukit_tanh_f32(-0.0f)) == 0x80000000u, "tanh(-0) = -0");
    CHECK(relukit_tanh_grad_f64(0.0) == 1.0 && relukit_tanh_grad_f64(400.0) == 0.0, "tanh'");
    CHECK(bits32(relukit_sigmoid_f32(f32_of(0x7f800001u))) == 0x7f800001u, "sNaN kept");
    CHECK(bits64(relukit_gelu_grad_f64(f64_of(0xfff0000000000001u))) == 0xfff0000000000001u,
          "-sNaN kept");
    /* silu, softplus, selu, mish, hardswish, hardsigmoid */
    CHECK(bits32(relukit_silu_f32(ninf)) == 0x80000000u && relukit_silu_f32(pinf) == pinf,
          "silu(-inf) = -0, silu(inf) = inf");
    CHECK(bits64(relukit_silu_f64(-0.0)) == 0x8000000000000000u, "silu(-0) = -0");
    CHECK(relukit_silu_grad_f64(0.0) == 0.5 && relukit_silu_grad_f64(-INFINITY) == 0.0 &&
              relukit_silu_grad_f32(pinf) == 1.0f, "silu'(0, -inf, inf)");
    CHECK(relukit_softplus_f32(20.5f, 1.0f, 20.0f) == 20.5f, "softplus linear above threshold");
    CHECK(relukit_softplus_f64(1e300, 1.0, INFINITY) == 1e300, "softplus(1e300), no overflow");
    CHECK(relukit_softplus_f64(-INFINITY, 1.0, 20.0) == 0.0, "softplus(-inf) = 0");
    CHECK(relukit_softplus_grad_f64(30.0, 1.0, 20.0) == 1.0 &&
              relukit_softplus_grad_f64(0.0, 2.0, 20.0) == 0.5, "softplus'");
    CHECK(bits64(relukit_selu_f64(-0.0)) == 0 && bits32(relukit_selu_f32(0.0f)) == 0,
          "selu(+-0) = +0 (PyTorch)");
    CHECK(relukit_selu_grad_f64(0.0) == 1.7580993408473768 &&
              relukit_selu_grad_f64(1.0) == 1.0507009873554805, "selu' = scale * alpha at 0");
    CHECK(relukit_selu_f32(ninf) == (float)-1.7580993408473768, "selu(-inf) = -scale*alpha");
    CHECK(bits32(relukit_mish_f32(ninf)) == 0x80000000u && relukit_mish_f64(INFINITY) == INFINITY,
          "mish(+-inf)");
    CHECK(relukit_mish_grad_f64(0.0) == 0.6 && relukit_mish_grad_f64(-INFINITY) == 0.0 &&
              relukit_mish_grad_f64(INFINITY) == 1.0, "mish'(0) = 0.6, mish'(+-inf)");
    CHECK(bits32(relukit_hardswish_f32(-3.0f)) == 0x80000000u &&
              bits64(relukit_hardswish_f64(-INFINITY)) == 0x8000000000000000u &&
              relukit_hardswish_f32(3.0f) == 3.0f && relukit_hardswish_f32(FLT_MAX) == FLT_MAX,
          "hardswish: -0 for x <= -3, x for x >= 3 (no overflow)");
    CHECK(relukit_hardswish_grad_f32(-3.0f) == -0.5f && relukit_hardswish_grad_f32(3.0f) == 1.5f &&
              relukit_hardswish_grad_f64(-3.5) == 0.0 && relukit_hardswish_grad_f64(3.5) == 1.0,
          "hardswish' at the kinks (PyTorch's hardswish_backward)");
    CHECK(relukit_hardsigmoid_f32(-3.0f) == 0.0f && relukit_hardsigmoid_f32(3.0f) == 1.0f &&
              relukit_hardsigmoid_f64(0.0) == 0.5, "hardsigmoid");
    CHECK(relukit_hardsigmoid_grad_f32(-3.0f) == 0.0f && relukit_hardsigmoid_grad_f32(3.0f) == 0.0f &&
              relukit_hardsigmoid_grad_f32(0.0f) == 1.0f / 6.0f, "hardsigmoid' = 1/6 inside only");
    CHECK(bits32(relukit_hardswish_f32(f32_of(0xff800001u))) == 0xff800001u &&
              bits32(relukit_softplus_f32(f32_of(0x7f800001u), 1.0f, 20.0f)) == 0x7f800001u,
          "sNaN kept");
}

/* ---- float smooth ops on bit patterns: every path, the same bits, the error ------
 *
 * The float forms of sigmoid, tanh, elu, gelu_tanh and their derivatives are one algorithm in
 * double lanes (smooth.c): the AVX2+FMA kernel, the scalar loop compiled for FMA (the portable
 * path on an FMA CPU) and the scalar entry points (libm's fma) must give the same bits on every
 * input, within 1 ulp (the bound in docs/activations.md) and, as the method guarantees (a double
 * result within ~1e-15 relative, rounded once), within 0.5 + 2^-12 ulp. Checked on every
 * 4099th float bit pattern and every 1021st with 2^-32 <= |x| < 128 (where the results are not
 * saturated). RELUKIT_TEST_EXHAUSTIVE=1 compares the paths on all 2^32 patterns (the scalar
 * entry point on every 61st, the error on every 16th): about 1.5 minutes per op here. */

int relukit__smooth_vector_path(void); /* smooth.c's test hook */

#define SWEEP_CHUNK 4096
static float sw_x[SWEEP_CHUNK], sw_v[SWEEP_CHUNK], sw_p[SWEEP_CHUNK];

typedef struct {
    unsigned long n, checked, path_diff, scalar_diff, over;
    double max_err;
    uint32_t worst;
} sweep_t;

/* patterns start, start + stride, ... while < end (64-bit counters: end may be 2^32) */
static void sweep_range(const struct op *op, params_t p, uint64_t start, uint64_t end,
                        uint64_t stride, int avx2, unsigned scalar_every, unsigned ref_every,
                        sweep_t *st)
{
    uint64_t u = start;
    while (u < end) {
        size_t m = 0;
        for (; m < SWEEP_CHUNK && u < end; m++, u += stride)
            sw_x[m] = f32_of((uint32_t)u);
        if (avx2)
            (void)relukit__set_simd(RELUKIT_SIMD_AVX2);
        (void)op->a32(sw_x, m, sw_v, m, p);
        (void)relukit__set_simd(RELUKIT_SIMD_PORTABLE);
        (void)op->a32(sw_x, m, sw_p, m, p);
        for (size_t i = 0; i < m; i++) {
            st->n++;
            if (bits32(sw_v[i]) != bits32(sw_p[i]))
                st->path_diff++;
            if (scalar_every && (st->n % scalar_every) == 0 &&
                bits32(op->s32(sw_x[i], p)) != bits32(sw_p[i]))
                st->scalar_diff++;
            if (st->n % ref_every != 0)
                continue;
            st->checked++;
            const double e = trans_err32(op, p, sw_x[i], sw_v[i]);
            if (e > 1.0)
                st->over++;
            if (e > st->max_err) {
                st->max_err = e;
                st->worst = bits32(sw_x[i]);
            }
        }
    }
}

/* 1 if name is one of the comma-separated names of list */
static int listed(const char *list, const char *name)
{
    const size_t n = strlen(name);
    for (const char *s = list; *s != '\0';) {
        const char *end = strchr(s, ',');
        const size_t len = end ? (size_t)(end - s) : strlen(s);
        if (len == n && strncmp(s, name, n) == 0)
            return 1;
        s += len + (end != NULL);
    }
    return 0;
}

static void test_float_sweeps(void)
{
    const char *env = getenv("RELUKIT_TEST_EXHAUSTIVE");
    const int exhaustive = env != NULL && env[0] != '\0' && strcmp(env, "0") != 0;
    const int avx2 = relukit__set_simd(RELUKIT_SIMD_AVX2) == RELUKIT_SIMD_AVX2;
    const int vector = relukit__smooth_vector_path();
    printf("float sweeps (%s; %s):\n", exhaustive ? "every bit pattern" : "strided",
           vector ? "AVX2+FMA kernel vs portable path" : "portable path only");
    const char *only = getenv("RELUKIT_TEST_OPS"); /* "silu,mish": sweep these ops only */
    for (size_t k = 0; k < N_OPS; k++) {
        const struct op *op = &OPS[k];
        if (!op->refl || (only != NULL && only[0] != '\0' && !listed(only, op->name)))
            continue;
        for (size_t j = 0; j < op->n_params; j++) {
            const params_t p = op->params[j];
            sweep_t st = {0, 0, 0, 0, 0, 0.0, 0};
            if (exhaustive) {
                sweep_range(op, p, 0, (uint64_t)1 << 32, 1, avx2, 61, 16, &st);
            } else {
                sweep_range(op, p, 0, (uint64_t)1 << 32, 4099, avx2, 1, 1, &st);
                for (uint64_t sign = 0; sign < 2; sign++) /* 2^-32 <= |x| < 128 */
                    sweep_range(op, p, (sign << 31) | 0x2f800000u, (sign << 31) | 0x43000000u,
                                1021, avx2, 7, 1, &st);
            }
            printf("  %-15s p=%-4g %10lu inputs (error at %lu): max error %.9f ulp at x = %a\n",
                   op->name, p.a, st.n, st.checked, st.max_err, (double)f32_of(st.worst));
            CHECK(st.path_diff == 0, "%s(p=%g) f32: %lu inputs where the AVX2 and portable paths "
                                     "differ", op->name, p.a, st.path_diff);
            CHECK(st.scalar_diff == 0, "%s(p=%g) f32: %lu inputs where the scalar entry point "
                                       "and the array path differ", op->name, p.a,
                  st.scalar_diff);
            CHECK(st.over == 0, "%s(p=%g) f32: %lu inputs over 1 ulp", op->name, p.a, st.over);
            CHECK(st.max_err <= 0.5 + 0x1p-12, "%s(p=%g) f32: max error %.9f ulp > 0.5 + 2^-12",
                  op->name, p.a, st.max_err);
        }
    }
    (void)relukit__set_simd(-1);
}

/* ---- main ---------------------------------------------------------------------------------- */

/* The paths and thresholds every op runs under: each path with the thresholds forced high
 * (never stream, never split) and low (always stream, split every call over 2 threads). */
struct setting {
    int simd;
    size_t nt_bytes, split_bytes, threads;
    const char *label;
};
static const struct setting SETTINGS[] = {
    {RELUKIT_SIMD_PORTABLE, SIZE_MAX, SIZE_MAX, 1, "portable"},
    {RELUKIT_SIMD_PORTABLE, 0, 0, 2, "portable split"},
    {RELUKIT_SIMD_AVX2, SIZE_MAX, SIZE_MAX, 1, "avx2"},
    {RELUKIT_SIMD_AVX2, 0, SIZE_MAX, 1, "avx2-stream"},
    {RELUKIT_SIMD_AVX2, 0, 0, 2, "avx2-stream split"},
    {RELUKIT_SIMD_AVX2, RELUKIT_AUTO, RELUKIT_AUTO, 2, "avx2 machine thresholds"},
};
#define N_SETTINGS (sizeof SETTINGS / sizeof SETTINGS[0])

static void apply(const struct setting *s)
{
    (void)relukit__set_simd(s->simd);
    (void)relukit__set_nt_threshold(s->nt_bytes);
    (void)relukit__set_split_threshold(s->split_bytes);
    relukit_set_num_threads(s->threads);
}

int main(void)
{
    harness_start();
    harness_seed(0x2545f4914f6cdd1du);
    test_fixed_points();
    test_errors();
    test_float_sweeps();
    const char *path = "portable";
    const int avx2 = relukit__set_simd(RELUKIT_SIMD_AVX2) == RELUKIT_SIMD_AVX2;
    if (!avx2)
        printf("note: this CPU has no AVX2; only the portable path is tested\n");
    for (int mode = 0; mode < 1 + HAVE_MXCSR; mode++) {
#if HAVE_MXCSR
        const unsigned int saved = _mm_getcsr();
        if (mode == 1) {
            _mm_setcsr(saved | 0x8040u); /* FTZ (bit 15) | DAZ (bit 6) */
            fp_daz = 1;
        }
#endif
        for (size_t k = 0; k < N_SETTINGS; k++) {
            if (SETTINGS[k].simd == RELUKIT_SIMD_AVX2 && !avx2)
                continue;
            char label[64];
            snprintf(label, sizeof label, "%s%s", SETTINGS[k].label, mode ? " ftz+daz" : "");
            path = label;
            apply(&SETTINGS[k]);
            test_all_ops(path);
            test_prelu(path);
        }
#if HAVE_MXCSR
        _mm_setcsr(saved);
        fp_daz = 0;
#endif
    }
    (void)relukit__set_simd(-1);
    (void)relukit__set_nt_threshold(RELUKIT_AUTO);
    (void)relukit__set_split_threshold(RELUKIT_AUTO);
    relukit_set_num_threads(1);
    return harness_finish();
}
