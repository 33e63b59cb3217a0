/* bench_threads.c: the measurements behind the thread pool's constants (not part of the test
 * build). Interleaves the configurations it compares in many short rounds and keeps the best
 * round of each, so that a busy shared machine (other processes taking a core now and then)
 * hurts every configuration alike.
 *
 *   1. dispatch latency: a job of two empty parts, worker spinning vs asleep, against a
 *      direct call;
 *   2. the split threshold: relu f32 (AVX2), 1 thread vs 2 threads, out of place and in place,
 *      over array sizes, with the non-temporal rule of the library;
 *   3. the non-temporal threshold with 2 threads.
 *
 * Build and run (from the repository root):
 *   gcc -std=c11 -O2 -Wall -Wextra -Werror -pthread -Icsrc csrc/[a-z]*.c \
 *       csrc/tests/bench_threads.c -o build/bench_threads && ./build/bench_threads
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, nanosleep */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../relukit.h"
#include "../relukit_internal.h"

#define ROUNDS 25
#define ROUND_SECONDS 0.004

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *xalloc(size_t bytes)
{
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

static void fill(float *x, size_t n)
{
    uint32_t s = 12345u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((int32_t)(s >> 8) - (1 << 23)) * 0x1p-20f;
    }
}

struct cfg {
    size_t threads;
    int inplace;
};

/* seconds per call of relu f32 over n elements: the best of ROUNDS rounds per configuration,
 * the configurations interleaved round by round */
static void relu_rounds(const struct cfg *cfgs, size_t ncfg, float *x, float *y, size_t n,
                        double *best)
{
    size_t iters = 1;
    relukit_set_num_threads(1);
    for (;;) { /* calibrate on the first configuration */
        const double t0 = now();
        for (size_t i = 0; i < iters; i++)
            (void)relukit_relu_array_f32(x, n, y, n);
        if (now() - t0 >= ROUND_SECONDS)
            break;
        iters *= 2;
    }
    for (size_t c = 0; c < ncfg; c++)
        best[c] = 1e30;
    for (int r = 0; r < ROUNDS; r++)
        for (size_t c = 0; c < ncfg; c++) {
            float *out = cfgs[c].inplace ? x : y;
            relukit_set_num_threads(cfgs[c].threads);
            (void)relukit_relu_array_f32(x, n, out, n); /* warm: wakes the worker */
            const double t0 = now();
            for (size_t i = 0; i < iters; i++)
                (void)relukit_relu_array_f32(x, n, out, n);
            const double t = (now() - t0) / (double)iters;
            if (t < best[c])
                best[c] = t;
        }
    relukit_set_num_threads(1);
}

static void empty_part(void *ctx, size_t part, size_t nparts)
{
    (void)part, (void)nparts;
    *(volatile int *)ctx += 0;
}

static void dispatch_latency(void)
{
    int dummy = 0;
    const int calls = 20000;
    relukit_set_num_threads(2);
    relukit__parallel_for(empty_part, &dummy, 2, 2); /* starts the worker */
    double best_direct = 1e30, best_spin = 1e30, best_sleep = 1e30;
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now();
        for (int i = 0; i < calls; i++)
            relukit__parallel_for(empty_part, &dummy, 2, 1);
        double t = (now() - t0) / calls;
        best_direct = t < best_direct ? t : best_direct;
        t0 = now();
        for (int i = 0; i < calls; i++)
            relukit__parallel_for(empty_part, &dummy, 2, 2);
        t = (now() - t0) / calls;
        best_spin = t < best_spin ? t : best_spin;
        /* a sleeping worker: wait past the spin window first (the caller may then run both
         * parts itself before the worker wakes; this is the caller's cost) */
        const struct timespec pause = {0, 2000000};
        nanosleep(&pause, NULL);
        t0 = now();
        relukit__parallel_for(empty_part, &dummy, 2, 2);
        t = now() - t0;
        best_sleep = t < best_sleep ? t : best_sleep;
    }
    printf("dispatch, 2 empty parts: serial %.0f ns, worker spinning %.0f ns, "
           "worker asleep %.0f ns (best of %d)\n",
           best_direct * 1e9, best_spin * 1e9, best_sleep * 1e9, ROUNDS);
    relukit_set_num_threads(1);
}

int main(void)
{
    if (relukit__get_simd() != RELUKIT_SIMD_AVX2)
        printf("note: no AVX2, the portable path is measured\n");
    dispatch_latency();

    static const size_t sizes[] = {16u << 10, 32u << 10, 64u << 10, 96u << 10, 128u << 10,
                                   192u << 10, 256u << 10, 512u << 10, 1u << 20, 2u << 20,
                                   4u << 20, 8u << 20, 32u << 20};
    const size_t default_split = relukit__set_split_threshold(0);
    const struct cfg cfgs[] = {{1, 0}, {2, 0}, {1, 1}, {2, 1}};
    printf("\nsplit sweep, relu f32, every call split when 2 threads (GB/s of bytes r+w; best of "
           "%d interleaved rounds)\n",
           ROUNDS);
    printf("%-9s %9s | %8s %8s %6s | %8s %8s %6s\n", "n", "KiB x", "out 1t", "out 2t", "2t/1t",
           "in 1t", "in 2t", "2t/1t");
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        const size_t n = sizes[s];
        float *x = xalloc(n * 4), *y = xalloc(n * 4);
        fill(x, n);
        fill(y, n);
        double best[4];
        relu_rounds(cfgs, 4, x, y, n, best);
        const double gb = 2.0 * (double)n * 4 * 1e-9;
        printf("%-9zu %9zu | %8.1f %8.1f %5.2fx | %8.1f %8.1f %5.2fx\n", n, n * 4 >> 10,
               gb / best[0], gb / best[1], best[0] / best[1], gb / best[2], gb / best[3],
               best[2] / best[3]);
        free(x);
        free(y);
    }
    relukit__set_split_threshold(default_split);

    /* NT threshold with 2 threads: out of place, cached vs streaming stores */
    static const size_t nt_sizes[] = {512u << 10, 1u << 20, 2u << 20, 3u << 20, 4u << 20,
                                      8u << 20, 32u << 20};
    const size_t default_nt = relukit__set_nt_threshold(SIZE_MAX);
    printf("\nNT sweep, relu f32 out of place, 2 threads (GB/s; best of %d interleaved rounds)\n",
           ROUNDS);
    printf("%-9s %9s | %8s %8s %6s\n", "n", "MiB r+w", "cached", "stream", "st/ca");
    relukit__set_split_threshold(0);
    for (size_t s = 0; s < sizeof nt_sizes / sizeof nt_sizes[0]; s++) {
        const size_t n = nt_sizes[s];
        float *x = xalloc(n * 4), *y = xalloc(n * 4);
        fill(x, n);
        fill(y, n);
        double b[2] = {1e30, 1e30};
        const struct cfg two = {2, 0};
        for (int r = 0; r < 5; r++) {
            double t;
            relukit__set_nt_threshold(SIZE_MAX);
            relu_rounds(&two, 1, x, y, n, &t);
            b[0] = t < b[0] ? t : b[0];
            relukit__set_nt_threshold(0);
            relu_rounds(&two, 1, x, y, n, &t);
            b[1] = t < b[1] ? t : b[1];
        }
        const double gb = 2.0 * (double)n * 4 * 1e-9;
        printf("%-9zu %9.1f | %8.1f %8.1f %5.2fx\n", n, (double)n * 8 / (1 << 20), gb / b[0],
               gb / b[1], b[0] / b[1]);
        free(x);
        free(y);
    }
    relukit__set_nt_threshold(default_nt);
    relukit__set_split_threshold(default_split);
    return 0;
}
