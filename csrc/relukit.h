/* relukit C kernels: plain C11, no Python.h. Callable from anything (cffi binds them).
 *
 * Numeric contract (bit for bit, every function here):
 *   relu(x)      = x     for x > 0 (incl. +inf, positive subnormals) and for NaN (payload kept)
 *                = +0.0  for x == +-0.0 and for x < 0 (incl. -inf)
 *   relu_grad(x) = 1 for x > 0, +0.0 for x <= 0 (incl. +-0.0), x itself for NaN.
 * "NaN kept" means the exact bits: sign, payload, and signaling NaNs stay signaling.
 * The float relu/relu_grad kernels (scalar and array) decide on the bit pattern only, with no
 * float arithmetic, so DAZ/FTZ modes cannot change the answer and no FP exception is raised.
 * (The dense layer's multiply-adds are ordinary float arithmetic and do depend on DAZ/FTZ.)
 *
 * Array functions take every buffer's length in elements and return RELUKIT_ESIZE, touching
 * nothing, when the lengths do not fit together or a buffer with a nonzero length is NULL
 * (length 0 is fine, NULL allowed). y may be the same buffer as x (in place); any other
 * overlap of an output with an input returns RELUKIT_EOVERLAP, touching nothing (the caller
 * can copy the input first). */
#ifndef RELUKIT_H
#define RELUKIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* cffi-cdef-begin: cffi_build.py feeds the text up to cffi-cdef-end to ffi.cdef(). */
enum relukit_status {
    RELUKIT_OK = 0,
    RELUKIT_ESIZE = 1,   /* buffer lengths do not match the stated shape */
    RELUKIT_EOVERLAP = 2 /* the output overlaps an input (other than exactly, in place) */
};

float relukit_relu_f32(float x);
double relukit_relu_f64(double x);
int64_t relukit_relu_i64(int64_t x);
float relukit_relu_grad_f32(float x);
double relukit_relu_grad_f64(double x);
int64_t relukit_relu_grad_i64(int64_t x);

/* y[i] = relu(x[i]) for i < x_len; requires y_len == x_len. */
int relukit_relu_array_f32(const float *x, size_t x_len, float *y, size_t y_len);
int relukit_relu_array_f64(const double *x, size_t x_len, double *y, size_t y_len);
/* y[i] = relu_grad(x[i]) for i < x_len; requires y_len == x_len. */
int relukit_relu_grad_array_f32(const float *x, size_t x_len, float *y, size_t y_len);
int relukit_relu_grad_array_f64(const double *x, size_t x_len, double *y, size_t y_len);

/* Dense layer forward, y = relu(x @ w + b), all row-major and contiguous:
 * x (batch, in), w (in, out), b (out), y (batch, out). y must not overlap the inputs
 * (RELUKIT_EOVERLAP if it does, checked after the lengths).
 * Requires x_len == batch*in, w_len == in*out, b_len == out, y_len == batch*out
 * (products checked for overflow, RELUKIT_ESIZE on overflow), and no buffer with a nonzero
 * length NULL; batch, in or out may be 0 (in == 0 gives y = relu(b) per row).
 * Summation order: each y[r,j] starts from b[j] and adds x[r,k]*w[k,j] for k in increasing
 * order (plain multiply then add, no explicit fma), then relu. */
int relukit_dense_forward_f32(const float *x, size_t x_len, const float *w, size_t w_len,
                              const float *b, size_t b_len, float *y, size_t y_len,
                              size_t batch, size_t in, size_t out);
int relukit_dense_forward_f64(const double *x, size_t x_len, const double *w, size_t w_len,
                              const double *b, size_t b_len, double *y, size_t y_len,
                              size_t batch, size_t in, size_t out);

/* Threads: array calls that move at least RELUKIT's split threshold of bytes (see relu.c) and
 * large dense layers are split over this many threads (the caller plus a persistent pool of
 * n - 1 workers, started on the first large call and re-started in a forked child). n == 0 is
 * taken as 1, values above 64 as 64; the default is 1 (the Python package sets it to the CPUs
 * it may use, or RELUKIT_NUM_THREADS). Every function here may be called from several threads
 * at once: a call that finds the pool busy with another thread's call runs on its own thread.
 * Results never depend on the thread count (each output element is computed the same way). */
void relukit_set_num_threads(size_t n);
size_t relukit_get_num_threads(void);

/* cffi-cdef-end */

#ifdef __cplusplus
}
#endif

#endif /* RELUKIT_H */
