/* gemm.h: the hand-written GEMM under the dense layer, the linear layer and the dense backward
 * pass (csrc/kernels/gemm.c). Internal: not in the cffi cdef. Plain C11.
 *
 * C[i,j] (i < m, j < n; row stride ldc) = act(acc), where acc starts as bias[j] (or +0.0
 * without a bias) and, for p = 0, 1, ..., k-1 in increasing order,
 * acc = fma(A(i,p), B(p,j), acc): one fused multiply-add each, rounded once. A(i,p) is
 * a[i*rsa + p*csa] and B(p,j) is b[p*rsb + j*csb] (element strides: a transposed operand is
 * only other strides). act is relu (the array kernels' element rule) when `relu`, then `act`
 * (an array kernel applied in place to each finished row segment) when not NULL. k == 0 gives
 * act(bias[j]). Every path (portable fma()/fmaf(), AVX2+FMA, AVX-512) and every thread count
 * gives the same bits. */
#ifndef RELUKIT_GEMM_H
#define RELUKIT_GEMM_H

#include <stddef.h>

/* An activation applied in place to y[0..n) (n elements of the GEMM's type); params is the
 * op's parameter block (struct gemm_act in gemm.c). */
typedef void (*relukit_gemm_act_fn)(void *y, size_t n, const double *params);

struct relukit_gemm {
    size_t m, n, k;
    const void *a;
    size_t rsa, csa;
    const void *b;
    size_t rsb, csb;
    void *c;
    size_t ldc;
    const void *bias; /* n values, or NULL: start from +0.0 */
    int relu;
    relukit_gemm_act_fn act; /* or NULL */
    const double *act_params;
};

/* Run one GEMM (m, n, k may be 0; buffers are only touched inside the stated shape). Split
 * over threads (over rows or columns of C, never over k) when m*n*k reaches
 * relukit__dense_split_macs() and relukit_set_num_threads allows it. */
void relukit__gemm_f32(const struct relukit_gemm *g);
void relukit__gemm_f64(const struct relukit_gemm *g);

/* Look up an activation by its kernel name (relukit.ops.KERNELS): *fn for the element size
 * esize (4 or 8) and its parameter count. Returns 1 if found. */
int relukit__gemm_act_lookup(const char *name, size_t esize, relukit_gemm_act_fn *fn,
                             size_t *n_params);

/* Test hooks: the GEMM's instruction set: RELUKIT_SIMD_PORTABLE, RELUKIT_SIMD_AVX2 or
 * RELUKIT_SIMD_AVX512 (each only if relukit__get_simd() is AVX2 and the CPU has it; else the
 * best below it), anything else restores the default choice. Returns the path now in effect
 * (relukit__gemm_simd()). */
int relukit__set_gemm_simd(int mode);
int relukit__gemm_simd(void);

#endif /* RELUKIT_GEMM_H */
