/* relukit C kernels: plain C11, no Python.h. Callable from anything (cffi binds them).
 *
 * Numeric contract (bit for bit, every function here):
 *   relu(x)      = x     for x > 0 (incl. +inf, positive subnormals) and for NaN (payload kept)
 *                = +0.0  for x == +-0.0 and for x < 0 (incl. -inf)
 *   relu_grad(x) = 1 for x > 0, +0.0 for x <= 0 (incl. +-0.0), x itself for NaN.
 * "NaN kept" means the exact bits: sign, payload, and signaling NaNs stay signaling.
 * The float relu/relu_grad kernels (scalar and array) decide on the bit pattern only, with no
 * float arithmetic, so DAZ/FTZ modes cannot change the answer and no FP exception is raised.
 * (The dense layer's fused multiply-adds are ordinary float arithmetic and do depend on
 * DAZ/FTZ.)
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
    RELUKIT_EOVERLAP = 2, /* the output overlaps an input (other than exactly, in place) */
    RELUKIT_EINVAL = 3    /* an unknown activation name, or the wrong number of parameters */
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

/* ---- the GEMM: dense, linear and affine forward, dense backward ---------------------------
 * (csrc/kernels/gemm.c under dense.c and dense_backward.c)
 *
 * All row-major and contiguous: x (batch, in), w (in, out), b (out), y (batch, out). Requires
 * x_len == batch*in, w_len == in*out, b_len == out, y_len == batch*out (products checked for
 * overflow) and no buffer with a nonzero length NULL, else RELUKIT_ESIZE touching nothing;
 * batch, in or out may be 0. An output that overlaps an input or another output returns
 * RELUKIT_EOVERLAP, touching nothing (checked after the lengths).
 *
 * The numeric definition (every path: portable fmaf/fma, AVX2+FMA, AVX-512; every thread
 * count; the Rust kernels too: the same bits):
 *   forward: y[i,j] = act(acc), where acc starts as b[j] and, for k = 0, 1, ..., in-1 in
 *     increasing order, acc = fma(x[i,k], w[k,j], acc): one fused multiply-add each, rounded
 *     once. act is relu for dense_forward (the array kernels' element rule: NaN kept,
 *     -0.0 -> +0.0), the identity for linear_forward, the named op for affine_forward.
 *     in == 0 gives act(b[j]).
 *   backward: dx[i,k] = acc over j = 0..out-1 increasing, from +0.0, acc = fma(dy[i,j],
 *     w[k,j], acc); dw[k,j] = acc over i = 0..batch-1 increasing, from +0.0,
 *     acc = fma(x[i,k], dy[i,j], acc); db[j] = over i increasing, from +0.0, acc = acc + dy[i,j]
 *     (a plain add).
 * A NaN reaching an output gives a NaN; when two different NaN payloads meet in one fma, which
 * one survives follows the hardware (x86: the first NaN operand) and is not part of the
 * definition. Against the exact result the error is at most (K + 2) eps (sum|x||w| + |b|)
 * (K = in; eps the type's machine epsilon; relukit.conformance.dense_tolerance). */

/* y = relu(x @ w + b) */
int relukit_dense_forward_f32(const float *x, size_t x_len, const float *w, size_t w_len,
                              const float *b, size_t b_len, float *y, size_t y_len,
                              size_t batch, size_t in, size_t out);
int relukit_dense_forward_f64(const double *x, size_t x_len, const double *w, size_t w_len,
                              const double *b, size_t b_len, double *y, size_t y_len,
                              size_t batch, size_t in, size_t out);

/* y = x @ w + b (relukit.nn.Linear) */
int relukit_linear_forward_f32(const float *x, size_t x_len, const float *w, size_t w_len,
                               const float *b, size_t b_len, float *y, size_t y_len,
                               size_t batch, size_t in, size_t out);
int relukit_linear_forward_f64(const double *x, size_t x_len, const double *w, size_t w_len,
                               const double *b, size_t b_len, double *y, size_t y_len,
                               size_t batch, size_t in, size_t out);

/* y = act(x @ w + b): activation NULL (linear) or a kernel name of relukit.ops.KERNELS
 * ("relu", "leaky_relu", "gelu_tanh", ...) with its n_params parameters in the KERNELS order
 * (params may be NULL when n_params == 0; rounded to the array's type). The op's array kernel
 * runs on each finished block of rows of y while it is in cache: the same bits as applying the
 * op to linear_forward's result. RELUKIT_EINVAL (touching nothing, checked before the
 * lengths) for an unknown name or a wrong n_params. */
int relukit_affine_forward_f32(const float *x, size_t x_len, const float *w, size_t w_len,
                               const float *b, size_t b_len, float *y, size_t y_len,
                               size_t batch, size_t in, size_t out, const char *activation,
                               const double *params, size_t n_params);
int relukit_affine_forward_f64(const double *x, size_t x_len, const double *w, size_t w_len,
                               const double *b, size_t b_len, double *y, size_t y_len,
                               size_t batch, size_t in, size_t out, const char *activation,
                               const double *params, size_t n_params);

/* Gradients of y = x @ w + b given dy = dL/dy (batch, out); each output is overwritten:
 *   dx = dy @ w^T (batch, in), dw = x^T @ dy (in, out), db = sum_i dy[i,:] (out),
 * in the order of the definition above (dx and dw on the same GEMM kernel as the forward, the
 * transposes taken by its packing). Any of dx, dw, db may be NULL with length 0: that
 * gradient is skipped. Empty sums give +0.0. (For a Dense layer, y = relu(x @ w + b), pass
 * dy * relu_grad(y).) */
int relukit_dense_backward_f32(const float *x, size_t x_len, const float *w, size_t w_len,
                               const float *dy, size_t dy_len, float *dx, size_t dx_len,
                               float *dw, size_t dw_len, float *db, size_t db_len,
                               size_t batch, size_t in, size_t out);
int relukit_dense_backward_f64(const double *x, size_t x_len, const double *w, size_t w_len,
                               const double *dy, size_t dy_len, double *dx, size_t dx_len,
                               double *dw, size_t dw_len, double *db, size_t db_len,
                               size_t batch, size_t in, size_t out);

/* ---- the other activations (contract in docs/activations.md) ----------------------------
 *
 * Every op takes all of its parameters, in the order of relukit.ops.KERNELS (threshold_grad
 * takes the threshold and the value, and ignores the value): scalars relukit_<op>_f32 /
 * _f64(x, params...); arrays relukit_<op>_array_f32 / _f64(x, x_len, y, y_len, params...)
 * with relu's rules: RELUKIT_ESIZE (touching nothing) unless y_len == x_len and no buffer with
 * a nonzero length is NULL; y may be x (in place); RELUKIT_EOVERLAP (touching nothing) for any
 * other overlap. A NaN input gives that same NaN (exact bits) in every op. Parameters are in
 * the array's type (the caller rounds them, as PyTorch's Scalar.to<scalar_t>()).
 *
 * Piecewise linear (csrc/kernels/piecewise.c), bit for bit in every backend; the choice of
 * piece is made on integer keys of the bit patterns (so FTZ/DAZ cannot move a subnormal to
 * another piece), AVX2 when the CPU has it (the path relu uses, RELUKIT_FORCE_PORTABLE
 * honoured):
 *   leaky_relu(x, s)        x if x > 0, else x * s (a float multiply in the type)
 *   leaky_relu_grad(x, s)   1 if x > 0, else s (s at +-0.0, as PyTorch)
 *   hardtanh(x, lo, hi)     lo if x < lo, hi if x > hi, else x (ties keep x)
 *   hardtanh_grad(x, lo, hi) 1 if lo < x < hi, else 0 (0 at both bounds)
 *   threshold(x, th, v)     x if x > th, else v
 *   threshold_grad(x, th, v) 1 if x > th, else 0 (v unused)
 *   prelu: leaky_relu with slope w[c], c the channel of an element of a C-ordered
 *          (outer, channels, inner) array: c = (i / inner) % channels; w_len == channels;
 *          y must not overlap w.
 * Smooth (csrc/kernels/smooth.c), computed in double (float: converted, computed, rounded
 * once), within the ulp bounds of docs/activations.md; double: scalar loops around libm (exp,
 * expm1, erfc, tanh, fma); float (but gelu's erf form): smooth.c's exp/expm1 in double lanes,
 * AVX2+FMA if present:
 *   elu(x, a)       x if x > 0, else a * expm1(x) (+0.0 at x = -0.0, as PyTorch)
 *   elu_grad(x, a)  1 if x > 0, else a * exp(x)
 *   gelu / gelu_grad             x * Phi(x) and Phi(x) + x phi(x) (erf form)
 *   gelu_tanh / gelu_tanh_grad   PyTorch's approximate="tanh" form and its derivative
 *   sigmoid / sigmoid_grad, tanh / tanh_grad                                                 */
float relukit_leaky_relu_f32(float x, float slope);
double relukit_leaky_relu_f64(double x, double slope);
float relukit_leaky_relu_grad_f32(float x, float slope);
double relukit_leaky_relu_grad_f64(double x, double slope);
float relukit_hardtanh_f32(float x, float lo, float hi);
double relukit_hardtanh_f64(double x, double lo, double hi);
float relukit_hardtanh_grad_f32(float x, float lo, float hi);
double relukit_hardtanh_grad_f64(double x, double lo, double hi);
float relukit_threshold_f32(float x, float th, float value);
double relukit_threshold_f64(double x, double th, double value);
float relukit_threshold_grad_f32(float x, float th, float value);
double relukit_threshold_grad_f64(double x, double th, double value);
float relukit_elu_f32(float x, float alpha);
double relukit_elu_f64(double x, double alpha);
float relukit_elu_grad_f32(float x, float alpha);
double relukit_elu_grad_f64(double x, double alpha);
float relukit_gelu_f32(float x);
double relukit_gelu_f64(double x);
float relukit_gelu_grad_f32(float x);
double relukit_gelu_grad_f64(double x);
float relukit_gelu_tanh_f32(float x);
double relukit_gelu_tanh_f64(double x);
float relukit_gelu_tanh_grad_f32(float x);
double relukit_gelu_tanh_grad_f64(double x);
float relukit_sigmoid_f32(float x);
double relukit_sigmoid_f64(double x);
float relukit_sigmoid_grad_f32(float x);
double relukit_sigmoid_grad_f64(double x);
float relukit_tanh_f32(float x);
double relukit_tanh_f64(double x);
float relukit_tanh_grad_f32(float x);
double relukit_tanh_grad_f64(double x);

int relukit_leaky_relu_array_f32(const float *x, size_t x_len, float *y, size_t y_len,
                                 float slope);
int relukit_leaky_relu_array_f64(const double *x, size_t x_len, double *y, size_t y_len,
                                 double slope);
int relukit_leaky_relu_grad_array_f32(const float *x, size_t x_len, float *y, size_t y_len,
                                      float slope);
int relukit_leaky_relu_grad_array_f64(const double *x, size_t x_len, double *y, size_t y_len,
                                      double slope);
int relukit_hardtanh_array_f32(const float *x, size_t x_len, float *y, size_t y_len, float lo,
                               float hi);
int relukit_hardtanh_array_f64(const double *x, size_t x_len, double *y, size_t y_len, double lo,
                               double hi);
int relukit_hardtanh_grad_array_f32(const float *x, size_t x_len, float *y, size_t y_len,
                                    float lo, float hi);
int relukit_hardtanh_grad_array_f64(const double *x, size_t x_len, double *y, size_t y_len,
                                    double lo, double hi);
int relukit_threshold_array_f32(const float *x, size_t x_len, float *y, size_t y_len, float th,
                                float value);
int relukit_threshold_array_f64(const double *x, size_t x_len, double *y, size_t y_len,
                                double th, double value);
int relukit_threshold_grad_array_f32(const float *x, size_t x_len, float *y, size_t y_len,
                                     float th, float value);
int relukit_threshold_grad_array_f64(const double *x, size_t x_len, double *y, size_t y_len,
                                     double th, double value);
/* prelu: requires x_len == y_len == outer * channels * inner (checked for overflow) and
 * w_len == channels. */
int relukit_prelu_array_f32(const float *x, size_t x_len, float *y, size_t y_len, const float *w,
                            size_t w_len, size_t outer, size_t channels, size_t inner);
int relukit_prelu_array_f64(const double *x, size_t x_len, double *y, size_t y_len,
                            const double *w, size_t w_len, size_t outer, size_t channels,
                            size_t inner);
int relukit_prelu_grad_array_f32(const float *x, size_t x_len, float *y, size_t y_len,
                                 const float *w, size_t w_len, size_t outer, size_t channels,
                                 size_t inner);
int relukit_prelu_grad_array_f64(const double *x, size_t x_len, double *y, size_t y_len,
                                 const double *w, size_t w_len, size_t outer, size_t channels,
                                 size_t inner);
int relukit_elu_array_f32(const float *x, size_t x_len, float *y, size_t y_len, float alpha);
int relukit_elu_array_f64(const double *x, size_t x_len, double *y, size_t y_len, double alpha);
int relukit_elu_grad_array_f32(const float *x, size_t x_len, float *y, size_t y_len,
                               float alpha);
int relukit_elu_grad_array_f64(const double *x, size_t x_len, double *y, size_t y_len,
                               double alpha);
int relukit_gelu_array_f32(const float *x, size_t x_len, float *y, size_t y_len);
int relukit_gelu_array_f64(const double *x, size_t x_len, double *y, size_t y_len);
int relukit_gelu_grad_array_f32(const float *x, size_t x_len, float *y, size_t y_len);
int relukit_gelu_grad_array_f64(const double *x, size_t x_len, double *y, size_t y_len);
int relukit_gelu_tanh_array_f32(const float *x, size_t x_len, float *y, size_t y_len);
int relukit_gelu_tanh_array_f64(const double *x, size_t x_len, double *y, size_t y_len);
int relukit_gelu_tanh_grad_array_f32(const float *x, size_t x_len, float *y, size_t y_len);
int relukit_gelu_tanh_grad_array_f64(const double *x, size_t x_len, double *y, size_t y_len);
int relukit_sigmoid_array_f32(const float *x, size_t x_len, float *y, size_t y_len);
int relukit_sigmoid_array_f64(const double *x, size_t x_len, double *y, size_t y_len);
int relukit_sigmoid_grad_array_f32(const float *x, size_t x_len, float *y, size_t y_len);
int relukit_sigmoid_grad_array_f64(const double *x, size_t x_len, double *y, size_t y_len);
int relukit_tanh_array_f32(const float *x, size_t x_len, float *y, size_t y_len);
int relukit_tanh_array_f64(const double *x, size_t x_len, double *y, size_t y_len);
int relukit_tanh_grad_array_f32(const float *x, size_t x_len, float *y, size_t y_len);
int relukit_tanh_grad_array_f64(const double *x, size_t x_len, double *y, size_t y_len);

/* ---- silu, softplus, selu, mish (csrc/kernels/smooth.c) and hardswish, hardsigmoid
 * (csrc/kernels/piecewise.c), with their derivatives: PyTorch's names, defaults and
 * conventions (contract and error bounds in docs/activations.md). Same calling rules as the
 * ops above. softplus(x, beta, threshold): x where beta * x (rounded to the type) >
 * threshold, else log1p(exp(beta x)) / beta; beta nonzero. hardswish and hardsigmoid are
 * bit for bit in every backend (each step in the type); the others within the ulp bounds. */
float relukit_silu_f32(float x);
double relukit_silu_f64(double x);
float relukit_silu_grad_f32(float x);
double relukit_silu_grad_f64(double x);
float relukit_softplus_f32(float x, float beta, float threshold);
double relukit_softplus_f64(double x, double beta, double threshold);
float relukit_softplus_grad_f32(float x, float beta, float threshold);
double relukit_softplus_grad_f64(double x, double beta, double threshold);
float relukit_selu_f32(float x);
double relukit_selu_f64(double x);
float relukit_selu_grad_f32(float x);
double relukit_selu_grad_f64(double x);
float relukit_mish_f32(float x);
double relukit_mish_f64(double x);
float relukit_mish_grad_f32(float x);
double relukit_mish_grad_f64(double x);
float relukit_hardswish_f32(float x);
double relukit_hardswish_f64(double x);
float relukit_hardswish_grad_f32(float x);
double relukit_hardswish_grad_f64(double x);
float relukit_hardsigmoid_f32(float x);
double relukit_hardsigmoid_f64(double x);
float relukit_hardsigmoid_grad_f32(float x);
double relukit_hardsigmoid_grad_f64(double x);
int relukit_silu_array_f32(const float *x, size_t x_len, float *y, size_t y_len);
int relukit_silu_array_f64(const double *x, size_t x_len, double *y, size_t y_len);
int relukit_silu_grad_array_f32(const float *x, size_t x_len, float *y, size_t y_len);
int relukit_silu_grad_array_f64(const double *x, size_t x_len, double *y, size_t y_len);
int relukit_softplus_array_f32(const float *x, size_t x_len, float *y, size_t y_len, float beta,
                               float threshold);
int relukit_softplus_array_f64(const double *x, size_t x_len, double *y, size_t y_len,
                               double beta, double threshold);
int relukit_softplus_grad_array_f32(const float *x, size_t x_len, float *y, size_t y_len,
                                    float beta, float threshold);
int relukit_softplus_grad_array_f64(const double *x, size_t x_len, double *y, size_t y_len,
                                    double beta, double threshold);
int relukit_selu_array_f32(const float *x, size_t x_len, float *y, size_t y_len);
int relukit_selu_array_f64(const double *x, size_t x_len, double *y, size_t y_len);
int relukit_selu_grad_array_f32(const float *x, size_t x_len, float *y, size_t y_len);
int relukit_selu_grad_array_f64(const double *x, size_t x_len, double *y, size_t y_len);
int relukit_mish_array_f32(const float *x, size_t x_len, float *y, size_t y_len);
int relukit_mish_array_f64(const double *x, size_t x_len, double *y, size_t y_len);
int relukit_mish_grad_array_f32(const float *x, size_t x_len, float *y, size_t y_len);
int relukit_mish_grad_array_f64(const double *x, size_t x_len, double *y, size_t y_len);
int relukit_hardswish_array_f32(const float *x, size_t x_len, float *y, size_t y_len);
int relukit_hardswish_array_f64(const double *x, size_t x_len, double *y, size_t y_len);
int relukit_hardswish_grad_array_f32(const float *x, size_t x_len, float *y, size_t y_len);
int relukit_hardswish_grad_array_f64(const double *x, size_t x_len, double *y, size_t y_len);
int relukit_hardsigmoid_array_f32(const float *x, size_t x_len, float *y, size_t y_len);
int relukit_hardsigmoid_array_f64(const double *x, size_t x_len, double *y, size_t y_len);
int relukit_hardsigmoid_grad_array_f32(const float *x, size_t x_len, float *y, size_t y_len);
int relukit_hardsigmoid_grad_array_f64(const double *x, size_t x_len, double *y, size_t y_len);

/* ---- runtime (csrc/runtime/) ------------------------------------------------------------
 *
 * Threads: array calls that move at least the split threshold of bytes (read + written; see
 * relukit_runtime_info) and large dense layers are split over this many threads (the caller
 * plus a persistent pool of n - 1 workers, started on the first large call and re-started in a
 * forked child). n == 0 is taken as 1, values above relukit_max_threads() as that; the default
 * is 1 (the Python package sets it to the CPUs it may use, or RELUKIT_NUM_THREADS). Every
 * function here may be called from several threads at once: a call that finds the pool busy
 * with another thread's call runs on its own thread. Results never depend on the thread count
 * (each output element is computed the same way). */
void relukit_set_num_threads(size_t n);
size_t relukit_get_num_threads(void);
/* The pool's cap: the largest thread count relukit_set_num_threads keeps. */
int relukit_max_threads(void);

/* The kernels' path: explicit AVX2 intrinsics, or portable C (RELUKIT_FORCE_PORTABLE=1). */
enum relukit_simd { RELUKIT_SIMD_PORTABLE = 0, RELUKIT_SIMD_AVX2 = 1, RELUKIT_SIMD_AVX512 = 2 };

/* What the runtime detected once per process, and the thresholds it derived from that (bytes
 * are bytes read + written by one call). Caches from sysfs
 * (/sys/devices/system/cpu/cpu0/cache), else cpuid, else a default (cache_source says which);
 * the environment variables RELUKIT_NT_BYTES, RELUKIT_SPLIT_BYTES and RELUKIT_DENSE_SPLIT_MACS
 * (decimal) replace the derived thresholds. */
struct relukit_runtime_info {
    int simd;                 /* enum relukit_simd: the path the kernels take now */
    int fma;                  /* 1 if the CPU has FMA (the smooth float kernels use it) */
    const char *cache_source; /* "sysfs", "cpuid" or "default" */
    size_t l2_bytes;          /* L2 of one core */
    size_t l3_bytes;          /* L3 as reported (0: none found) */
    size_t l3_cpus;           /* CPUs listed as sharing that L3 */
    size_t l3_share_bytes;    /* the part of it counted as this process's cache */
    size_t cpus;              /* CPUs this process may run on */
    size_t max_threads;       /* relukit_max_threads() */
    /* out of place, a call over t threads streams (non-temporal stores) when it moves more
     * than nt_bytes + (t - 1) * nt_bytes_per_thread */
    size_t nt_bytes;
    size_t nt_bytes_per_thread;
    size_t split_bytes;      /* elementwise calls are split over threads from this size */
    size_t dense_split_macs; /* dense calls are split from batch * in * out multiply-adds */
    /* the GEMM (csrc/kernels/gemm.c): its path (enum relukit_simd: AVX-512 where the CPU has
     * it, else AVX2+FMA, else portable) and, per type, {mr, nr, kc, mc, nc}: the micro-tile
     * and the cache blocks derived from l1d_bytes, l2_bytes and l3_share_bytes */
    size_t l1d_bytes; /* L1 data cache of one core */
    int gemm_simd;
    size_t gemm_f32[5];
    size_t gemm_f64[5];
};
/* Fill *info (returns RELUKIT_OK; RELUKIT_ESIZE if info is NULL). */
int relukit_runtime_info(struct relukit_runtime_info *info);

/* cffi-cdef-end */

#ifdef __cplusplus
}
#endif

#endif /* RELUKIT_H */
