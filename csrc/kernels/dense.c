/* dense.c: the dense layer's forward, y = relu(x @ w + b), the linear layer's y = x @ w + b
 * and the affine y = act(x @ w + b) with any elementwise op (contract and numeric definition
 * in relukit.h). All three are one call of the GEMM (gemm.c) with the bias as the starting
 * value of every accumulator and the activation in its epilogue: relu in the micro-kernel
 * before the store, another op on each finished block of rows of y. */
#include <string.h>

#include "elementwise.h"
#include "gemm.h"

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

/* The checks shared by the three entry points, then the GEMM: y (batch x out) from x (batch x
 * in, row stride in) and w (in x out, row stride out), starting from b. */
static int affine_run(const void *x, size_t x_len, const void *w, size_t w_len, const void *b,
                      size_t b_len, void *y, size_t y_len, size_t batch, size_t in, size_t out,
                      size_t esize, int relu, relukit_gemm_act_fn act, const double *params)
{
    if (!dense_shape_ok(x, x_len, w, w_len, b, b_len, y, y_len, batch, in, out))
        return RELUKIT_ESIZE;
    if (relukit_overlaps(y, y_len * esize, x, x_len * esize) ||
        relukit_overlaps(y, y_len * esize, w, w_len * esize) ||
        relukit_overlaps(y, y_len * esize, b, b_len * esize))
        return RELUKIT_EOVERLAP;
    /* nothing to write; also keeps pointer arithmetic off possibly-NULL empty buffers */
    if (batch == 0 || out == 0)
        return RELUKIT_OK;
    const struct relukit_gemm g = {batch, out, in, x, in, 1, w,      out,
                                   1,     y,   out, b, relu, act, params};
    if (esize == 4)
        relukit__gemm_f32(&g);
    else
        relukit__gemm_f64(&g);
    return RELUKIT_OK;
}

#define RELUKIT_DENSE_KERNELS(SFX, FT)                                                           \
    int relukit_dense_forward_##SFX(const FT *x, size_t x_len, const FT *w, size_t w_len,        \
                                    const FT *b, size_t b_len, FT *y, size_t y_len,              \
                                    size_t batch, size_t in, size_t out)                         \
    {                                                                                            \
        return affine_run(x, x_len, w, w_len, b, b_len, y, y_len, batch, in, out, sizeof(FT),    \
                          1, NULL, NULL);                                                        \
    }                                                                                            \
    int relukit_linear_forward_##SFX(const FT *x, size_t x_len, const FT *w, size_t w_len,       \
                                     const FT *b, size_t b_len, FT *y, size_t y_len,             \
                                     size_t batch, size_t in, size_t out)                        \
    {                                                                                            \
        return affine_run(x, x_len, w, w_len, b, b_len, y, y_len, batch, in, out, sizeof(FT),    \
                          0, NULL, NULL);                                                        \
    }                                                                                            \
    int relukit_affine_forward_##SFX(const FT *x, size_t x_len, const FT *w, size_t w_len,       \
                                     const FT *b, size_t b_len, FT *y, size_t y_len,             \
                                     size_t batch, size_t in, size_t out,                        \
                                     const char *activation, const double *params,               \
                                     size_t n_params)                                            \
    {                                                                                            \
        relukit_gemm_act_fn act = NULL;                                                          \
        size_t want = 0;                                                                         \
        int relu = 0;                                                                            \
        if (activation != NULL) {                                                                \
            if (!relukit__gemm_act_lookup(activation, sizeof(FT), &act, &want))                  \
                return RELUKIT_EINVAL;                                                           \
            relu = act == NULL; /* "relu": in the micro-kernel */                                \
        }                                                                                        \
        if (n_params != want || (n_params != 0 && params == NULL))                               \
            return RELUKIT_EINVAL;                                                               \
        return affine_run(x, x_len, w, w_len, b, b_len, y, y_len, batch, in, out, sizeof(FT),    \
                          relu, act, params);                                                    \
    }

RELUKIT_DENSE_KERNELS(f32, float)
RELUKIT_DENSE_KERNELS(f64, double)
