/* dense_backward.c: the backward pass of the affine layer y = x @ w + b (gradients for x, w
 * and b; the forward is in dense.c). Contract and numeric definition in relukit.h.
 *
 *   dx = dy w^T   the GEMM (gemm.c) with A = dy (row stride out) and B(j, k) = w[k, j]
 *                 (strides 1 and out: the packing reads w transposed)
 *   dw = x^T dy   the GEMM with A(k, i) = x[i, k] (strides 1 and in) and B = dy
 *   db            db[:] = 0; db[:] += dy[i,:] for i increasing: the loop over j vectorizes
 *                 without reassociating anything (ISO C, no -ffast-math), the same bits on
 *                 every build. */
#include "elementwise.h"
#include "gemm.h"

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

/* db[j] = sum over i increasing of dy[i, j], from +0.0 (batch may be 0). */
#define RELUKIT_BIAS_GRAD(SFX, FT)                                                               \
    static void bias_grad_##SFX(const FT *restrict dy, FT *restrict db, size_t batch,            \
                                size_t out)                                                      \
    {                                                                                            \
        for (size_t j = 0; j < out; j++)                                                         \
            db[j] = (FT)0;                                                                       \
        for (size_t r = 0; r < batch; r++) {                                                     \
            const FT *restrict dyr = dy + r * out;                                               \
            for (size_t j = 0; j < out; j++)                                                     \
                db[j] += dyr[j];                                                                 \
        }                                                                                        \
    }
RELUKIT_BIAS_GRAD(f32, float)
RELUKIT_BIAS_GRAD(f64, double)

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
        if (dw != NULL && in != 0 && out != 0) {                                                 \
            const struct relukit_gemm g = {in, out, batch, x,    1,    in, dy, out,              \
                                           1,  dw,  out,   NULL, 0,    NULL, NULL};              \
            relukit__gemm_##SFX(&g);                                                             \
        }                                                                                        \
        if (db != NULL && out != 0)                                                              \
            bias_grad_##SFX(dy, db, batch, out);                                                 \
        if (dx != NULL && batch != 0 && in != 0) {                                               \
            const struct relukit_gemm g = {batch, in, out, dy,   out,  1, w, 1,                  \
                                           out,   dx, in,  NULL, 0, NULL, NULL};                 \
            relukit__gemm_##SFX(&g);                                                             \
        }                                                                                        \
        return RELUKIT_OK;                                                                       \
    }

RELUKIT_BACKWARD_KERNEL(f32, float)
RELUKIT_BACKWARD_KERNEL(f64, double)
