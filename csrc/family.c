/* family.c: the ReLU family's kernels (contract in relukit.h's family section and in
 * docs/activations.md). Plain C11, no Python.h.
 *
 * Piecewise-linear ops (leaky_relu, prelu, hardtanh/relu6, threshold and their derivatives)
 * choose the piece on integer keys of the bit patterns: key(x) = +|bits| for a clear sign bit,
 * -|bits| for a set one (so -0.0 and +0.0 share key 0 and keys order like the values), NaN
 * tested on the bits first. No float compare is involved, so FTZ/DAZ cannot move a subnormal to
 * another piece; the only float arithmetic is leaky/prelu's x * slope.
 *
 * Their array loops run on one of relu's two paths (relukit__get_simd(): AVX2 when the CPU has
 * it, unless RELUKIT_FORCE_PORTABLE): the AVX2 loop below is relu.c's (scalar head to a 32-byte
 * aligned y, four vectors per iteration, single vectors, scalar tail, non-temporal stores out
 * of place above 16 MiB moved) with a per-op vector body; the portable loop is a plain loop
 * the compiler vectorises. Both give the same bits (tests/test_family.c checks).
 *
 * Transcendental ops (elu, gelu, gelu_tanh, sigmoid, tanh and derivatives), double: scalar
 * loops around libm (exp, expm1, erfc, tanh, fma). Float: computed in double and rounded once;
 * gelu (erf form) by the double formula below, the others by this file's own exp/expm1 in
 * double lanes, AVX2+FMA when the CPU has both (see "float: sigmoid, tanh, ..." further down).
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
#include "relukit.h"
#include "relukit_internal.h"

#include <math.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define FAMILY_X86 1
#include <immintrin.h>
#else
#define FAMILY_X86 0
#endif

#define FAMILY_CHECK_LENGTHS(x, x_len, y, y_len)                                                 \
    do {                                                                                         \
        if ((x_len) != (y_len) || ((x_len) != 0 && ((x) == NULL || (y) == NULL)))               \
            return RELUKIT_ESIZE;                                                                \
        if ((x_len) == 0)                                                                        \
            return RELUKIT_OK;                                                                   \
    } while (0)

/* ---- piecewise-linear elements (scalar; the reference the vector code matches) ------------
 *
 * FAMILY_PIECEWISE(SFX, FT, UT, ST, NBITS, ONE) defines, for float type FT of unsigned/signed
 * width types UT/ST:
 *   ST family_key_SFX(UT u)                        the key of a bit pattern
 *   FT leaky_SFX(x, s), leaky_grad_SFX(x, s)
 *   FT clamp_SFX(x, lo, hi, klo, khi), clamp_grad_SFX(x, klo, khi)   (klo, khi: keys)
 *   FT thresh_SFX(x, kth, v), thresh_grad_SFX(x, kth)                 (kth: key)          */
#define FAMILY_PIECEWISE(SFX, FT, UT, ST, NBITS)                                                 \
    static inline ST family_key_##SFX(UT u)                                                      \
    {                                                                                            \
        const UT mag = u & (UT) ~((UT)1 << ((NBITS)-1));                                         \
        const ST s = -(ST)(u >> ((NBITS)-1)); /* 0, or -1 for a set sign bit */                  \
        return ((ST)mag ^ s) - s;                                                                \
    }                                                                                            \
    static inline ST family_keyof_##SFX(FT x) { return family_key_##SFX(relukit_bits_##SFX(x)); } \
    static inline FT leaky_##SFX(FT x, FT s)                                                     \
    {                                                                                            \
        const UT u = relukit_bits_##SFX(x);                                                      \
        return (family_key_##SFX(u) > 0 || relukit_isnan_bit_##SFX(u)) ? x : x * s;             \
    }                                                                                            \
    static inline FT leaky_grad_##SFX(FT x, FT s)                                                \
    {                                                                                            \
        const UT u = relukit_bits_##SFX(x);                                                      \
        if (relukit_isnan_bit_##SFX(u))                                                          \
            return x;                                                                            \
        return family_key_##SFX(u) > 0 ? (FT)1 : s;                                              \
    }                                                                                            \
    static inline FT clamp_##SFX(FT x, FT lo, FT hi, ST klo, ST khi)                             \
    {                                                                                            \
        const UT u = relukit_bits_##SFX(x);                                                      \
        const ST k = family_key_##SFX(u);                                                        \
        if (relukit_isnan_bit_##SFX(u))                                                          \
            return x;                                                                            \
        return k < klo ? lo : (k > khi ? hi : x);                                                \
    }                                                                                            \
    static inline FT clamp_grad_##SFX(FT x, ST klo, ST khi)                                      \
    {                                                                                            \
        const UT u = relukit_bits_##SFX(x);                                                      \
        const ST k = family_key_##SFX(u);                                                        \
        if (relukit_isnan_bit_##SFX(u))                                                          \
            return x;                                                                            \
        return (k > klo && k < khi) ? (FT)1 : (FT)0;                                             \
    }                                                                                            \
    static inline FT thresh_##SFX(FT x, ST kth, FT v)                                            \
    {                                                                                            \
        const UT u = relukit_bits_##SFX(x);                                                      \
        return (family_key_##SFX(u) > kth || relukit_isnan_bit_##SFX(u)) ? x : v;               \
    }                                                                                            \
    static inline FT thresh_grad_##SFX(FT x, ST kth)                                             \
    {                                                                                            \
        const UT u = relukit_bits_##SFX(x);                                                      \
        if (relukit_isnan_bit_##SFX(u))                                                          \
            return x;                                                                            \
        return family_key_##SFX(u) > kth ? (FT)1 : (FT)0;                                        \
    }

FAMILY_PIECEWISE(f32, float, uint32_t, int32_t, 32)
FAMILY_PIECEWISE(f64, double, uint64_t, int64_t, 64)

/* ---- AVX2 vector bodies and the shared loop ------------------------------------------------ */

#if FAMILY_X86
#define FAMILY_AVX2_FN __attribute__((target("avx2")))

/* Per-width primitives on bit patterns, so one macro writes each op for both types. */
FAMILY_AVX2_FN static inline __m256i gt_f32(__m256i a, __m256i b) { return _mm256_cmpgt_epi32(a, b); }
FAMILY_AVX2_FN static inline __m256i gt_f64(__m256i a, __m256i b) { return _mm256_cmpgt_epi64(a, b); }
FAMILY_AVX2_FN static inline __m256i set1_f32(uint32_t b) { return _mm256_set1_epi32((int)b); }
FAMILY_AVX2_FN static inline __m256i set1_f64(uint64_t b) { return _mm256_set1_epi64x((long long)b); }
FAMILY_AVX2_FN static inline __m256i set1k_f32(int32_t k) { return _mm256_set1_epi32(k); }
FAMILY_AVX2_FN static inline __m256i set1k_f64(int64_t k) { return _mm256_set1_epi64x(k); }
FAMILY_AVX2_FN static inline __m256i neg_f32(__m256i u) { return _mm256_srai_epi32(u, 31); }
FAMILY_AVX2_FN static inline __m256i neg_f64(__m256i u)
{
    return _mm256_cmpgt_epi64(_mm256_setzero_si256(), u);
}
FAMILY_AVX2_FN static inline __m256i sub_f32(__m256i a, __m256i b) { return _mm256_sub_epi32(a, b); }
FAMILY_AVX2_FN static inline __m256i sub_f64(__m256i a, __m256i b) { return _mm256_sub_epi64(a, b); }
FAMILY_AVX2_FN static inline __m256i mul_f32(__m256i a, __m256i b)
{
    return _mm256_castps_si256(_mm256_mul_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b)));
}
FAMILY_AVX2_FN static inline __m256i mul_f64(__m256i a, __m256i b)
{
    return _mm256_castpd_si256(_mm256_mul_pd(_mm256_castsi256_pd(a), _mm256_castsi256_pd(b)));
}
/* mask ? a : b (masks are all-ones or all-zeros per lane) */
FAMILY_AVX2_FN static inline __m256i sel(__m256i mask, __m256i a, __m256i b)
{
    return _mm256_blendv_epi8(b, a, mask);
}

/* FAMILY_AVX2_VOPS(SFX, UT, ABS, INF, ONE): the vector forms of the elements above. */
#define FAMILY_AVX2_VOPS(SFX, UT, ABS, INF, ONE)                                                 \
    FAMILY_AVX2_FN static inline __m256i key_v_##SFX(__m256i u)                                  \
    {                                                                                            \
        const __m256i mag = _mm256_and_si256(u, set1_##SFX(ABS));                                \
        const __m256i s = neg_##SFX(u);                                                          \
        return sub_##SFX(_mm256_xor_si256(mag, s), s);                                           \
    }                                                                                            \
    FAMILY_AVX2_FN static inline __m256i nan_v_##SFX(__m256i u)                                  \
    {                                                                                            \
        return gt_##SFX(_mm256_and_si256(u, set1_##SFX(ABS)), set1_##SFX(INF));                  \
    }                                                                                            \
    /* key > 0 is (signed) u > 0: sign clear and not +0.0 */                                     \
    FAMILY_AVX2_FN static inline __m256i leaky_v_##SFX(__m256i u, __m256i s)                     \
    {                                                                                            \
        const __m256i keep = _mm256_or_si256(gt_##SFX(u, _mm256_setzero_si256()), nan_v_##SFX(u)); \
        return sel(keep, u, mul_##SFX(u, s));                                                    \
    }                                                                                            \
    FAMILY_AVX2_FN static inline __m256i leaky_grad_v_##SFX(__m256i u, __m256i s)                \
    {                                                                                            \
        const __m256i r = sel(gt_##SFX(u, _mm256_setzero_si256()), set1_##SFX(ONE), s);         \
        return sel(nan_v_##SFX(u), u, r);                                                        \
    }                                                                                            \
    FAMILY_AVX2_FN static inline __m256i clamp_v_##SFX(__m256i u, __m256i lo, __m256i hi,       \
                                                       __m256i klo, __m256i khi)                 \
    {                                                                                            \
        const __m256i k = key_v_##SFX(u);                                                        \
        const __m256i nan = nan_v_##SFX(u);                                                      \
        __m256i r = sel(_mm256_andnot_si256(nan, gt_##SFX(klo, k)), lo, u);                      \
        return sel(_mm256_andnot_si256(nan, gt_##SFX(k, khi)), hi, r);                           \
    }                                                                                            \
    FAMILY_AVX2_FN static inline __m256i clamp_grad_v_##SFX(__m256i u, __m256i klo, __m256i khi) \
    {                                                                                            \
        const __m256i k = key_v_##SFX(u);                                                        \
        const __m256i in = _mm256_and_si256(gt_##SFX(k, klo), gt_##SFX(khi, k));                 \
        return sel(nan_v_##SFX(u), u, _mm256_and_si256(in, set1_##SFX(ONE)));                    \
    }                                                                                            \
    FAMILY_AVX2_FN static inline __m256i thresh_v_##SFX(__m256i u, __m256i kth, __m256i v)       \
    {                                                                                            \
        const __m256i keep = _mm256_or_si256(gt_##SFX(key_v_##SFX(u), kth), nan_v_##SFX(u));    \
        return sel(keep, u, v);                                                                  \
    }                                                                                            \
    FAMILY_AVX2_FN static inline __m256i thresh_grad_v_##SFX(__m256i u, __m256i kth)             \
    {                                                                                            \
        const __m256i r = _mm256_and_si256(gt_##SFX(key_v_##SFX(u), kth), set1_##SFX(ONE));      \
        return sel(nan_v_##SFX(u), u, r);                                                        \
    }

FAMILY_AVX2_VOPS(f32, uint32_t, 0x7fffffffu, 0x7f800000u, 0x3f800000u)
FAMILY_AVX2_VOPS(f64, uint64_t, 0x7fffffffffffffffu, 0x7ff0000000000000u, 0x3ff0000000000000u)

/* Cached or streaming stores (then sfence), as decided by family_stream(). */
#define FAMILY_AVX2_RUN(FT, VOP, SOP, stream)                                                    \
    if (stream) {                                                                                \
        RELUKIT_AVX2_BODY(FT, VOP, SOP, RELUKIT_STREAM)                                            \
        _mm_sfence();                                                                            \
    } else {                                                                                     \
        RELUKIT_AVX2_BODY(FT, VOP, SOP, RELUKIT_STOREU)                                            \
    }

/* The AVX2 kernels: one per op and type; VOP/SOP bind the op's parameters. */
#define FAMILY_AVX2_KERNELS(SFX, FT, ST)                                                         \
    FAMILY_AVX2_FN static void leaky_avx2_##SFX(const FT *x, FT *y, size_t n, FT s, int stream)  \
    {                                                                                            \
        const __m256i sv = set1_##SFX(relukit_bits_##SFX(s));                                    \
        FAMILY_AVX2_RUN(FT, LEAKY_V_##SFX, LEAKY_S_##SFX, stream)                                \
    }                                                                                            \
    FAMILY_AVX2_FN static void leaky_grad_avx2_##SFX(const FT *x, FT *y, size_t n, FT s,         \
                                                     int stream)                                 \
    {                                                                                            \
        const __m256i sv = set1_##SFX(relukit_bits_##SFX(s));                                    \
        FAMILY_AVX2_RUN(FT, LEAKY_GRAD_V_##SFX, LEAKY_GRAD_S_##SFX, stream)                      \
    }                                                                                            \
    FAMILY_AVX2_FN static void clamp_avx2_##SFX(const FT *x, FT *y, size_t n, FT lo, FT hi,      \
                                                int stream)                                      \
    {                                                                                            \
        const ST klo = family_keyof_##SFX(lo), khi = family_keyof_##SFX(hi);                     \
        const __m256i lov = set1_##SFX(relukit_bits_##SFX(lo));                                  \
        const __m256i hiv = set1_##SFX(relukit_bits_##SFX(hi));                                  \
        const __m256i klov = set1k_##SFX(klo), khiv = set1k_##SFX(khi);        \
        FAMILY_AVX2_RUN(FT, CLAMP_V_##SFX, CLAMP_S_##SFX, stream)                                \
    }                                                                                            \
    FAMILY_AVX2_FN static void clamp_grad_avx2_##SFX(const FT *x, FT *y, size_t n, FT lo, FT hi, \
                                                     int stream)                                 \
    {                                                                                            \
        const ST klo = family_keyof_##SFX(lo), khi = family_keyof_##SFX(hi);                     \
        const __m256i klov = set1k_##SFX(klo), khiv = set1k_##SFX(khi);        \
        FAMILY_AVX2_RUN(FT, CLAMP_GRAD_V_##SFX, CLAMP_GRAD_S_##SFX, stream)                      \
    }                                                                                            \
    FAMILY_AVX2_FN static void thresh_avx2_##SFX(const FT *x, FT *y, size_t n, FT th, FT v_,     \
                                                 int stream)                                     \
    {                                                                                            \
        const ST kth = family_keyof_##SFX(th);                                                   \
        const __m256i kthv = set1k_##SFX(kth), vv = set1_##SFX(relukit_bits_##SFX(v_));         \
        FAMILY_AVX2_RUN(FT, THRESH_V_##SFX, THRESH_S_##SFX, stream)                              \
    }                                                                                            \
    FAMILY_AVX2_FN static void thresh_grad_avx2_##SFX(const FT *x, FT *y, size_t n, FT th,       \
                                                      int stream)                                \
    {                                                                                            \
        const ST kth = family_keyof_##SFX(th);                                                   \
        const __m256i kthv = set1k_##SFX(kth);                                                   \
        FAMILY_AVX2_RUN(FT, THRESH_GRAD_V_##SFX, THRESH_GRAD_S_##SFX, stream)                    \
    }

/* The per-op bodies: names of the kernels' locals (sv, lov, klo, ...) bound here. */
#define LEAKY_V_f32(u) leaky_v_f32((u), sv)
#define LEAKY_S_f32(v) leaky_f32((v), s)
#define LEAKY_GRAD_V_f32(u) leaky_grad_v_f32((u), sv)
#define LEAKY_GRAD_S_f32(v) leaky_grad_f32((v), s)
#define CLAMP_V_f32(u) clamp_v_f32((u), lov, hiv, klov, khiv)
#define CLAMP_S_f32(v) clamp_f32((v), lo, hi, klo, khi)
#define CLAMP_GRAD_V_f32(u) clamp_grad_v_f32((u), klov, khiv)
#define CLAMP_GRAD_S_f32(v) clamp_grad_f32((v), klo, khi)
#define THRESH_V_f32(u) thresh_v_f32((u), kthv, vv)
#define THRESH_S_f32(v) thresh_f32((v), kth, v_)
#define THRESH_GRAD_V_f32(u) thresh_grad_v_f32((u), kthv)
#define THRESH_GRAD_S_f32(v) thresh_grad_f32((v), kth)
#define LEAKY_V_f64(u) leaky_v_f64((u), sv)
#define LEAKY_S_f64(v) leaky_f64((v), s)
#define LEAKY_GRAD_V_f64(u) leaky_grad_v_f64((u), sv)
#define LEAKY_GRAD_S_f64(v) leaky_grad_f64((v), s)
#define CLAMP_V_f64(u) clamp_v_f64((u), lov, hiv, klov, khiv)
#define CLAMP_S_f64(v) clamp_f64((v), lo, hi, klo, khi)
#define CLAMP_GRAD_V_f64(u) clamp_grad_v_f64((u), klov, khiv)
#define CLAMP_GRAD_S_f64(v) clamp_grad_f64((v), klo, khi)
#define THRESH_V_f64(u) thresh_v_f64((u), kthv, vv)
#define THRESH_S_f64(v) thresh_f64((v), kth, v_)
#define THRESH_GRAD_V_f64(u) thresh_grad_v_f64((u), kthv)
#define THRESH_GRAD_S_f64(v) thresh_grad_f64((v), kth)
#endif /* FAMILY_X86 */

#if FAMILY_X86
FAMILY_AVX2_KERNELS(f32, float, int32_t)
FAMILY_AVX2_KERNELS(f64, double, int64_t)

/* Out of place, above relu.c's threshold of bytes read + written (one setting, one test hook
 * for both files), and y aligned to its type (so
 * the scalar head reaches a 32-byte boundary): non-temporal stores, as relu does. */
static int family_stream(const void *x, const void *y, size_t n, size_t size)
{
    return x != y && n > relukit__nt_threshold() / (2 * size) && ((uintptr_t)y % size) == 0;
}

#define FAMILY_TRY_AVX2(KERNEL, x, y, n, ...)                                                    \
    do {                                                                                         \
        if (relukit__get_simd() == RELUKIT_SIMD_AVX2) {                                          \
            KERNEL((x), (y), (n), __VA_ARGS__, family_stream((x), (y), (n), sizeof *(y)));       \
            return RELUKIT_OK;                                                                   \
        }                                                                                        \
    } while (0)
#else
#define FAMILY_TRY_AVX2(KERNEL, x, y, n, ...) ((void)0)
#endif

/* ---- piecewise-linear entry points ------------------------------------------------------- */

#define FAMILY_PIECEWISE_API(SFX, FT, ST)                                                        \
    FT relukit_leaky_relu_##SFX(FT x, FT slope) { return leaky_##SFX(x, slope); }                \
    FT relukit_leaky_relu_grad_##SFX(FT x, FT slope) { return leaky_grad_##SFX(x, slope); }      \
    FT relukit_hardtanh_##SFX(FT x, FT lo, FT hi)                                                \
    {                                                                                            \
        return clamp_##SFX(x, lo, hi, family_keyof_##SFX(lo), family_keyof_##SFX(hi));           \
    }                                                                                            \
    FT relukit_hardtanh_grad_##SFX(FT x, FT lo, FT hi)                                           \
    {                                                                                            \
        return clamp_grad_##SFX(x, family_keyof_##SFX(lo), family_keyof_##SFX(hi));             \
    }                                                                                            \
    FT relukit_threshold_##SFX(FT x, FT th, FT value)                                            \
    {                                                                                            \
        return thresh_##SFX(x, family_keyof_##SFX(th), value);                                   \
    }                                                                                            \
    FT relukit_threshold_grad_##SFX(FT x, FT th)                                                 \
    {                                                                                            \
        return thresh_grad_##SFX(x, family_keyof_##SFX(th));                                     \
    }                                                                                            \
    int relukit_leaky_relu_array_##SFX(const FT *x, size_t x_len, FT *y, size_t y_len, FT slope) \
    {                                                                                            \
        FAMILY_CHECK_LENGTHS(x, x_len, y, y_len);                                                \
        FAMILY_TRY_AVX2(leaky_avx2_##SFX, x, y, x_len, slope);                                   \
        for (size_t i = 0; i < x_len; i++)                                                       \
            y[i] = leaky_##SFX(x[i], slope);                                                     \
        return RELUKIT_OK;                                                                       \
    }                                                                                            \
    int relukit_leaky_relu_grad_array_##SFX(const FT *x, size_t x_len, FT *y, size_t y_len,      \
                                            FT slope)                                            \
    {                                                                                            \
        FAMILY_CHECK_LENGTHS(x, x_len, y, y_len);                                                \
        FAMILY_TRY_AVX2(leaky_grad_avx2_##SFX, x, y, x_len, slope);                              \
        for (size_t i = 0; i < x_len; i++)                                                       \
            y[i] = leaky_grad_##SFX(x[i], slope);                                                \
        return RELUKIT_OK;                                                                       \
    }                                                                                            \
    int relukit_hardtanh_array_##SFX(const FT *x, size_t x_len, FT *y, size_t y_len, FT lo,      \
                                     FT hi)                                                      \
    {                                                                                            \
        FAMILY_CHECK_LENGTHS(x, x_len, y, y_len);                                                \
        FAMILY_TRY_AVX2(clamp_avx2_##SFX, x, y, x_len, lo, hi);                                  \
        const ST klo = family_keyof_##SFX(lo), khi = family_keyof_##SFX(hi);                     \
        for (size_t i = 0; i < x_len; i++)                                                       \
            y[i] = clamp_##SFX(x[i], lo, hi, klo, khi);                                          \
        return RELUKIT_OK;                                                                       \
    }                                                                                            \
    int relukit_hardtanh_grad_array_##SFX(const FT *x, size_t x_len, FT *y, size_t y_len,        \
                                          FT lo, FT hi)                                          \
    {                                                                                            \
        FAMILY_CHECK_LENGTHS(x, x_len, y, y_len);                                                \
        FAMILY_TRY_AVX2(clamp_grad_avx2_##SFX, x, y, x_len, lo, hi);                             \
        const ST klo = family_keyof_##SFX(lo), khi = family_keyof_##SFX(hi);                     \
        for (size_t i = 0; i < x_len; i++)                                                       \
            y[i] = clamp_grad_##SFX(x[i], klo, khi);                                             \
        return RELUKIT_OK;                                                                       \
    }                                                                                            \
    int relukit_threshold_array_##SFX(const FT *x, size_t x_len, FT *y, size_t y_len, FT th,     \
                                      FT value)                                                  \
    {                                                                                            \
        FAMILY_CHECK_LENGTHS(x, x_len, y, y_len);                                                \
        FAMILY_TRY_AVX2(thresh_avx2_##SFX, x, y, x_len, th, value);                              \
        const ST kth = family_keyof_##SFX(th);                                                   \
        for (size_t i = 0; i < x_len; i++)                                                       \
            y[i] = thresh_##SFX(x[i], kth, value);                                               \
        return RELUKIT_OK;                                                                       \
    }                                                                                            \
    int relukit_threshold_grad_array_##SFX(const FT *x, size_t x_len, FT *y, size_t y_len,       \
                                           FT th)                                                \
    {                                                                                            \
        FAMILY_CHECK_LENGTHS(x, x_len, y, y_len);                                                \
        FAMILY_TRY_AVX2(thresh_grad_avx2_##SFX, x, y, x_len, th);                                \
        const ST kth = family_keyof_##SFX(th);                                                   \
        for (size_t i = 0; i < x_len; i++)                                                       \
            y[i] = thresh_grad_##SFX(x[i], kth);                                                 \
        return RELUKIT_OK;                                                                       \
    }                                                                                            \
    /* prelu: each run of `inner` elements shares one channel's slope; inner == 1 (x of shape   \
     * (batch, channels)) walks each row against the weight vector. */                          \
    static int prelu_common_##SFX(const FT *x, size_t x_len, FT *y, size_t y_len, const FT *w,   \
                                  size_t w_len, size_t outer, size_t channels, size_t inner,     \
                                  int grad)                                                      \
    {                                                                                            \
        size_t rows, total;                                                                      \
        if (!relukit_mul_size(outer, channels, &rows) || !relukit_mul_size(rows, inner, &total)) \
            return RELUKIT_ESIZE;                                                                \
        if (x_len != total || y_len != total || w_len != channels ||                             \
            (total != 0 && (x == NULL || y == NULL)) || (w_len != 0 && w == NULL))               \
            return RELUKIT_ESIZE;                                                                \
        if (total == 0)                                                                          \
            return RELUKIT_OK;                                                                   \
        if (inner == 1) {                                                                        \
            for (size_t r = 0; r < outer; r++) {                                                 \
                const FT *xr = x + r * channels;                                                 \
                FT *yr = y + r * channels;                                                       \
                if (grad)                                                                        \
                    for (size_t c = 0; c < channels; c++)                                        \
                        yr[c] = leaky_grad_##SFX(xr[c], w[c]);                                   \
                else                                                                             \
                    for (size_t c = 0; c < channels; c++)                                        \
                        yr[c] = leaky_##SFX(xr[c], w[c]);                                        \
            }                                                                                    \
            return RELUKIT_OK;                                                                   \
        }                                                                                        \
        for (size_t r = 0; r < rows; r++) {                                                      \
            const size_t at = r * inner;                                                         \
            const int st = grad ? relukit_leaky_relu_grad_array_##SFX(x + at, inner, y + at,     \
                                                                      inner, w[r % channels])    \
                                : relukit_leaky_relu_array_##SFX(x + at, inner, y + at, inner,   \
                                                                 w[r % channels]);               \
            if (st != RELUKIT_OK)                                                                \
                return st;                                                                       \
        }                                                                                        \
        return RELUKIT_OK;                                                                       \
    }                                                                                            \
    int relukit_prelu_array_##SFX(const FT *x, size_t x_len, FT *y, size_t y_len, const FT *w,   \
                                  size_t w_len, size_t outer, size_t channels, size_t inner)     \
    {                                                                                            \
        return prelu_common_##SFX(x, x_len, y, y_len, w, w_len, outer, channels, inner, 0);      \
    }                                                                                            \
    int relukit_prelu_grad_array_##SFX(const FT *x, size_t x_len, FT *y, size_t y_len,          \
                                       const FT *w, size_t w_len, size_t outer,                  \
                                       size_t channels, size_t inner)                            \
    {                                                                                            \
        return prelu_common_##SFX(x, x_len, y, y_len, w, w_len, outer, channels, inner, 1);      \
    }

FAMILY_PIECEWISE_API(f32, float, int32_t)
FAMILY_PIECEWISE_API(f64, double, int64_t)

/* ---- transcendental ops (double formulas; see the top of this file) ----------------------- */

static const double SQRT1_2 = 0.7071067811865476;     /* 1/sqrt(2) rounded ... */
static const double SQRT1_2_LO = -4.833646656726457e-17; /* ... and the rest */
static const double TWO_OVER_SQRTPI = 1.1283791670955126;
static const double INV_SQRT_2PI = 0.3989422804014327;
static const double BETA = 0.7978845608028654; /* sqrt(2/pi) */
static const double KAPPA = 0.044715;
static const double GELU_CUT = 40.0;

/* always inlined: the scalar float code below is also compiled into target("fma") loops */
#if defined(__GNUC__)
#define FX_INLINE static inline __attribute__((always_inline))
#else
#define FX_INLINE static inline
#endif

/* x > 0 on the bits (sign clear, not zero, not NaN): DAZ cannot turn a subnormal into 0 */
static inline int positive_d(double x)
{
    const uint64_t u = relukit_bits_f64(x);
    return family_key_f64(u) > 0 && !relukit_isnan_bit_f64(u);
}

FX_INLINE double clamp_cut(double x)
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

/* FAMILY_UNARY64(OP, FN) / FAMILY_UNARY64_P(OP, FN): relukit_OP_f64 and its array form from
 * the double formula FN (without / with one parameter), NaN passed through with its bits. */
#define FAMILY_UNARY64(OP, FN)                                                                   \
    double relukit_##OP##_f64(double x)                                                          \
    {                                                                                            \
        return relukit_isnan_bit_f64(relukit_bits_f64(x)) ? x : FN(x);                           \
    }                                                                                            \
    int relukit_##OP##_array_f64(const double *x, size_t x_len, double *y, size_t y_len)         \
    {                                                                                            \
        FAMILY_CHECK_LENGTHS(x, x_len, y, y_len);                                                \
        for (size_t i = 0; i < x_len; i++)                                                       \
            y[i] = relukit_##OP##_f64(x[i]);                                                     \
        return RELUKIT_OK;                                                                       \
    }
#define FAMILY_UNARY64_P(OP, FN)                                                                 \
    double relukit_##OP##_f64(double x, double p)                                                \
    {                                                                                            \
        return relukit_isnan_bit_f64(relukit_bits_f64(x)) ? x : FN(x, p);                        \
    }                                                                                            \
    int relukit_##OP##_array_f64(const double *x, size_t x_len, double *y, size_t y_len,         \
                                 double p)                                                       \
    {                                                                                            \
        FAMILY_CHECK_LENGTHS(x, x_len, y, y_len);                                                \
        for (size_t i = 0; i < x_len; i++)                                                       \
            y[i] = relukit_##OP##_f64(x[i], p);                                                  \
        return RELUKIT_OK;                                                                       \
    }

FAMILY_UNARY64_P(elu, elu_d)
FAMILY_UNARY64_P(elu_grad, elu_grad_d)
FAMILY_UNARY64(sigmoid, sigmoid_d)
FAMILY_UNARY64(sigmoid_grad, sigmoid_grad_d)
FAMILY_UNARY64(tanh, tanh_d)
FAMILY_UNARY64(tanh_grad, tanh_grad_d)
FAMILY_UNARY64(gelu, gelu_d)
FAMILY_UNARY64(gelu_grad, gelu_grad_d)
FAMILY_UNARY64(gelu_tanh, gelu_tanh_d)
FAMILY_UNARY64(gelu_tanh_grad, gelu_tanh_grad_d)

/* float GELU (erf form): the double formula, rounded once (no vector erfc). */
float relukit_gelu_f32(float x)
{
    return relukit_isnan_bit_f32(relukit_bits_f32(x)) ? x : (float)gelu_d((double)x);
}
float relukit_gelu_grad_f32(float x)
{
    return relukit_isnan_bit_f32(relukit_bits_f32(x)) ? x : (float)gelu_grad_d((double)x);
}
int relukit_gelu_array_f32(const float *x, size_t x_len, float *y, size_t y_len)
{
    FAMILY_CHECK_LENGTHS(x, x_len, y, y_len);
    for (size_t i = 0; i < x_len; i++)
        y[i] = relukit_gelu_f32(x[i]);
    return RELUKIT_OK;
}
int relukit_gelu_grad_array_f32(const float *x, size_t x_len, float *y, size_t y_len)
{
    FAMILY_CHECK_LENGTHS(x, x_len, y, y_len);
    for (size_t i = 0; i < x_len; i++)
        y[i] = relukit_gelu_grad_f32(x[i]);
    return RELUKIT_OK;
}

/* ---- float: sigmoid, tanh, elu, gelu_tanh and derivatives in double lanes ------------------
 *
 * One algorithm, written twice: a scalar form (the portable path and the scalar entry points)
 * and an AVX2+FMA form on 4 doubles per __m256d (16 floats per step: four quarters converted
 * exactly to double, computed, each rounded once to float; a tail of 1-15 padded to 16).
 * Both use the same operations in the same order, fma() where the vector uses vfmadd (both
 * correctly rounded), so they give the same bits (test_family.c compares them on float bit
 * patterns, strided or all 2^32; relukit-kernels' family/smooth.rs is the same algorithm
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

static const double FX_YMIN = -708.0; /* exp(y) = 0 below (libm: subnormal to -745) */
static const double FX_SHIFTER = 6755399441055744.0; /* 1.5 * 2^52 */
static const double FX_LOG2E = 1.4426950408889634;
static const double FX_LN2_HI = 0.6931471805599453;     /* ln 2 rounded ... */
static const double FX_LN2_LO = 2.3190468138462996e-17; /* ... and the rest */
#define FX_C2 (1.0 / 2.0)
#define FX_C3 (1.0 / 6.0)
#define FX_C4 (1.0 / 24.0)
#define FX_C5 (1.0 / 120.0)
#define FX_C6 (1.0 / 720.0)
#define FX_C7 (1.0 / 5040.0)
#define FX_C8 (1.0 / 40320.0)
#define FX_C9 (1.0 / 362880.0)
#define FX_C10 (1.0 / 3628800.0)
#define FX_C11 (1.0 / 39916800.0)
#define FX_C12 (1.0 / 479001600.0)

/* scalar form ------------------------------------------------------------------------------ */

/* p = expm1(r) and *s = 2^k for y = k ln2 + r (y <= 0 on entry); below -708, *s = 0 (so
 * exp(y) = 0 and expm1(y) = -1 exactly) */
FX_INLINE double fx_core(double y, double *s)
{
    const int flush = y < FX_YMIN;
    if (flush)
        y = FX_YMIN;
    const double t = fma(y, FX_LOG2E, FX_SHIFTER);
    const double k = t - FX_SHIFTER;
    const double r = fma(k, -FX_LN2_LO, fma(k, -FX_LN2_HI, y));
    const double r2 = r * r, r4 = r2 * r2;
    const double b0 = fma(fma(FX_C5, r, FX_C4), r2, fma(FX_C3, r, FX_C2));
    const double b1 = fma(fma(FX_C9, r, FX_C8), r2, fma(FX_C7, r, FX_C6));
    const double b2 = fma(FX_C12, r2, fma(FX_C11, r, FX_C10));
    const double q = fma(fma(b2, r4, b1), r4, b0);
    *s = flush ? 0.0 : relukit_from_bits_f64((relukit_bits_f64(t) + 1023u) << 52);
    return fma(r2, q, r);
}
FX_INLINE double fx_exp(double y)
{
    double s;
    const double p = fx_core(y, &s);
    return fma(s, p, s);
}
FX_INLINE double fx_expm1(double y)
{
    double s;
    const double p = fx_core(y, &s);
    return fma(s, p, s - 1.0);
}

static const int32_t FX_KEY_M40 = -0x42200000; /* family_key_f32(bits(-40.0f)) */

/* x > 0 on the bits (NaN excluded by every caller) */
FX_INLINE int fx_pos(float x) { return family_keyof_f32(x) > 0; }

FX_INLINE float fx_sigmoid_s(float x, double a)
{
    (void)a;
    const double d = x;
    const double e = fx_exp(-fabs(d));
    return (float)((signbit(d) ? e : 1.0) / (1.0 + e));
}
FX_INLINE float fx_sigmoid_grad_s(float x, double a)
{
    (void)a;
    const double d = x;
    const double e = fx_exp(-fabs(d));
    const double dd = 1.0 + e;
    return (float)(e / (dd * dd));
}
FX_INLINE float fx_tanh_s(float x, double a)
{
    (void)a;
    const double d = x;
    const double m = fx_expm1(-2.0 * fabs(d));
    const double t = fabs(m / (2.0 + m));
    return (float)(signbit(d) ? -t : t);
}
FX_INLINE float fx_tanh_grad_s(float x, double a)
{
    (void)a;
    const double d = x;
    const double e = fx_exp(-2.0 * fabs(d));
    const double dd = 1.0 + e;
    return (float)(4.0 * e / (dd * dd));
}
FX_INLINE float fx_elu_s(float x, double a)
{
    const double d = x;
    return fx_pos(x) ? x : (float)(a * (fx_expm1(-fabs(d)) + 0.0));
}
FX_INLINE float fx_elu_grad_s(float x, double a)
{
    const double d = x;
    return fx_pos(x) ? 1.0f : (float)(a * fx_exp(-fabs(d)));
}
FX_INLINE float fx_gelu_tanh_s(float x, double a)
{
    (void)a;
    if (family_keyof_f32(x) < FX_KEY_M40)
        return -0.0f;
    const double d = x;
    const double u = BETA * (d + KAPPA * (d * d * d));
    const double e = fx_exp(-2.0 * fabs(u));
    return (float)(d * ((signbit(u) ? e : 1.0) / (1.0 + e)));
}
FX_INLINE float fx_gelu_tanh_grad_s(float x, double a)
{
    (void)a;
    const double xc = clamp_cut((double)x);
    const double u = BETA * (xc + KAPPA * (xc * xc * xc));
    const double du = BETA * (1.0 + (3.0 * KAPPA) * (xc * xc));
    const double e = fx_exp(-2.0 * fabs(u));
    const double dd = 1.0 + e;
    const double s = (signbit(u) ? e : 1.0) / dd;
    return (float)(s + 2.0 * xc * du * e / (dd * dd));
}

/* vector form ------------------------------------------------------------------------------ */

#if FAMILY_X86
#define FX_FN __attribute__((target("avx2,fma")))
/* the helpers: always inlined (as one body per kernel; GCC would otherwise call the exp core) */
#define FX_VFN static inline __attribute__((always_inline, target("avx2,fma")))

/* Four __m256d (16 floats) go through every step together, each step written as a loop over
 * the four that the compiler unrolls: the instruction stream interleaves four independent
 * chains of ~60 cycles' latency, which the out-of-order core could not find on its own from
 * one chain after another (measured: 15 % faster than one 8-float block per step). */
#define FXQ 4
typedef struct {
    __m256d v[FXQ];
} fxq;
#define FXQ_EACH _Pragma("GCC unroll 4") for (int j = 0; j < FXQ; j++)

FX_VFN __m256d fxv(double v) { return _mm256_set1_pd(v); }
FX_VFN __m256d fxv_fma(__m256d a, __m256d b, __m256d c)
{
    return _mm256_fmadd_pd(a, b, c);
}
/* sign(m) ? a : b on the sign bits of m */
FX_VFN __m256d fxv_sign_sel(__m256d m, __m256d a, __m256d b)
{
    return _mm256_blendv_pd(b, a, m);
}
/* -|d| * c (c = 1 or 2: exact) */
FX_VFN fxq fxq_negabs(fxq d, double c)
{
    fxq r;
    FXQ_EACH r.v[j] = _mm256_mul_pd(fxv(c), _mm256_or_pd(d.v[j], fxv(-0.0)));
    return r;
}

/* the vector form of fx_core: p (returned) and *s */
FX_VFN fxq fxq_core(fxq y, fxq *s)
{
    fxq keep, t, k, r, r2, r4, b0, b1, b2, p;
    FXQ_EACH {
        keep.v[j] = _mm256_cmp_pd(y.v[j], fxv(FX_YMIN), _CMP_GE_OQ);
        y.v[j] = _mm256_max_pd(y.v[j], fxv(FX_YMIN));
    }
    FXQ_EACH t.v[j] = fxv_fma(y.v[j], fxv(FX_LOG2E), fxv(FX_SHIFTER));
    FXQ_EACH k.v[j] = _mm256_sub_pd(t.v[j], fxv(FX_SHIFTER));
    FXQ_EACH r.v[j] = fxv_fma(k.v[j], fxv(-FX_LN2_HI), y.v[j]);
    FXQ_EACH r.v[j] = fxv_fma(k.v[j], fxv(-FX_LN2_LO), r.v[j]);
    FXQ_EACH r2.v[j] = _mm256_mul_pd(r.v[j], r.v[j]);
    FXQ_EACH {
        b0.v[j] = fxv_fma(fxv_fma(fxv(FX_C5), r.v[j], fxv(FX_C4)), r2.v[j],
                          fxv_fma(fxv(FX_C3), r.v[j], fxv(FX_C2)));
        b1.v[j] = fxv_fma(fxv_fma(fxv(FX_C9), r.v[j], fxv(FX_C8)), r2.v[j],
                          fxv_fma(fxv(FX_C7), r.v[j], fxv(FX_C6)));
        b2.v[j] = fxv_fma(fxv(FX_C12), r2.v[j], fxv_fma(fxv(FX_C11), r.v[j], fxv(FX_C10)));
        r4.v[j] = _mm256_mul_pd(r2.v[j], r2.v[j]);
    }
    FXQ_EACH {
        const __m256d q = fxv_fma(fxv_fma(b2.v[j], r4.v[j], b1.v[j]), r4.v[j], b0.v[j]);
        p.v[j] = fxv_fma(r2.v[j], q, r.v[j]);
        const __m256i tb = _mm256_add_epi64(_mm256_castpd_si256(t.v[j]), _mm256_set1_epi64x(1023));
        s->v[j] = _mm256_and_pd(keep.v[j], _mm256_castsi256_pd(_mm256_slli_epi64(tb, 52)));
    }
    return p;
}
FX_VFN fxq fxq_exp(fxq y)
{
    fxq s, e;
    const fxq p = fxq_core(y, &s);
    FXQ_EACH e.v[j] = fxv_fma(s.v[j], p.v[j], s.v[j]);
    return e;
}
FX_VFN fxq fxq_expm1(fxq y)
{
    fxq s, m;
    const fxq p = fxq_core(y, &s);
    FXQ_EACH m.v[j] = fxv_fma(s.v[j], p.v[j], _mm256_sub_pd(s.v[j], fxv(1.0)));
    return m;
}

/* per op: the double lanes (fx_OP_v, as fx_OP_s) and the float-bit fixes besides NaN
 * (fx_OP_fix) */
FX_VFN fxq fx_sigmoid_v(fxq d, __m256d a)
{
    (void)a;
    const fxq e = fxq_exp(fxq_negabs(d, 1.0));
    fxq r;
    FXQ_EACH r.v[j] = _mm256_div_pd(fxv_sign_sel(d.v[j], e.v[j], fxv(1.0)),
                                    _mm256_add_pd(fxv(1.0), e.v[j]));
    return r;
}
FX_VFN fxq fx_sigmoid_grad_v(fxq d, __m256d a)
{
    (void)a;
    const fxq e = fxq_exp(fxq_negabs(d, 1.0));
    fxq r;
    FXQ_EACH {
        const __m256d dd = _mm256_add_pd(fxv(1.0), e.v[j]);
        r.v[j] = _mm256_div_pd(e.v[j], _mm256_mul_pd(dd, dd));
    }
    return r;
}
FX_VFN fxq fx_tanh_v(fxq d, __m256d a)
{
    (void)a;
    const fxq m = fxq_expm1(fxq_negabs(d, 2.0));
    fxq r;
    FXQ_EACH {
        const __m256d t = _mm256_div_pd(m.v[j], _mm256_add_pd(fxv(2.0), m.v[j]));
        r.v[j] = _mm256_or_pd(_mm256_andnot_pd(fxv(-0.0), t), _mm256_and_pd(d.v[j], fxv(-0.0)));
    }
    return r;
}
FX_VFN fxq fx_tanh_grad_v(fxq d, __m256d a)
{
    (void)a;
    const fxq e = fxq_exp(fxq_negabs(d, 2.0));
    fxq r;
    FXQ_EACH {
        const __m256d dd = _mm256_add_pd(fxv(1.0), e.v[j]);
        r.v[j] = _mm256_div_pd(_mm256_mul_pd(fxv(4.0), e.v[j]), _mm256_mul_pd(dd, dd));
    }
    return r;
}
FX_VFN fxq fx_elu_v(fxq d, __m256d a)
{
    const fxq m = fxq_expm1(fxq_negabs(d, 1.0));
    fxq r;
    FXQ_EACH r.v[j] = _mm256_mul_pd(a, _mm256_add_pd(m.v[j], _mm256_setzero_pd()));
    return r;
}
FX_VFN fxq fx_elu_grad_v(fxq d, __m256d a)
{
    const fxq e = fxq_exp(fxq_negabs(d, 1.0));
    fxq r;
    FXQ_EACH r.v[j] = _mm256_mul_pd(a, e.v[j]);
    return r;
}
/* u = BETA (x + KAPPA x^3) */
FX_VFN __m256d fxv_gelu_u(__m256d x)
{
    const __m256d cube = _mm256_mul_pd(_mm256_mul_pd(x, x), x);
    return _mm256_mul_pd(fxv(BETA), _mm256_add_pd(x, _mm256_mul_pd(fxv(KAPPA), cube)));
}
FX_VFN fxq fx_gelu_tanh_v(fxq d, __m256d a)
{
    (void)a;
    fxq u, r;
    FXQ_EACH u.v[j] = fxv_gelu_u(d.v[j]);
    const fxq e = fxq_exp(fxq_negabs(u, 2.0));
    FXQ_EACH {
        const __m256d s = _mm256_div_pd(fxv_sign_sel(u.v[j], e.v[j], fxv(1.0)),
                                        _mm256_add_pd(fxv(1.0), e.v[j]));
        r.v[j] = _mm256_mul_pd(d.v[j], s);
    }
    return r;
}
FX_VFN fxq fx_gelu_tanh_grad_v(fxq d, __m256d a)
{
    (void)a;
    fxq xc, u, r;
    FXQ_EACH {
        xc.v[j] = _mm256_min_pd(_mm256_max_pd(d.v[j], fxv(-GELU_CUT)), fxv(GELU_CUT));
        u.v[j] = fxv_gelu_u(xc.v[j]);
    }
    const fxq e = fxq_exp(fxq_negabs(u, 2.0));
    FXQ_EACH {
        const __m256d sq = _mm256_mul_pd(xc.v[j], xc.v[j]);
        const __m256d du =
            _mm256_mul_pd(fxv(BETA), _mm256_add_pd(fxv(1.0), _mm256_mul_pd(fxv(3.0 * KAPPA), sq)));
        const __m256d dd = _mm256_add_pd(fxv(1.0), e.v[j]);
        const __m256d s = _mm256_div_pd(fxv_sign_sel(u.v[j], e.v[j], fxv(1.0)), dd);
        const __m256d num =
            _mm256_mul_pd(_mm256_mul_pd(_mm256_mul_pd(fxv(2.0), xc.v[j]), du), e.v[j]);
        r.v[j] = _mm256_add_pd(s, _mm256_div_pd(num, _mm256_mul_pd(dd, dd)));
    }
    return r;
}

FX_VFN __m256i fx_none_fix(__m256i u, __m256i r)
{
    (void)u;
    return r;
}
#define fx_sigmoid_fix fx_none_fix
#define fx_sigmoid_grad_fix fx_none_fix
#define fx_tanh_fix fx_none_fix
#define fx_tanh_grad_fix fx_none_fix
#define fx_gelu_tanh_grad_fix fx_none_fix
/* x > 0 (signed bits > 0; +NaN too, but the NaN blend comes last) */
FX_VFN __m256i fx_elu_fix(__m256i u, __m256i r)
{
    return sel(_mm256_cmpgt_epi32(u, _mm256_setzero_si256()), u, r);
}
FX_VFN __m256i fx_elu_grad_fix(__m256i u, __m256i r)
{
    return sel(_mm256_cmpgt_epi32(u, _mm256_setzero_si256()), set1_f32(0x3f800000u), r);
}
FX_VFN __m256i fx_gelu_tanh_fix(__m256i u, __m256i r)
{
    return sel(_mm256_cmpgt_epi32(set1k_f32(FX_KEY_M40), key_v_f32(u)), set1_f32(0x80000000u), r);
}

/* the four doubles of half h (0: low, 1: high) of eight floats */
FX_VFN __m256d fxv_widen(__m256i u, int h)
{
    const __m256 f = _mm256_castsi256_ps(u);
    return _mm256_cvtps_pd(h ? _mm256_extractf128_ps(f, 1) : _mm256_castps256_ps128(f));
}
FX_VFN __m256i fxv_narrow(__m256d lo, __m256d hi)
{
    return _mm256_castps_si256(_mm256_set_m128(_mm256_cvtpd_ps(hi), _mm256_cvtpd_ps(lo)));
}

/* FX_AVX2_KERNEL(OP): sixteen floats per step (the op's double lanes on four __m256d, each
 * rounded once, the fixes, NaN kept), the last 1-15 through a zero-padded buffer so that every
 * element takes the same vector arithmetic. Both loads precede the stores, so x == y is fine.
 * Cached stores only: at a few cycles per element this is compute bound, far from memory
 * speed. */
#define FX_AVX2_KERNEL(OP)                                                                       \
    FX_VFN void fx_##OP##_block(const float *x, float *y, __m256d a)               \
    {                                                                                            \
        const __m256i u0 = RELUKIT_LOADV(x), u1 = RELUKIT_LOADV(x + 8);                            \
        fxq d;                                                                                   \
        d.v[0] = fxv_widen(u0, 0);                                                               \
        d.v[1] = fxv_widen(u0, 1);                                                               \
        d.v[2] = fxv_widen(u1, 0);                                                               \
        d.v[3] = fxv_widen(u1, 1);                                                               \
        const fxq r = fx_##OP##_v(d, a);                                                         \
        const __m256i r0 = fx_##OP##_fix(u0, fxv_narrow(r.v[0], r.v[1]));                       \
        const __m256i r1 = fx_##OP##_fix(u1, fxv_narrow(r.v[2], r.v[3]));                       \
        RELUKIT_STOREU(y, sel(nan_v_f32(u0), u0, r0));                                            \
        RELUKIT_STOREU(y + 8, sel(nan_v_f32(u1), u1, r1));                                        \
    }                                                                                            \
    FX_FN static void fx_##OP##_avx2(const float *x, float *y, size_t n, double a_)              \
    {                                                                                            \
        const __m256d a = _mm256_set1_pd(a_);                                                    \
        size_t i = 0;                                                                            \
        for (; i + 16 <= n; i += 16)                                                             \
            fx_##OP##_block(x + i, y + i, a);                                                    \
        if (i < n) {                                                                             \
            float buf[16] = {0};                                                                 \
            memcpy(buf, x + i, (n - i) * sizeof *x);                                             \
            fx_##OP##_block(buf, buf, a);                                                        \
            memcpy(y + i, buf, (n - i) * sizeof *y);                                             \
        }                                                                                        \
    }

FX_AVX2_KERNEL(sigmoid)
FX_AVX2_KERNEL(sigmoid_grad)
FX_AVX2_KERNEL(tanh)
FX_AVX2_KERNEL(tanh_grad)
FX_AVX2_KERNEL(elu)
FX_AVX2_KERNEL(elu_grad)
FX_AVX2_KERNEL(gelu_tanh)
FX_AVX2_KERNEL(gelu_tanh_grad)

/* FMA support, detected once (relaxed atomics: concurrent first calls store the same value) */
#if defined(__STDC_NO_ATOMICS__)
static volatile int fx_fma_state = -1;
#define FX_LOAD(p) (*(p))
#define FX_STORE(p, v) (*(p) = (v))
#else
#include <stdatomic.h>
static _Atomic int fx_fma_state = -1;
#define FX_LOAD(p) atomic_load_explicit((p), memory_order_relaxed)
#define FX_STORE(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#endif

static int fx_have_fma(void)
{
    int v = FX_LOAD(&fx_fma_state);
    if (v < 0) {
        __builtin_cpu_init();
        v = __builtin_cpu_supports("fma") ? 1 : 0;
        FX_STORE(&fx_fma_state, v);
    }
    return v;
}

/* The scalar loop compiled for FMA (fma() becomes one instruction instead of a libm call):
 * the portable path on a CPU with FMA. Same source, same bits. */
#define FX_SCALAR_FMA_LOOP(OP)                                                                   \
    __attribute__((target("fma"))) static void fx_##OP##_scalar_fma(const float *x, float *y,    \
                                                                    size_t n, double a)          \
    {                                                                                            \
        for (size_t i = 0; i < n; i++) {                                                         \
            const float v = x[i];                                                                \
            y[i] = relukit_isnan_bit_f32(relukit_bits_f32(v)) ? v : fx_##OP##_s(v, a);           \
        }                                                                                        \
    }
FX_SCALAR_FMA_LOOP(sigmoid)
FX_SCALAR_FMA_LOOP(sigmoid_grad)
FX_SCALAR_FMA_LOOP(tanh)
FX_SCALAR_FMA_LOOP(tanh_grad)
FX_SCALAR_FMA_LOOP(elu)
FX_SCALAR_FMA_LOOP(elu_grad)
FX_SCALAR_FMA_LOOP(gelu_tanh)
FX_SCALAR_FMA_LOOP(gelu_tanh_grad)

/* AVX2+FMA vector kernel iff relu's path is AVX2 (CPU, RELUKIT_FORCE_PORTABLE) and the CPU has
 * FMA; else, with FMA, the scalar loop compiled for it; else the plain scalar loop follows. */
#define FX_TRY_FAST(OP, x, y, n, a)                                                              \
    do {                                                                                         \
        if (fx_have_fma()) {                                                                     \
            if (relukit__get_simd() == RELUKIT_SIMD_AVX2)                                        \
                fx_##OP##_avx2((x), (y), (n), (a));                                              \
            else                                                                                 \
                fx_##OP##_scalar_fma((x), (y), (n), (a));                                        \
            return RELUKIT_OK;                                                                   \
        }                                                                                        \
    } while (0)
#else
#define FX_TRY_FAST(OP, x, y, n, a) ((void)0)
#endif /* FAMILY_X86 */

/* Test hook: 1 if the float transcendental array kernels take the AVX2+FMA path now. */
int relukit__family_vector_path(void);
int relukit__family_vector_path(void)
{
#if FAMILY_X86
    return relukit__get_simd() == RELUKIT_SIMD_AVX2 && fx_have_fma();
#else
    return 0;
#endif
}

/* FX_API0(OP) / FX_API1(OP): relukit_OP_f32 and relukit_OP_array_f32 (no parameter / alpha) */
#define FX_API0(OP)                                                                              \
    float relukit_##OP##_f32(float x)                                                            \
    {                                                                                            \
        return relukit_isnan_bit_f32(relukit_bits_f32(x)) ? x : fx_##OP##_s(x, 0.0);             \
    }                                                                                            \
    int relukit_##OP##_array_f32(const float *x, size_t x_len, float *y, size_t y_len)           \
    {                                                                                            \
        FAMILY_CHECK_LENGTHS(x, x_len, y, y_len);                                                \
        FX_TRY_FAST(OP, x, y, x_len, 0.0);                                                        \
        for (size_t i = 0; i < x_len; i++)                                                       \
            y[i] = relukit_##OP##_f32(x[i]);                                                     \
        return RELUKIT_OK;                                                                       \
    }
#define FX_API1(OP)                                                                              \
    float relukit_##OP##_f32(float x, float p)                                                   \
    {                                                                                            \
        return relukit_isnan_bit_f32(relukit_bits_f32(x)) ? x : fx_##OP##_s(x, (double)p);       \
    }                                                                                            \
    int relukit_##OP##_array_f32(const float *x, size_t x_len, float *y, size_t y_len, float p)  \
    {                                                                                            \
        FAMILY_CHECK_LENGTHS(x, x_len, y, y_len);                                                \
        FX_TRY_FAST(OP, x, y, x_len, (double)p);                                                  \
        for (size_t i = 0; i < x_len; i++)                                                       \
            y[i] = relukit_##OP##_f32(x[i], p);                                                  \
        return RELUKIT_OK;                                                                       \
    }

FX_API0(sigmoid)
FX_API0(sigmoid_grad)
FX_API0(tanh)
FX_API0(tanh_grad)
FX_API1(elu)
FX_API1(elu_grad)
FX_API0(gelu_tanh)
FX_API0(gelu_tanh_grad)
