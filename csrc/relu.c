/* relu.c: scalar and array ReLU / ReLU-derivative kernels (contract in relukit.h).
 *
 * The per-element work lives in relukit_internal.h (bit-pattern based, branch-free); this file
 * adds the public scalar entry points and the array loops. Each array function checks its
 * lengths, then runs one of these paths:
 *
 *   - AVX2 (x86-64 with GCC/Clang, chosen at run time when the CPU and OS support AVX2 and
 *     RELUKIT_FORCE_PORTABLE is not set): explicit 256-bit integer intrinsics, 4 vectors per
 *     iteration, unaligned loads/stores, scalar tail with the element helper. Out of place and
 *     above RELUKIT_NT_THRESHOLD_BYTES (bytes read + written) the stores are non-temporal
 *     (_mm256_stream_si256 after a scalar head that aligns y to 32 bytes, then _mm_sfence).
 *     Only these functions are compiled with target("avx2"); the rest of the library stays
 *     baseline x86-64, so the binary runs on any x86-64.
 *   - portable: two simple counted loops that GCC auto-vectorizes (SSE2 on baseline x86-64)
 *     without runtime alias checks: x == y (in place) a single-pointer loop, y[i] = f(y[i]);
 *     x != y a loop over restrict-qualified pointers (any overlap other than x == y is
 *     undefined by the header's contract).
 *
 * Both paths decide on bit patterns with integer operations only (never a float compare), so
 * they give identical bits, DAZ/FTZ cannot change a result (a float compare under DAZ would
 * see a positive subnormal as 0) and no FP exception is raised. */
#include "relukit.h"
#include "relukit_internal.h"

#include <stdlib.h> /* getenv */


/* ---- scalars ---------------------------------------------------------------------------- */

float relukit_relu_f32(float x) { return relukit_relu_elem_f32(x); }
double relukit_relu_f64(double x) { return relukit_relu_elem_f64(x); }
float relukit_relu_grad_f32(float x) { return relukit_relu_grad_elem_f32(x); }
double relukit_relu_grad_f64(double x) { return relukit_relu_grad_elem_f64(x); }

int64_t relukit_relu_i64(int64_t x) { return x > 0 ? x : 0; }
int64_t relukit_relu_grad_i64(int64_t x) { return x > 0 ? 1 : 0; }

/* ---- run-time path selection -------------------------------------------------------------- */

/* Non-temporal stores pay off only when the output cannot stay in cache anyway: they skip the
 * read-for-ownership of y's lines (a third of the traffic of a cached out-of-place pass) but
 * also evict y, so a caller that reads y right after pays a DRAM trip. The L3 here is 32 MiB
 * (shared; L2 512 KiB per core). Measured with csrc/tests/bench_kernels.c on the EPYC target
 * (relu f32, out of place, AVX2, GB/s of bytes read + written, streaming / cached stores):
 *   2-16 MiB total: 0.69-0.82x (streaming loses while x and y still fit in the L3),
 *   24 MiB: 1.22x, 32 MiB: 1.35x, 64 MiB: 1.59x, 128 MiB: 1.66x, 512 MiB: 1.57x.
 * So stream when bytes read + written exceed 16 MiB, half the L3: the largest size where the
 * cached loop still wins, and the point where x and y together stop fitting in the L3 next to
 * anything else.
 * A call split over threads streams from twice that (32 MiB, the whole L3): two cores move
 * cached data through the L3 about twice as fast as one, while streaming stores are bound by
 * DRAM writes whatever the thread count. csrc/tests/bench_threads.c (nt), 2 threads, cached /
 * streaming GB/s on a quiet machine: 16 MiB 125 / 44, 24 MiB 89 / 43, 32 MiB 64 / 43; busy
 * (a core taken by other processes): 40 MiB 49 / 45, 48 MiB 35 / 67, 64 MiB 30 / 44,
 * 128 MiB 21 / 39. The decision is taken once per call, from the thread count it is split
 * over, before the split. */
#define RELUKIT_NT_THRESHOLD_BYTES ((size_t)16 << 20)

enum { SIMD_UNRESOLVED = -1 };

static RELUKIT_ATOMIC(int) simd_mode = SIMD_UNRESOLVED;
static RELUKIT_ATOMIC(size_t) nt_threshold = RELUKIT_NT_THRESHOLD_BYTES;
static RELUKIT_ATOMIC(unsigned long) nt_calls;

static int simd_cpu_best(void)
{
#if RELUKIT_X86_DISPATCH
    __builtin_cpu_init();
    /* libgcc reports avx2 only if the OS also saves the YMM state (XGETBV) */
    return __builtin_cpu_supports("avx2") ? RELUKIT_SIMD_AVX2 : RELUKIT_SIMD_PORTABLE;
#else
    return RELUKIT_SIMD_PORTABLE;
#endif
}

static int simd_detect(void)
{
    const char *force = getenv("RELUKIT_FORCE_PORTABLE");
    if (force != NULL && force[0] != '\0' && !(force[0] == '0' && force[1] == '\0'))
        return RELUKIT_SIMD_PORTABLE;
    return simd_cpu_best();
}

/* Resolved once, on first use. Concurrent first calls may each detect, but they all store the
 * same value (relaxed atomics: no data race, and nothing else is published through it). */
static int simd_get(void)
{
    int m = RELUKIT_LOAD(&simd_mode);
    if (m == SIMD_UNRESOLVED) {
        m = simd_detect();
        RELUKIT_STORE(&simd_mode, m);
    }
    return m;
}

int relukit__set_simd(int mode)
{
    int m;
    if (mode == RELUKIT_SIMD_PORTABLE)
        m = RELUKIT_SIMD_PORTABLE;
    else if (mode == RELUKIT_SIMD_AVX2)
        m = simd_cpu_best();
    else
        m = simd_detect();
    RELUKIT_STORE(&simd_mode, m);
    return m;
}

int relukit__get_simd(void) { return simd_get(); }

size_t relukit__set_nt_threshold(size_t bytes)
{
    size_t old = RELUKIT_LOAD(&nt_threshold);
    RELUKIT_STORE(&nt_threshold, bytes);
    return old;
}

unsigned long relukit__nt_calls(void) { return RELUKIT_LOAD(&nt_calls); }

size_t relukit__nt_threshold(void) { return RELUKIT_LOAD(&nt_threshold); }

/* ---- AVX2 loops (vector ops and loop body: relukit_internal.h) ---------------------------- */

#if RELUKIT_X86_DISPATCH
/* RELUKIT_AVX2_LOOPS(NAME, FT, VOP, ELEM) defines, as range functions (relukit_range_fn)
 *   NAME_avx2(x, y, n)         y[i] = ELEM(x[i]), cached stores; x == y allowed
 *   NAME_avx2_stream(x, y, n)  the same with non-temporal stores; x != y, y FT-aligned */
#define RELUKIT_AVX2_LOOPS(NAME, FT, VOP, ELEM)                                                  \
    RELUKIT_AVX2_FN static void NAME##_avx2(const void *xv, void *yv, size_t n)                  \
    {                                                                                            \
        const FT *x = xv;                                                                        \
        FT *y = yv;                                                                              \
        RELUKIT_AVX2_BODY(FT, VOP, ELEM, RELUKIT_STOREU)                                         \
    }                                                                                            \
    RELUKIT_AVX2_FN static void NAME##_avx2_stream(const void *xv, void *yv, size_t n)           \
    {                                                                                            \
        const FT *x = xv;                                                                        \
        FT *y = yv;                                                                              \
        RELUKIT_AVX2_BODY(FT, VOP, ELEM, RELUKIT_STREAM)                                         \
        _mm_sfence(); /* order the weakly-ordered streaming stores before we return */          \
    }

RELUKIT_AVX2_LOOPS(relu_f32, float, relukit_relu_v_f32, relukit_relu_elem_f32)
RELUKIT_AVX2_LOOPS(relu_f64, double, relukit_relu_v_f64, relukit_relu_elem_f64)
RELUKIT_AVX2_LOOPS(grad_f32, float, relukit_grad_v_f32, relukit_relu_grad_elem_f32)
RELUKIT_AVX2_LOOPS(grad_f64, double, relukit_grad_v_f64, relukit_relu_grad_elem_f64)
#endif /* RELUKIT_X86_DISPATCH */

/* ---- splitting one call over threads ------------------------------------------------------ */

/* A call is split over threads when it moves at least this many bytes (read + written) and
 * relukit_set_num_threads allows more than one thread. csrc/tests/bench_threads.c (split),
 * relu f32 AVX2, 2 threads / 1 thread, every call split, other processes' load 0-8%:
 *   x      64 KiB 128 KiB 192 KiB 256 KiB 384 KiB 512 KiB 1 MiB  4 MiB  16 MiB 32 MiB
 *   out    1.25x  1.41x   1.42x   1.67x   1.91x   1.90x   1.83x  2.04x  1.31x  1.25x
 *   in     0.93x  1.12x   1.13x   1.31x   1.48x   1.61x   1.73x  1.87x  2.54x  1.92x
 * (a polling worker takes a part within ~0.3 us). With a core taken by other processes
 * (50-70% load) the worker rarely runs and a split call costs 3-16% more than one thread
 * (16-256 KiB x). So split from 256 KiB moved: 128 KiB x out of place, the first size where
 * both forms gain. */
#define RELUKIT_SPLIT_BYTES ((size_t)256 << 10)
/* Parts per thread: the threads claim parts one at a time, so a late-waking worker or a
 * descheduled thread costs at most a part, not half the call. */
#define RELUKIT_PARTS_PER_THREAD 4
/* ...but no part under this many bytes of output (a part's fixed cost is a claim, a call and
 * the vector loop's head and tail) */
#define RELUKIT_MIN_PART_BYTES ((size_t)64 << 10)

static RELUKIT_ATOMIC(size_t) split_bytes = RELUKIT_SPLIT_BYTES;

size_t relukit__set_split_threshold(size_t bytes)
{
    size_t old = RELUKIT_LOAD(&split_bytes);
    RELUKIT_STORE(&split_bytes, bytes);
    return old;
}

/* y[i] = op(x[i]) for i < n over one contiguous range (x == y allowed where the loop says so) */
typedef void (*relukit_range_fn)(const void *x, void *y, size_t n);

/* One elementwise call cut into parts at 64-byte boundaries of y: part 0 is [0, head + chunk),
 * part p is [head + p chunk, head + (p+1) chunk) clipped to n, the last part ends at n. head
 * takes y to a 64-byte boundary (0 if y is not element-aligned), chunk is a multiple of
 * 64 / esize elements, so no cache line of y is written by two threads and every part's
 * vector stores start aligned. */
struct ew_job {
    relukit_range_fn fn;
    const unsigned char *x;
    unsigned char *y;
    size_t n, esize, head, chunk;
};

static size_t ew_bound(const struct ew_job *j, size_t p, size_t nparts)
{
    if (p == 0)
        return 0;
    if (p >= nparts)
        return j->n;
    const size_t b = j->head + p * j->chunk;
    return b < j->n ? b : j->n;
}

static void ew_part(void *ctx, size_t p, size_t nparts)
{
    const struct ew_job *j = ctx;
    const size_t b = ew_bound(j, p, nparts), e = ew_bound(j, p + 1, nparts);
    if (e > b)
        j->fn(j->x + b * j->esize, j->y + b * j->esize, e - b);
}

/* How many threads a call over n elements of esize bytes is split over (1: not split).
 * n >= T / (2 esize) is 2 n esize >= T without overflow (exact for power-of-two T). */
static size_t ew_threads(size_t n, size_t esize)
{
    const size_t threads = relukit_get_num_threads();
    if (threads <= 1 || n < RELUKIT_LOAD(&split_bytes) / (2 * esize))
        return 1;
    return threads;
}

/* Run fn over n elements of esize bytes, split over `threads` threads (from ew_threads). */
static void ew_run(relukit_range_fn fn, const void *x, void *y, size_t n, size_t esize,
                   size_t threads)
{
    if (threads <= 1) {
        fn(x, y, n);
        return;
    }
    const size_t line = 64 / esize;
    const uintptr_t ya = (uintptr_t)y;
    struct ew_job j = {fn, x, y, n, esize, 0, 0};
    if (ya % esize == 0)
        j.head = ((64 - (size_t)(ya & 63)) & 63) / esize;
    if (j.head > n)
        j.head = n;
    size_t nparts = threads * RELUKIT_PARTS_PER_THREAD;
    const size_t max_parts = n * esize / RELUKIT_MIN_PART_BYTES;
    if (nparts > max_parts)
        nparts = max_parts > threads ? max_parts : threads;
    if (nparts > RELUKIT_MAX_PARTS)
        nparts = RELUKIT_MAX_PARTS;
    const size_t per = (n - j.head + nparts - 1) / nparts;
    j.chunk = (per + line - 1) / line * line;
    if (j.chunk == 0)
        j.chunk = line;
    relukit__parallel_for(ew_part, &j, nparts, threads);
}

/* ---- arrays ------------------------------------------------------------------------------ */

#if RELUKIT_X86_DISPATCH
/* The streaming threshold (bytes read + written) for a call over `threads` threads: the
 * one-thread value, doubled when the call is split (see RELUKIT_NT_THRESHOLD_BYTES). */
static size_t nt_limit(size_t threads)
{
    const size_t t = RELUKIT_LOAD(&nt_threshold);
    if (threads <= 1)
        return t;
    return t > SIZE_MAX / 2 ? SIZE_MAX : 2 * t;
}

/* The AVX2 range function for one call. Streaming only out of place, when bytes read + written
 * (2 * n * sizeof(FT)) exceed the threshold (decided for the whole call, before any split),
 * and when y is FT-aligned (else the scalar head could never reach a 32-byte boundary).
 * n > T / (2 s) is exactly 2 s n > T, without overflow. */
#define RELUKIT_PICK_AVX2(VNAME, FT, x, y, n, threads, fn)                                       \
    do {                                                                                         \
        if (simd_get() == RELUKIT_SIMD_AVX2) {                                                   \
            if ((const void *)(x) != (const void *)(y) &&                                        \
                (n) > nt_limit(threads) / (2 * sizeof(FT)) &&                                    \
                ((uintptr_t)(void *)(y) % sizeof(FT)) == 0) {                                    \
                RELUKIT_INC(&nt_calls);                                                          \
                fn = VNAME##_avx2_stream;                                                        \
            } else {                                                                             \
                fn = VNAME##_avx2;                                                               \
            }                                                                                    \
        }                                                                                        \
    } while (0)
#else
#define RELUKIT_PICK_AVX2(VNAME, FT, x, y, n, threads, fn) ((void)0)
#endif

/* RELUKIT_ARRAY_KERNEL(NAME, VNAME, FT, ELEM) defines
 *   int NAME(const FT *x, size_t x_len, FT *y, size_t y_len)
 * computing y[i] = ELEM(x[i]) for i < x_len. Returns RELUKIT_ESIZE, touching nothing, if
 * y_len != x_len or a buffer with a nonzero length is NULL; length 0 is fine (NULL allowed);
 * RELUKIT_EOVERLAP, touching nothing, if y overlaps x without being x. VNAME names the AVX2
 * loops for the same operation. */
#define RELUKIT_ARRAY_KERNEL(NAME, VNAME, FT, ELEM)                                              \
    static void NAME##_inplace(const void *xv, void *yv, size_t n)                               \
    {                                                                                            \
        FT *y = yv;                                                                              \
        (void)xv; /* == yv */                                                                    \
        for (size_t i = 0; i < n; i++)                                                           \
            y[i] = ELEM(y[i]);                                                                   \
    }                                                                                            \
    static void NAME##_outofplace(const void *xv, void *yv, size_t n)                            \
    {                                                                                            \
        const FT *restrict x = xv;                                                               \
        FT *restrict y = yv;                                                                     \
        for (size_t i = 0; i < n; i++)                                                           \
            y[i] = ELEM(x[i]);                                                                   \
    }                                                                                            \
    int NAME(const FT *x, size_t x_len, FT *y, size_t y_len)                                     \
    {                                                                                            \
        if (x_len != y_len || (x_len != 0 && (x == NULL || y == NULL)))                          \
            return RELUKIT_ESIZE;                                                                \
        if (x_len == 0)                                                                          \
            return RELUKIT_OK;                                                                   \
        if (x != y && relukit_overlaps(x, x_len * sizeof(FT), y, y_len * sizeof(FT)))           \
            return RELUKIT_EOVERLAP;                                                             \
        relukit_range_fn fn = x == y ? NAME##_inplace : NAME##_outofplace;                       \
        const size_t threads = ew_threads(x_len, sizeof(FT));                                    \
        RELUKIT_PICK_AVX2(VNAME, FT, x, y, x_len, threads, fn);                                  \
        ew_run(fn, x, y, x_len, sizeof(FT), threads);                                            \
        return RELUKIT_OK;                                                                       \
    }

RELUKIT_ARRAY_KERNEL(relukit_relu_array_f32, relu_f32, float, relukit_relu_elem_f32)
RELUKIT_ARRAY_KERNEL(relukit_relu_array_f64, relu_f64, double, relukit_relu_elem_f64)
RELUKIT_ARRAY_KERNEL(relukit_relu_grad_array_f32, grad_f32, float, relukit_relu_grad_elem_f32)
RELUKIT_ARRAY_KERNEL(relukit_relu_grad_array_f64, grad_f64, double, relukit_relu_grad_elem_f64)
