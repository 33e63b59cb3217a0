/* dense_backward.c: the backward pass of the affine layer y = x @ w + b (gradients for x, w
 * and b; the forward is in dense.c). Contract and summation orders in relukit.h.
 *
 * Every loop runs contiguously in its innermost index so the compiler vectorizes it without
 * reassociating anything (ISO C, no -ffast-math, no fma()):
 *   dw       dw[k,:] = 0; dw[k,:] += x[r,k] * dy[r,:]       for r increasing   (k outermost:
 *            the row dw[k,:] stays in L1 while the rows of dy stream past it)
 *   db       db[:] = 0; db[:] += dy[r,:]                    for r increasing
 *   dx       dx[r,k] = dot(dy[r,:], w[k,:]), both rows contiguous: eight partial sums, lane l
 *            taking j = l, l+8, l+16, ... in increasing order, combined in a fixed tree,
 *            then the tail j >= 8*floor(out/8) in order. Eight independent lanes are what
 *            lets the loop vectorize (one AVX2 register of f32, two of f64) without changing
 *            any rounding, so every build gives the same bits (the Rust kernels use the same
 *            order and agree bit for bit).
 * As in dense.c, the same loops are compiled a second time with target("avx2") (not "fma":
 * no contraction is possible) and picked at run time by relukit__get_simd(), so
 * RELUKIT_FORCE_PORTABLE=1 selects the baseline build; both give identical bits. */
#include "elementwise.h"

/* len == rows * cols (checked for overflow) and the buffer is not NULL unless empty. */
static int buf_ok(const void *p, size_t len, size_t rows, size_t cols)
{
    size_t need;
    if (!relukit_mul_size(rows, cols, &need) || len != need)
        return 0;
    return len == 0 || p != NULL;
}

/* An optional output: NULL with length 0 means "not wanted"; otherwise as buf_ok. */
static int opt_buf_ok(const void *p, size_t len, size_t rows, size_t cols)
{
    return (p == NULL && len == 0) || buf_ok(p, len, rows, cols);
}

/* RELUKIT_BACKWARD_LOOPS(NAME, ATTR, FT): dx, dw, db (each skipped when NULL); batch, in and
 * out > 0; batch or in may be 0 (their loops then run zero times: dw, db come out zero). */
#define RELUKIT_BACKWARD_LOOPS(NAME, ATTR, FT)                                                   \
    ATTR static void NAME(const FT *restrict x, const FT *restrict w, const FT *restrict dy,     \
                          FT *restrict dx, FT *restrict dw, FT *restrict db, size_t batch,       \
                          size_t in, size_t out)                                                 \
    {                                                                                            \
        if (dw != NULL) {                                                                        \
            for (size_t k = 0; k < in; k++) {                                                    \
                FT *restrict dwk = dw + k * out;                                                 \
                for (size_t j = 0; j < out; j++)                                                 \
                    dwk[j] = (FT)0;                                                              \
                for (size_t r = 0; r < batch; r++) {                                             \
                    const FT xrk = x[r * in + k];                                                \
                    const FT *restrict dyr = dy + r * out;                                       \
                    for (size_t j = 0; j < out; j++)                                             \
                        dwk[j] += xrk * dyr[j];                                                  \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
        if (db != NULL) {                                                                        \
            for (size_t j = 0; j < out; j++)                                                     \
                db[j] = (FT)0;                                                                   \
            for (size_t r = 0; r < batch; r++) {                                                 \
                const FT *restrict dyr = dy + r * out;                                           \
                for (size_t j = 0; j < out; j++)                                                 \
                    db[j] += dyr[j];                                                             \
            }                                                                                    \
        }                                                                                        \
        if (dx != NULL) {                                                                        \
            const size_t blocked = out - out % 8;                                                \
            for (size_t r = 0; r < batch; r++) {                                                 \
                const FT *restrict dyr = dy + r * out;                                           \
                for (size_t k = 0; k < in; k++) {                                                \
                    const FT *restrict wk = w + k * out;                                         \
                    FT s[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                          \
                    for (size_t j = 0; j < blocked; j += 8)                                      \
                        for (size_t l = 0; l < 8; l++)                                           \
                            s[l] += dyr[j + l] * wk[j + l];                                      \
                    FT acc = ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));  \
                    for (size_t j = blocked; j < out; j++)                                       \
                        acc += dyr[j] * wk[j];                                                   \
                    dx[r * in + k] = acc;                                                        \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
    }

RELUKIT_BACKWARD_LOOPS(backward_f32_portable, , float)
RELUKIT_BACKWARD_LOOPS(backward_f64_portable, , double)
#if RELUKIT_X86_DISPATCH
RELUKIT_BACKWARD_LOOPS(backward_f32_avx2, RELUKIT_AVX2_FN, float)
RELUKIT_BACKWARD_LOOPS(backward_f64_avx2, RELUKIT_AVX2_FN, double)
#define RELUKIT_BACKWARD_CALL(SFX, ...)                                                          \
    (relukit__get_simd() == RELUKIT_SIMD_AVX2 ? backward_##SFX##_avx2(__VA_ARGS__)               \
                                              : backward_##SFX##_portable(__VA_ARGS__))
#else
#define RELUKIT_BACKWARD_CALL(SFX, ...) backward_##SFX##_portable(__VA_ARGS__)
#endif

/* 1 if output o (o_bytes; NULL or empty: none) overlaps any of the n ranges in r[]. */
static int out_overlaps(const void *o, size_t o_bytes, const void *const r[], const size_t rb[],
                        size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (relukit_overlaps(o, o_bytes, r[i], rb[i]))
            return 1;
    return 0;
}

#define RELUKIT_BACKWARD_KERNEL(SFX, FT)                                                         \
    int relukit_dense_backward_##SFX(const FT *x, size_t x_len, const FT *w, size_t w_len,       \
                                     const FT *dy, size_t dy_len, FT *dx, size_t dx_len,         \
                                     FT *dw, size_t dw_len, FT *db, size_t db_len,               \
                                     size_t batch, size_t in, size_t out)                        \
    {                                                                                            \
        if (!buf_ok(x, x_len, batch, in) || !buf_ok(w, w_len, in, out) ||                        \
            !buf_ok(dy, dy_len, batch, out) || !opt_buf_ok(dx, dx_len, batch, in) ||             \
            !opt_buf_ok(dw, dw_len, in, out) || !opt_buf_ok(db, db_len, out, 1))                 \
            return RELUKIT_ESIZE;                                                                \
        {                                                                                        \
            const size_t s = sizeof(FT);                                                         \
            /* each output against the inputs and the outputs after it (an empty or NULL one   \
             * overlaps nothing) */                                                            \
            const void *const r[5] = {x, w, dy, db, dw};                                         \
            const size_t rb[5] = {x_len * s, w_len * s, dy_len * s, db_len * s, dw_len * s};     \
            if (out_overlaps(dx, dx_len * s, r, rb, 5) ||                                        \
                out_overlaps(dw, dw_len * s, r, rb, 4) || out_overlaps(db, db_len * s, r, rb, 3)) \
                return RELUKIT_EOVERLAP;                                                         \
        }                                                                                        \
        if (out == 0) { /* dw and db are empty; every dx is an empty sum */                      \
            for (size_t i = 0; dx != NULL && i < dx_len; i++)                                    \
                dx[i] = 0;                                                                       \
            return RELUKIT_OK;                                                                   \
        }                                                                                        \
        /* batch == 0 or in == 0 need no special case: the loops over them run zero times */    \
        RELUKIT_BACKWARD_CALL(SFX, x, w, dy, dx, dw, db, batch, in, out);                   \
        return RELUKIT_OK;                                                                       \
    }

RELUKIT_BACKWARD_KERNEL(f32, float)
RELUKIT_BACKWARD_KERNEL(f64, double)
