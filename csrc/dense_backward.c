/* dense_backward.c: the affine layer y = x @ w + b (nn.Linear) forward, and its backward pass
 * (gradients for x, w and b). Contract and summation orders in relukit.h.
 *
 * Every loop runs contiguously in its innermost index so the compiler vectorizes it without
 * reassociating anything (ISO C, no -ffast-math, no fma()):
 *   forward  y[r,:] = b; y[r,:] += x[r,k] * w[k,:]          for k increasing   (as dense.c)
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
#include "relukit.h"
#include "relukit_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define RELUKIT_BWD_AVX2 1
#else
#define RELUKIT_BWD_AVX2 0
#endif

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

/* RELUKIT_LINEAR_ROWS(NAME, ATTR, FT): y = x @ w + b, rows r < batch. */
#define RELUKIT_LINEAR_ROWS(NAME, ATTR, FT)                                                      \
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
        }                                                                                        \
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

RELUKIT_LINEAR_ROWS(linear_rows_f32, , float)
RELUKIT_LINEAR_ROWS(linear_rows_f64, , double)
RELUKIT_BACKWARD_LOOPS(backward_f32, , float)
RELUKIT_BACKWARD_LOOPS(backward_f64, , double)
#if RELUKIT_BWD_AVX2
#define RELUKIT_AVX2_ATTR __attribute__((target("avx2")))
RELUKIT_LINEAR_ROWS(linear_rows_avx2_f32, RELUKIT_AVX2_ATTR, float)
RELUKIT_LINEAR_ROWS(linear_rows_avx2_f64, RELUKIT_AVX2_ATTR, double)
RELUKIT_BACKWARD_LOOPS(backward_avx2_f32, RELUKIT_AVX2_ATTR, float)
RELUKIT_BACKWARD_LOOPS(backward_avx2_f64, RELUKIT_AVX2_ATTR, double)
#define RELUKIT_USE_AVX2() (relukit__get_simd() == RELUKIT_SIMD_AVX2)
#endif

#if RELUKIT_BWD_AVX2
#define RELUKIT_BWD_CALL(FN, SFX, ...)                                                           \
    (RELUKIT_USE_AVX2() ? FN##_avx2_##SFX(__VA_ARGS__) : FN##_##SFX(__VA_ARGS__))
#else
#define RELUKIT_BWD_CALL(FN, SFX, ...) FN##_##SFX(__VA_ARGS__)
#endif

#define RELUKIT_LINEAR_KERNELS(SFX, FT)                                                          \
    int relukit_linear_forward_##SFX(const FT *x, size_t x_len, const FT *w, size_t w_len,       \
                                     const FT *b, size_t b_len, FT *y, size_t y_len,             \
                                     size_t batch, size_t in, size_t out)                        \
    {                                                                                            \
        if (!buf_ok(x, x_len, batch, in) || !buf_ok(w, w_len, in, out) ||                        \
            !buf_ok(b, b_len, out, 1) || !buf_ok(y, y_len, batch, out))                          \
            return RELUKIT_ESIZE;                                                                \
        /* nothing to write; also keeps pointer arithmetic off possibly-NULL empty buffers */    \
        if (batch == 0 || out == 0)                                                              \
            return RELUKIT_OK;                                                                   \
        RELUKIT_BWD_CALL(linear_rows, SFX, x, w, b, y, batch, in, out);                          \
        return RELUKIT_OK;                                                                       \
    }                                                                                            \
    int relukit_dense_backward_##SFX(const FT *x, size_t x_len, const FT *w, size_t w_len,       \
                                     const FT *dy, size_t dy_len, FT *dx, size_t dx_len,         \
                                     FT *dw, size_t dw_len, FT *db, size_t db_len,               \
                                     size_t batch, size_t in, size_t out)                        \
    {                                                                                            \
        if (!buf_ok(x, x_len, batch, in) || !buf_ok(w, w_len, in, out) ||                        \
            !buf_ok(dy, dy_len, batch, out) || !opt_buf_ok(dx, dx_len, batch, in) ||             \
            !opt_buf_ok(dw, dw_len, in, out) || !opt_buf_ok(db, db_len, out, 1))                 \
            return RELUKIT_ESIZE;                                                                \
        if (out == 0) { /* dw and db are empty; every dx is an empty sum */                      \
            for (size_t i = 0; dx != NULL && i < dx_len; i++)                                    \
                dx[i] = 0;                                                                       \
            return RELUKIT_OK;                                                                   \
        }                                                                                        \
        /* batch == 0 or in == 0 need no special case: the loops over them run zero times */    \
        RELUKIT_BWD_CALL(backward, SFX, x, w, dy, dx, dw, db, batch, in, out);                   \
        return RELUKIT_OK;                                                                       \
    }

RELUKIT_LINEAR_KERNELS(f32, float)
RELUKIT_LINEAR_KERNELS(f64, double)
