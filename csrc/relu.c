/* relu.c: scalar and array ReLU / ReLU-derivative kernels (contract in relukit.h).
 *
 * The per-element work lives in relukit_internal.h (bit-pattern based, branch-free); this file
 * only adds the public scalar entry points and the array loops. Each array function checks
 * its lengths, then dispatches to one of two simple counted loops that GCC auto-vectorizes
 * without runtime alias checks:
 *   - x == y (in place): a single-pointer loop, y[i] = f(y[i]);
 *   - x != y: a loop over restrict-qualified pointers (any overlap other than x == y is
 *     undefined by the header's contract). */
#include "relukit.h"
#include "relukit_internal.h"

/* ---- scalars ---------------------------------------------------------------------------- */

float relukit_relu_f32(float x) { return relukit_relu_elem_f32(x); }
double relukit_relu_f64(double x) { return relukit_relu_elem_f64(x); }
float relukit_relu_grad_f32(float x) { return relukit_relu_grad_elem_f32(x); }
double relukit_relu_grad_f64(double x) { return relukit_relu_grad_elem_f64(x); }

int64_t relukit_relu_i64(int64_t x) { return x > 0 ? x : 0; }
int64_t relukit_relu_grad_i64(int64_t x) { return x > 0 ? 1 : 0; }

/* ---- arrays ------------------------------------------------------------------------------ */

/* RELUKIT_ARRAY_KERNEL(NAME, FT, ELEM) defines
 *   int NAME(const FT *x, size_t x_len, FT *y, size_t y_len)
 * computing y[i] = ELEM(x[i]) for i < x_len. Returns RELUKIT_ESIZE, touching nothing, if
 * y_len != x_len or a buffer with a nonzero length is NULL; length 0 is fine (NULL allowed). */
#define RELUKIT_ARRAY_KERNEL(NAME, FT, ELEM)                                                     \
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
        if (x == y)                                                                              \
            NAME##_inplace(y, x_len);                                                            \
        else                                                                                     \
            NAME##_outofplace(x, y, x_len);                                                      \
        return RELUKIT_OK;                                                                       \
    }

RELUKIT_ARRAY_KERNEL(relukit_relu_array_f32, float, relukit_relu_elem_f32)
RELUKIT_ARRAY_KERNEL(relukit_relu_array_f64, double, relukit_relu_elem_f64)
RELUKIT_ARRAY_KERNEL(relukit_relu_grad_array_f32, float, relukit_relu_grad_elem_f32)
RELUKIT_ARRAY_KERNEL(relukit_relu_grad_array_f64, double, relukit_relu_grad_elem_f64)
