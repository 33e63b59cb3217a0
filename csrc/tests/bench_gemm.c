/* bench_gemm.c: the GEMM's speed against one core's FMA peak.
 *
 *   build/bench_gemm [reps [kc mc nc [shape [threads]]]]
 *                               FMA peak (12 independent chains, AVX2 and AVX-512), then
 *                               dense_forward at a few shapes on each GEMM path, GFLOP/s
 *                               (2 * batch * in * out flops per call), best of reps
 *   build/bench_gemm ratio [reps]   % of the FMA peak, interleaved (see ratio())
 * Build: make cbench. Prints one line per measurement. */
#define _POSIX_C_SOURCE 200809L
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "relukit.h"
#include "runtime.h"
#include "gemm.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* 12 independent FMA chains, n steps each: 12 * n * L * 2 flops (L lanes of f32) */
__attribute__((target("avx2,fma"), noipa)) static float peak_avx2(long n)
{
    __m256 a[12], m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++)
        a[i] = _mm256_set1_ps((float)i);
    for (long s = 0; s < n; s++)
        for (int i = 0; i < 12; i++)
            a[i] = _mm256_fmadd_ps(a[i], m, c);
    float out = 0;
    for (int i = 0; i < 12; i++)
        out += _mm256_cvtss_f32(a[i]);
    return out;
}
__attribute__((target("avx512f"), noipa)) static float peak_avx512(long n)
{
    __m512 a[12], m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++)
        a[i] = _mm512_set1_ps((float)i);
    for (long s = 0; s < n; s++)
        for (int i = 0; i < 12; i++)
            a[i] = _mm512_fmadd_ps(a[i], m, c);
    float out = 0;
    for (int i = 0; i < 12; i++)
        out += _mm512_cvtss_f32(a[i]);
    return out;
}

/* `bench_gemm ratio [reps]`: 1024x1024 batch 256 float32 on one thread, interleaved with the
 * AVX-512 and AVX2 peak loops of about the same length, best of reps each: the % of peak
 * holds on a loaded machine, where separate runs see different shares of the core. */
static int ratio(int reps)
{
    const size_t batch = 256, in = 1024, out = 1024;
    float *x = aligned_alloc(64, batch * in * 4), *w = aligned_alloc(64, in * out * 4);
    float *b = aligned_alloc(64, out * 4), *y = aligned_alloc(64, batch * out * 4);
    for (size_t i = 0; i < batch * in; i++)
        x[i] = (float)(i % 7) - 3;
    for (size_t i = 0; i < in * out; i++)
        w[i] = 0.01f * (float)(i % 5);
    for (size_t i = 0; i < out; i++)
        b[i] = 0.5f;
    relukit_set_num_threads(1);
    volatile float sink = 0;
    const long n = 60000; /* 12 * 60000 * 16 * 2 = 23 MFLOP: ~0.1 ms at 230 GFLOP/s */
    double best[4] = {1e30, 1e30, 1e30, 1e30};
    for (int r = 0; r < reps; r++)
        for (int which = 0; which < 4; which++) {
            const double t0 = now();
            if (which == 0)
                for (int q = 0; q < 30; q++)
                    sink += peak_avx512(n);
            else if (which == 1)
                for (int q = 0; q < 30; q++)
                    sink += peak_avx2(n);
            else {
                relukit__set_gemm_simd(which == 2 ? RELUKIT_SIMD_AVX512 : RELUKIT_SIMD_AVX2);
                relukit_dense_forward_f32(x, batch * in, w, in * out, b, out, y, batch * out,
                                          batch, in, out);
            }
            const double t = now() - t0;
            best[which] = t < best[which] ? t : best[which];
        }
    const double p512 = 30 * 12.0 * (double)n * 16 * 2 / best[0] * 1e-9;
    const double p256 = 30 * 12.0 * (double)n * 8 * 2 / best[1] * 1e-9;
    const double flops = 2.0 * (double)(batch * in * out);
    const double g512 = flops / best[2] * 1e-9, g256 = flops / best[3] * 1e-9;
    printf("FMA peak one core: avx512 %.1f GFLOP/s, avx2 %.1f GFLOP/s (f32, 12 chains)\n", p512,
           p256);
    printf("dense 1024->1024 batch 256 f32, 1 thread: avx512 kernel %.1f GFLOP/s = %.0f %% of "
           "the avx512 peak, %.0f %% of the avx2 peak; avx2 kernel %.1f GFLOP/s = %.0f %% of the "
           "avx2 peak\n",
           g512, 100 * g512 / p512, 100 * g512 / p256, g256, 100 * g256 / p256);
    (void)sink;
    free(x), free(w), free(b), free(y);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "ratio") == 0)
        return ratio(argc > 2 ? atoi(argv[2]) : 30);
    const int reps = argc > 1 ? atoi(argv[1]) : 20;
    if (argc > 4) /* kc mc nc overrides (0: derived) */
        relukit__set_gemm_blocks((size_t)atol(argv[2]), (size_t)atol(argv[3]), (size_t)atol(argv[4]));
    const int only = argc > 5 ? atoi(argv[5]) : -1; /* one shape index */
    volatile float sink = 0;
    const long n = 20000000;
    for (int isa = 0; isa < 2; isa++) {
        double best = 1e30;
        for (int r = 0; r < 5; r++) {
            const double t0 = now();
            sink += isa ? peak_avx512(n) : peak_avx2(n);
            const double t = now() - t0;
            best = t < best ? t : best;
        }
        printf("FMA peak %s, one core: %.1f GFLOP/s (f32)\n", isa ? "avx512" : "avx2",
               12.0 * (double)n * (isa ? 16 : 8) * 2 / best * 1e-9);
    }
    static const size_t shapes[][3] = {{1, 784, 256}, {32, 784, 256}, {256, 784, 256},
                                       {256, 1024, 1024}};
    const int paths[] = {RELUKIT_SIMD_AVX2, RELUKIT_SIMD_AVX512};
    const size_t max_threads = argc > 6 ? (size_t)atol(argv[6]) : 2;
    for (size_t threads = 1; threads <= max_threads; threads++) {
        relukit_set_num_threads(threads);
        for (int dt = 0; dt < 2; dt++)
            for (size_t s = 0; s < 4; s++) {
                if (only >= 0 && (size_t)only != s)
                    continue;
                const size_t batch = shapes[s][0], in = shapes[s][1], out = shapes[s][2];
                const size_t es = dt ? 8 : 4;
                void *x = aligned_alloc(64, batch * in * es), *w = aligned_alloc(64, in * out * es);
                void *b = aligned_alloc(64, (out * es + 63) / 64 * 64);
                void *y = aligned_alloc(64, (batch * out * es + 63) / 64 * 64);
                for (size_t i = 0; i < batch * in; i++)
                    dt ? (void)(((double *)x)[i] = (double)(i % 7) - 3) : (void)(((float *)x)[i] = (float)(i % 7) - 3);
                for (size_t i = 0; i < in * out; i++)
                    dt ? (void)(((double *)w)[i] = 0.01 * (double)(i % 5)) : (void)(((float *)w)[i] = 0.01f * (float)(i % 5));
                for (size_t i = 0; i < out; i++)
                    dt ? (void)(((double *)b)[i] = 0.5) : (void)(((float *)b)[i] = 0.5f);
                for (int p = 0; p < 2; p++) {
                    relukit__set_gemm_simd(paths[p]);
                    double best = 1e30;
                    for (int r = 0; r < reps; r++) {
                        const double t0 = now();
                        if (dt)
                            relukit_dense_forward_f64(x, batch * in, w, in * out, b, out, y,
                                                      batch * out, batch, in, out);
                        else
                            relukit_dense_forward_f32(x, batch * in, w, in * out, b, out, y,
                                                      batch * out, batch, in, out);
                        const double t = now() - t0;
                        best = t < best ? t : best;
                    }
                    printf("%zu thr %s dense %zux%zux%zu %-6s: %8.1f us %6.1f GFLOP/s\n", threads,
                           dt ? "f64" : "f32", batch, in, out, p ? "avx512" : "avx2", best * 1e6,
                           2.0 * (double)(batch * in * out) / best * 1e-9);
                }
                free(x), free(w), free(b), free(y);
            }
    }
    (void)sink;
    return 0;
}
