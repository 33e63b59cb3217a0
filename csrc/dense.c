/* dense.c: dense layer forward, y = relu(x @ w + b) (contract in relukit.h).
 *
 * Loop order is i-k-j: for each row r, y[r,:] = b, then for k = 0, 1, ..., in-1 (increasing)
 * y[r,:] += x[r,k] * w[k,:], then y[r,:] = relu(y[r,:]) with the same element helper as the
 * array kernels. The innermost loop runs over `out` contiguously in both y and w, so it
 * auto-vectorizes; every y[r,j] is still summed strictly in increasing k, starting from b[j],
 * so the result does not depend on the vector width.
 *
 * Plain multiply then add: no explicit fma(). Build without -ffast-math; where the target
 * has FMA instructions, use -ffp-contract=off (the default in ISO mode, -std=c11) if results
 * must be independent of the target, since otherwise the compiler may fuse x*w + y.
 *
 * On x86-64 with GCC/Clang the same loop is also compiled a second time with
 * target("avx2") (AVX2 only, deliberately not "fma": no contraction is possible) so the
 * compiler vectorizes it 8 (f32) / 4 (f64) lanes wide; it is chosen at run time with the same
 * path selection as the array kernels (relukit__get_simd, RELUKIT_FORCE_PORTABLE). Each output
 * element is still the same scalar sequence b + p0 + p1 + ... in increasing k, so both
 * versions give identical bits. */
#include "relukit.h"
#include "relukit_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define RELUKIT_DENSE_AVX2 1
#else
#define RELUKIT_DENSE_AVX2 0
#endif

/* The shape contract: every length matches the stated shape (products checked for overflow)
 * and no buffer with a nonzero length is NULL. Returns 1 if fine, 0 otherwise. */
static int dense_shape_ok(const void *x, size_t x_len, const void *w, size_t w_len,
                          const void *b, size_t b_len, const void *y, size_t y_len,
                          size_t batch, size_t in, size_t out)
{
    size_t x_need, w_need, y_need;
    if (!relukit_mul_size(batch, in, &x_need) || !relukit_mul_size(in, out, &w_need) ||
        !relukit_mul_size(batch, out, &y_need))
        return 0;
    if (x_len != x_need || w_len != w_need || b_len != out || y_len != y_need)
        return 0;
    if ((x_len != 0 && x == NULL) || (w_len != 0 && w == NULL) || (b_len != 0 && b == NULL) ||
        (y_len != 0 && y == NULL))
        return 0;
    return 1;
}

/* RELUKIT_DENSE_ROWS(NAME, ATTR, SFX, FT) defines the row loop NAME with attributes ATTR. */
#define RELUKIT_DENSE_ROWS(NAME, ATTR, SFX, FT)                                                  \
    ATTR static void NAME(const FT *restrict x, const FT *restrict w, const FT *restrict b,      \
                          FT *restrict y, size_t batch, size_t in, size_t out)                   \
    {                                                                                            \
        for (size_t r = 0; r < batch; r++) {                                                     \
            FT *restrict yr = y + r * out;                                                       \
            for (size_t j = 0; j < out; j++)                                                     \
                yr[j] = b[j];                                                                    \
            for (size_t k = 0; k < in; k++) {                                                    \
                const FT xk = x[r * in + k];                                                     \
                const FT *restrict wk = w + k * out;                                             \
                for (size_t j = 0; j < out; j++)                                                 \
                    yr[j] += xk * wk[j];                                                         \
            }                                                                                    \
            relukit_relu_inplace_##SFX(yr, out);                                                 \
        }                                                                                        \
    }

#if RELUKIT_DENSE_AVX2
#define RELUKIT_DENSE_DISPATCH(SFX, x, w, b, y, batch, in, out)                                  \
    do {                                                                                         \
        /* a row narrower than one 32-byte vector gains nothing from the AVX2 build */       \
        if ((out) * sizeof(*(y)) >= 32 && relukit__get_simd() == RELUKIT_SIMD_AVX2) {           \
            dense_rows_avx2_##SFX(x, w, b, y, batch, in, out);                                   \
            return RELUKIT_OK;                                                                   \
        }                                                                                        \
    } while (0)
#else
#define RELUKIT_DENSE_DISPATCH(SFX, x, w, b, y, batch, in, out) ((void)0)
#endif

/* RELUKIT_DENSE_KERNEL(SFX, FT) defines relukit_dense_forward_SFX for element type FT. */
#define RELUKIT_DENSE_KERNEL(SFX, FT)                                                            \
    int relukit_dense_forward_##SFX(const FT *x, size_t x_len, const FT *w, size_t w_len,        \
                                    const FT *b, size_t b_len, FT *y, size_t y_len,              \
                                    size_t batch, size_t in, size_t out)                         \
    {                                                                                            \
        if (!dense_shape_ok(x, x_len, w, w_len, b, b_len, y, y_len, batch, in, out))             \
            return RELUKIT_ESIZE;                                                                \
        /* nothing to write; also keeps pointer arithmetic off possibly-NULL empty buffers */    \
        if (batch == 0 || out == 0)                                                              \
            return RELUKIT_OK;                                                                   \
        RELUKIT_DENSE_DISPATCH(SFX, x, w, b, y, batch, in, out);                                 \
        dense_rows_##SFX(x, w, b, y, batch, in, out);                                            \
        return RELUKIT_OK;                                                                       \
    }

RELUKIT_DENSE_ROWS(dense_rows_f32, , f32, float)
RELUKIT_DENSE_ROWS(dense_rows_f64, , f64, double)
#if RELUKIT_DENSE_AVX2
RELUKIT_DENSE_ROWS(dense_rows_avx2_f32, __attribute__((target("avx2"))), f32, float)
RELUKIT_DENSE_ROWS(dense_rows_avx2_f64, __attribute__((target("avx2"))), f64, double)
#endif
RELUKIT_DENSE_KERNEL(f32, float)
RELUKIT_DENSE_KERNEL(f64, double)
