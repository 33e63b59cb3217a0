/* test_dense_backward.c: standalone tests of relukit_linear_forward_* (csrc/kernels/dense.c)
 * and relukit_dense_backward_* (csrc/kernels/dense_backward.c).
 *
 * Build: make ctest (every file of csrc/sources.txt, csrc/tests/harness.c and this one).
 * Prints one line per failure, then "N passed, M failed"; exits nonzero on any failure.
 *
 * Every result is checked three ways, on the portable and (where the CPU has it) the AVX2
 * path: against a double-precision reference under the dot-product error bound
 * (K + 2) * eps * sum |a_i b_i|, bit for bit against a plain-C recomputation of the numeric
 * definition of relukit.h (fmaf/fma, in increasing order), and bit for bit between the two
 * paths. Outputs overlapping
 * an input or each other must return RELUKIT_EOVERLAP and write nothing. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relukit.h"
#include "runtime.h"
#include "elementwise.h"

#include "harness.h"


/* The numeric definition of relukit.h recomputed with fmaf/fma is exact wherever the type is
 * evaluated in itself. */
#if FLT_EVAL_METHOD == 0
#define EXACT_ORDER_CHECK 1
#else
#define EXACT_ORDER_CHECK 0
#endif
#define FMA_f32 fmaf
#define FMA_f64 fma


static const size_t shapes[][3] = {
    {1, 1, 1},  {1, 3, 2},   {2, 1, 5},  {4, 5, 7},   {3, 17, 33}, {2, 64, 9},  {1, 8, 16},
    {5, 0, 3},  {0, 4, 3},   {3, 4, 0},  {0, 0, 0},   {7, 100, 31}, {2, 257, 1}, {16, 33, 17},
    {9, 7, 8},  {3, 2, 15},  {2, 3, 16}, {33, 10, 64}, {32, 64, 128}, {1, 1, 23}, {64, 128, 10},
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

/* Bitwise equality of two buffers (so NaN == NaN and -0.0 != +0.0). */
static int same_bytes(const void *a, const void *b, size_t n)
{
    return n == 0 || memcmp(a, b, n) == 0;
}

/* BWD_TESTS(SFX, FT, EPS) defines test_random_SFX(path) and test_edges_SFX(). */
#define BWD_TESTS(SFX, FT, EPS)                                                                  \
    /* dx[r,k] by the definition: fma over j increasing, from +0.0 */                            \
    static FT dot_fma_##SFX(const FT *a, const FT *b, size_t n)                                  \
    {                                                                                            \
        FT acc = 0;                                                                              \
        for (size_t j = 0; j < n; j++)                                                           \
            acc = FMA_##SFX(a[j], b[j], acc);                                                    \
        return acc;                                                                              \
    }                                                                                            \
    /* Run every kernel on one random problem; the outputs go to *_out (caller frees). */        \
    static void test_shape_##SFX(size_t batch, size_t in, size_t out, const char *path,          \
                                 FT **keep)                                                      \
    {                                                                                            \
        const size_t nx = batch * in, nw = in * out, ny = batch * out;                           \
        /* one extra element each: a guard that must stay untouched */                           \
        FT *x = malloc((nx + 1) * sizeof *x), *w = malloc((nw + 1) * sizeof *w);                 \
        FT *b = malloc((out + 1) * sizeof *b), *dy = malloc((ny + 1) * sizeof *dy);              \
        FT *y = malloc((ny + 1) * sizeof *y), *yd = malloc((ny + 1) * sizeof *yd);               \
        FT *dx = malloc((nx + 1) * sizeof *dx), *dw = malloc((nw + 1) * sizeof *dw);             \
        FT *db = malloc((out + 1) * sizeof *db);                                                 \
        if (!x || !w || !b || !dy || !y || !yd || !dx || !dw || !db) {                           \
            CHECK(0, "malloc");                                                                  \
            goto done;                                                                           \
        }                                                                                        \
        for (size_t i = 0; i < nx; i++)                                                          \
            x[i] = (FT)rng_sym();                                                                \
        for (size_t i = 0; i < nw; i++)                                                          \
            w[i] = (FT)rng_sym();                                                                \
        for (size_t i = 0; i < out; i++)                                                         \
            b[i] = (FT)(0.5 * rng_sym());                                                        \
        for (size_t i = 0; i < ny; i++)                                                          \
            dy[i] = (FT)rng_sym();                                                               \
        const FT guard = (FT)12345;                                                              \
        y[ny] = yd[ny] = dx[nx] = dw[nw] = db[out] = guard;                                      \
        for (size_t i = 0; i < nx; i++) /* garbage: the kernel must overwrite, not add */        \
            dx[i] = (FT)7;                                                                       \
        for (size_t i = 0; i < nw; i++)                                                          \
            dw[i] = (FT)7;                                                                       \
        for (size_t i = 0; i < out; i++)                                                         \
            db[i] = (FT)7;                                                                       \
        int rc = relukit_linear_forward_##SFX(x, nx, w, nw, b, out, y, ny, batch, in, out);      \
        CHECK(rc == RELUKIT_OK, "[%s] linear_" #SFX " (%zu,%zu,%zu) rc=%d", path, batch, in,     \
              out, rc);                                                                          \
        rc = relukit_dense_forward_##SFX(x, nx, w, nw, b, out, yd, ny, batch, in, out);          \
        CHECK(rc == RELUKIT_OK, "dense_forward rc=%d", rc);                                      \
        rc = relukit_dense_backward_##SFX(x, nx, w, nw, dy, ny, dx, nx, dw, nw, db, out, batch,  \
                                          in, out);                                              \
        CHECK(rc == RELUKIT_OK, "[%s] backward_" #SFX " (%zu,%zu,%zu) rc=%d", path, batch, in,   \
              out, rc);                                                                          \
        CHECK(y[ny] == guard && yd[ny] == guard && dx[nx] == guard && dw[nw] == guard &&         \
                  db[out] == guard,                                                              \
              "[%s] " #SFX " (%zu,%zu,%zu): wrote past a buffer", path, batch, in, out);         \
        size_t bad_tol = 0, bad_exact = 0;                                                       \
        /* forward: reference, the definition recomputed, and dense == relu(linear) */            \
        for (size_t r = 0; r < batch; r++)                                                       \
            for (size_t j = 0; j < out; j++) {                                                   \
                double ref = (double)b[j], mag = fabs((double)b[j]);                             \
                FT acc = b[j];                                                                   \
                for (size_t k = 0; k < in; k++) {                                                \
                    double p = (double)x[r * in + k] * (double)w[k * out + j];                   \
                    ref += p;                                                                    \
                    mag += fabs(p);                                                              \
                    acc = FMA_##SFX(x[r * in + k], w[k * out + j], acc);                         \
                }                                                                                \
                const FT got = y[r * out + j];                                                   \
                if (!(fabs((double)got - ref) <= (double)(in + 2) * (EPS) * mag))                \
                    bad_tol++;                                                                   \
                const FT relu = got > (FT)0 || got != got ? got : (FT)0;                         \
                if (EXACT_ORDER_CHECK &&                                                         \
                    (!same_bytes(&got, &acc, sizeof got) ||                                      \
                     !same_bytes(&relu, &yd[r * out + j], sizeof relu)))                         \
                    bad_exact++;                                                                 \
            }                                                                                    \
        CHECK(bad_tol == 0 && bad_exact == 0,                                                    \
              "[%s] linear_" #SFX " (%zu,%zu,%zu): %zu outside tolerance, %zu differ from the "  \
              "documented order or from relu(dense)",                                            \
              path, batch, in, out, bad_tol, bad_exact);                                         \
        /* dx = dy @ w^T */                                                                      \
        bad_tol = bad_exact = 0;                                                                 \
        for (size_t r = 0; r < batch; r++)                                                       \
            for (size_t k = 0; k < in; k++) {                                                    \
                double ref = 0.0, mag = 0.0;                                                     \
                for (size_t j = 0; j < out; j++) {                                               \
                    double p = (double)dy[r * out + j] * (double)w[k * out + j];                 \
                    ref += p;                                                                    \
                    mag += fabs(p);                                                              \
                }                                                                                \
                const FT got = dx[r * in + k];                                                   \
                if (!(fabs((double)got - ref) <= (double)(out + 2) * (EPS) * mag))               \
                    bad_tol++;                                                                   \
                const FT want = dot_fma_##SFX(dy + r * out, w + k * out, out);                      \
                if (EXACT_ORDER_CHECK && !same_bytes(&got, &want, sizeof got))                   \
                    bad_exact++;                                                                 \
            }                                                                                    \
        CHECK(bad_tol == 0 && bad_exact == 0,                                                    \
              "[%s] dx_" #SFX " (%zu,%zu,%zu): %zu outside tolerance, %zu differ from the "      \
              "documented order",                                                                \
              path, batch, in, out, bad_tol, bad_exact);                                         \
        /* dw = x^T @ dy and db = column sums of dy */                                           \
        bad_tol = bad_exact = 0;                                                                 \
        for (size_t j = 0; j < out; j++) {                                                       \
            for (size_t k = 0; k < in; k++) {                                                    \
                double ref = 0.0, mag = 0.0;                                                     \
                FT acc = 0;                                                                      \
                for (size_t r = 0; r < batch; r++) {                                             \
                    double p = (double)x[r * in + k] * (double)dy[r * out + j];                  \
                    ref += p;                                                                    \
                    mag += fabs(p);                                                              \
                    acc = FMA_##SFX(x[r * in + k], dy[r * out + j], acc);                        \
                }                                                                                \
                const FT got = dw[k * out + j];                                                  \
                if (!(fabs((double)got - ref) <= (double)(batch + 2) * (EPS) * mag))             \
                    bad_tol++;                                                                   \
                if (EXACT_ORDER_CHECK && !same_bytes(&got, &acc, sizeof got))                    \
                    bad_exact++;                                                                 \
            }                                                                                    \
            double ref = 0.0, mag = 0.0;                                                         \
            FT acc = 0;                                                                          \
            for (size_t r = 0; r < batch; r++) {                                                 \
                ref += (double)dy[r * out + j];                                                  \
                mag += fabs((double)dy[r * out + j]);                                            \
                acc = acc + dy[r * out + j];                                                     \
            }                                                                                    \
            if (!(fabs((double)db[j] - ref) <= (double)(batch + 2) * (EPS) * mag))               \
                bad_tol++;                                                                       \
            if (EXACT_ORDER_CHECK && !same_bytes(&db[j], &acc, sizeof acc))                      \
                bad_exact++;                                                                     \
        }                                                                                        \
        CHECK(bad_tol == 0 && bad_exact == 0,                                                    \
              "[%s] dw/db_" #SFX " (%zu,%zu,%zu): %zu outside tolerance, %zu differ from the "   \
              "documented order",                                                                \
              path, batch, in, out, bad_tol, bad_exact);                                         \
        /* the same gradients with the optional outputs skipped one at a time */                 \
        for (int skip = 0; skip < 3; skip++) {                                                   \
            FT *dx2 = malloc((nx + 1) * sizeof *dx2), *dw2 = malloc((nw + 1) * sizeof *dw2);     \
            FT *db2 = malloc((out + 1) * sizeof *db2);                                           \
            if (dx2 && dw2 && db2) {                                                             \
                rc = relukit_dense_backward_##SFX(x, nx, w, nw, dy, ny, skip == 0 ? NULL : dx2,  \
                                                  skip == 0 ? 0 : nx, skip == 1 ? NULL : dw2,    \
                                                  skip == 1 ? 0 : nw, skip == 2 ? NULL : db2,    \
                                                  skip == 2 ? 0 : out, batch, in, out);          \
                CHECK(rc == RELUKIT_OK &&                                                        \
                          (skip == 0 || same_bytes(dx2, dx, nx * sizeof *dx)) &&                 \
                          (skip == 1 || same_bytes(dw2, dw, nw * sizeof *dw)) &&                 \
                          (skip == 2 || same_bytes(db2, db, out * sizeof *db)),                  \
                      "[%s] backward_" #SFX " (%zu,%zu,%zu) skipping output %d: rc=%d or "      \
                      "different results",                                                       \
                      path, batch, in, out, skip, rc);                                           \
            } else {                                                                             \
                CHECK(0, "malloc");                                                              \
            }                                                                                    \
            free(dx2), free(dw2), free(db2);                                                     \
        }                                                                                        \
        /* keep y, dx, dw, db (concatenated) for the cross-path comparison */                    \
        if (keep != NULL) {                                                                      \
            *keep = malloc((ny + nx + nw + out + 1) * sizeof **keep);                            \
            if (*keep != NULL) {                                                                 \
                memcpy(*keep, y, ny * sizeof *y);                                                \
                memcpy(*keep + ny, dx, nx * sizeof *dx);                                         \
                memcpy(*keep + ny + nx, dw, nw * sizeof *dw);                                    \
                memcpy(*keep + ny + nx + nw, db, out * sizeof *db);                              \
            }                                                                                    \
        }                                                                                        \
    done:                                                                                        \
        free(x), free(w), free(b), free(dy), free(y), free(yd), free(dx), free(dw), free(db);    \
    }                                                                                            \
    /* Every shape on the portable path, then on AVX2 (if any): the same bits on both. */        \
    static void test_paths_##SFX(void)                                                           \
    {                                                                                            \
        for (size_t s = 0; s < N_SHAPES; s++) {                                                  \
            const size_t batch = shapes[s][0], in = shapes[s][1], out = shapes[s][2];            \
            const size_t total = batch * out + batch * in + in * out + out;                      \
            FT *portable = NULL, *avx2 = NULL;                                                   \
            const uint64_t seed = harness_rng_state();                                                     \
            (void)relukit__set_simd(RELUKIT_SIMD_PORTABLE);                                      \
            test_shape_##SFX(batch, in, out, "portable", &portable);                             \
            if (relukit__set_simd(RELUKIT_SIMD_AVX2) == RELUKIT_SIMD_AVX2) {                     \
                harness_seed(seed); /* the same random problem */                                  \
                test_shape_##SFX(batch, in, out, "avx2", &avx2);                                 \
                CHECK(portable != NULL && avx2 != NULL &&                                        \
                          same_bytes(portable, avx2, total * sizeof(FT)),                        \
                      #SFX " (%zu,%zu,%zu): the AVX2 path gives other bits than the portable",  \
                      batch, in, out);                                                           \
            }                                                                                    \
            free(portable), free(avx2);                                                          \
        }                                                                                        \
        (void)relukit__set_simd(-1);                                                             \
    }                                                                                            \
    static void test_edges_##SFX(void)                                                           \
    {                                                                                            \
        /* a worked example: x (2,3), w (3,2), dy (2,2), exact in binary */                      \
        const FT x[6] = {1, 2, -1, (FT)0.5, 0, 4};                                               \
        const FT w[6] = {(FT)0.5, -1, (FT)0.25, (FT)0.5, -1, 2};                                 \
        const FT b[2] = {(FT)0.5, 3};                                                            \
        const FT dy[4] = {1, -2, (FT)0.5, 3};                                                    \
        FT y[4], dx[6], dw[6], db[2];                                                            \
        int rc = relukit_linear_forward_##SFX(x, 6, w, 6, b, 2, y, 4, 2, 3, 2);                  \
        /* row 0: 0.5 + 0.5 + 0.5 + 1 = 2.5, 3 - 1 + 1 - 2 = 1; row 1: 0.5 + 0.25 + 0 - 4,     \
         * 3 - 0.5 + 0 + 8 */                                                                    \
        CHECK(rc == RELUKIT_OK && y[0] == (FT)2.5 && y[1] == 1 && y[2] == (FT)-3.25 &&           \
                  y[3] == (FT)10.5,                                                              \
              "linear_" #SFX " worked example: rc=%d y={%g,%g,%g,%g}", rc, (double)y[0],         \
              (double)y[1], (double)y[2], (double)y[3]);                                         \
        rc = relukit_dense_backward_##SFX(x, 6, w, 6, dy, 4, dx, 6, dw, 6, db, 2, 2, 3, 2);      \
        /* dx[r,k] = dy[r,0]*w[k,0] + dy[r,1]*w[k,1]; dw[k,j] = x[0,k]dy[0,j] + x[1,k]dy[1,j] */ \
        const FT want_dx[6] = {(FT)2.5, (FT)-0.75, -5, (FT)-2.75, (FT)1.625, (FT)5.5};          \
        const FT want_dw[6] = {(FT)1.25, (FT)-0.5, 2, -4, 1, 14};                                \
        const FT want_db[2] = {(FT)1.5, 1};                                                      \
        CHECK(rc == RELUKIT_OK && memcmp(dx, want_dx, sizeof dx) == 0 &&                         \
                  memcmp(dw, want_dw, sizeof dw) == 0 && memcmp(db, want_db, sizeof db) == 0,   \
              "backward_" #SFX " worked example: rc=%d dx={%g,%g,%g,%g,%g,%g} dw={%g,%g,%g,%g," \
              "%g,%g} db={%g,%g}",                                                               \
              rc, (double)dx[0], (double)dx[1], (double)dx[2], (double)dx[3], (double)dx[4],     \
              (double)dx[5], (double)dw[0], (double)dw[1], (double)dw[2], (double)dw[3],         \
              (double)dw[4], (double)dw[5], (double)db[0], (double)db[1]);                       \
        /* NaN and inf propagate like the arithmetic: a NaN in dy[0,1] reaches dx row 0, dw      \
         * column 1 and db[1] only */                                                            \
        {                                                                                        \
            FT dyn[4] = {1, (FT)NAN, (FT)0.5, 3};                                                \
            rc = relukit_dense_backward_##SFX(x, 6, w, 6, dyn, 4, dx, 6, dw, 6, db, 2, 2, 3, 2); \
            int ok = rc == RELUKIT_OK && isnan(db[1]) && db[0] == (FT)1.5;                       \
            for (size_t k = 0; k < 3; k++)                                                       \
                ok = ok && isnan(dx[k]) && !isnan(dx[3 + k]) && isnan(dw[k * 2 + 1]) &&          \
                     !isnan(dw[k * 2]);                                                          \
            CHECK(ok, "backward_" #SFX " NaN propagation: rc=%d", rc);                           \
            FT dyi[4] = {(FT)INFINITY, 0, 0, 0};                                                 \
            rc = relukit_dense_backward_##SFX(x, 6, w, 6, dyi, 4, dx, 6, dw, 6, db, 2, 2, 3, 2); \
            CHECK(rc == RELUKIT_OK && isinf(db[0]) && db[0] > 0 && isinf(dx[0]) &&               \
                      isinf(dx[2]) && dx[2] < 0 && dx[3] == 0 && dw[1] == 0,                     \
                  "backward_" #SFX " inf propagation: rc=%d", rc);                               \
        }                                                                                        \
        /* empty sums are zeros; empty outputs may be NULL */                                    \
        {                                                                                        \
            FT dwz[6] = {7, 7, 7, 7, 7, 7}, dbz[2] = {7, 7};                                     \
            rc = relukit_dense_backward_##SFX(NULL, 0, w, 6, NULL, 0, NULL, 0, dwz, 6, dbz, 2,   \
                                              0, 3, 2);                                          \
            int ok = rc == RELUKIT_OK && dbz[0] == 0 && dbz[1] == 0;                             \
            for (size_t i = 0; i < 6; i++)                                                       \
                ok = ok && dwz[i] == 0 && !signbit(dwz[i]);                                      \
            CHECK(ok, "backward_" #SFX " batch=0: rc=%d", rc);                                   \
            FT dxz[6] = {7, 7, 7, 7, 7, 7};                                                      \
            rc = relukit_dense_backward_##SFX(x, 6, NULL, 0, NULL, 0, dxz, 6, NULL, 0, NULL, 0,  \
                                              2, 3, 0);                                          \
            ok = rc == RELUKIT_OK;                                                               \
            for (size_t i = 0; i < 6; i++)                                                       \
                ok = ok && dxz[i] == 0 && !signbit(dxz[i]);                                      \
            CHECK(ok, "backward_" #SFX " out=0: rc=%d", rc);                                     \
            FT dbi[2] = {7, 7};                                                                  \
            rc = relukit_dense_backward_##SFX(NULL, 0, NULL, 0, dy, 4, NULL, 0, NULL, 0, dbi, 2, \
                                              2, 0, 2);                                          \
            CHECK(rc == RELUKIT_OK && dbi[0] == (FT)1.5 && dbi[1] == 1,                          \
                  "backward_" #SFX " in=0: rc=%d db={%g,%g}", rc, (double)dbi[0],                \
                  (double)dbi[1]);                                                               \
            rc = relukit_dense_backward_##SFX(NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, \
                                              0, 0, 0, 0);                                       \
            CHECK(rc == RELUKIT_OK, "backward_" #SFX " all empty: rc=%d", rc);                   \
            rc = relukit_dense_backward_##SFX(x, 6, w, 6, dy, 4, NULL, 0, NULL, 0, NULL, 0, 2,   \
                                              3, 2);                                             \
            CHECK(rc == RELUKIT_OK, "backward_" #SFX " nothing wanted: rc=%d", rc);              \
            rc = relukit_linear_forward_##SFX(NULL, 0, NULL, 0, NULL, 0, NULL, 0, 0, 0, 0);      \
            CHECK(rc == RELUKIT_OK, "linear_" #SFX " all empty: rc=%d", rc);                     \
            FT yb[4] = {7, 7, 7, 7};                                                             \
            rc = relukit_linear_forward_##SFX(NULL, 0, NULL, 0, b, 2, yb, 4, 2, 0, 2);           \
            CHECK(rc == RELUKIT_OK && yb[0] == b[0] && yb[1] == b[1] && yb[2] == b[0] &&         \
                      yb[3] == b[1],                                                             \
                  "linear_" #SFX " in=0 gives the bias: rc=%d", rc);                             \
        }                                                                                        \
        /* every wrong length, a NULL with a nonzero length, overflowing shapes: ESIZE and      \
         * nothing written */                                                                    \
        {                                                                                        \
            FT o_dx[7], o_dw[7], o_db[3], o_y[5];                                                \
            for (size_t i = 0; i < 7; i++)                                                       \
                o_dx[i] = o_dw[i] = (FT)99;                                                      \
            o_db[0] = o_db[1] = o_db[2] = o_y[0] = o_y[1] = o_y[2] = o_y[3] = o_y[4] = (FT)99;   \
            size_t len[6] = {6, 6, 4, 6, 6, 2};                                                  \
            int all_esize = 1;                                                                   \
            for (size_t which = 0; which < 6; which++)                                           \
                for (int delta = -1; delta <= 1; delta += 2) {                                   \
                    size_t l[6];                                                                 \
                    memcpy(l, len, sizeof l);                                                    \
                    l[which] = (size_t)((long)l[which] + delta);                                 \
                    rc = relukit_dense_backward_##SFX(x, l[0], w, l[1], dy, l[2], o_dx, l[3],    \
                                                      o_dw, l[4], o_db, l[5], 2, 3, 2);          \
                    all_esize = all_esize && rc == RELUKIT_ESIZE;                                \
                }                                                                                \
            for (size_t which = 0; which < 4; which++)                                           \
                for (int delta = -1; delta <= 1; delta += 2) {                                   \
                    size_t l[4] = {6, 6, 2, 4};                                                  \
                    l[which] = (size_t)((long)l[which] + delta);                                 \
                    rc = relukit_linear_forward_##SFX(x, l[0], w, l[1], b, l[2], o_y, l[3], 2,   \
                                                      3, 2);                                     \
                    all_esize = all_esize && rc == RELUKIT_ESIZE;                                \
                }                                                                                \
            /* NULL where the length says there is data */                                       \
            all_esize = all_esize &&                                                             \
                        relukit_dense_backward_##SFX(NULL, 6, w, 6, dy, 4, o_dx, 6, o_dw, 6,     \
                                                     o_db, 2, 2, 3, 2) == RELUKIT_ESIZE &&       \
                        relukit_dense_backward_##SFX(x, 6, w, 6, dy, 4, NULL, 6, o_dw, 6, o_db,  \
                                                     2, 2, 3, 2) == RELUKIT_ESIZE &&             \
                        relukit_dense_backward_##SFX(x, 6, w, 6, NULL, 4, o_dx, 6, o_dw, 6,      \
                                                     o_db, 2, 2, 3, 2) == RELUKIT_ESIZE &&       \
                        relukit_linear_forward_##SFX(x, 6, w, 6, NULL, 2, o_y, 4, 2, 3, 2) ==    \
                            RELUKIT_ESIZE;                                                       \
            /* shapes whose products overflow size_t, lengths that "match" modulo 2^N */         \
            const size_t big = (SIZE_MAX >> 1) + 2;                                              \
            all_esize = all_esize &&                                                             \
                        relukit_dense_backward_##SFX(x, big * 2, w, 6, dy, 4, o_dx, 6, o_dw, 6,  \
                                                     o_db, 2, big, 2, 2) == RELUKIT_ESIZE &&     \
                        relukit_dense_backward_##SFX(x, 6, w, 6, dy, 4, o_dx, 6, o_dw, 6, o_db,  \
                                                     2, 2, SIZE_MAX, 2) == RELUKIT_ESIZE &&      \
                        relukit_linear_forward_##SFX(x, 6, w, 6, b, 2, o_y, 4, 2, 3,             \
                                                     SIZE_MAX) == RELUKIT_ESIZE;                 \
            int untouched = 1;                                                                   \
            for (size_t i = 0; i < 7; i++)                                                       \
                untouched = untouched && o_dx[i] == 99 && o_dw[i] == 99;                         \
            for (size_t i = 0; i < 3; i++)                                                       \
                untouched = untouched && o_db[i] == 99;                                          \
            for (size_t i = 0; i < 5; i++)                                                       \
                untouched = untouched && o_y[i] == 99;                                           \
            CHECK(all_esize && untouched,                                                        \
                  #SFX " bad lengths: every call must return ESIZE (%d) and write nothing (%d)", \
                  all_esize, untouched);                                                         \
        }                                                                                        \
    }

BWD_TESTS(f32, float, FLT_EPSILON)
BWD_TESTS(f64, double, DBL_EPSILON)

/* Outputs overlapping an input or each other: RELUKIT_EOVERLAP, nothing written. One buffer
 * holds every array; each case moves one output onto another array. Shape (2, 3) -> 4. */
static void test_overlap(void)
{
    enum { B = 2, I = 3, O = 4 };
    /* offsets of x (6), w (12), dy (8), dx (6), dw (12), db (4), y (8) in one buffer */
    enum { X = 0, W = 6, DY = 18, DX = 26, DW = 32, DB = 44, Y = 48, TOTAL = 56 };
    static const struct {
        const char *name;
        size_t dx, dw, db;
    } bwd[] = {
        {"dx on x", X, DW, DB},      {"dx on w", W + 1, DW, DB},   {"dx on dy", DY + 2, DW, DB},
        {"dw on x", DX, X, DB},      {"dw on dy", DX, DY, DB},     {"db on w", DX, DW, W + 8},
        {"db on dy", DX, DW, DY},    {"dx on dw", DX, DX + 3, DB}, {"dw on db", DX, DW, DW + 10},
        {"dx == dw", DX, DX, DB},    {"db on dx", DX, DW, DX + 2},
    };
    float buf[TOTAL], saved[TOTAL];
    for (size_t i = 0; i < TOTAL; i++)
        buf[i] = (float)rng_sym();
    memcpy(saved, buf, sizeof buf);
    for (size_t c = 0; c < sizeof bwd / sizeof bwd[0]; c++) {
        const int st = relukit_dense_backward_f32(buf + X, B * I, buf + W, I * O, buf + DY, B * O,
                                                  buf + bwd[c].dx, B * I, buf + bwd[c].dw, I * O,
                                                  buf + bwd[c].db, O, B, I, O);
        CHECK(st == RELUKIT_EOVERLAP && memcmp(buf, saved, sizeof buf) == 0,
              "dense_backward f32 %s: status %d (want EOVERLAP), buffer untouched %d",
              bwd[c].name, st, memcmp(buf, saved, sizeof buf) == 0);
    }
    /* a skipped output (NULL, 0) overlaps nothing; apart is fine */
    CHECK(relukit_dense_backward_f32(buf + X, B * I, buf + W, I * O, buf + DY, B * O, NULL, 0,
                                     buf + DW, I * O, buf + DB, O, B, I, O) == RELUKIT_OK,
          "dense_backward f32, dx skipped, outputs apart");
    memcpy(buf, saved, sizeof buf);
    /* f64: one case each way */
    double bd[TOTAL];
    for (size_t i = 0; i < TOTAL; i++)
        bd[i] = rng_sym();
    CHECK(relukit_dense_backward_f64(bd + X, B * I, bd + W, I * O, bd + DY, B * O, bd + DX, B * I,
                                     bd + DX, I * O, bd + DB, O, B, I, O) == RELUKIT_EOVERLAP,
          "dense_backward f64 dx == dw");
    CHECK(relukit_dense_backward_f64(bd + X, B * I, bd + W, I * O, bd + DY, B * O, bd + DX, B * I,
                                     bd + DW, I * O, bd + DB, O, B, I, O) == RELUKIT_OK,
          "dense_backward f64 apart");
    /* linear forward: y against x, w, b */
    static const size_t ys[] = {X + 1, W + 4, DB - 2};
    for (size_t c = 0; c < 3; c++) {
        const int st = relukit_linear_forward_f32(buf + X, B * I, buf + W, I * O, buf + DB, O,
                                                  buf + ys[c], B * O, B, I, O);
        CHECK(st == RELUKIT_EOVERLAP && memcmp(buf, saved, sizeof buf) == 0,
              "linear_forward f32 y at %zu: status %d", ys[c], st);
        const int sd = relukit_linear_forward_f64(bd + X, B * I, bd + W, I * O, bd + DB, O,
                                                  bd + ys[c], B * O, B, I, O);
        CHECK(sd == RELUKIT_EOVERLAP, "linear_forward f64 y at %zu: status %d", ys[c], sd);
    }
    CHECK(relukit_linear_forward_f32(buf + X, B * I, buf + W, I * O, buf + DB, O, buf + Y, B * O,
                                     B, I, O) == RELUKIT_OK,
          "linear_forward f32 apart");
}

int main(void)
{
    harness_start();
    harness_seed(0x2545f4914f6cdd1du);
    test_paths_f32();
    test_paths_f64();
    test_edges_f32();
    test_edges_f64();
    test_overlap();
    if (relukit__set_simd(RELUKIT_SIMD_AVX2) != RELUKIT_SIMD_AVX2)
        printf("note: no AVX2 on this CPU; only the portable path was tested\n");
    (void)relukit__set_simd(-1);
    return harness_finish();
}
