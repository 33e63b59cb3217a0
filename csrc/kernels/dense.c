/* dense.c: dense layer forward, y = relu(x @ w + b), and the linear layer's y = x @ w + b
 * (contract in relukit.h).
 *
 * Every output element is computed the same way on every path and for every thread count:
 * acc = b[j]; for k = 0, 1, ..., in-1 (increasing): acc = acc + x[r,k] * w[k,j] (a rounded
 * multiply, then a rounded add; never a fused multiply-add); y[r,j] = relu(acc) with the
 * array kernels' element rule. So all paths give identical bits. Build without -ffast-math;
 * the AVX2 code is compiled with target("avx2") only (not "fma"), so the compiler cannot
 * contract x*w + acc; the portable code relies on ISO C's default (-std=c11 implies
 * -ffp-contract=off in GCC).
 *
 * Paths, chosen per call:
 *   - portable: i-k-j order over a block of rows and columns: y[r, j0:j1] = b, then
 *     y[r, j0:j1] += x[r,k] * w[k, j0:j1] for increasing k (the inner loop auto-vectorizes),
 *     then relu.
 *   - AVX2 (x86-64, chosen at run time like the array kernels, RELUKIT_FORCE_PORTABLE
 *     honoured): register-blocked; the accumulators of a block of outputs stay in registers
 *     over the whole k loop, one broadcast of x[r,k] and one load of w per vector per k:
 *     4 rows x 16 columns (f32; 4 x 8 for f64) while 4 rows remain, then 1 row x 64 columns
 *     (8 vectors), single vectors, and a scalar tail.
 *   - threads: calls of at least relukit__dense_split_macs() multiply-adds (derived from the
 *     L2, runtime/machine.c) are cut into parts over output columns (at 64-byte boundaries of
 *     a row), one per thread, when each part gets at least 64 columns; else over rows. Column
 *     parts keep each thread on the same slice of w call after call, so a w larger than one
 *     core's L2 stays split over the cores' L2s.
 * The linear layer (no relu) is simple loops in the same order, compiled twice (portable and
 * target("avx2")), at the end of this file. */
#include "elementwise.h"

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

/* The one-row AVX2 kernel sums this many bytes of outputs at a time in a stack buffer. */
#define RELUKIT_DENSE_CHUNK 1024

/* One block: rows [r0, r1), columns [j0, j1) of y; every row of x and w's columns j0..j1. */
typedef void (*dense_block_fn)(const void *x, const void *w, const void *b, void *y, size_t in,
                               size_t out, size_t r0, size_t r1, size_t j0, size_t j1);

/* RELUKIT_DENSE_PORTABLE(SFX, FT) defines dense_block_SFX_portable. */
#define RELUKIT_DENSE_PORTABLE(SFX, FT)                                                          \
    static void dense_block_##SFX##_portable(const void *xv, const void *wv, const void *bv, void *yv,      \
                                  size_t in, size_t out, size_t r0, size_t r1, size_t j0,        \
                                  size_t j1)                                                     \
    {                                                                                            \
        const FT *restrict x = xv;                                                               \
        const FT *restrict w = wv;                                                               \
        const FT *restrict b = bv;                                                               \
        FT *restrict y = yv;                                                                     \
        for (size_t r = r0; r < r1; r++) {                                                       \
            FT *restrict yr = y + r * out;                                                       \
            for (size_t j = j0; j < j1; j++)                                                     \
                yr[j] = b[j];                                                                    \
            for (size_t k = 0; k < in; k++) {                                                    \
                const FT xk = x[r * in + k];                                                     \
                const FT *restrict wk = w + k * out;                                             \
                for (size_t j = j0; j < j1; j++)                                                 \
                    yr[j] += xk * wk[j];                                                         \
            }                                                                                    \
            relukit_relu_inplace_##SFX(yr + j0, j1 - j0);                                        \
        }                                                                                        \
    }

RELUKIT_DENSE_PORTABLE(f32, float)
RELUKIT_DENSE_PORTABLE(f64, double)

#if RELUKIT_X86_DISPATCH
/* RELUKIT_DENSE_AVX2(SFX, FT, VT, L, SET1, LOAD, STORE, ADD, MUL, CASTI, CASTF, RELU_V)
 * defines dense_block_SFX_avx2 for element type FT in vectors VT of L lanes. */
#define RELUKIT_DENSE_AVX2(SFX, FT, VT, L, SET1, LOAD, STORE, ADD, MUL, CASTI, CASTF, RELU_V)   \
    RELUKIT_AVX2_FN static inline void put_##SFX(FT *y, VT acc)                                  \
    {                                                                                            \
        STORE(y, CASTF(RELU_V(CASTI(acc))));                                                     \
    }                                                                                            \
    RELUKIT_AVX2_FN static void dense_block_##SFX##_avx2(const void *xv, const void *wv,          \
                                                       const void *bv, void *yv, size_t in,      \
                                                       size_t out, size_t r0, size_t r1,         \
                                                       size_t j0, size_t j1)                     \
    {                                                                                            \
        const FT *x = xv, *w = wv, *b = bv;                                                      \
        FT *y = yv;                                                                              \
        const size_t lead = dense_lead_##SFX(w, out, j0, j1);                                    \
        size_t r = r0;                                                                           \
        /* 4 rows x 2 vectors: each w load serves 4 rows */                                      \
        for (; r + 4 <= r1; r += 4) {                                                            \
            const FT *x0 = x + r * in, *x1 = x0 + in, *x2 = x1 + in, *x3 = x2 + in;              \
            size_t j = j0;                                                                       \
            if (lead) {                                                                          \
                /* one unaligned vector at j0, then aligned blocks from j0 + lead: the columns  \
                 * in both are computed twice, the same way, and stored twice, the same bits */ \
                VT a0 = LOAD(b + j), c0 = a0, d0 = a0, e0 = a0;                                  \
                const FT *wk = w + j;                                                            \
                for (size_t k = 0; k < in; k++, wk += out) {                                     \
                    const VT w0 = LOAD(wk);                                                      \
                    a0 = ADD(a0, MUL(SET1(x0[k]), w0)), c0 = ADD(c0, MUL(SET1(x1[k]), w0));      \
                    d0 = ADD(d0, MUL(SET1(x2[k]), w0)), e0 = ADD(e0, MUL(SET1(x3[k]), w0));      \
                }                                                                                \
                FT *yr = y + r * out + j;                                                        \
                put_##SFX(yr, a0), put_##SFX(yr + out, c0);                                      \
                put_##SFX(yr + 2 * out, d0), put_##SFX(yr + 3 * out, e0);                        \
                j += lead;                                                                       \
            }                                                                                    \
            for (; j + 2 * (L) <= j1; j += 2 * (L)) {                                            \
                VT a0 = LOAD(b + j), a1 = LOAD(b + j + (L));                                     \
                VT c0 = a0, c1 = a1, d0 = a0, d1 = a1, e0 = a0, e1 = a1;                         \
                const FT *wk = w + j;                                                            \
                for (size_t k = 0; k < in; k++, wk += out) {                                     \
                    const VT w0 = LOAD(wk), w1 = LOAD(wk + (L));                                 \
                    VT s = SET1(x0[k]);                                                          \
                    a0 = ADD(a0, MUL(s, w0)), a1 = ADD(a1, MUL(s, w1));                          \
                    s = SET1(x1[k]);                                                             \
                    c0 = ADD(c0, MUL(s, w0)), c1 = ADD(c1, MUL(s, w1));                          \
                    s = SET1(x2[k]);                                                             \
                    d0 = ADD(d0, MUL(s, w0)), d1 = ADD(d1, MUL(s, w1));                          \
                    s = SET1(x3[k]);                                                             \
                    e0 = ADD(e0, MUL(s, w0)), e1 = ADD(e1, MUL(s, w1));                          \
                }                                                                                \
                FT *yr = y + r * out + j;                                                        \
                put_##SFX(yr, a0), put_##SFX(yr + (L), a1);                                      \
                put_##SFX(yr + out, c0), put_##SFX(yr + out + (L), c1);                          \
                put_##SFX(yr + 2 * out, d0), put_##SFX(yr + 2 * out + (L), d1);                  \
                put_##SFX(yr + 3 * out, e0), put_##SFX(yr + 3 * out + (L), e1);                  \
            }                                                                                    \
            if (j < j1) /* the last columns of these 4 rows, one row at a time (below) */       \
                for (size_t q = r; q < r + 4; q++)                                               \
                    dense_row_##SFX##_avx2(x + q * in, w, b, y + q * out, in, out, j, j1);         \
        }                                                                                        \
        for (; r < r1; r++)                                                                      \
            dense_row_##SFX##_avx2(x + r * in, w, b, y + r * out, in, out, j0, j1);                \
    }

/* RELUKIT_DENSE_ROW_AVX2: dense_row_SFX_avx2(xr, w, b, yr, in, out, j0, j1), one row's
 * columns [j0, j1). w is read row after row, 8 rows of it at a time (8 sequential streams
 * the prefetchers follow): yr[j0:j1] = b; for each group of 8 k's, every vector of yr is
 * loaded once, gets its 8 products added in increasing k, and is stored once; then relu.
 * (Holding the accumulators in registers over the whole k loop instead would read w in
 * narrow column strips, which measured slower here.) Tail columns are scalar, same order. */
#define RELUKIT_DENSE_ROW_AVX2(SFX, FT, VT, L, SET1, LOAD, STORE, ADD, MUL, CASTI, CASTF, RELU_V) \
    /* Columns to do before w + j0 reaches a 32-byte boundary, when every row of w starts at   \
     * the same offset within 32 bytes and there is room for a vector: NumPy's large arrays    \
     * are only 16-byte aligned, and a 32-byte load that splits a cache line costs two         \
     * (docs/benchmark.md, "C kernels"). */                                                    \
    static size_t dense_lead_##SFX(const FT *w, size_t out, size_t j0, size_t j1)               \
    {                                                                                            \
        const uintptr_t wa = (uintptr_t)(const void *)(w + j0);                                  \
        if ((out * sizeof(FT)) % 32 != 0 || wa % sizeof(FT) != 0 || wa % 32 == 0)                \
            return 0;                                                                            \
        const size_t lead = (32 - (size_t)(wa % 32)) / sizeof(FT);                               \
        return j1 - j0 >= lead + (L) ? lead : 0;                                                 \
    }                                                                                            \
    RELUKIT_AVX2_FN static void dense_row_##SFX##_avx2(const FT *xr, const FT *w, const FT *b,     \
                                                     FT *yr, size_t in, size_t out, size_t j0,   \
                                                     size_t j1)                                  \
    {                                                                                            \
        /* The lead columns [j0, j0 + lead) ride in the low lanes of one unaligned vector kept  \
         * in a register over all k; the rest starts 32-byte aligned in w and is summed in an   \
         * aligned stack buffer, a chunk of columns at a time (y itself may be misaligned; it  \
         * is written once, at the end). */                                                     \
        const size_t lead = dense_lead_##SFX(w, out, j0, j1);                                    \
        VT head = lead ? LOAD(b + j0) : SET1((FT)0);                                             \
        _Alignas(32) FT acc[RELUKIT_DENSE_CHUNK / sizeof(FT)];                                   \
        const size_t cap = RELUKIT_DENSE_CHUNK / sizeof(FT);                                     \
        for (size_t jc = j0 + lead, n = 0; jc < j1; jc += n) { /* lead < j1 - j0: see above */   \
            n = j1 - jc < cap ? j1 - jc : cap;                                                   \
            const int with_head = lead && jc == j0 + lead; /* the head goes with chunk 0 */     \
            const size_t nv = n / (L) * (L);                                                     \
            for (size_t i = 0; i < n; i++)                                                       \
                acc[i] = b[jc + i];                                                              \
            size_t k = 0;                                                                        \
            for (; k + 8 <= in; k += 8) {                                                        \
                const FT *w0 = w + k * out;                                                      \
                const VT s0 = SET1(xr[k]), s1 = SET1(xr[k + 1]), s2 = SET1(xr[k + 2]),           \
                         s3 = SET1(xr[k + 3]), s4 = SET1(xr[k + 4]), s5 = SET1(xr[k + 5]),       \
                         s6 = SET1(xr[k + 6]), s7 = SET1(xr[k + 7]);                             \
                if (with_head) {                                                                 \
                    const FT *wj = w0 + j0;                                                      \
                    head = ADD(head, MUL(s0, LOAD(wj)));                                         \
                    head = ADD(head, MUL(s1, LOAD(wj + out)));                                   \
                    head = ADD(head, MUL(s2, LOAD(wj + 2 * out)));                               \
                    head = ADD(head, MUL(s3, LOAD(wj + 3 * out)));                               \
                    head = ADD(head, MUL(s4, LOAD(wj + 4 * out)));                               \
                    head = ADD(head, MUL(s5, LOAD(wj + 5 * out)));                               \
                    head = ADD(head, MUL(s6, LOAD(wj + 6 * out)));                               \
                    head = ADD(head, MUL(s7, LOAD(wj + 7 * out)));                               \
                }                                                                                \
                for (size_t i = 0; i < nv; i += (L)) {                                           \
                    const FT *wj = w0 + jc + i;                                                  \
                    VT a = LOAD(acc + i);                                                        \
                    a = ADD(a, MUL(s0, LOAD(wj)));                                               \
                    a = ADD(a, MUL(s1, LOAD(wj + out)));                                         \
                    a = ADD(a, MUL(s2, LOAD(wj + 2 * out)));                                     \
                    a = ADD(a, MUL(s3, LOAD(wj + 3 * out)));                                     \
                    a = ADD(a, MUL(s4, LOAD(wj + 4 * out)));                                     \
                    a = ADD(a, MUL(s5, LOAD(wj + 5 * out)));                                     \
                    a = ADD(a, MUL(s6, LOAD(wj + 6 * out)));                                     \
                    a = ADD(a, MUL(s7, LOAD(wj + 7 * out)));                                     \
                    STORE(acc + i, a);                                                           \
                }                                                                                \
                for (size_t i = nv; i < n; i++) {                                                \
                    FT a = acc[i];                                                               \
                    for (size_t q = k; q < k + 8; q++)                                           \
                        a += xr[q] * w[q * out + jc + i];                                        \
                    acc[i] = a;                                                                  \
                }                                                                                \
            }                                                                                    \
            for (; k < in; k++) {                                                                \
                const FT *wk = w + k * out + jc;                                                 \
                const VT s = SET1(xr[k]);                                                        \
                if (with_head)                                                                   \
                    head = ADD(head, MUL(s, LOAD(wk - jc + j0)));                                \
                for (size_t i = 0; i < nv; i += (L))                                             \
                    STORE(acc + i, ADD(LOAD(acc + i), MUL(s, LOAD(wk + i))));                    \
                for (size_t i = nv; i < n; i++)                                                  \
                    acc[i] += xr[k] * wk[i];                                                     \
            }                                                                                    \
            for (size_t i = 0; i < nv; i += (L))                                                 \
                STORE(yr + jc + i, CASTF(RELU_V(CASTI(LOAD(acc + i)))));                         \
            for (size_t i = nv; i < n; i++)                                                      \
                yr[jc + i] = relukit_relu_elem_##SFX(acc[i]);                                    \
            if (with_head) {                                                                     \
                _Alignas(32) FT lanes[L];                                                        \
                STORE(lanes, CASTF(RELU_V(CASTI(head))));                                        \
                for (size_t i = 0; i < lead; i++)                                                \
                    yr[j0 + i] = lanes[i];                                                       \
            }                                                                                    \
        }                                                                                        \
    }

RELUKIT_DENSE_ROW_AVX2(f32, float, __m256, 8, _mm256_set1_ps, _mm256_loadu_ps, _mm256_storeu_ps,
                       _mm256_add_ps, _mm256_mul_ps, _mm256_castps_si256, _mm256_castsi256_ps,
                       relukit_relu_vec_f32)
RELUKIT_DENSE_ROW_AVX2(f64, double, __m256d, 4, _mm256_set1_pd, _mm256_loadu_pd,
                       _mm256_storeu_pd, _mm256_add_pd, _mm256_mul_pd, _mm256_castpd_si256,
                       _mm256_castsi256_pd, relukit_relu_vec_f64)
RELUKIT_DENSE_AVX2(f32, float, __m256, 8, _mm256_set1_ps, _mm256_loadu_ps, _mm256_storeu_ps,
                   _mm256_add_ps, _mm256_mul_ps, _mm256_castps_si256, _mm256_castsi256_ps,
                   relukit_relu_vec_f32)
RELUKIT_DENSE_AVX2(f64, double, __m256d, 4, _mm256_set1_pd, _mm256_loadu_pd, _mm256_storeu_pd,
                   _mm256_add_pd, _mm256_mul_pd, _mm256_castpd_si256, _mm256_castsi256_pd,
                   relukit_relu_vec_f64)
#endif /* RELUKIT_X86_DISPATCH */

/* One call cut into parts: over columns (at multiples of `unit` columns, 64 bytes) or rows. */
struct dense_job {
    dense_block_fn fn;
    const void *x, *w, *b;
    void *y;
    size_t batch, in, out, unit;
    int by_cols;
};

static void dense_part(void *ctx, size_t p, size_t nparts)
{
    const struct dense_job *j = ctx;
    if (j->by_cols) {
        /* column boundaries at p * out / nparts rounded down to a unit; the last is out */
        const size_t units = (j->out + j->unit - 1) / j->unit;
        const size_t c0 = units * p / nparts * j->unit;
        size_t c1 = p + 1 == nparts ? j->out : units * (p + 1) / nparts * j->unit;
        if (c1 > j->out)
            c1 = j->out;
        if (c1 > c0)
            j->fn(j->x, j->w, j->b, j->y, j->in, j->out, 0, j->batch, c0, c1);
    } else {
        const size_t r0 = j->batch * p / nparts, r1 = j->batch * (p + 1) / nparts;
        if (r1 > r0)
            j->fn(j->x, j->w, j->b, j->y, j->in, j->out, r0, r1, 0, j->out);
    }
}

static void dense_run(dense_block_fn fn, const void *x, const void *w, const void *b, void *y,
                      size_t batch, size_t in, size_t out, size_t esize)
{
    const size_t threads = relukit_get_num_threads();
    size_t macs;
    if (threads > 1 && relukit_mul_size(batch * in, out, &macs) &&
        macs >= relukit__dense_split_macs()) {
        const size_t unit = 64 / esize;
        struct dense_job j = {fn, x, w, b, y, batch, in, out, unit, 0};
        size_t nparts = threads;
        if (out / threads >= 64) {
            j.by_cols = 1;
        } else if (batch >= 2) {
            if (nparts > batch)
                nparts = batch;
        } else {
            nparts = 1;
        }
        if (nparts > 1) {
            relukit__parallel_for(dense_part, &j, nparts, nparts);
            return;
        }
    }
    fn(x, w, b, y, in, out, 0, batch, 0, out);
}

/* RELUKIT_DENSE_KERNEL(SFX, FT) defines relukit_dense_forward_SFX for element type FT. */
#if RELUKIT_X86_DISPATCH
#define RELUKIT_DENSE_PICK(SFX)                                                                  \
    (relukit__get_simd() == RELUKIT_SIMD_AVX2 ? dense_block_##SFX##_avx2 : dense_block_##SFX##_portable)
#else
#define RELUKIT_DENSE_PICK(SFX) dense_block_##SFX##_portable
#endif
#define RELUKIT_DENSE_KERNEL(SFX, FT)                                                            \
    int relukit_dense_forward_##SFX(const FT *x, size_t x_len, const FT *w, size_t w_len,        \
                                    const FT *b, size_t b_len, FT *y, size_t y_len,              \
                                    size_t batch, size_t in, size_t out)                         \
    {                                                                                            \
        if (!dense_shape_ok(x, x_len, w, w_len, b, b_len, y, y_len, batch, in, out))             \
            return RELUKIT_ESIZE;                                                                \
        const size_t s = sizeof(FT);                                                             \
        if (relukit_overlaps(y, y_len * s, x, x_len * s) ||                                      \
            relukit_overlaps(y, y_len * s, w, w_len * s) ||                                      \
            relukit_overlaps(y, y_len * s, b, b_len * s))                                        \
            return RELUKIT_EOVERLAP;                                                             \
        /* nothing to write; also keeps pointer arithmetic off possibly-NULL empty buffers */    \
        if (batch == 0 || out == 0)                                                              \
            return RELUKIT_OK;                                                                   \
        /* in == 0: y = relu(b); the portable block never offsets the (maybe NULL) x or w */   \
        dense_run(in == 0 ? dense_block_##SFX##_portable : RELUKIT_DENSE_PICK(SFX), x, w, b, y, batch, in,  \
                  out, s);                                                                       \
        return RELUKIT_OK;                                                                       \
    }

RELUKIT_DENSE_KERNEL(f32, float)
RELUKIT_DENSE_KERNEL(f64, double)

/* ---- linear layer: y = x @ w + b -------------------------------------------------------------
 *
 * y[r,:] = b; y[r,:] += x[r,k] * w[k,:] for k increasing: the innermost loop runs over
 * contiguous columns, so the compiler vectorizes it without reassociating anything (ISO C, no
 * -ffast-math, no fma()); the same loops compiled with target("avx2") (not "fma": no
 * contraction is possible) are picked by relukit__get_simd(). Both give identical bits. */

/* len == rows * cols (checked for overflow) and the buffer is not NULL unless empty. */
static int linear_buf_ok(const void *p, size_t len, size_t rows, size_t cols)
{
    size_t need;
    if (!relukit_mul_size(rows, cols, &need) || len != need)
        return 0;
    return len == 0 || p != NULL;
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

RELUKIT_LINEAR_ROWS(linear_rows_f32_portable, , float)
RELUKIT_LINEAR_ROWS(linear_rows_f64_portable, , double)
#if RELUKIT_X86_DISPATCH
RELUKIT_LINEAR_ROWS(linear_rows_f32_avx2, RELUKIT_AVX2_FN, float)
RELUKIT_LINEAR_ROWS(linear_rows_f64_avx2, RELUKIT_AVX2_FN, double)
#define RELUKIT_LINEAR_CALL(SFX, ...)                                                            \
    (relukit__get_simd() == RELUKIT_SIMD_AVX2 ? linear_rows_##SFX##_avx2(__VA_ARGS__)            \
                                              : linear_rows_##SFX##_portable(__VA_ARGS__))
#else
#define RELUKIT_LINEAR_CALL(SFX, ...) linear_rows_##SFX##_portable(__VA_ARGS__)
#endif

#define RELUKIT_LINEAR_KERNEL(SFX, FT)                                                           \
    int relukit_linear_forward_##SFX(const FT *x, size_t x_len, const FT *w, size_t w_len,       \
                                     const FT *b, size_t b_len, FT *y, size_t y_len,             \
                                     size_t batch, size_t in, size_t out)                        \
    {                                                                                            \
        if (!linear_buf_ok(x, x_len, batch, in) || !linear_buf_ok(w, w_len, in, out) ||          \
            !linear_buf_ok(b, b_len, out, 1) || !linear_buf_ok(y, y_len, batch, out))            \
            return RELUKIT_ESIZE;                                                                \
        const size_t s = sizeof(FT);                                                             \
        if (relukit_overlaps(y, y_len * s, x, x_len * s) ||                                      \
            relukit_overlaps(y, y_len * s, w, w_len * s) ||                                      \
            relukit_overlaps(y, y_len * s, b, b_len * s))                                        \
            return RELUKIT_EOVERLAP;                                                             \
        /* nothing to write; also keeps pointer arithmetic off possibly-NULL empty buffers */    \
        if (batch == 0 || out == 0)                                                              \
            return RELUKIT_OK;                                                                   \
        RELUKIT_LINEAR_CALL(SFX, x, w, b, y, batch, in, out);                                    \
        return RELUKIT_OK;                                                                       \
    }

RELUKIT_LINEAR_KERNEL(f32, float)
RELUKIT_LINEAR_KERNEL(f64, double)
