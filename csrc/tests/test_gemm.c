/* test_gemm.c: the GEMM under relukit_dense_forward_*, relukit_linear_forward_*,
 * relukit_affine_forward_* and relukit_dense_backward_* (csrc/kernels/gemm.c), on every path
 * the CPU runs (portable, AVX2+FMA, AVX-512), with the cache blocks derived from the machine
 * and forced small (so that small shapes cross every kc, mc and nc boundary), on 1, 2 and 3
 * threads with the split threshold forced to 0.
 *
 * Every output is checked bit for bit against a scalar reference that implements the numeric
 * definition of relukit.h literally (fmaf/fma, k increasing, the bias first), and within the
 * documented bound (K + 2) eps (sum|x||w| + |b|) of a long double reference; affine_forward
 * against linear_forward followed by the op's array kernel; a guard element after each output
 * must stay untouched.
 *
 * Build: make ctest. Prints one line per failure, then "N passed, M failed". */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relukit.h"
#include "runtime.h"
#include "elementwise.h"
#include "gemm.h"

#include "harness.h"

#define GUARD 12345

/* m, n, k of A (m x k) times B (k x n): around the micro-tiles (6, 12 rows; 8, 16, 32
 * columns), the few-row path's panels (up to 3 rows; 32 to 256 columns, then a tail), the
 * forced blocks below (kc 16, mc 2 tiles, nc 2 panels), odd, 0 and 1. */
static const size_t shapes[][3] = {
    {1, 1, 1},    {1, 1, 0},   {3, 5, 0},   {0, 4, 3},   {4, 0, 3},   {1, 7, 1},
    {5, 1, 9},    {6, 16, 8},  {7, 17, 15}, {12, 32, 16}, {13, 33, 17}, {11, 31, 33},
    {24, 64, 48}, {25, 65, 49}, {23, 63, 47}, {2, 200, 31}, {37, 9, 100}, {1, 256, 784},
    {32, 256, 97}, {50, 70, 300}, {64, 130, 129}, {3, 300, 20}, {1, 520, 9},  {2, 129, 5},
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

static int same_bytes(const void *a, const void *b, size_t n)
{
    return n == 0 || memcmp(a, b, n) == 0;
}

static const char *path_name(int p)
{
    return p == RELUKIT_SIMD_AVX512 ? "avx512" : p == RELUKIT_SIMD_AVX2 ? "avx2" : "portable";
}

/* GEMM_TESTS(SFX, FT, FMAF, EPS) defines the reference and test_shape_SFX. */
#define GEMM_TESTS(SFX, FT, FMAF, EPS)                                                           \
    /* y = act(b + x w) by the definition; relu when `relu` */                                   \
    static void ref_forward_##SFX(const FT *x, const FT *w, const FT *b, FT *y, size_t batch,    \
                                  size_t in, size_t out, int relu)                               \
    {                                                                                            \
        for (size_t i = 0; i < batch; i++)                                                       \
            for (size_t j = 0; j < out; j++) {                                                   \
                FT acc = b[j];                                                                   \
                for (size_t k = 0; k < in; k++)                                                  \
                    acc = FMAF(x[i * in + k], w[k * out + j], acc);                              \
                y[i * out + j] = relu ? relukit_relu_elem_##SFX(acc) : acc;                      \
            }                                                                                    \
    }                                                                                            \
    static void ref_backward_##SFX(const FT *x, const FT *w, const FT *dy, FT *dx, FT *dw,       \
                                   FT *db, size_t batch, size_t in, size_t out)                  \
    {                                                                                            \
        for (size_t i = 0; i < batch; i++)                                                       \
            for (size_t k = 0; k < in; k++) {                                                    \
                FT acc = 0;                                                                      \
                for (size_t j = 0; j < out; j++)                                                 \
                    acc = FMAF(dy[i * out + j], w[k * out + j], acc);                            \
                dx[i * in + k] = acc;                                                            \
            }                                                                                    \
        for (size_t k = 0; k < in; k++)                                                          \
            for (size_t j = 0; j < out; j++) {                                                   \
                FT acc = 0;                                                                      \
                for (size_t i = 0; i < batch; i++)                                               \
                    acc = FMAF(x[i * in + k], dy[i * out + j], acc);                             \
                dw[k * out + j] = acc;                                                           \
            }                                                                                    \
        for (size_t j = 0; j < out; j++) {                                                       \
            FT acc = 0;                                                                          \
            for (size_t i = 0; i < batch; i++)                                                   \
                acc = acc + dy[i * out + j];                                                     \
            db[j] = acc;                                                                         \
        }                                                                                        \
    }                                                                                            \
    /* |got - exact| <= (K + 2) eps (sum |a||b| + |c0|) for every output, exact in long double */ \
    static size_t outside_bound_##SFX(const FT *got, const FT *a, size_t rsa, size_t csa,        \
                                      const FT *bm, size_t rsb, size_t csb, const FT *c0,        \
                                      size_t m, size_t n, size_t k, int relu)                    \
    {                                                                                            \
        size_t bad = 0;                                                                          \
        for (size_t i = 0; i < m; i++)                                                           \
            for (size_t j = 0; j < n; j++) {                                                     \
                long double s = c0 ? (long double)c0[j] : 0.0L;                                  \
                long double mag = c0 ? fabsl((long double)c0[j]) : 0.0L;                         \
                for (size_t p = 0; p < k; p++) {                                                 \
                    const long double t =                                                        \
                        (long double)a[i * rsa + p * csa] * (long double)bm[p * rsb + j * csb];  \
                    s += t;                                                                      \
                    mag += fabsl(t);                                                             \
                }                                                                                \
                if (relu && !(s > 0))                                                            \
                    s = 0;                                                                       \
                const long double tol = (long double)(k + 2) * (EPS)*mag + 1e-300L;              \
                if (!(fabsl((long double)got[i * n + j] - s) <= tol))                            \
                    bad++;                                                                       \
            }                                                                                    \
        return bad;                                                                              \
    }                                                                                            \
    static void test_shape_##SFX(size_t batch, size_t out, size_t in, const char *where)         \
    {                                                                                            \
        const size_t nx = batch * in, nw = in * out, ny = batch * out;                           \
        FT *x = malloc((nx + 1) * sizeof *x), *w = malloc((nw + 1) * sizeof *w);                 \
        FT *b = malloc((out + 1) * sizeof *b), *dy = malloc((ny + 1) * sizeof *dy);              \
        FT *y = malloc((ny + 1) * sizeof *y), *yr = malloc((ny + 1) * sizeof *yr);               \
        FT *dx = malloc((nx + 1) * sizeof *dx), *dw = malloc((nw + 1) * sizeof *dw);             \
        FT *db = malloc((out + 1) * sizeof *db), *rx = malloc((nx + 1) * sizeof *rx);            \
        FT *rw = malloc((nw + 1) * sizeof *rw), *rb = malloc((out + 1) * sizeof *rb);            \
        if (!x || !w || !b || !dy || !y || !yr || !dx || !dw || !db || !rx || !rw || !rb) {      \
            CHECK(0, "malloc");                                                                  \
            goto done;                                                                           \
        }                                                                                        \
        for (size_t i = 0; i < nx; i++)                                                          \
            x[i] = (FT)rng_sym();                                                                \
        for (size_t i = 0; i < nw; i++)                                                          \
            w[i] = (FT)rng_sym();                                                                \
        for (size_t i = 0; i < out; i++)                                                         \
            b[i] = (FT)rng_sym();                                                                \
        for (size_t i = 0; i < ny; i++)                                                          \
            dy[i] = (FT)rng_sym();                                                               \
        for (int kind = 0; kind < 2; kind++) { /* dense (relu), linear */                        \
            y[ny] = (FT)GUARD;                                                                   \
            const int rc = kind == 0 ? relukit_dense_forward_##SFX(x, nx, w, nw, b, out, y, ny,  \
                                                                   batch, in, out)               \
                                     : relukit_linear_forward_##SFX(x, nx, w, nw, b, out, y, ny, \
                                                                    batch, in, out);             \
            ref_forward_##SFX(x, w, b, yr, batch, in, out, kind == 0);                           \
            CHECK(rc == RELUKIT_OK && y[ny] == (FT)GUARD, "%s %s (%zu,%zu,%zu) rc=%d guard",     \
                  where, kind ? "linear" : "dense", batch, in, out, rc);                         \
            CHECK(same_bytes(y, yr, ny * sizeof *y),                                             \
                  "%s " #SFX " %s (%zu,%zu,%zu): not the bits of the definition", where,         \
                  kind ? "linear" : "dense", batch, in, out);                                    \
            const size_t bad =                                                                   \
                outside_bound_##SFX(y, x, in, 1, w, out, 1, b, batch, out, in, kind == 0);       \
            CHECK(bad == 0, "%s " #SFX " %s (%zu,%zu,%zu): %zu outside the bound", where,        \
                  kind ? "linear" : "dense", batch, in, out, bad);                               \
        }                                                                                        \
        { /* affine: the op after linear_forward, same bits */                                  \
            static const char *const names[] = {"relu", "leaky_relu", "gelu_tanh", "hardtanh",   \
                                                "sigmoid"};                                      \
            static const double params[2] = {-0.25, 0.5};                                        \
            static const size_t np[] = {0, 1, 0, 2, 0};                                          \
            relukit_linear_forward_##SFX(x, nx, w, nw, b, out, yr, ny, batch, in, out);          \
            for (size_t a = 0; a < 5; a++) {                                                     \
                FT *want = malloc((ny + 1) * sizeof *want);                                      \
                if (want == NULL) {                                                              \
                    CHECK(0, "malloc");                                                          \
                    break;                                                                       \
                }                                                                                \
                memcpy(want, yr, ny * sizeof *yr);                                               \
                if (a == 0)                                                                      \
                    relukit_relu_array_##SFX(want, ny, want, ny);                                \
                else if (a == 1)                                                                 \
                    relukit_leaky_relu_array_##SFX(want, ny, want, ny, (FT)params[0]);           \
                else if (a == 2)                                                                 \
                    relukit_gelu_tanh_array_##SFX(want, ny, want, ny);                           \
                else if (a == 3)                                                                 \
                    relukit_hardtanh_array_##SFX(want, ny, want, ny, (FT)params[0],              \
                                                 (FT)params[1]);                                 \
                else                                                                             \
                    relukit_sigmoid_array_##SFX(want, ny, want, ny);                             \
                y[ny] = (FT)GUARD;                                                               \
                const int rc = relukit_affine_forward_##SFX(x, nx, w, nw, b, out, y, ny, batch,  \
                                                            in, out, names[a], params, np[a]);   \
                CHECK(rc == RELUKIT_OK && y[ny] == (FT)GUARD &&                                  \
                          same_bytes(y, want, ny * sizeof *y),                                   \
                      "%s " #SFX " affine %s (%zu,%zu,%zu): rc=%d, not the op after linear",     \
                      where, names[a], batch, in, out, rc);                                      \
                free(want);                                                                      \
            }                                                                                    \
            const int rc = relukit_affine_forward_##SFX(x, nx, w, nw, b, out, y, ny, batch, in,  \
                                                        out, NULL, NULL, 0);                     \
            CHECK(rc == RELUKIT_OK && same_bytes(y, yr, ny * sizeof *y),                         \
                  "%s " #SFX " affine NULL (%zu,%zu,%zu): not linear", where, batch, in, out);   \
        }                                                                                        \
        { /* backward: dx = dy w^T and dw = x^T dy on the same kernel */                        \
            dx[nx] = dw[nw] = db[out] = (FT)GUARD;                                               \
            const int rc = relukit_dense_backward_##SFX(x, nx, w, nw, dy, ny, dx, nx, dw, nw,    \
                                                        db, out, batch, in, out);                \
            ref_backward_##SFX(x, w, dy, rx, rw, rb, batch, in, out);                            \
            CHECK(rc == RELUKIT_OK && dx[nx] == (FT)GUARD && dw[nw] == (FT)GUARD &&              \
                      db[out] == (FT)GUARD,                                                      \
                  "%s backward (%zu,%zu,%zu) rc=%d guard", where, batch, in, out, rc);           \
            CHECK(same_bytes(dx, rx, nx * sizeof *dx), "%s " #SFX " dx (%zu,%zu,%zu): bits",     \
                  where, batch, in, out);                                                        \
            CHECK(same_bytes(dw, rw, nw * sizeof *dw), "%s " #SFX " dw (%zu,%zu,%zu): bits",     \
                  where, batch, in, out);                                                        \
            CHECK(same_bytes(db, rb, out * sizeof *db), "%s " #SFX " db (%zu,%zu,%zu): bits",    \
                  where, batch, in, out);                                                        \
            size_t bad = outside_bound_##SFX(dx, dy, out, 1, w, 1, out, NULL, batch, in, out, 0); \
            bad += outside_bound_##SFX(dw, x, 1, in, dy, out, 1, NULL, in, out, batch, 0);       \
            CHECK(bad == 0, "%s " #SFX " backward (%zu,%zu,%zu): %zu outside the bound", where,  \
                  batch, in, out, bad);                                                          \
            /* only dw, only dx */                                                               \
            memset(dw, 0xff, nw * sizeof *dw);                                                   \
            CHECK(relukit_dense_backward_##SFX(x, nx, w, nw, dy, ny, NULL, 0, dw, nw, NULL, 0,   \
                                               batch, in, out) == RELUKIT_OK &&                  \
                      same_bytes(dw, rw, nw * sizeof *dw),                                       \
                  "%s " #SFX " dw alone (%zu,%zu,%zu)", where, batch, in, out);                  \
            memset(dx, 0xff, nx * sizeof *dx);                                                   \
            CHECK(relukit_dense_backward_##SFX(x, nx, w, nw, dy, ny, dx, nx, NULL, 0, NULL, 0,   \
                                               batch, in, out) == RELUKIT_OK &&                  \
                      same_bytes(dx, rx, nx * sizeof *dx),                                       \
                  "%s " #SFX " dx alone (%zu,%zu,%zu)", where, batch, in, out);                  \
        }                                                                                        \
    done:                                                                                        \
        free(x), free(w), free(b), free(dy), free(y), free(yr), free(dx), free(dw), free(db);    \
        free(rx), free(rw), free(rb);                                                            \
    }                                                                                            \
    /* special values: one NaN payload, +-inf, -0.0, subnormals, against the definition */      \
    static void test_special_##SFX(const char *where)                                           \
    {                                                                                            \
        enum { B = 13, I = 37, O = 35 };                                                         \
        static FT x[B * I], w[I * O], bb[O], y[B * O], yr[B * O];                                \
        const FT specials[] = {(FT)NAN, (FT)INFINITY, -(FT)INFINITY, (FT)-0.0, (EPS) * (FT)1e-30, \
                               (FT)1e30};                                                        \
        for (int round = 0; round < 6; round++) {                                                \
            for (size_t i = 0; i < B * I; i++)                                                   \
                x[i] = (FT)rng_sym();                                                            \
            for (size_t i = 0; i < I * O; i++)                                                   \
                w[i] = (FT)rng_sym();                                                            \
            for (size_t i = 0; i < O; i++)                                                       \
                bb[i] = round == 3 ? (FT)-0.0 : (FT)rng_sym();                                   \
            x[(size_t)round * 7 % (B * I)] = specials[round];                                    \
            w[(size_t)round * 11 % (I * O)] = specials[(round + 3) % 6 == 0 ? 5 : round];        \
            for (int kind = 0; kind < 2; kind++) {                                               \
                const int rc = kind ? relukit_linear_forward_##SFX(x, B * I, w, I * O, bb, O, y, \
                                                                   B * O, B, I, O)               \
                                    : relukit_dense_forward_##SFX(x, B * I, w, I * O, bb, O, y,  \
                                                                  B * O, B, I, O);               \
                ref_forward_##SFX(x, w, bb, yr, B, I, O, kind == 0);                             \
                CHECK(rc == RELUKIT_OK && same_bytes(y, yr, sizeof y),                           \
                      "%s " #SFX " special round %d kind %d: not the definition's bits", where,  \
                      round, kind);                                                              \
            }                                                                                    \
        }                                                                                        \
        /* a -0.0 bias with in == 0 gives +0.0 through relu, -0.0 through linear */              \
        FT nb[3] = {(FT)-0.0, (FT)-1, (FT)2}, o[6];                                              \
        CHECK(relukit_dense_forward_##SFX(NULL, 0, NULL, 0, nb, 3, o, 6, 2, 0, 3) ==             \
                      RELUKIT_OK && !signbit(o[0]) && o[1] == 0 && !signbit(o[1]) && o[5] == 2,  \
              "%s " #SFX " in=0 relu(b)", where);                                                \
        CHECK(relukit_linear_forward_##SFX(NULL, 0, NULL, 0, nb, 3, o, 6, 2, 0, 3) ==            \
                      RELUKIT_OK && signbit(o[0]) && o[4] == -1,                                 \
              "%s " #SFX " in=0 linear", where);                                                 \
    }

GEMM_TESTS(f32, float, fmaf, FLT_EPSILON)
GEMM_TESTS(f64, double, fma, DBL_EPSILON)

static void test_einval(void)
{
    float x[6] = {0}, w[6] = {0}, b[2] = {0}, y[4] = {7, 7, 7, 7};
    const double p[2] = {0.1, 0.2};
    CHECK(relukit_affine_forward_f32(x, 6, w, 6, b, 2, y, 4, 2, 3, 2, "no_such_op", NULL, 0) ==
              RELUKIT_EINVAL,
          "unknown activation");
    CHECK(relukit_affine_forward_f32(x, 6, w, 6, b, 2, y, 4, 2, 3, 2, "leaky_relu", p, 0) ==
              RELUKIT_EINVAL,
          "leaky_relu with 0 params");
    CHECK(relukit_affine_forward_f32(x, 6, w, 6, b, 2, y, 4, 2, 3, 2, "leaky_relu", NULL, 1) ==
              RELUKIT_EINVAL,
          "leaky_relu with NULL params");
    CHECK(relukit_affine_forward_f32(x, 6, w, 6, b, 2, y, 4, 2, 3, 2, "relu", p, 2) ==
              RELUKIT_EINVAL,
          "relu with 2 params");
    CHECK(relukit_affine_forward_f32(x, 6, w, 6, b, 2, y, 4, 2, 3, 2, NULL, p, 1) ==
              RELUKIT_EINVAL,
          "linear with 1 param");
    CHECK(y[0] == 7 && y[3] == 7, "EINVAL wrote y");
    double xd[6] = {0}, wd[6] = {0}, bd[2] = {0}, yd[4];
    CHECK(relukit_affine_forward_f64(xd, 6, wd, 6, bd, 2, yd, 4, 2, 3, 2, "hardtanh", p, 1) ==
              RELUKIT_EINVAL,
          "hardtanh with 1 param");
    CHECK(relukit_affine_forward_f64(xd, 6, wd, 6, bd, 3, yd, 4, 2, 3, 2, "relu", NULL, 0) ==
              RELUKIT_ESIZE,
          "affine ESIZE");
    CHECK(relukit_affine_forward_f64(xd, 6, wd, 6, bd, 2, xd + 1, 4, 2, 3, 2, "tanh", NULL, 0) ==
              RELUKIT_EOVERLAP,
          "affine EOVERLAP");
}

int main(void)
{
    harness_start();
    harness_seed(20261204);
    test_einval();
    struct relukit_runtime_info info;
    relukit_runtime_info(&info);
    printf("gemm path %s; f32 tile %zux%zu blocks kc %zu mc %zu nc %zu; f64 tile %zux%zu blocks "
           "kc %zu mc %zu nc %zu; l1d %zu\n",
           path_name(info.gemm_simd), info.gemm_f32[0], info.gemm_f32[1], info.gemm_f32[2],
           info.gemm_f32[3], info.gemm_f32[4], info.gemm_f64[0], info.gemm_f64[1],
           info.gemm_f64[2], info.gemm_f64[3], info.gemm_f64[4], info.l1d_bytes);
    const int paths[] = {RELUKIT_SIMD_PORTABLE, RELUKIT_SIMD_AVX2, RELUKIT_SIMD_AVX512};
    for (size_t pi = 0; pi < 3; pi++) {
        if (relukit__set_gemm_simd(paths[pi]) != paths[pi]) {
            printf("skip: the %s path (not on this CPU)\n", path_name(paths[pi]));
            continue;
        }
        for (int blocks = 0; blocks < 2; blocks++) {
            if (blocks)
                relukit__set_gemm_blocks(16, 2, 2); /* kc 16, mc 2 tiles, nc 2 panels */
            else
                relukit__set_gemm_blocks(0, 0, 0);
            for (size_t threads = 1; threads <= 3; threads++) {
                relukit_set_num_threads(threads);
                const size_t old = relukit__set_dense_split(threads > 1 ? 0 : RELUKIT_AUTO);
                char where[96];
                snprintf(where, sizeof where, "[%s, %s blocks, %zu threads]",
                         path_name(paths[pi]), blocks ? "small" : "derived", threads);
                for (size_t s = 0; s < N_SHAPES; s++) {
                    test_shape_f32(shapes[s][0], shapes[s][1], shapes[s][2], where);
                    test_shape_f64(shapes[s][0], shapes[s][1], shapes[s][2], where);
                }
                test_special_f32(where);
                test_special_f64(where);
                relukit__set_dense_split(old);
            }
        }
    }
    relukit__set_gemm_blocks(0, 0, 0);
    relukit__set_gemm_simd(-1);
    relukit_set_num_threads(1);
    return harness_finish();
}
