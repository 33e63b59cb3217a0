/* relu.c: scalar and array ReLU / ReLU-derivative kernels (contract in relukit.h).
 *
 * The per-element work lives in relukit_internal.h (bit-pattern based, branch-free); this file
 * adds the public scalar entry points and the array loops. Each array function checks its
 * lengths, then runs one of these paths:
 *
 *   - AVX2 (x86-64 with GCC/Clang, chosen at run time when the CPU and OS support AVX2 and
 *     RELUKIT_FORCE_PORTABLE is not set): explicit 256-bit integer intrinsics, 4 vectors per
 *     iteration, unaligned loads/stores, scalar tail with the element helper. Out of place and
 *     above RELUKIT_NT_THRESHOLD_BYTES (bytes read + written) the stores are non-temporal
 *     (_mm256_stream_si256 after a scalar head that aligns y to 32 bytes, then _mm_sfence).
 *     Only these functions are compiled with target("avx2"); the rest of the library stays
 *     baseline x86-64, so the binary runs on any x86-64.
 *   - portable: two simple counted loops that GCC auto-vectorizes (SSE2 on baseline x86-64)
 *     without runtime alias checks: x == y (in place) a single-pointer loop, y[i] = f(y[i]);
 *     x != y a loop over restrict-qualified pointers (any overlap other than x == y is
 *     undefined by the header's contract).
 *
 * Both paths decide on bit patterns with integer operations only (never a float compare), so
 * they give identical bits, DAZ/FTZ cannot change a result (a float compare under DAZ would
 * see a positive subnormal as 0) and no FP exception is raised. */
#include "relukit.h"
#include "relukit_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define RELUKIT_X86_DISPATCH 1
#include <immintrin.h>
#else
#define RELUKIT_X86_DISPATCH 0
#endif

#include <stdlib.h> /* getenv */

#if defined(__STDC_NO_ATOMICS__)
#define RELUKIT_ATOMIC(T) volatile T
#define RELUKIT_LOAD(p) (*(p))
#define RELUKIT_STORE(p, v) (*(p) = (v))
#define RELUKIT_INC(p) ((void)(*(p) += 1u))
#else
#include <stdatomic.h>
#define RELUKIT_ATOMIC(T) _Atomic T
#define RELUKIT_LOAD(p) atomic_load_explicit((p), memory_order_relaxed)
#define RELUKIT_STORE(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define RELUKIT_INC(p) ((void)atomic_fetch_add_explicit((p), 1u, memory_order_relaxed))
#endif

/* ---- scalars ---------------------------------------------------------------------------- */

float relukit_relu_f32(float x) { return relukit_relu_elem_f32(x); }
double relukit_relu_f64(double x) { return relukit_relu_elem_f64(x); }
float relukit_relu_grad_f32(float x) { return relukit_relu_grad_elem_f32(x); }
double relukit_relu_grad_f64(double x) { return relukit_relu_grad_elem_f64(x); }

int64_t relukit_relu_i64(int64_t x) { return x > 0 ? x : 0; }
int64_t relukit_relu_grad_i64(int64_t x) { return x > 0 ? 1 : 0; }

/* ---- run-time path selection -------------------------------------------------------------- */

/* Non-temporal stores pay off only when the output cannot stay in cache anyway: they skip the
 * read-for-ownership of y's lines (a third of the traffic of a cached out-of-place pass) but
 * also evict y, so a caller that reads y right after pays a DRAM trip. The L3 here is 32 MiB
 * (shared; L2 512 KiB per core). Measured with csrc/tests/bench_kernels.c on the EPYC target
 * (relu f32, out of place, AVX2, GB/s of bytes read + written, streaming / cached stores):
 *   2-16 MiB total: 0.69-0.82x (streaming loses while x and y still fit in the L3),
 *   24 MiB: 1.22x, 32 MiB: 1.35x, 64 MiB: 1.59x, 128 MiB: 1.66x, 512 MiB: 1.57x.
 * So stream when bytes read + written exceed 16 MiB, half the L3: the largest size where the
 * cached loop still wins, and the point where x and y together stop fitting in the L3 next to
 * anything else. */
#define RELUKIT_NT_THRESHOLD_BYTES ((size_t)16 << 20)

enum { SIMD_UNRESOLVED = -1 };

static RELUKIT_ATOMIC(int) simd_mode = SIMD_UNRESOLVED;
static RELUKIT_ATOMIC(size_t) nt_threshold = RELUKIT_NT_THRESHOLD_BYTES;
static RELUKIT_ATOMIC(unsigned long) nt_calls;

static int simd_cpu_best(void)
{
#if RELUKIT_X86_DISPATCH
    __builtin_cpu_init();
    /* libgcc reports avx2 only if the OS also saves the YMM state (XGETBV) */
    return __builtin_cpu_supports("avx2") ? RELUKIT_SIMD_AVX2 : RELUKIT_SIMD_PORTABLE;
#else
    return RELUKIT_SIMD_PORTABLE;
#endif
}

static int simd_detect(void)
{
    const char *force = getenv("RELUKIT_FORCE_PORTABLE");
    if (force != NULL && force[0] != '\0' && !(force[0] == '0' && force[1] == '\0'))
        return RELUKIT_SIMD_PORTABLE;
    return simd_cpu_best();
}

/* Resolved once, on first use. Concurrent first calls may each detect, but they all store the
 * same value (relaxed atomics: no data race, and nothing else is published through it). */
static int simd_get(void)
{
    int m = RELUKIT_LOAD(&simd_mode);
    if (m == SIMD_UNRESOLVED) {
        m = simd_detect();
        RELUKIT_STORE(&simd_mode, m);
    }
    return m;
}

int relukit__set_simd(int mode)
{
    int m;
    if (mode == RELUKIT_SIMD_PORTABLE)
        m = RELUKIT_SIMD_PORTABLE;
    else if (mode == RELUKIT_SIMD_AVX2)
        m = simd_cpu_best();
    else
        m = simd_detect();
    RELUKIT_STORE(&simd_mode, m);
    return m;
}

int relukit__get_simd(void) { return simd_get(); }

size_t relukit__set_nt_threshold(size_t bytes)
{
    size_t old = RELUKIT_LOAD(&nt_threshold);
    RELUKIT_STORE(&nt_threshold, bytes);
    return old;
}

unsigned long relukit__nt_calls(void) { return RELUKIT_LOAD(&nt_calls); }

/* ---- AVX2 vector ops (bits in, bits out; integer instructions only) ----------------------- */

#if RELUKIT_X86_DISPATCH
#define RELUKIT_AVX2_FN __attribute__((target("avx2")))

/* relu: keep x iff sign clear or NaN, else +0.0. As signed integers, the negative NaNs are
 * exactly the patterns above that of -inf (0xff800000 = -0x800000): so keep iff
 * (int32)u > (int32)bits(-inf), which also holds for every pattern with the sign clear.
 * One compare, one and. */
RELUKIT_AVX2_FN static inline __m256i relu_v_f32(__m256i u)
{
    return _mm256_and_si256(u, _mm256_cmpgt_epi32(u, _mm256_set1_epi32(-0x800000)));
}
/* the same for f64: bits(-inf) = 0xfff0000000000000 = -2^52 as int64 */
RELUKIT_AVX2_FN static inline __m256i relu_v_f64(__m256i u)
{
    return _mm256_and_si256(u, _mm256_cmpgt_epi64(u, _mm256_set1_epi64x(-0x10000000000000LL)));
}
/* grad: NaN (|u| > inf bits) -> x; sign clear and u != 0 ((int)u > 0) and not NaN -> 1.0;
 * else +0.0 */
RELUKIT_AVX2_FN static inline __m256i grad_v_f32(__m256i u)
{
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)),
                                           _mm256_set1_epi32(0x7f800000));
    const __m256i pos = _mm256_cmpgt_epi32(u, _mm256_setzero_si256());
    const __m256i one = _mm256_and_si256(pos, _mm256_set1_epi32(0x3f800000));
    return _mm256_or_si256(_mm256_and_si256(u, nan), _mm256_andnot_si256(nan, one));
}
RELUKIT_AVX2_FN static inline __m256i grad_v_f64(__m256i u)
{
    const __m256i nan =
        _mm256_cmpgt_epi64(_mm256_and_si256(u, _mm256_set1_epi64x(0x7fffffffffffffffLL)),
                           _mm256_set1_epi64x(0x7ff0000000000000LL));
    const __m256i pos = _mm256_cmpgt_epi64(u, _mm256_setzero_si256());
    const __m256i one = _mm256_and_si256(pos, _mm256_set1_epi64x(0x3ff0000000000000LL));
    return _mm256_or_si256(_mm256_and_si256(u, nan), _mm256_andnot_si256(nan, one));
}

#define RELUKIT_LOADV(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define RELUKIT_STOREU(p, v) _mm256_storeu_si256((__m256i *)(void *)(p), (v))
#define RELUKIT_STREAM(p, v) _mm256_stream_si256((__m256i *)(void *)(p), (v))

/* RELUKIT_AVX2_BODY(FT, VOP, ELEM, STORE): y[i] = ELEM(x[i]) for i < n, as a scalar head up to
 * the first 32-byte aligned element of y (so no vector store splits a cache line, and the
 * streaming store's alignment holds when y is FT-aligned), four vectors per iteration, single
 * vectors, a scalar tail. W = 32 / sizeof(FT) lanes; every vector's loads precede its stores,
 * so in place is safe. The same shape as map_body! in rust/relukit-kernels/src/avx2.rs. */
#define RELUKIT_AVX2_BODY(FT, VOP, ELEM, STORE)                                                  \
    const size_t w = 32 / sizeof(FT);                                                            \
    size_t head = ((32u - ((uintptr_t)(void *)y & 31u)) & 31u) / sizeof(FT);                     \
    size_t i = 0;                                                                                \
    if (head > n)                                                                                \
        head = n;                                                                                \
    for (; i < head; i++)                                                                        \
        y[i] = ELEM(x[i]);                                                                       \
    for (; i + 4 * w <= n; i += 4 * w) {                                                         \
        const __m256i a = RELUKIT_LOADV(x + i), b = RELUKIT_LOADV(x + i + w);                    \
        const __m256i c = RELUKIT_LOADV(x + i + 2 * w), d = RELUKIT_LOADV(x + i + 3 * w);        \
        STORE(y + i, VOP(a));                                                                    \
        STORE(y + i + w, VOP(b));                                                                \
        STORE(y + i + 2 * w, VOP(c));                                                            \
        STORE(y + i + 3 * w, VOP(d));                                                            \
    }                                                                                            \
    for (; i + w <= n; i += w)                                                                   \
        STORE(y + i, VOP(RELUKIT_LOADV(x + i)));                                                 \
    for (; i < n; i++)                                                                           \
        y[i] = ELEM(x[i]);

/* RELUKIT_AVX2_LOOPS(NAME, FT, VOP, ELEM) defines
 *   NAME_avx2(x, y, n)         y[i] = ELEM(x[i]), cached stores; x == y allowed
 *   NAME_avx2_stream(x, y, n)  the same with non-temporal stores; x != y, y FT-aligned */
#define RELUKIT_AVX2_LOOPS(NAME, FT, VOP, ELEM)                                                  \
    RELUKIT_AVX2_FN static void NAME##_avx2(const FT *x, FT *y, size_t n)                        \
    {                                                                                            \
        RELUKIT_AVX2_BODY(FT, VOP, ELEM, RELUKIT_STOREU)                                         \
    }                                                                                            \
    RELUKIT_AVX2_FN static void NAME##_avx2_stream(const FT *x, FT *y, size_t n)                 \
    {                                                                                            \
        RELUKIT_AVX2_BODY(FT, VOP, ELEM, RELUKIT_STREAM)                                         \
        _mm_sfence(); /* order the weakly-ordered streaming stores before we return */          \
    }

RELUKIT_AVX2_LOOPS(relu_f32, float, relu_v_f32, relukit_relu_elem_f32)
RELUKIT_AVX2_LOOPS(relu_f64, double, relu_v_f64, relukit_relu_elem_f64)
RELUKIT_AVX2_LOOPS(grad_f32, float, grad_v_f32, relukit_relu_grad_elem_f32)
RELUKIT_AVX2_LOOPS(grad_f64, double, grad_v_f64, relukit_relu_grad_elem_f64)

/* The AVX2 path for one array call. Streaming only out of place, when bytes read + written
 * (2 * n * sizeof(FT)) exceed the threshold, and when y is FT-aligned (else the scalar head
 * could never reach a 32-byte boundary). n > T / (2 s) is exactly 2 s n > T, without overflow. */
#define RELUKIT_AVX2_DISPATCH(VNAME, FT, x, y, n)                                                \
    do {                                                                                         \
        if ((x) != (y) && (n) > RELUKIT_LOAD(&nt_threshold) / (2 * sizeof(FT)) &&               \
            ((uintptr_t)(void *)(y) % sizeof(FT)) == 0) {                                        \
            RELUKIT_INC(&nt_calls);                                                              \
            VNAME##_avx2_stream((x), (y), (n));                                                  \
        } else {                                                                                 \
            VNAME##_avx2((x), (y), (n));                                                         \
        }                                                                                        \
    } while (0)
#define RELUKIT_TRY_AVX2(VNAME, FT, x, y, n)                                                     \
    do {                                                                                         \
        if (simd_get() == RELUKIT_SIMD_AVX2) {                                                   \
            RELUKIT_AVX2_DISPATCH(VNAME, FT, x, y, n);                                           \
            return RELUKIT_OK;                                                                   \
        }                                                                                        \
    } while (0)
#else
#define RELUKIT_TRY_AVX2(VNAME, FT, x, y, n) ((void)0)
#endif /* RELUKIT_X86_DISPATCH */

/* ---- arrays ------------------------------------------------------------------------------ */

/* RELUKIT_ARRAY_KERNEL(NAME, VNAME, FT, ELEM) defines
 *   int NAME(const FT *x, size_t x_len, FT *y, size_t y_len)
 * computing y[i] = ELEM(x[i]) for i < x_len. Returns RELUKIT_ESIZE, touching nothing, if
 * y_len != x_len or a buffer with a nonzero length is NULL; length 0 is fine (NULL allowed).
 * VNAME names the AVX2 loops for the same operation. */
#define RELUKIT_ARRAY_KERNEL(NAME, VNAME, FT, ELEM)                                              \
    static void NAME##_inplace(FT *y, size_t n)                                                  \
    {                                                                                            \
        for (size_t i = 0; i < n; i++)                                                           \
            y[i] = ELEM(y[i]);                                                                   \
    }                                                                                            \
    static void NAME##_outofplace(const FT *restrict x, FT *restrict y, size_t n)                \
    {                                                                                            \
        for (size_t i = 0; i < n; i++)                                                           \
            y[i] = ELEM(x[i]);                                                                   \
    }                                                                                            \
    int NAME(const FT *x, size_t x_len, FT *y, size_t y_len)                                     \
    {                                                                                            \
        if (x_len != y_len || (x_len != 0 && (x == NULL || y == NULL)))                          \
            return RELUKIT_ESIZE;                                                                \
        if (x_len == 0)                                                                          \
            return RELUKIT_OK;                                                                   \
        RELUKIT_TRY_AVX2(VNAME, FT, x, y, x_len);                                                \
        if (x == y)                                                                              \
            NAME##_inplace(y, x_len);                                                            \
        else                                                                                     \
            NAME##_outofplace(x, y, x_len);                                                      \
        return RELUKIT_OK;                                                                       \
    }

RELUKIT_ARRAY_KERNEL(relukit_relu_array_f32, relu_f32, float, relukit_relu_elem_f32)
RELUKIT_ARRAY_KERNEL(relukit_relu_array_f64, relu_f64, double, relukit_relu_elem_f64)
RELUKIT_ARRAY_KERNEL(relukit_relu_grad_array_f32, grad_f32, float, relukit_relu_grad_elem_f32)
RELUKIT_ARRAY_KERNEL(relukit_relu_grad_array_f64, grad_f64, double, relukit_relu_grad_elem_f64)
