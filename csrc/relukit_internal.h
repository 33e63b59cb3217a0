/* relukit_internal.h: helpers shared by the C kernels (relu.c, dense.c).
 * Private: not part of the public API, not for the cffi cdef. Plain C11.
 *
 * The float ReLU and its derivative are decided on the bit pattern only (memcpy to an unsigned
 * integer of the same width; compilers turn that into a register move), so no float arithmetic
 * or comparison ever touches the value: DAZ/FTZ cannot change a result, NaN payloads and the
 * NaN sign are kept, signaling NaNs are not quieted and no FP exception flag is raised.
 *
 * Everything is branch-free integer arithmetic (and, andnot, or, subtract, logical shift) so
 * that GCC/Clang vectorize the array loops, even on baseline x86-64 (SSE2 has no 64-bit
 * compare, hence the shift-based tests instead of `>` / `==` on the bit patterns). */
#ifndef RELUKIT_INTERNAL_H
#define RELUKIT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Relaxed atomics for settings and counters that several threads may touch (plain volatile
 * where C11 atomics are missing). */
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

/* *r = a * b; returns 0 (and leaves *r alone) if the product overflows size_t. */
static inline int relukit_mul_size(size_t a, size_t b, size_t *r)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 0;
    *r = a * b;
    return 1;
}

/* 1 if the byte ranges [a, a + a_bytes) and [b, b + b_bytes) share a byte. Compares addresses
 * as integers (relational operators on pointers into different objects are undefined). */
static inline int relukit_overlaps(const void *a, size_t a_bytes, const void *b, size_t b_bytes)
{
    const uintptr_t pa = (uintptr_t)a, pb = (uintptr_t)b;
    return a_bytes != 0 && b_bytes != 0 && pa < pb + b_bytes && pb < pa + a_bytes;
}

/* RELUKIT_FLOAT_OPS stamps out, for one float type FT and the unsigned type UT of its width:
 *
 *   UT relukit_bits_SFX(FT)           the bit pattern of x
 *   FT relukit_from_bits_SFX(UT)      the float with that bit pattern
 *   FT relukit_relu_elem_SFX(FT)      relu(x)      (contract in relukit.h)
 *   FT relukit_relu_grad_elem_SFX(FT) relu_grad(x) (contract in relukit.h)
 *   void relukit_relu_inplace_SFX(FT *y, size_t n)   y[i] = relu(y[i]), i < n
 *
 * Parameters: NBITS the width; INF_BITS the bit pattern of +inf; ONE_BITS that of 1.0.
 *
 * Bit-level reasoning (TOP(v) = v >> (NBITS-1), the sign bit as 0/1; ABS = all bits but sign):
 *   is_nan(u)  = (u & ABS) > INF_BITS    = TOP(INF_BITS - (u & ABS))
 *                (both operands are < 2^(NBITS-1), so the difference wraps, setting the top
 *                bit, exactly when |x| bits exceed the infinity pattern)
 *   relu:   keep x unless (sign set and not NaN), in which case the result is +0.0 (all bits 0):
 *           clear    = TOP(u & ~(INF_BITS - (u & ABS)))             (sign AND NOT nan)
 *           result   = u & (clear - 1)          (clear = 0 -> all ones; clear = 1 -> zero)
 *   grad:   NaN -> x; x > 0 (sign clear and u != 0, incl. +inf) -> 1.0; else +0.0:
 *           positive = TOP(~(u | (u - 1)))      (u = 0 wraps to all ones; sign set keeps top)
 *           result   = (u & nanmask) | (ONE_BITS & posmask & ~nanmask)                        */
#define RELUKIT_FLOAT_OPS(SFX, FT, UT, NBITS, INF_BITS, ONE_BITS)                                \
    static inline UT relukit_bits_##SFX(FT x)                                                    \
    {                                                                                            \
        UT u;                                                                                    \
        memcpy(&u, &x, sizeof u);                                                                \
        return u;                                                                                \
    }                                                                                            \
    static inline FT relukit_from_bits_##SFX(UT u)                                               \
    {                                                                                            \
        FT x;                                                                                    \
        memcpy(&x, &u, sizeof x);                                                                \
        return x;                                                                                \
    }                                                                                            \
    /* 1 if x is a NaN (either sign, quiet or signaling), else 0 */                              \
    static inline UT relukit_isnan_bit_##SFX(UT u)                                               \
    {                                                                                            \
        const UT abs_mask = ~((UT)1 << ((NBITS)-1));                                             \
        return ((UT)(INF_BITS) - (u & abs_mask)) >> ((NBITS)-1);                                 \
    }                                                                                            \
    static inline FT relukit_relu_elem_##SFX(FT x)                                               \
    {                                                                                            \
        const UT u = relukit_bits_##SFX(x);                                                      \
        const UT abs_mask = ~((UT)1 << ((NBITS)-1));                                             \
        /* 1 iff sign set and not NaN: -0.0, negatives, -inf */                                  \
        const UT clear = (u & ~((UT)(INF_BITS) - (u & abs_mask))) >> ((NBITS)-1);                \
        return relukit_from_bits_##SFX(u & (clear - 1u));                                        \
    }                                                                                            \
    static inline FT relukit_relu_grad_elem_##SFX(FT x)                                          \
    {                                                                                            \
        const UT u = relukit_bits_##SFX(x);                                                      \
        const UT nan_mask = (UT)0 - relukit_isnan_bit_##SFX(u);                                  \
        /* all ones iff sign clear and u != 0: x > 0 incl. subnormals, +inf (and +NaN) */        \
        const UT pos_mask = (UT)0 - (~(u | (u - 1u)) >> ((NBITS)-1));                            \
        return relukit_from_bits_##SFX((u & nan_mask) | ((UT)(ONE_BITS) & pos_mask & ~nan_mask)); \
    }                                                                                            \
    static inline void relukit_relu_inplace_##SFX(FT *y, size_t n)                               \
    {                                                                                            \
        for (size_t i = 0; i < n; i++)                                                           \
            y[i] = relukit_relu_elem_##SFX(y[i]);                                                \
    }

RELUKIT_FLOAT_OPS(f32, float, uint32_t, 32, 0x7f800000u, 0x3f800000u)
RELUKIT_FLOAT_OPS(f64, double, uint64_t, 64, 0x7ff0000000000000u, 0x3ff0000000000000u)

/* ---- AVX2 vector ops (x86-64 with GCC/Clang) -----------------------------------------------
 *
 * RELUKIT_X86_DISPATCH is 1 where AVX2 code can be compiled next to baseline code and chosen
 * at run time (relukit__get_simd); only functions marked RELUKIT_AVX2_FN use AVX2. The ops
 * below take and return bit patterns (integer instructions only, like the scalar helpers). */
#if defined(__x86_64__) && defined(__GNUC__)
#define RELUKIT_X86_DISPATCH 1
#include <immintrin.h>
#define RELUKIT_AVX2_FN __attribute__((target("avx2")))

/* relu: keep x iff sign clear or NaN, else +0.0. As signed integers, the negative NaNs are
 * exactly the patterns above that of -inf (0xff800000 = -0x800000): so keep iff
 * (int32)u > (int32)bits(-inf), which also holds for every pattern with the sign clear.
 * One compare, one and. */
RELUKIT_AVX2_FN static inline __m256i relukit_relu_v_f32(__m256i u)
{
    return _mm256_and_si256(u, _mm256_cmpgt_epi32(u, _mm256_set1_epi32(-0x800000)));
}
/* the same for f64: bits(-inf) = 0xfff0000000000000 = -2^52 as int64 */
RELUKIT_AVX2_FN static inline __m256i relukit_relu_v_f64(__m256i u)
{
    return _mm256_and_si256(u, _mm256_cmpgt_epi64(u, _mm256_set1_epi64x(-0x10000000000000LL)));
}
/* grad: NaN (|u| > inf bits) -> x; sign clear and u != 0 ((int)u > 0) and not NaN -> 1.0;
 * else +0.0 */
RELUKIT_AVX2_FN static inline __m256i relukit_grad_v_f32(__m256i u)
{
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)),
                                           _mm256_set1_epi32(0x7f800000));
    const __m256i pos = _mm256_cmpgt_epi32(u, _mm256_setzero_si256());
    const __m256i one = _mm256_and_si256(pos, _mm256_set1_epi32(0x3f800000));
    return _mm256_or_si256(_mm256_and_si256(u, nan), _mm256_andnot_si256(nan, one));
}
RELUKIT_AVX2_FN static inline __m256i relukit_grad_v_f64(__m256i u)
{
    const __m256i nan =
        _mm256_cmpgt_epi64(_mm256_and_si256(u, _mm256_set1_epi64x(0x7fffffffffffffffLL)),
                           _mm256_set1_epi64x(0x7ff0000000000000LL));
    const __m256i pos = _mm256_cmpgt_epi64(u, _mm256_setzero_si256());
    const __m256i one = _mm256_and_si256(pos, _mm256_set1_epi64x(0x3ff0000000000000LL));
    return _mm256_or_si256(_mm256_and_si256(u, nan), _mm256_andnot_si256(nan, one));
}

/* ---- the AVX2 loop shared by relu.c and family.c ---------------------------------------- */

#define RELUKIT_LOADV(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define RELUKIT_STOREU(p, v) _mm256_storeu_si256((__m256i *)(void *)(p), (v))
#define RELUKIT_STREAM(p, v) _mm256_stream_si256((__m256i *)(void *)(p), (v))

/* RELUKIT_AVX2_BODY(FT, VOP, ELEM, STORE): y[i] = ELEM(x[i]) for i < n, as a scalar head up to
 * the first 32-byte aligned element of y (so no vector store splits a cache line, and the
 * streaming store's alignment holds when y is FT-aligned), four vectors per iteration, single
 * vectors, a scalar tail. W = 32 / sizeof(FT) lanes; every vector's loads precede its stores,
 * so in place is safe. The same shape as map_body! in rust/relukit-kernels/src/avx2.rs. */
#define RELUKIT_AVX2_BODY(FT, VOP, ELEM, STORE)                                                  \
    {                                                                                            \
        const size_t w = 32 / sizeof(FT);                                                        \
        size_t head = ((32u - ((uintptr_t)(void *)y & 31u)) & 31u) / sizeof(FT);                 \
        size_t i = 0;                                                                            \
        if (head > n)                                                                            \
            head = n;                                                                            \
        for (; i < head; i++)                                                                    \
            y[i] = ELEM(x[i]);                                                                   \
        for (; i + 4 * w <= n; i += 4 * w) {                                                     \
            const __m256i a = RELUKIT_LOADV(x + i), b = RELUKIT_LOADV(x + i + w);                \
            const __m256i c = RELUKIT_LOADV(x + i + 2 * w), d = RELUKIT_LOADV(x + i + 3 * w);    \
            STORE(y + i, VOP(a));                                                                \
            STORE(y + i + w, VOP(b));                                                            \
            STORE(y + i + 2 * w, VOP(c));                                                        \
            STORE(y + i + 3 * w, VOP(d));                                                        \
        }                                                                                        \
        for (; i + w <= n; i += w)                                                               \
            STORE(y + i, VOP(RELUKIT_LOADV(x + i)));                                             \
        for (; i < n; i++)                                                                       \
            y[i] = ELEM(x[i]);                                                                   \
    }
#else
#define RELUKIT_X86_DISPATCH 0
#endif

/* ---- thread pool (pool.c) ------------------------------------------------------------------
 *
 * relukit__parallel_for(fn, ctx, nparts, threads) runs fn(ctx, p, nparts) once for every
 * p < nparts, on the calling thread and at most threads - 1 pool workers (never more than the
 * relukit_set_num_threads setting), and returns when all parts are done, with every part's
 * writes visible to the caller. Parts run in any order, possibly several on one thread, so
 * they must write disjoint memory. Runs everything on the calling thread when threads <= 1,
 * nparts <= 1 or > RELUKIT_MAX_PARTS, or when the pool is busy with another thread's call.
 * Returns the number of threads that took part (1 = it ran serially). A part that uses
 * non-temporal stores must end with a store fence (the kernels' streaming loops do). */
#define RELUKIT_MAX_THREADS 64
#define RELUKIT_MAX_PARTS 4096
typedef void (*relukit_part_fn)(void *ctx, size_t part, size_t nparts);
size_t relukit__parallel_for(relukit_part_fn fn, void *ctx, size_t nparts, size_t threads);
/* Test hooks: how many jobs were handed to the pool (not run serially), and how many parts
 * pool workers (not callers) have run, since the process started. */
unsigned long relukit__pool_jobs(void);
unsigned long relukit__worker_parts(void);

/* ---- test/benchmark hooks (defined in relu.c; exported, but not public API) --------------
 *
 * The array kernels pick a path once, on first use: AVX2 if the CPU (and OS) support it and
 * the environment variable RELUKIT_FORCE_PORTABLE is unset, empty or "0"; else portable.
 * These hooks let tests and benchmarks reach every path. Not meant to be called while other
 * threads run the kernels (they are atomic, but a call in flight keeps its old path). */
enum { RELUKIT_SIMD_PORTABLE = 0, RELUKIT_SIMD_AVX2 = 1 };
/* Select the path: RELUKIT_SIMD_PORTABLE; RELUKIT_SIMD_AVX2 (only if the CPU supports it);
 * any other value re-runs the default selection (environment + CPU). Returns the path now in
 * effect. */
int relukit__set_simd(int mode);
/* The path in effect (resolving it if not yet done). */
int relukit__get_simd(void);
/* Set the non-temporal-store threshold (bytes read + written; streaming is used out of place
 * on the AVX2 path when 2 * n * sizeof(element) > bytes; SIZE_MAX disables it). Returns the
 * previous value. */
size_t relukit__set_nt_threshold(size_t bytes);
/* The current threshold (family.c streams by the same one). */
size_t relukit__nt_threshold(void);
/* How many array calls have taken the streaming path so far. */
unsigned long relukit__nt_calls(void);
/* Set the size (bytes read + written) from which an array call is split over threads (when
 * relukit_set_num_threads allows more than one); SIZE_MAX never splits. Returns the previous
 * value. */
size_t relukit__set_split_threshold(size_t bytes);
/* Set the size (batch * in * out multiply-adds) from which a dense call is split over threads;
 * SIZE_MAX never splits. Returns the previous value. */
size_t relukit__set_dense_split(size_t macs);

#endif /* RELUKIT_INTERNAL_H */
