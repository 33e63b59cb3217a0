/* piecewise.c: the piecewise-linear activations leaky_relu, hardtanh (relu6 is hardtanh on
 * [0, 6]), threshold and prelu, and their derivatives (contract in relukit.h and in
 * docs/activations.md).
 *
 * The piece is chosen on integer keys of the bit patterns (relukit_key_*, elementwise.h), NaN
 * tested on the bits first. No float compare is involved, so FTZ/DAZ cannot move a subnormal
 * to another piece; the only float arithmetic is leaky_relu's and prelu's x * slope.
 *
 * Each array call runs on relu's paths: avx2 (relu's loop, elementwise.h, with a per-op
 * vector body, non-temporal stores out of place when the data outgrows the cache) or portable
 * (a plain loop the compiler vectorises), split over threads like relu (runtime/split.c).
 * Both paths give the same bits (csrc/tests/test_piecewise_smooth.c checks). */
#include "elementwise.h"

/* An op's parameters, as the range functions take them: a, b the float parameters, ka, kb
 * their keys where the op compares with them.
 *   leaky_relu(_grad): a = slope
 *   hardtanh(_grad):   a = lo, b = hi, ka = key(lo), kb = key(hi)
 *   threshold(_grad):  ka = key(threshold), b = value */
#define PW_PARAMS(SFX, FT, ST)                                                                   \
    struct pw_params_##SFX {                                                                     \
        FT a, b;                                                                                 \
        ST ka, kb;                                                                               \
    };
PW_PARAMS(f32, float, int32_t)
PW_PARAMS(f64, double, int64_t)

/* ---- elements (scalar; the reference the vector code matches) ----------------------------- */

#define PW_ELEMS(SFX, FT, UT, ST)                                                                \
    static inline FT leaky_relu_elem_##SFX(FT x, FT s)                                           \
    {                                                                                            \
        const UT u = relukit_bits_##SFX(x);                                                      \
        return (relukit_key_##SFX(u) > 0 || relukit_isnan_bit_##SFX(u)) ? x : x * s;             \
    }                                                                                            \
    static inline FT leaky_relu_grad_elem_##SFX(FT x, FT s)                                      \
    {                                                                                            \
        const UT u = relukit_bits_##SFX(x);                                                      \
        if (relukit_isnan_bit_##SFX(u))                                                          \
            return x;                                                                            \
        return relukit_key_##SFX(u) > 0 ? (FT)1 : s;                                             \
    }                                                                                            \
    static inline FT hardtanh_elem_##SFX(FT x, FT lo, FT hi, ST klo, ST khi)                     \
    {                                                                                            \
        const UT u = relukit_bits_##SFX(x);                                                      \
        const ST k = relukit_key_##SFX(u);                                                       \
        if (relukit_isnan_bit_##SFX(u))                                                          \
            return x;                                                                            \
        return k < klo ? lo : (k > khi ? hi : x);                                                \
    }                                                                                            \
    static inline FT hardtanh_grad_elem_##SFX(FT x, ST klo, ST khi)                              \
    {                                                                                            \
        const UT u = relukit_bits_##SFX(x);                                                      \
        const ST k = relukit_key_##SFX(u);                                                       \
        if (relukit_isnan_bit_##SFX(u))                                                          \
            return x;                                                                            \
        return (k > klo && k < khi) ? (FT)1 : (FT)0;                                             \
    }                                                                                            \
    static inline FT threshold_elem_##SFX(FT x, ST kth, FT v)                                    \
    {                                                                                            \
        const UT u = relukit_bits_##SFX(x);                                                      \
        return (relukit_key_##SFX(u) > kth || relukit_isnan_bit_##SFX(u)) ? x : v;              \
    }                                                                                            \
    static inline FT threshold_grad_elem_##SFX(FT x, ST kth)                                     \
    {                                                                                            \
        const UT u = relukit_bits_##SFX(x);                                                      \
        if (relukit_isnan_bit_##SFX(u))                                                          \
            return x;                                                                            \
        return relukit_key_##SFX(u) > kth ? (FT)1 : (FT)0;                                       \
    }

PW_ELEMS(f32, float, uint32_t, int32_t)
PW_ELEMS(f64, double, uint64_t, int64_t)

/* the element of each op with its parameters taken from p (a struct pw_params_SFX *) */
#define LEAKY_RELU_ELEM(SFX, v) leaky_relu_elem_##SFX((v), p->a)
#define LEAKY_RELU_GRAD_ELEM(SFX, v) leaky_relu_grad_elem_##SFX((v), p->a)
#define HARDTANH_ELEM(SFX, v) hardtanh_elem_##SFX((v), p->a, p->b, p->ka, p->kb)
#define HARDTANH_GRAD_ELEM(SFX, v) hardtanh_grad_elem_##SFX((v), p->ka, p->kb)
#define THRESHOLD_ELEM(SFX, v) threshold_elem_##SFX((v), p->ka, p->b)
#define THRESHOLD_GRAD_ELEM(SFX, v) threshold_grad_elem_##SFX((v), p->ka)

/* ---- avx2 vector bodies ------------------------------------------------------------------- */

#if RELUKIT_X86_DISPATCH
/* Per-width primitives on bit patterns, so one macro writes each op for both types. */
RELUKIT_AVX2_FN static inline __m256i gt_f32(__m256i a, __m256i b) { return _mm256_cmpgt_epi32(a, b); }
RELUKIT_AVX2_FN static inline __m256i gt_f64(__m256i a, __m256i b) { return _mm256_cmpgt_epi64(a, b); }
RELUKIT_AVX2_FN static inline __m256i set1_f32(uint32_t b) { return _mm256_set1_epi32((int)b); }
RELUKIT_AVX2_FN static inline __m256i set1_f64(uint64_t b) { return _mm256_set1_epi64x((long long)b); }
RELUKIT_AVX2_FN static inline __m256i set1k_f32(int32_t k) { return _mm256_set1_epi32(k); }
RELUKIT_AVX2_FN static inline __m256i set1k_f64(int64_t k) { return _mm256_set1_epi64x(k); }
RELUKIT_AVX2_FN static inline __m256i neg_f32(__m256i u) { return _mm256_srai_epi32(u, 31); }
RELUKIT_AVX2_FN static inline __m256i neg_f64(__m256i u)
{
    return _mm256_cmpgt_epi64(_mm256_setzero_si256(), u);
}
RELUKIT_AVX2_FN static inline __m256i sub_f32(__m256i a, __m256i b) { return _mm256_sub_epi32(a, b); }
RELUKIT_AVX2_FN static inline __m256i sub_f64(__m256i a, __m256i b) { return _mm256_sub_epi64(a, b); }
RELUKIT_AVX2_FN static inline __m256i mul_f32(__m256i a, __m256i b)
{
    return _mm256_castps_si256(_mm256_mul_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b)));
}
RELUKIT_AVX2_FN static inline __m256i mul_f64(__m256i a, __m256i b)
{
    return _mm256_castpd_si256(_mm256_mul_pd(_mm256_castsi256_pd(a), _mm256_castsi256_pd(b)));
}
/* mask ? a : b (masks are all-ones or all-zeros per lane) */
RELUKIT_AVX2_FN static inline __m256i sel(__m256i mask, __m256i a, __m256i b)
{
    return _mm256_blendv_epi8(b, a, mask);
}

/* PW_VECS(SFX, ABS, INF, ONE): the vector forms of the elements above. */
#define PW_VECS(SFX, ABS, INF, ONE)                                                              \
    RELUKIT_AVX2_FN static inline __m256i key_vec_##SFX(__m256i u)                               \
    {                                                                                            \
        const __m256i mag = _mm256_and_si256(u, set1_##SFX(ABS));                                \
        const __m256i s = neg_##SFX(u);                                                          \
        return sub_##SFX(_mm256_xor_si256(mag, s), s);                                           \
    }                                                                                            \
    RELUKIT_AVX2_FN static inline __m256i nan_vec_##SFX(__m256i u)                               \
    {                                                                                            \
        return gt_##SFX(_mm256_and_si256(u, set1_##SFX(ABS)), set1_##SFX(INF));                  \
    }                                                                                            \
    /* key > 0 is (signed) u > 0: sign clear and not +0.0 */                                     \
    RELUKIT_AVX2_FN static inline __m256i leaky_relu_vec_##SFX(__m256i u, __m256i s)             \
    {                                                                                            \
        const __m256i keep =                                                                     \
            _mm256_or_si256(gt_##SFX(u, _mm256_setzero_si256()), nan_vec_##SFX(u));              \
        return sel(keep, u, mul_##SFX(u, s));                                                    \
    }                                                                                            \
    RELUKIT_AVX2_FN static inline __m256i leaky_relu_grad_vec_##SFX(__m256i u, __m256i s)        \
    {                                                                                            \
        const __m256i r = sel(gt_##SFX(u, _mm256_setzero_si256()), set1_##SFX(ONE), s);         \
        return sel(nan_vec_##SFX(u), u, r);                                                      \
    }                                                                                            \
    RELUKIT_AVX2_FN static inline __m256i hardtanh_vec_##SFX(__m256i u, __m256i lo, __m256i hi, \
                                                             __m256i klo, __m256i khi)           \
    {                                                                                            \
        const __m256i k = key_vec_##SFX(u);                                                      \
        const __m256i nan = nan_vec_##SFX(u);                                                    \
        __m256i r = sel(_mm256_andnot_si256(nan, gt_##SFX(klo, k)), lo, u);                      \
        return sel(_mm256_andnot_si256(nan, gt_##SFX(k, khi)), hi, r);                           \
    }                                                                                            \
    RELUKIT_AVX2_FN static inline __m256i hardtanh_grad_vec_##SFX(__m256i u, __m256i klo,        \
                                                                  __m256i khi)                   \
    {                                                                                            \
        const __m256i k = key_vec_##SFX(u);                                                      \
        const __m256i in = _mm256_and_si256(gt_##SFX(k, klo), gt_##SFX(khi, k));                 \
        return sel(nan_vec_##SFX(u), u, _mm256_and_si256(in, set1_##SFX(ONE)));                  \
    }                                                                                            \
    RELUKIT_AVX2_FN static inline __m256i threshold_vec_##SFX(__m256i u, __m256i kth, __m256i v) \
    {                                                                                            \
        const __m256i keep = _mm256_or_si256(gt_##SFX(key_vec_##SFX(u), kth), nan_vec_##SFX(u)); \
        return sel(keep, u, v);                                                                  \
    }                                                                                            \
    RELUKIT_AVX2_FN static inline __m256i threshold_grad_vec_##SFX(__m256i u, __m256i kth)       \
    {                                                                                            \
        const __m256i r = _mm256_and_si256(gt_##SFX(key_vec_##SFX(u), kth), set1_##SFX(ONE));    \
        return sel(nan_vec_##SFX(u), u, r);                                                      \
    }

PW_VECS(f32, 0x7fffffffu, 0x7f800000u, 0x3f800000u)
PW_VECS(f64, 0x7fffffffffffffffu, 0x7ff0000000000000u, 0x3ff0000000000000u)

/* the vector body of each op, with the broadcast parameters av, bv, kav, kbv */
#define LEAKY_RELU_VEC(SFX, u) leaky_relu_vec_##SFX((u), av)
#define LEAKY_RELU_GRAD_VEC(SFX, u) leaky_relu_grad_vec_##SFX((u), av)
#define HARDTANH_VEC(SFX, u) hardtanh_vec_##SFX((u), av, bv, kav, kbv)
#define HARDTANH_GRAD_VEC(SFX, u) hardtanh_grad_vec_##SFX((u), kav, kbv)
#define THRESHOLD_VEC(SFX, u) threshold_vec_##SFX((u), kav, bv)
#define THRESHOLD_GRAD_VEC(SFX, u) threshold_grad_vec_##SFX((u), kav)
#endif /* RELUKIT_X86_DISPATCH */

/* ---- range functions: OP_SFX_portable, and OP_SFX_avx2 / OP_SFX_avx2_stream ---------------- */

#define PW_PORTABLE(OP, SFX, FT, ELEM)                                                           \
    static void OP##_##SFX##_portable(const void *xv, void *yv, size_t n, const void *pv)        \
    {                                                                                            \
        const FT *x = xv;                                                                        \
        FT *y = yv;                                                                              \
        const struct pw_params_##SFX *p = pv;                                                    \
        for (size_t i = 0; i < n; i++)                                                           \
            y[i] = ELEM(SFX, x[i]);                                                              \
    }

#if RELUKIT_X86_DISPATCH
#define PW_AVX2_ONE(OP, SFX, FT, VEC, ELEM, SUFFIX, STORE, FENCE)                                \
    RELUKIT_AVX2_FN static void OP##_##SFX##_##SUFFIX(const void *xv, void *yv, size_t n,       \
                                                       const void *pv)                           \
    {                                                                                            \
        const FT *x = xv;                                                                        \
        FT *y = yv;                                                                              \
        const struct pw_params_##SFX *p = pv;                                                    \
        const __m256i av = set1_##SFX(relukit_bits_##SFX(p->a));                                 \
        const __m256i bv = set1_##SFX(relukit_bits_##SFX(p->b));                                 \
        const __m256i kav = set1k_##SFX(p->ka), kbv = set1k_##SFX(p->kb);                        \
        (void)av, (void)bv, (void)kav, (void)kbv; /* an op uses some; the rest are dropped */   \
        RELUKIT_AVX2_BODY(FT, VEC##_##SFX, ELEM##_##SFX, STORE)                                  \
        FENCE;                                                                                   \
    }
#define PW_AVX2(OP, SFX, FT, VEC, ELEM)                                                          \
    PW_AVX2_ONE(OP, SFX, FT, VEC, ELEM, avx2, RELUKIT_STOREU, (void)0)                           \
    PW_AVX2_ONE(OP, SFX, FT, VEC, ELEM, avx2_stream, RELUKIT_STREAM, _mm_sfence())
#else
#define PW_AVX2(OP, SFX, FT, VEC, ELEM)
#endif

/* RELUKIT_AVX2_BODY applies VOP(u) and ELEM(v): the type suffix bound per op and type */
#define LEAKY_RELU_VEC_f32(u) LEAKY_RELU_VEC(f32, u)
#define LEAKY_RELU_VEC_f64(u) LEAKY_RELU_VEC(f64, u)
#define LEAKY_RELU_ELEM_f32(v) LEAKY_RELU_ELEM(f32, v)
#define LEAKY_RELU_ELEM_f64(v) LEAKY_RELU_ELEM(f64, v)
#define LEAKY_RELU_GRAD_VEC_f32(u) LEAKY_RELU_GRAD_VEC(f32, u)
#define LEAKY_RELU_GRAD_VEC_f64(u) LEAKY_RELU_GRAD_VEC(f64, u)
#define LEAKY_RELU_GRAD_ELEM_f32(v) LEAKY_RELU_GRAD_ELEM(f32, v)
#define LEAKY_RELU_GRAD_ELEM_f64(v) LEAKY_RELU_GRAD_ELEM(f64, v)
#define HARDTANH_VEC_f32(u) HARDTANH_VEC(f32, u)
#define HARDTANH_VEC_f64(u) HARDTANH_VEC(f64, u)
#define HARDTANH_ELEM_f32(v) HARDTANH_ELEM(f32, v)
#define HARDTANH_ELEM_f64(v) HARDTANH_ELEM(f64, v)
#define HARDTANH_GRAD_VEC_f32(u) HARDTANH_GRAD_VEC(f32, u)
#define HARDTANH_GRAD_VEC_f64(u) HARDTANH_GRAD_VEC(f64, u)
#define HARDTANH_GRAD_ELEM_f32(v) HARDTANH_GRAD_ELEM(f32, v)
#define HARDTANH_GRAD_ELEM_f64(v) HARDTANH_GRAD_ELEM(f64, v)
#define THRESHOLD_VEC_f32(u) THRESHOLD_VEC(f32, u)
#define THRESHOLD_VEC_f64(u) THRESHOLD_VEC(f64, u)
#define THRESHOLD_ELEM_f32(v) THRESHOLD_ELEM(f32, v)
#define THRESHOLD_ELEM_f64(v) THRESHOLD_ELEM(f64, v)
#define THRESHOLD_GRAD_VEC_f32(u) THRESHOLD_GRAD_VEC(f32, u)
#define THRESHOLD_GRAD_VEC_f64(u) THRESHOLD_GRAD_VEC(f64, u)
#define THRESHOLD_GRAD_ELEM_f32(v) THRESHOLD_GRAD_ELEM(f32, v)
#define THRESHOLD_GRAD_ELEM_f64(v) THRESHOLD_GRAD_ELEM(f64, v)

#define PW_RANGES(OP, UP)                                                                        \
    PW_PORTABLE(OP, f32, float, UP##_ELEM)                                                       \
    PW_PORTABLE(OP, f64, double, UP##_ELEM)                                                      \
    PW_AVX2(OP, f32, float, UP##_VEC, UP##_ELEM)                                                 \
    PW_AVX2(OP, f64, double, UP##_VEC, UP##_ELEM)

PW_RANGES(leaky_relu, LEAKY_RELU)
PW_RANGES(leaky_relu_grad, LEAKY_RELU_GRAD)
PW_RANGES(hardtanh, HARDTANH)
PW_RANGES(hardtanh_grad, HARDTANH_GRAD)
PW_RANGES(threshold, THRESHOLD)
PW_RANGES(threshold_grad, THRESHOLD_GRAD)

/* ---- one array call ------------------------------------------------------------------------ */

/* The range functions of one op and type. */
struct pw_fns {
    relukit_range_fn portable, avx2, avx2_stream;
};
#if RELUKIT_X86_DISPATCH
#define PW_FNS(OP, SFX) {OP##_##SFX##_portable, OP##_##SFX##_avx2, OP##_##SFX##_avx2_stream}
#else
#define PW_FNS(OP, SFX) {OP##_##SFX##_portable, NULL, NULL}
#endif

static int pw_run(struct pw_fns f, const void *params, const void *x, void *y, size_t n,
                  size_t esize)
{
    const size_t threads = relukit__ew_threads(n, esize);
    relukit_range_fn fn = f.portable;
    if (f.avx2 != NULL && relukit__get_simd() == RELUKIT_SIMD_AVX2)
        fn = relukit__ew_stream(x, y, n, esize, threads) ? f.avx2_stream : f.avx2;
    relukit__ew_run(fn, params, x, y, n, esize, threads);
    return RELUKIT_OK;
}

/* ---- public entry points -------------------------------------------------------------------- */

#define PW_API(SFX, FT, ST)                                                                      \
    FT relukit_leaky_relu_##SFX(FT x, FT slope) { return leaky_relu_elem_##SFX(x, slope); }      \
    FT relukit_leaky_relu_grad_##SFX(FT x, FT slope)                                             \
    {                                                                                            \
        return leaky_relu_grad_elem_##SFX(x, slope);                                             \
    }                                                                                            \
    FT relukit_hardtanh_##SFX(FT x, FT lo, FT hi)                                                \
    {                                                                                            \
        return hardtanh_elem_##SFX(x, lo, hi, relukit_keyof_##SFX(lo), relukit_keyof_##SFX(hi)); \
    }                                                                                            \
    FT relukit_hardtanh_grad_##SFX(FT x, FT lo, FT hi)                                           \
    {                                                                                            \
        return hardtanh_grad_elem_##SFX(x, relukit_keyof_##SFX(lo), relukit_keyof_##SFX(hi));   \
    }                                                                                            \
    FT relukit_threshold_##SFX(FT x, FT th, FT value)                                            \
    {                                                                                            \
        return threshold_elem_##SFX(x, relukit_keyof_##SFX(th), value);                          \
    }                                                                                            \
    FT relukit_threshold_grad_##SFX(FT x, FT th, FT value)                                       \
    {                                                                                            \
        (void)value; /* the derivative does not depend on it */                                  \
        return threshold_grad_elem_##SFX(x, relukit_keyof_##SFX(th));                           \
    }                                                                                            \
    int relukit_leaky_relu_array_##SFX(const FT *x, size_t x_len, FT *y, size_t y_len, FT slope) \
    {                                                                                            \
        RELUKIT_EW_CHECK(x, x_len, y, y_len, FT);                                                \
        const struct pw_params_##SFX p = {slope, 0, 0, 0};                                       \
        return pw_run((struct pw_fns)PW_FNS(leaky_relu, SFX), &p, x, y, x_len, sizeof(FT));      \
    }                                                                                            \
    int relukit_leaky_relu_grad_array_##SFX(const FT *x, size_t x_len, FT *y, size_t y_len,      \
                                            FT slope)                                            \
    {                                                                                            \
        RELUKIT_EW_CHECK(x, x_len, y, y_len, FT);                                                \
        const struct pw_params_##SFX p = {slope, 0, 0, 0};                                       \
        return pw_run((struct pw_fns)PW_FNS(leaky_relu_grad, SFX), &p, x, y, x_len, sizeof(FT)); \
    }                                                                                            \
    int relukit_hardtanh_array_##SFX(const FT *x, size_t x_len, FT *y, size_t y_len, FT lo,      \
                                     FT hi)                                                      \
    {                                                                                            \
        RELUKIT_EW_CHECK(x, x_len, y, y_len, FT);                                                \
        const struct pw_params_##SFX p = {lo, hi, relukit_keyof_##SFX(lo),                       \
                                          relukit_keyof_##SFX(hi)};                              \
        return pw_run((struct pw_fns)PW_FNS(hardtanh, SFX), &p, x, y, x_len, sizeof(FT));        \
    }                                                                                            \
    int relukit_hardtanh_grad_array_##SFX(const FT *x, size_t x_len, FT *y, size_t y_len,        \
                                          FT lo, FT hi)                                          \
    {                                                                                            \
        RELUKIT_EW_CHECK(x, x_len, y, y_len, FT);                                                \
        const struct pw_params_##SFX p = {lo, hi, relukit_keyof_##SFX(lo),                       \
                                          relukit_keyof_##SFX(hi)};                              \
        return pw_run((struct pw_fns)PW_FNS(hardtanh_grad, SFX), &p, x, y, x_len, sizeof(FT));   \
    }                                                                                            \
    int relukit_threshold_array_##SFX(const FT *x, size_t x_len, FT *y, size_t y_len, FT th,     \
                                      FT value)                                                  \
    {                                                                                            \
        RELUKIT_EW_CHECK(x, x_len, y, y_len, FT);                                                \
        const struct pw_params_##SFX p = {0, value, relukit_keyof_##SFX(th), 0};                 \
        return pw_run((struct pw_fns)PW_FNS(threshold, SFX), &p, x, y, x_len, sizeof(FT));       \
    }                                                                                            \
    int relukit_threshold_grad_array_##SFX(const FT *x, size_t x_len, FT *y, size_t y_len,       \
                                           FT th, FT value)                                      \
    {                                                                                            \
        RELUKIT_EW_CHECK(x, x_len, y, y_len, FT);                                                \
        (void)value; /* the derivative does not depend on it */                                  \
        const struct pw_params_##SFX p = {0, 0, relukit_keyof_##SFX(th), 0};                     \
        return pw_run((struct pw_fns)PW_FNS(threshold_grad, SFX), &p, x, y, x_len, sizeof(FT));  \
    }                                                                                            \
    /* prelu: each run of `inner` elements shares one channel's slope; inner == 1 (x of shape   \
     * (batch, channels)) walks each row against the weight vector. */                          \
    static int prelu_##SFX(const FT *x, size_t x_len, FT *y, size_t y_len, const FT *w,          \
                           size_t w_len, size_t outer, size_t channels, size_t inner, int grad)  \
    {                                                                                            \
        size_t rows, total;                                                                      \
        if (!relukit_mul_size(outer, channels, &rows) || !relukit_mul_size(rows, inner, &total)) \
            return RELUKIT_ESIZE;                                                                \
        if (x_len != total || y_len != total || w_len != channels ||                             \
            (total != 0 && (x == NULL || y == NULL)) || (w_len != 0 && w == NULL))               \
            return RELUKIT_ESIZE;                                                                \
        if (total == 0)                                                                          \
            return RELUKIT_OK;                                                                   \
        const size_t s = sizeof(FT);                                                             \
        if ((x != y && relukit_overlaps(x, x_len * s, y, y_len * s)) ||                          \
            relukit_overlaps(w, w_len * s, y, y_len * s))                                        \
            return RELUKIT_EOVERLAP;                                                             \
        if (inner == 1) {                                                                        \
            for (size_t r = 0; r < outer; r++) {                                                 \
                const FT *xr = x + r * channels;                                                 \
                FT *yr = y + r * channels;                                                       \
                if (grad)                                                                        \
                    for (size_t c = 0; c < channels; c++)                                        \
                        yr[c] = leaky_relu_grad_elem_##SFX(xr[c], w[c]);                         \
                else                                                                             \
                    for (size_t c = 0; c < channels; c++)                                        \
                        yr[c] = leaky_relu_elem_##SFX(xr[c], w[c]);                              \
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
        return prelu_##SFX(x, x_len, y, y_len, w, w_len, outer, channels, inner, 0);             \
    }                                                                                            \
    int relukit_prelu_grad_array_##SFX(const FT *x, size_t x_len, FT *y, size_t y_len,          \
                                       const FT *w, size_t w_len, size_t outer,                  \
                                       size_t channels, size_t inner)                            \
    {                                                                                            \
        return prelu_##SFX(x, x_len, y, y_len, w, w_len, outer, channels, inner, 1);             \
    }

PW_API(f32, float, int32_t)
PW_API(f64, double, int64_t)

/* ---- hardswish, hardsigmoid and their derivatives ------------------------------------------
 *
 * PyTorch's arithmetic, each step in the type (so every backend gives the same bits), the
 * piece chosen on the keys of x (k3 = key(3), -k3 = key(-3)), NaN kept:
 *   hardswish(x)        -0.0 for x <= -3 (PyTorch: x * 0 / 6), x for x >= 3,
 *                       else (x * (x + 3)) / 6
 *   hardswish_grad(x)   +0.0 for x < -3, 1 for x > 3, else x / 3 + 0.5 (PyTorch's
 *                       hardswish_backward: -0.5 at x = -3, 1.5 at x = 3)
 *   hardsigmoid(x)      +0.0 for x <= -3, 1 for x >= 3, else (x + 3) / 6
 *   hardsigmoid_grad(x) 1/6 (rounded to the type) for -3 < x < 3, else +0.0
 * A portable loop (which the compiler may vectorise: the same operations) split over threads
 * like every elementwise call; no hand-written vector body yet. */

#define PW_HARD(SFX, FT, UT, ST)                                                                 \
    static inline FT hardswish_elem_##SFX(FT x)                                                  \
    {                                                                                            \
        const UT u = relukit_bits_##SFX(x);                                                      \
        const ST k = relukit_key_##SFX(u), k3 = relukit_keyof_##SFX((FT)3);                      \
        if (relukit_isnan_bit_##SFX(u) || k >= k3)                                               \
            return x;                                                                            \
        if (k <= -k3)                                                                            \
            return (FT)-0.0;                                                                     \
        return (x * (x + (FT)3)) / (FT)6;                                                        \
    }                                                                                            \
    static inline FT hardswish_grad_elem_##SFX(FT x)                                             \
    {                                                                                            \
        const UT u = relukit_bits_##SFX(x);                                                      \
        const ST k = relukit_key_##SFX(u), k3 = relukit_keyof_##SFX((FT)3);                      \
        if (relukit_isnan_bit_##SFX(u))                                                          \
            return x;                                                                            \
        if (k < -k3)                                                                             \
            return (FT)0;                                                                        \
        return k > k3 ? (FT)1 : x / (FT)3 + (FT)0.5;                                             \
    }                                                                                            \
    static inline FT hardsigmoid_elem_##SFX(FT x)                                                \
    {                                                                                            \
        const UT u = relukit_bits_##SFX(x);                                                      \
        const ST k = relukit_key_##SFX(u), k3 = relukit_keyof_##SFX((FT)3);                      \
        if (relukit_isnan_bit_##SFX(u))                                                          \
            return x;                                                                            \
        if (k <= -k3)                                                                            \
            return (FT)0;                                                                        \
        return k >= k3 ? (FT)1 : (x + (FT)3) / (FT)6;                                            \
    }                                                                                            \
    static inline FT hardsigmoid_grad_elem_##SFX(FT x)                                           \
    {                                                                                            \
        const UT u = relukit_bits_##SFX(x);                                                      \
        const ST k = relukit_key_##SFX(u), k3 = relukit_keyof_##SFX((FT)3);                      \
        if (relukit_isnan_bit_##SFX(u))                                                          \
            return x;                                                                            \
        return (k > -k3 && k < k3) ? (FT)1 / (FT)6 : (FT)0;                                      \
    }

PW_HARD(f32, float, uint32_t, int32_t)
PW_HARD(f64, double, uint64_t, int64_t)

#define PW_HARD_RANGE(OP, SFX, FT)                                                               \
    static void OP##_##SFX##_portable(const void *xv, void *yv, size_t n, const void *pv)        \
    {                                                                                            \
        const FT *x = xv;                                                                        \
        FT *y = yv;                                                                              \
        (void)pv;                                                                                \
        for (size_t i = 0; i < n; i++)                                                           \
            y[i] = OP##_elem_##SFX(x[i]);                                                        \
    }                                                                                            \
    FT relukit_##OP##_##SFX(FT x) { return OP##_elem_##SFX(x); }                                 \
    int relukit_##OP##_array_##SFX(const FT *x, size_t x_len, FT *y, size_t y_len)              \
    {                                                                                            \
        RELUKIT_EW_CHECK(x, x_len, y, y_len, FT);                                                \
        const struct pw_fns f = {OP##_##SFX##_portable, NULL, NULL};                             \
        return pw_run(f, NULL, x, y, x_len, sizeof(FT));                                         \
    }
#define PW_HARD_API(OP)                                                                          \
    PW_HARD_RANGE(OP, f32, float)                                                                \
    PW_HARD_RANGE(OP, f64, double)

PW_HARD_API(hardswish)
PW_HARD_API(hardswish_grad)
PW_HARD_API(hardsigmoid)
PW_HARD_API(hardsigmoid_grad)
