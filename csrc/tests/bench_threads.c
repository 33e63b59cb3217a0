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
 *   make cbench && ./build/bench_threads
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, nanosleep, sched_yield */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "relukit.h"
#include "runtime.h"

#define ROUNDS 25
#define ROUND_SECONDS 0.004
#define QUIET_WAIT 60.0 /* seconds to wait for an idle machine before each row */

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

/* ---- the machine's load: this benchmark shares its 2 CPUs with other processes ---------- */

/* busy and total CPU seconds of the whole machine since boot (/proc/stat), 0 if unknown */
static void machine_cpu(double *busy, double *total)
{
    unsigned long long v[10] = {0};
    *busy = *total = 0.0;
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return;
    const int got = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                           &v[3], &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (got != 8)
        return;
    const double hz = (double)sysconf(_SC_CLK_TCK);
    unsigned long long all = 0;
    for (int i = 0; i < 8; i++)
        all += v[i];
    *total = (double)all / hz;
    *busy = (double)(all - v[3] - v[4]) / hz;
}

static double my_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* wait (up to max_s seconds) for a half second in which the machine is >= 90% idle */
static void wait_quiet(double max_s)
{
    const double end = now() + max_s;
    while (now() < end) {
        double b0, t0, b1, t1;
        machine_cpu(&b0, &t0);
        const struct timespec half = {0, 500000000};
        nanosleep(&half, NULL);
        machine_cpu(&b1, &t1);
        if (t1 <= t0 || (b1 - b0) / (t1 - t0) <= 0.1)
            return;
    }
}

struct load_mark {
    double busy, total, mine;
};
static struct load_mark load_start(void)
{
    struct load_mark m;
    machine_cpu(&m.busy, &m.total);
    m.mine = my_cpu();
    return m;
}
/* percent of all CPU time that other processes took since the mark */
static double load_other(struct load_mark m)
{
    struct load_mark e = load_start();
    if (e.total <= m.total)
        return -1.0;
    const double other = (e.busy - m.busy) - (e.mine - m.mine);
    return 100.0 * (other > 0 ? other : 0) / (e.total - m.total);
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

/* Hand-off latency: part 0 (the caller) spins until part 1 has started on a worker; the job's
 * time is then publish -> a worker claims part 1 -> the caller sees it. */
struct handoff {
    _Atomic int started;
    _Atomic size_t claimer_is_caller;
};

static void handoff_part(void *ctx, size_t part, size_t nparts)
{
    struct handoff *h = ctx;
    (void)nparts;
    if (part == 1) {
        atomic_store(&h->started, 1);
        return;
    }
    /* part 0: wait (bounded) for part 1 to start elsewhere; yield, as the pool's own waits
     * do, in case the worker shares this CPU */
    const double end = now() + 0.05;
    for (unsigned i = 0; !atomic_load(&h->started) && now() < end; i++)
        if (i > 64)
            sched_yield();
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void dispatch_latency(void)
{
    relukit_set_num_threads(2);
    struct handoff h;
    atomic_store(&h.started, 0);
    relukit__parallel_for(handoff_part, &h, 2, 2); /* starts the worker */
    static double spin[200], sleep_t[20];
    size_t n_spin = 0, n_sleep = 0;
    wait_quiet(QUIET_WAIT);
    const struct load_mark mark = load_start();
    for (int r = 0; r < 200; r++) {
        /* worker polling: back to back */
        atomic_store(&h.started, 0);
        double t0 = now();
        relukit__parallel_for(handoff_part, &h, 2, 2);
        spin[n_spin++] = now() - t0;
        /* worker asleep: wait past its polling window first */
        if (r % 10 == 0) {
            const struct timespec pause = {0, 5000000};
            nanosleep(&pause, NULL);
            atomic_store(&h.started, 0);
            t0 = now();
            relukit__parallel_for(handoff_part, &h, 2, 2);
            sleep_t[n_sleep++] = now() - t0;
        }
    }
    qsort(spin, n_spin, sizeof spin[0], cmp_double);
    qsort(sleep_t, n_sleep, sizeof sleep_t[0], cmp_double);
    printf("hand-off of a part to a worker (publish -> worker starts -> caller sees it):\n"
           "  worker polling: min %.2f us, median %.2f us, 90%% %.2f us (%zu jobs)\n"
           "  worker asleep:  min %.1f us, median %.1f us, 90%% %.1f us (%zu jobs)"
           " | other load %.0f%%\n",
           spin[0] * 1e6, spin[n_spin / 2] * 1e6, spin[n_spin * 9 / 10] * 1e6, n_spin,
           sleep_t[0] * 1e6, sleep_t[n_sleep / 2] * 1e6, sleep_t[n_sleep * 9 / 10] * 1e6,
           n_sleep, load_other(mark));
    relukit_set_num_threads(1);
}

static void split_sweep(void)
{

    static const size_t sizes[] = {16u << 10,  32u << 10,  48u << 10, 64u << 10,  80u << 10,
                                   96u << 10,  128u << 10, 192u << 10, 256u << 10, 512u << 10,
                                   1u << 20,   4u << 20,   8u << 20};
    const size_t default_split = relukit__set_split_threshold(0);
    const struct cfg cfgs[] = {{1, 0}, {2, 0}, {1, 1}, {2, 1}};
    printf("\nsplit sweep, relu f32, every call split when 2 threads (GB/s of bytes r+w; best of "
           "%d interleaved rounds)\n",
           ROUNDS);
    printf("%-9s %9s | %8s %8s %6s | %8s %8s %6s | %s\n", "n", "KiB x", "out 1t", "out 2t",
           "2t/1t", "in 1t", "in 2t", "2t/1t", "other load");
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        const size_t n = sizes[s];
        float *x = xalloc(n * 4), *y = xalloc(n * 4);
        fill(x, n);
        fill(y, n);
        double best[4];
        wait_quiet(QUIET_WAIT);
        const struct load_mark mark = load_start();
        relu_rounds(cfgs, 4, x, y, n, best);
        const double gb = 2.0 * (double)n * 4 * 1e-9;
        printf("%-9zu %9zu | %8.1f %8.1f %5.2fx | %8.1f %8.1f %5.2fx | %3.0f%%\n", n, n * 4 >> 10,
               gb / best[0], gb / best[1], best[0] / best[1], gb / best[2], gb / best[3],
               best[2] / best[3], load_other(mark));
        free(x);
        free(y);
    }
    relukit__set_split_threshold(default_split);

}

static void nt_sweep(void)
{
    /* the NT threshold: out of place, cached vs streaming stores, 1 and 2 threads */
    static const size_t nt_sizes[] = {1u << 20, 2u << 20, 3u << 20, 4u << 20, 5u << 20,
                                      6u << 20, 8u << 20, 16u << 20};
    const size_t default_nt = relukit__set_nt_threshold(SIZE_MAX);
    const size_t default_split = relukit__set_split_threshold(0);
    printf("\nNT sweep, relu f32 out of place (GB/s; best of %d interleaved rounds)\n", ROUNDS);
    printf("%-9s %9s | %8s %8s %6s | %8s %8s %6s | %s\n", "n", "MiB r+w", "1t cache",
           "1t strm", "st/ca", "2t cache", "2t strm", "st/ca", "other load");
    for (size_t s = 0; s < sizeof nt_sizes / sizeof nt_sizes[0]; s++) {
        const size_t n = nt_sizes[s];
        float *x = xalloc(n * 4), *y = xalloc(n * 4);
        fill(x, n);
        fill(y, n);
        double b[4] = {1e30, 1e30, 1e30, 1e30};
        wait_quiet(QUIET_WAIT);
        const struct load_mark mark = load_start();
        for (int r = 0; r < 3; r++)
            for (size_t k = 0; k < 4; k++) {
                const struct cfg c = {k / 2 + 1, 0};
                double t;
                relukit__set_nt_threshold(k % 2 ? 0 : SIZE_MAX);
                relu_rounds(&c, 1, x, y, n, &t);
                b[k] = t < b[k] ? t : b[k];
            }
        const double gb = 2.0 * (double)n * 4 * 1e-9;
        printf("%-9zu %9.1f | %8.1f %8.1f %5.2fx | %8.1f %8.1f %5.2fx | %3.0f%%\n", n,
               (double)n * 8 / (1 << 20), gb / b[0], gb / b[1], b[0] / b[1], gb / b[2], gb / b[3],
               b[2] / b[3], load_other(mark));
        free(x);
        free(y);
    }
    relukit__set_nt_threshold(default_nt);
    relukit__set_split_threshold(default_split);
}

static void dense_sweep(void)
{
    /* dense forward f32, 1 thread vs 2 threads (every call split), batch 1 and 64 */
    static const size_t shapes[][3] = {{1, 64, 64},   {1, 128, 128}, {1, 256, 128},
                                       {1, 256, 256}, {1, 512, 256}, {1, 784, 256},
                                       {1, 1024, 1024}, {16, 64, 64}, {64, 784, 256}};
    const size_t default_dense = relukit__set_dense_split(0);
    printf("\ndense forward f32, every call split when 2 threads (us per call; best of %d "
           "interleaved rounds)\n",
           ROUNDS);
    printf("%-15s | %9s %9s %6s | %s\n", "batch,in,out", "1t", "2t", "2t/1t", "other load");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const size_t bt = shapes[s][0], in = shapes[s][1], out = shapes[s][2];
        float *x = xalloc(bt * in * 4), *w = xalloc(in * out * 4), *b = xalloc(out * 4),
              *y = xalloc(bt * out * 4);
        fill(x, bt * in);
        fill(w, in * out);
        fill(b, out);
        size_t iters = 1;
        for (;;) {
            const double t0 = now();
            for (size_t i = 0; i < iters; i++)
                (void)relukit_dense_forward_f32(x, bt * in, w, in * out, b, out, y, bt * out, bt,
                                                in, out);
            if (now() - t0 >= ROUND_SECONDS)
                break;
            iters *= 2;
        }
        double best[2] = {1e30, 1e30};
        wait_quiet(QUIET_WAIT);
        const struct load_mark mark = load_start();
        for (int r = 0; r < ROUNDS; r++)
            for (size_t t = 0; t < 2; t++) {
                relukit_set_num_threads(t + 1);
                (void)relukit_dense_forward_f32(x, bt * in, w, in * out, b, out, y, bt * out, bt,
                                                in, out);
                const double t0 = now();
                for (size_t i = 0; i < iters; i++)
                    (void)relukit_dense_forward_f32(x, bt * in, w, in * out, b, out, y, bt * out,
                                                    bt, in, out);
                const double dt = (now() - t0) / (double)iters;
                if (dt < best[t])
                    best[t] = dt;
            }
        relukit_set_num_threads(1);
        char sh[48];
        snprintf(sh, sizeof sh, "%zu,%zu,%zu", bt, in, out);
        printf("%-15s | %9.2f %9.2f %5.2fx | %3.0f%%\n", sh, best[0] * 1e6, best[1] * 1e6,
               best[0] / best[1], load_other(mark));
        free(x), free(w), free(b), free(y);
    }
    relukit__set_dense_split(default_dense);
}

/* which sections to run: all, or those named on the command line (dispatch split nt dense) */
static int want_section(int argc, char **argv, const char *name)
{
    if (argc < 2)
        return 1;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (relukit__get_simd() != RELUKIT_SIMD_AVX2)
        printf("note: no AVX2, the portable path is measured\n");
    if (want_section(argc, argv, "dispatch"))
        dispatch_latency();
    if (want_section(argc, argv, "split"))
        split_sweep();
    if (want_section(argc, argv, "nt"))
        nt_sweep();
    if (want_section(argc, argv, "dense"))
        dense_sweep();
    return 0;
}
