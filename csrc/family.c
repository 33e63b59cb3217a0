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
 * Transcendental ops (elu, gelu, gelu_tanh, sigmoid, tanh and derivatives) are scalar loops
 * around libm (exp, expm1, erfc, tanh, fma) in double; float is converted, computed in double
 * and rounded once. The formulas (shared by every backend):
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

/* Test hook (tests/test_family.c): the out-of-place streaming-store threshold in bytes read +
 * written (relu.c's default, 16 MiB). Not thread-safe: for tests and benchmarks only. */
size_t relukit__family_set_nt_threshold(size_t bytes);

static size_t family_nt_bytes = (size_t)16 << 20;

size_t relukit__family_set_nt_threshold(size_t bytes)
{
    size_t old = family_nt_bytes;
    family_nt_bytes = bytes;
    return old;
}

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

#define FAMILY_LOADV(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define FAMILY_STOREU(p, v) _mm256_storeu_si256((__m256i *)(void *)(p), (v))
#define FAMILY_STREAM(p, v) _mm256_stream_si256((__m256i *)(void *)(p), (v))

/* FAMILY_AVX2_BODY(FT, VOP, SOP, STORE): y[i] = SOP(x[i]) for i < n, VOP on whole vectors of
 * bit patterns: relu.c's RELUKIT_AVX2_BODY (private to relu.c), with VOP and SOP the names of
 * function-like macros the kernel defines around its parameters. Loads precede stores in every
 * vector, so x == y is fine. */
#define FAMILY_AVX2_BODY(FT, VOP, SOP, STORE)                                                    \
    {                                                                                            \
        const size_t w = 32 / sizeof(FT);                                                        \
        size_t head = ((32u - ((uintptr_t)(void *)y & 31u)) & 31u) / sizeof(FT);                 \
        size_t i = 0;                                                                            \
        if (head > n)                                                                            \
            head = n;                                                                            \
        for (; i < head; i++)                                                                    \
            y[i] = SOP(x[i]);                                                                    \
        for (; i + 4 * w <= n; i += 4 * w) {                                                     \
            const __m256i a = FAMILY_LOADV(x + i), b = FAMILY_LOADV(x + i + w);                  \
            const __m256i c = FAMILY_LOADV(x + i + 2 * w), d = FAMILY_LOADV(x + i + 3 * w);      \
            STORE(y + i, VOP(a));                                                                \
            STORE(y + i + w, VOP(b));                                                            \
            STORE(y + i + 2 * w, VOP(c));                                                        \
            STORE(y + i + 3 * w, VOP(d));                                                        \
        }                                                                                        \
        for (; i + w <= n; i += w)                                                               \
            STORE(y + i, VOP(FAMILY_LOADV(x + i)));                                              \
        for (; i < n; i++)                                                                       \
            y[i] = SOP(x[i]);                                                                    \
    }

/* Cached or streaming stores (then sfence), as decided by family_stream(). */
#define FAMILY_AVX2_RUN(FT, VOP, SOP, stream)                                                    \
    if (stream) {                                                                                \
        FAMILY_AVX2_BODY(FT, VOP, SOP, FAMILY_STREAM)                                            \
        _mm_sfence();                                                                            \
    } else {                                                                                     \
        FAMILY_AVX2_BODY(FT, VOP, SOP, FAMILY_STOREU)                                            \
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

/* Out of place, above the threshold of bytes read + written, and y aligned to its type (so
 * the scalar head reaches a 32-byte boundary): non-temporal stores, as relu does. */
static int family_stream(const void *x, const void *y, size_t n, size_t size)
{
    return x != y && n > family_nt_bytes / (2 * size) && ((uintptr_t)y % size) == 0;
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

/* x > 0 on the bits (sign clear, not zero, not NaN): DAZ cannot turn a subnormal into 0 */
static inline int positive_d(double x)
{
    const uint64_t u = relukit_bits_f64(x);
    return family_key_f64(u) > 0 && !relukit_isnan_bit_f64(u);
}

static inline double clamp_cut(double x) { return x < -GELU_CUT ? -GELU_CUT : (x > GELU_CUT ? GELU_CUT : x); }

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

/* FAMILY_UNARY(OP, FN): relukit_OP_f64/_f32 and their array forms from the double formula FN,
 * NaN passed through with its bits, float computed in double and rounded once. */
#define FAMILY_UNARY(OP, FN)                                                                     \
    double relukit_##OP##_f64(double x)                                                          \
    {                                                                                            \
        return relukit_isnan_bit_f64(relukit_bits_f64(x)) ? x : FN(x);                           \
    }                                                                                            \
    float relukit_##OP##_f32(float x)                                                            \
    {                                                                                            \
        return relukit_isnan_bit_f32(relukit_bits_f32(x)) ? x : (float)FN((double)x);            \
    }                                                                                            \
    int relukit_##OP##_array_f64(const double *x, size_t x_len, double *y, size_t y_len)         \
    {                                                                                            \
        FAMILY_CHECK_LENGTHS(x, x_len, y, y_len);                                                \
        for (size_t i = 0; i < x_len; i++)                                                       \
            y[i] = relukit_##OP##_f64(x[i]);                                                     \
        return RELUKIT_OK;                                                                       \
    }                                                                                            \
    int relukit_##OP##_array_f32(const float *x, size_t x_len, float *y, size_t y_len)           \
    {                                                                                            \
        FAMILY_CHECK_LENGTHS(x, x_len, y, y_len);                                                \
        for (size_t i = 0; i < x_len; i++)                                                       \
            y[i] = relukit_##OP##_f32(x[i]);                                                     \
        return RELUKIT_OK;                                                                       \
    }

/* FAMILY_UNARY_P(OP, FN): the same for a formula with one parameter (alpha). */
#define FAMILY_UNARY_P(OP, FN)                                                                   \
    double relukit_##OP##_f64(double x, double p)                                                \
    {                                                                                            \
        return relukit_isnan_bit_f64(relukit_bits_f64(x)) ? x : FN(x, p);                        \
    }                                                                                            \
    float relukit_##OP##_f32(float x, float p)                                                   \
    {                                                                                            \
        return relukit_isnan_bit_f32(relukit_bits_f32(x)) ? x : (float)FN((double)x, (double)p); \
    }                                                                                            \
    int relukit_##OP##_array_f64(const double *x, size_t x_len, double *y, size_t y_len,         \
                                 double p)                                                       \
    {                                                                                            \
        FAMILY_CHECK_LENGTHS(x, x_len, y, y_len);                                                \
        for (size_t i = 0; i < x_len; i++)                                                       \
            y[i] = relukit_##OP##_f64(x[i], p);                                                  \
        return RELUKIT_OK;                                                                       \
    }                                                                                            \
    int relukit_##OP##_array_f32(const float *x, size_t x_len, float *y, size_t y_len, float p)  \
    {                                                                                            \
        FAMILY_CHECK_LENGTHS(x, x_len, y, y_len);                                                \
        for (size_t i = 0; i < x_len; i++)                                                       \
            y[i] = relukit_##OP##_f32(x[i], p);                                                  \
        return RELUKIT_OK;                                                                       \
    }

FAMILY_UNARY_P(elu, elu_d)
FAMILY_UNARY_P(elu_grad, elu_grad_d)
FAMILY_UNARY(sigmoid, sigmoid_d)
FAMILY_UNARY(sigmoid_grad, sigmoid_grad_d)
FAMILY_UNARY(tanh, tanh_d)
FAMILY_UNARY(tanh_grad, tanh_grad_d)
FAMILY_UNARY(gelu, gelu_d)
FAMILY_UNARY(gelu_grad, gelu_grad_d)
FAMILY_UNARY(gelu_tanh, gelu_tanh_d)
FAMILY_UNARY(gelu_tanh_grad, gelu_tanh_grad_d)
