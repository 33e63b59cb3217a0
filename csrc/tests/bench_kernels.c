/* bench_kernels.c: standalone micro-benchmark of the relukit C array kernels (not part of the
 * test build). Times the portable and the AVX2 paths (via the internal hooks of
 * runtime.h) against memcpy on the same buffers as the roofline, best of several
 * repeats after a warm-up, and prints GB/s counting bytes read + written (2 * n * size per
 * call; memcpy likewise). In place means x == y; memcpy is always out of place. One thread
 * (the library's default); csrc/tests/bench_threads.c measures the thread split.
 *
 * Build and run (from the repository root):
 *   make cbench && ./build/bench_kernels   (about half a minute; needs ~1.1 GiB of RAM)
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "relukit.h"
#include "runtime.h"

#define MIN_REP_SECONDS 0.02 /* each timed repeat lasts at least this long (>> timer tick) */
#define REPEATS 7

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

enum kind { K_MEMCPY, K_RELU32, K_RELU64, K_GRAD32 };

static volatile unsigned sink;

static void run_once(enum kind k, void *x, void *y, size_t n)
{
    int rc = 0;
    switch (k) {
    case K_MEMCPY: memcpy(y, x, n * sizeof(float)); break;
    case K_RELU32: rc = relukit_relu_array_f32(x, n, y, n); break;
    case K_RELU64: rc = relukit_relu_array_f64(x, n, y, n); break;
    case K_GRAD32: rc = relukit_relu_grad_array_f32(x, n, y, n); break;
    }
    if (rc != RELUKIT_OK) {
        fprintf(stderr, "kernel failed: %d\n", rc);
        exit(1);
    }
}

/* best GB/s over REPEATS repeats of `iters` calls each; bytes = bytes read + written per call */
static double bench(enum kind k, void *x, void *y, size_t n, size_t bytes)
{
    size_t iters = 1;
    run_once(k, x, y, n); /* warm-up */
    for (;;) {            /* calibrate: a repeat must last >= MIN_REP_SECONDS */
        const double t0 = now();
        for (size_t i = 0; i < iters; i++)
            run_once(k, x, y, n);
        if (now() - t0 >= MIN_REP_SECONDS)
            break;
        iters *= 2;
    }
    double best = 1e30;
    for (int r = 0; r < REPEATS; r++) {
        const double t0 = now();
        for (size_t i = 0; i < iters; i++)
            run_once(k, x, y, n);
        const double t = (now() - t0) / (double)iters;
        if (t < best)
            best = t;
    }
    sink += ((const unsigned char *)y)[bytes / 4];
    return (double)bytes / best * 1e-9;
}

static void *xalloc(size_t bytes)
{
    const size_t rounded = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, rounded);
    if (!p) {
        fprintf(stderr, "out of memory (%zu bytes)\n", bytes);
        exit(1);
    }
    return p;
}

static void fill(void *buf, size_t bytes)
{
    uint64_t s = 0x9e3779b97f4a7c15u;
    unsigned char *b = buf;
    for (size_t i = 0; i + 8 <= bytes; i += 8) {
        s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
        /* random sign, moderate exponent: a realistic mix of positives and negatives */
        uint64_t v = (s * 0x2545f4914f6cdd1du) & 0x80ffffff80ffffffu;
        v |= 0x3f0000003f000000u;
        memcpy(b + i, &v, 8);
    }
}

static const char *fmt_n(size_t n, char *buf, size_t len)
{
    if (n % (1u << 20) == 0)
        snprintf(buf, len, "%zuM", n >> 20);
    else if (n % (1u << 10) == 0)
        snprintf(buf, len, "%zuK", n >> 10);
    else
        snprintf(buf, len, "%zu", n);
    return buf;
}

int main(void)
{
    static const struct {
        size_t n;
        enum kind k;
    } cases[] = {
        {4u << 10, K_RELU32},  {16u << 10, K_RELU32}, {64u << 10, K_RELU32},
        {256u << 10, K_RELU32}, {1u << 20, K_RELU32}, {16u << 20, K_RELU32},
        {64u << 20, K_RELU32}, {1u << 20, K_RELU64},  {64u << 10, K_GRAD32},
        {16u << 20, K_GRAD32},
    };
    const size_t default_nt = RELUKIT_AUTO; /* the machine's threshold */
    const int have_avx2 = relukit__set_simd(RELUKIT_SIMD_AVX2) == RELUKIT_SIMD_AVX2;
    printf("GB/s = (bytes read + written) / best time; best of %d repeats of >= %.0f ms\n",
           REPEATS, MIN_REP_SECONDS * 1e3);
    printf("AVX2 path %s; NT threshold %zu MiB (bytes read + written, out of place)\n\n",
           have_avx2 ? "available" : "NOT available (avx2 columns = portable)",
           default_nt >> 20);
    printf("%-6s %-10s %-6s %8s | %9s %9s %9s | %8s %8s\n", "n", "op", "place", "MiB r+w",
           "memcpy", "portable", "avx2", "avx2/cpy", "avx2/prt");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const size_t n = cases[c].n;
        const size_t es = cases[c].k == K_RELU64 ? 8 : 4;
        const size_t bytes = 2 * n * es;
        void *x = xalloc(n * es), *y = xalloc(n * es);
        fill(x, n * es);
        fill(y, n * es);
        const double cpy = bench(K_MEMCPY, x, y, n * es / sizeof(float), bytes);
        for (int inplace = 0; inplace < 2; inplace++) {
            void *out = inplace ? x : y;
            relukit__set_simd(RELUKIT_SIMD_PORTABLE);
            const double port = bench(cases[c].k, x, out, n, bytes);
            relukit__set_simd(RELUKIT_SIMD_AVX2);
            const double avx = bench(cases[c].k, x, out, n, bytes);
            char nb[32];
            printf("%-6s %-10s %-6s %8.2f | %9.1f %9.1f %9.1f | %7.2fx %7.2fx\n",
                   fmt_n(n, nb, sizeof nb),
                   cases[c].k == K_RELU64 ? "relu f64" : cases[c].k == K_GRAD32 ? "grad f32"
                                                                                : "relu f32",
                   inplace ? "in" : "out", (double)bytes / (1 << 20), cpy, port, avx, avx / cpy,
                   avx / port);
            if (inplace)
                fill(x, n * es);
        }
        free(x);
        free(y);
    }

    if (have_avx2) {
        /* the NT threshold: AVX2 out of place, cached stores vs streaming stores, f32 relu */
        static const size_t sweep[] = {256u << 10, 512u << 10, 1u << 20, 2u << 20, 3u << 20,
                                       4u << 20,   8u << 20,   16u << 20, 64u << 20};
        printf("\nNT threshold sweep: relu f32 out of place, AVX2 path\n");
        printf("%-6s %8s | %9s %9s %9s | %s\n", "n", "MiB r+w", "memcpy", "cached", "stream",
               "stream/cached");
        for (size_t s = 0; s < sizeof sweep / sizeof sweep[0]; s++) {
            const size_t n = sweep[s], bytes = 2 * n * sizeof(float);
            float *x = xalloc(n * sizeof *x), *y = xalloc(n * sizeof *y);
            fill(x, n * sizeof *x);
            fill(y, n * sizeof *y);
            const double cpy = bench(K_MEMCPY, x, y, n, bytes);
            relukit__set_nt_threshold(SIZE_MAX);
            const double cached = bench(K_RELU32, x, y, n, bytes);
            relukit__set_nt_threshold(0);
            const double stream = bench(K_RELU32, x, y, n, bytes);
            relukit__set_nt_threshold(default_nt);
            char nb[32];
            printf("%-6s %8.2f | %9.1f %9.1f %9.1f | %.2fx\n", fmt_n(n, nb, sizeof nb),
                   (double)bytes / (1 << 20), cpy, cached, stream, stream / cached);
            free(x);
            free(y);
        }
    }
    if (have_avx2) {
        /* the thread split: relu f32, AVX2, 1 thread vs 2 threads (split threshold 0) */
        static const size_t sweep[] = {4u << 10,  8u << 10,  16u << 10, 32u << 10,
                                       64u << 10, 128u << 10, 256u << 10, 512u << 10,
                                       1u << 20,  2u << 20,   4u << 20,  16u << 20, 64u << 20};
        const size_t default_split = relukit__set_split_threshold(0);
        printf("\nthread split sweep: relu f32, AVX2 path, default NT rule; GB/s (x2 = 2 threads)\n");
        printf("%-6s %8s | %9s | %9s %9s %6s | %9s %9s %6s\n", "n", "MiB r+w", "memcpy", "out 1t",
               "out 2t", "x2/x1", "in 1t", "in 2t", "x2/x1");
        for (size_t s = 0; s < sizeof sweep / sizeof sweep[0]; s++) {
            const size_t n = sweep[s], bytes = 2 * n * sizeof(float);
            float *x = xalloc(n * sizeof *x), *y = xalloc(n * sizeof *y);
            fill(x, n * sizeof *x);
            fill(y, n * sizeof *y);
            const double cpy = bench(K_MEMCPY, x, y, n, bytes);
            double g[2][2];
            for (int inplace = 0; inplace < 2; inplace++)
                for (int t = 0; t < 2; t++) {
                    relukit_set_num_threads((size_t)t + 1);
                    g[inplace][t] = bench(K_RELU32, x, inplace ? x : y, n, bytes);
                }
            relukit_set_num_threads(1);
            char nb[32];
            printf("%-6s %8.2f | %9.1f | %9.1f %9.1f %5.2fx | %9.1f %9.1f %5.2fx\n",
                   fmt_n(n, nb, sizeof nb), (double)bytes / (1 << 20), cpy, g[0][0], g[0][1],
                   g[0][1] / g[0][0], g[1][0], g[1][1], g[1][1] / g[1][0]);
            free(x);
            free(y);
        }
        relukit__set_split_threshold(default_split);
    }
    {
        /* dense forward, batch 1 (and 64), f32: portable vs AVX2 build of the row loop */
        static const size_t shapes[][3] = {{1, 3, 2}, {1, 256, 256}, {1, 1024, 1024},
                                           {64, 256, 256}};
        printf("\ndense forward f32 (GFLOP/s = 2*batch*in*out / best time)\n");
        printf("%-16s | %10s %10s | %s\n", "batch,in,out", "portable", "avx2", "avx2/prt");
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            const size_t bt = shapes[s][0], in = shapes[s][1], out = shapes[s][2];
            float *x = xalloc(bt * in * 4), *w = xalloc(in * out * 4), *b = xalloc(out * 4),
                  *y = xalloc(bt * out * 4);
            fill(x, bt * in * 4 / 8 * 8);
            fill(w, in * out * 4 / 8 * 8);
            memset(b, 0, out * 4);
            double g[2];
            for (int m = 0; m < 2; m++) {
                relukit__set_simd(m ? RELUKIT_SIMD_AVX2 : RELUKIT_SIMD_PORTABLE);
                size_t iters = 1;
                double best = 1e30;
                for (;;) {
                    const double t0 = now();
                    for (size_t i = 0; i < iters; i++)
                        (void)relukit_dense_forward_f32(x, bt * in, w, in * out, b, out, y,
                                                        bt * out, bt, in, out);
                    if (now() - t0 >= MIN_REP_SECONDS)
                        break;
                    iters *= 2;
                }
                for (int r = 0; r < REPEATS; r++) {
                    const double t0 = now();
                    for (size_t i = 0; i < iters; i++)
                        (void)relukit_dense_forward_f32(x, bt * in, w, in * out, b, out, y,
                                                        bt * out, bt, in, out);
                    const double t = (now() - t0) / (double)iters;
                    if (t < best)
                        best = t;
                }
                g[m] = 2.0 * (double)(bt * in * out) / best * 1e-9;
            }
            char sh[48];
            snprintf(sh, sizeof sh, "%zu,%zu,%zu", bt, in, out);
            printf("%-16s | %10.2f %10.2f | %.2fx\n", sh, g[0], g[1], g[1] / g[0]);
            sink += (unsigned)y[0];
            free(x), free(w), free(b), free(y);
        }
    }
    relukit__set_simd(-1);
    return 0;
}
