/* elementwise.h: what the elementwise kernels (relu.c, piecewise.c, smooth.c, and dense.c's
 * relu) share: the bit-pattern element helpers, the AVX2 vector ops and loop, and the array
 * functions' argument checks. Internal: not in the cffi cdef. Plain C11.
 *
 * The float ReLU and its derivative are decided on the bit pattern only (memcpy to an unsigned
 * integer of the same width; compilers turn that into a register move), so no float arithmetic
 * or comparison ever touches the value: DAZ/FTZ cannot change a result, NaN payloads and the
 * NaN sign are kept, signaling NaNs are not quieted and no FP exception flag is raised.
 *
 * Everything is branch-free integer arithmetic (and, andnot, or, subtract, logical shift) so
 * that GCC/Clang vectorize the array loops, even on baseline x86-64 (SSE2 has no 64-bit
 * compare, hence the shift-based tests instead of `>` / `==` on the bit patterns). */
#ifndef RELUKIT_ELEMENTWISE_H
#define RELUKIT_ELEMENTWISE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "relukit.h"
#include "runtime.h"

/* RELUKIT_EW_CHECK(x, x_len, y, y_len, FT): the array functions' contract, in the calling
 * function: RELUKIT_ESIZE unless y_len == x_len and no buffer with a nonzero length is NULL;
 * RELUKIT_OK at once for length 0; RELUKIT_EOVERLAP if y overlaps x without being x. */
#define RELUKIT_EW_CHECK(x, x_len, y, y_len, FT)                                                 \
    do {                                                                                         \
        if ((x_len) != (y_len) || ((x_len) != 0 && ((x) == NULL || (y) == NULL)))               \
            return RELUKIT_ESIZE;                                                                \
        if ((x_len) == 0)                                                                        \
            return RELUKIT_OK;                                                                   \
        if ((const void *)(x) != (const void *)(y) &&                                            \
            relukit_overlaps((x), (x_len) * sizeof(FT), (y), (y_len) * sizeof(FT)))              \
            return RELUKIT_EOVERLAP;                                                             \
    } while (0)

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

/* RELUKIT_KEY_OPS(SFX, UT, ST, NBITS): the order key of a bit pattern, for the piecewise ops
 * and the smooth ops' sign decisions: key(u) = +|bits| for a clear sign bit, -|bits| for a set
 * one, so -0.0 and +0.0 share key 0 and keys order like the values (NaN tested apart). */
#define RELUKIT_KEY_OPS(SFX, FT, UT, ST, NBITS)                                                  \
    static inline ST relukit_key_##SFX(UT u)                                                     \
    {                                                                                            \
        const UT mag = u & (UT) ~((UT)1 << ((NBITS)-1));                                         \
        const ST s = -(ST)(u >> ((NBITS)-1)); /* 0, or -1 for a set sign bit */                  \
        return ((ST)mag ^ s) - s;                                                                \
    }                                                                                            \
    static inline ST relukit_keyof_##SFX(FT x) { return relukit_key_##SFX(relukit_bits_##SFX(x)); }

RELUKIT_KEY_OPS(f32, float, uint32_t, int32_t, 32)
RELUKIT_KEY_OPS(f64, double, uint64_t, int64_t, 64)

/* ---- AVX2 vector ops (where RELUKIT_X86_DISPATCH, runtime.h) ------------------------------
 *
 * Only functions marked RELUKIT_AVX2_FN use AVX2, chosen at run time (relukit__get_simd). The
 * ops below take and return bit patterns (integer instructions only, like the scalar
 * helpers). */
#if RELUKIT_X86_DISPATCH
#include <immintrin.h>
#define RELUKIT_AVX2_FN __attribute__((target("avx2")))

/* relu: keep x iff sign clear or NaN, else +0.0. As signed integers, the negative NaNs are
 * exactly the patterns above that of -inf (0xff800000 = -0x800000): so keep iff
 * (int32)u > (int32)bits(-inf), which also holds for every pattern with the sign clear.
 * One compare, one and. */
RELUKIT_AVX2_FN static inline __m256i relukit_relu_vec_f32(__m256i u)
{
    return _mm256_and_si256(u, _mm256_cmpgt_epi32(u, _mm256_set1_epi32(-0x800000)));
}
/* the same for f64: bits(-inf) = 0xfff0000000000000 = -2^52 as int64 */
RELUKIT_AVX2_FN static inline __m256i relukit_relu_vec_f64(__m256i u)
{
    return _mm256_and_si256(u, _mm256_cmpgt_epi64(u, _mm256_set1_epi64x(-0x10000000000000LL)));
}
/* grad: NaN (|u| > inf bits) -> x; sign clear and u != 0 ((int)u > 0) and not NaN -> 1.0;
 * else +0.0 */
RELUKIT_AVX2_FN static inline __m256i relukit_relu_grad_vec_f32(__m256i u)
{
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)),
                                           _mm256_set1_epi32(0x7f800000));
    const __m256i pos = _mm256_cmpgt_epi32(u, _mm256_setzero_si256());
    const __m256i one = _mm256_and_si256(pos, _mm256_set1_epi32(0x3f800000));
    return _mm256_or_si256(_mm256_and_si256(u, nan), _mm256_andnot_si256(nan, one));
}
RELUKIT_AVX2_FN static inline __m256i relukit_relu_grad_vec_f64(__m256i u)
{
    const __m256i nan =
        _mm256_cmpgt_epi64(_mm256_and_si256(u, _mm256_set1_epi64x(0x7fffffffffffffffLL)),
                           _mm256_set1_epi64x(0x7ff0000000000000LL));
    const __m256i pos = _mm256_cmpgt_epi64(u, _mm256_setzero_si256());
    const __m256i one = _mm256_and_si256(pos, _mm256_set1_epi64x(0x3ff0000000000000LL));
    return _mm256_or_si256(_mm256_and_si256(u, nan), _mm256_andnot_si256(nan, one));
}

/* ---- the AVX2 loop shared by relu.c and piecewise.c --------------------------------------- */

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
#endif /* RELUKIT_X86_DISPATCH */


#endif /* RELUKIT_ELEMENTWISE_H */
