/* relu.c: scalar and array ReLU / ReLU-derivative kernels (contract in relukit.h).
 *
 * The per-element work lives in elementwise.h (bit-pattern based, branch-free); this file adds
 * the public scalar entry points and the array loops. Each array function checks its lengths
 * and overlap, then runs one of two paths (runtime/dispatch.c picks), split over threads for
 * large calls (runtime/split.c):
 *
 *   - avx2: explicit 256-bit integer intrinsics, 4 vectors per iteration, scalar head and
 *     tail with the element helper. Out of place, when x and y no longer fit in the cache
 *     (runtime/machine.c derives the limit) the stores are non-temporal: they skip the
 *     read-for-ownership of y's lines, which a y that stays cached would not need.
 *   - portable: two simple counted loops that GCC auto-vectorizes (SSE2 on baseline x86-64)
 *     without runtime alias checks: x == y (in place) a single-pointer loop, y[i] = f(y[i]);
 *     x != y a loop over restrict-qualified pointers (any other overlap was refused).
 *
 * Both paths decide on bit patterns with integer operations only (never a float compare), so
 * they give identical bits, DAZ/FTZ cannot change a result (a float compare under DAZ would
 * see a positive subnormal as 0) and no FP exception is raised. */
#include "elementwise.h"

/* ---- scalars ---------------------------------------------------------------------------- */

float relukit_relu_f32(float x) { return relukit_relu_elem_f32(x); }
double relukit_relu_f64(double x) { return relukit_relu_elem_f64(x); }
float relukit_relu_grad_f32(float x) { return relukit_relu_grad_elem_f32(x); }
double relukit_relu_grad_f64(double x) { return relukit_relu_grad_elem_f64(x); }

int64_t relukit_relu_i64(int64_t x) { return x > 0 ? x : 0; }
int64_t relukit_relu_grad_i64(int64_t x) { return x > 0 ? 1 : 0; }

/* ---- avx2 path -------------------------------------------------------------------------- */

#if RELUKIT_X86_DISPATCH
/* RELUKIT_RELU_AVX2(NAME, FT, VOP, ELEM) defines, as range functions (relukit_range_fn)
 *   NAME_avx2(x, y, n)         y[i] = ELEM(x[i]), cached stores; x == y allowed
 *   NAME_avx2_stream(x, y, n)  the same with non-temporal stores; x != y, y FT-aligned */
#define RELUKIT_RELU_AVX2(NAME, FT, VOP, ELEM)                                                   \
    RELUKIT_AVX2_FN static void NAME##_avx2(const void *xv, void *yv, size_t n, const void *p)   \
    {                                                                                            \
        const FT *x = xv;                                                                        \
        FT *y = yv;                                                                              \
        (void)p;                                                                                 \
        RELUKIT_AVX2_BODY(FT, VOP, ELEM, RELUKIT_STOREU)                                         \
    }                                                                                            \
    RELUKIT_AVX2_FN static void NAME##_avx2_stream(const void *xv, void *yv, size_t n,           \
                                                   const void *p)                                \
    {                                                                                            \
        const FT *x = xv;                                                                        \
        FT *y = yv;                                                                              \
        (void)p;                                                                                 \
        RELUKIT_AVX2_BODY(FT, VOP, ELEM, RELUKIT_STREAM)                                         \
        _mm_sfence(); /* order the weakly-ordered streaming stores before we return */          \
    }

RELUKIT_RELU_AVX2(relu_f32, float, relukit_relu_vec_f32, relukit_relu_elem_f32)
RELUKIT_RELU_AVX2(relu_f64, double, relukit_relu_vec_f64, relukit_relu_elem_f64)
RELUKIT_RELU_AVX2(relu_grad_f32, float, relukit_relu_grad_vec_f32, relukit_relu_grad_elem_f32)
RELUKIT_RELU_AVX2(relu_grad_f64, double, relukit_relu_grad_vec_f64, relukit_relu_grad_elem_f64)

#define RELUKIT_PICK_AVX2(VNAME, FT, x, y, n, threads, fn)                                       \
    do {                                                                                         \
        if (relukit__get_simd() == RELUKIT_SIMD_AVX2)                                            \
            fn = relukit__ew_stream((x), (y), (n), sizeof(FT), (threads)) ? VNAME##_avx2_stream  \
                                                                          : VNAME##_avx2;        \
    } while (0)
#else
#define RELUKIT_PICK_AVX2(VNAME, FT, x, y, n, threads, fn) ((void)0)
#endif

/* ---- arrays ------------------------------------------------------------------------------
 *
 * RELUKIT_RELU_ARRAY(NAME, VNAME, FT, ELEM) defines
 *   int NAME(const FT *x, size_t x_len, FT *y, size_t y_len)
 * computing y[i] = ELEM(x[i]) for i < x_len (contract in relukit.h); VNAME names the avx2
 * loops for the same operation. */
#define RELUKIT_RELU_ARRAY(NAME, VNAME, FT, ELEM)                                                \
    static void VNAME##_inplace_portable(const void *xv, void *yv, size_t n, const void *p)      \
    {                                                                                            \
        FT *y = yv;                                                                              \
        (void)xv; /* == yv */                                                                    \
        (void)p;                                                                                 \
        for (size_t i = 0; i < n; i++)                                                           \
            y[i] = ELEM(y[i]);                                                                   \
    }                                                                                            \
    static void VNAME##_portable(const void *xv, void *yv, size_t n, const void *p)              \
    {                                                                                            \
        const FT *restrict x = xv;                                                               \
        FT *restrict y = yv;                                                                     \
        (void)p;                                                                                 \
        for (size_t i = 0; i < n; i++)                                                           \
            y[i] = ELEM(x[i]);                                                                   \
    }                                                                                            \
    int NAME(const FT *x, size_t x_len, FT *y, size_t y_len)                                     \
    {                                                                                            \
        RELUKIT_EW_CHECK(x, x_len, y, y_len, FT);                                                \
        relukit_range_fn fn = x == y ? VNAME##_inplace_portable : VNAME##_portable;              \
        const size_t threads = relukit__ew_threads(x_len, sizeof(FT));                           \
        RELUKIT_PICK_AVX2(VNAME, FT, x, y, x_len, threads, fn);                                  \
        relukit__ew_run(fn, NULL, x, y, x_len, sizeof(FT), threads);                             \
        return RELUKIT_OK;                                                                       \
    }

RELUKIT_RELU_ARRAY(relukit_relu_array_f32, relu_f32, float, relukit_relu_elem_f32)
RELUKIT_RELU_ARRAY(relukit_relu_array_f64, relu_f64, double, relukit_relu_elem_f64)
RELUKIT_RELU_ARRAY(relukit_relu_grad_array_f32, relu_grad_f32, float, relukit_relu_grad_elem_f32)
RELUKIT_RELU_ARRAY(relukit_relu_grad_array_f64, relu_grad_f64, double,
                   relukit_relu_grad_elem_f64)
