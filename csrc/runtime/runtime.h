/* runtime.h: what the kernels ask of the runtime (internal: not in the cffi cdef). Plain C11.
 *
 *   dispatch.c  which path the kernels take (AVX2 or portable, RELUKIT_FORCE_PORTABLE; FMA)
 *   machine.c   the detected caches and CPUs, and the thresholds derived from them
 *   pool.c      the persistent thread pool (relukit__parallel_for)
 *   split.c     one elementwise call cut into parts over the pool
 * plus the small helpers every kernel file uses (atomics, size products, overlap). */
#ifndef RELUKIT_RUNTIME_H
#define RELUKIT_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "relukit.h"

/* Relaxed atomics for settings and counters that several threads may touch (plain volatile
 * where C11 atomics are missing). */
#if defined(__STDC_NO_ATOMICS__)
#define RELUKIT_ATOMIC(T) volatile T
#define RELUKIT_LOAD(p) (*(p))
#define RELUKIT_STORE(p, v) (*(p) = (v))
#define RELUKIT_INC(p) ((void)(*(p) += 1u))
#else
#include <stdatomic.h>
#define RELUKIT_ATOMIC(T) _Atomic T
#define RELUKIT_LOAD(p) atomic_load_explicit((p), memory_order_relaxed)
#define RELUKIT_STORE(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define RELUKIT_INC(p) ((void)atomic_fetch_add_explicit((p), 1u, memory_order_relaxed))
#endif

/* RELUKIT_X86_DISPATCH is 1 where AVX2 code can be compiled next to baseline code (functions
 * marked target("avx2")) and chosen at run time; the rest of the library stays baseline
 * x86-64, so the binary runs on any x86-64. */
#if defined(__x86_64__) && defined(__GNUC__)
#define RELUKIT_X86_DISPATCH 1
#else
#define RELUKIT_X86_DISPATCH 0
#endif

/* *r = a * b; returns 0 (and leaves *r alone) if the product overflows size_t. */
static inline int relukit_mul_size(size_t a, size_t b, size_t *r)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 0;
    *r = a * b;
    return 1;
}

/* 1 if the byte ranges [a, a + a_bytes) and [b, b + b_bytes) share a byte. Compares addresses
 * as integers (relational operators on pointers into different objects are undefined). */
static inline int relukit_overlaps(const void *a, size_t a_bytes, const void *b, size_t b_bytes)
{
    const uintptr_t pa = (uintptr_t)a, pb = (uintptr_t)b;
    return a_bytes != 0 && b_bytes != 0 && pa < pb + b_bytes && pb < pa + a_bytes;
}

/* ---- dispatch.c ----------------------------------------------------------------------------
 *
 * The path is picked once, on first use: AVX2 if the CPU (and OS) support it and the
 * environment variable RELUKIT_FORCE_PORTABLE is unset, empty or "0"; else portable. */
int relukit__get_simd(void);
/* 1 if the CPU has FMA (the smooth float kernels use it on either path). */
int relukit__have_fma(void);
/* Test hook: select the path: RELUKIT_SIMD_PORTABLE; RELUKIT_SIMD_AVX2 (only if the CPU
 * supports it); any other value re-runs the default selection (environment + CPU). Returns the
 * path now in effect. A call in flight keeps its old path. */
int relukit__set_simd(int mode);

/* ---- machine.c: thresholds (bytes are bytes read + written) ----------------------------- */

/* The detected machine and the derived thresholds, computed once per process. */
const struct relukit_runtime_info *relukit__machine(void);
/* Out of place on the AVX2 path, a call over `threads` threads uses non-temporal stores when
 * it moves more than this many bytes. */
size_t relukit__nt_limit(size_t threads);
/* An elementwise call is split over threads from this many bytes moved on. */
size_t relukit__split_bytes(void);
/* A dense call is split over threads from this many multiply-adds (batch * in * out) on. */
size_t relukit__dense_split_macs(void);

/* GEMM blocking (csrc/kernels/gemm.c) for a micro-tile of mr x nr elements of esize bytes:
 * kc (the k-block: a kc x nr micro-panel of B takes half of the L1d), mc (the rows of A
 * packed per k-block: mc x kc takes half of the L2), nc (the columns of B packed per k-block:
 * kc x nc takes half of the L3 share, at most 4096); kc a multiple of 8, mc of mr, nc of nr.
 * relukit__set_gemm_blocks(kc, mc, nc) overrides them (a test hook; 0 keeps a derived one;
 * returns nothing). */
struct relukit_gemm_blocks {
    size_t kc, mc, nc;
};
void relukit__gemm_blocks(size_t esize, size_t mr, size_t nr, struct relukit_gemm_blocks *out);
void relukit__set_gemm_blocks(size_t kc, size_t mc, size_t nc);
/* The micro-tile of the GEMM path in use (gemm.c): mr x nr (1 x 1 on the portable path), and
 * that path (enum relukit_simd). */
void relukit__gemm_tile(size_t esize, size_t *mr, size_t *nr);
int relukit__gemm_simd(void);

/* Test hooks: override one threshold for every thread count (0: always, SIZE_MAX: never) or
 * give it back to the machine with RELUKIT_AUTO. Each returns the previous override
 * (RELUKIT_AUTO if there was none), so `old = set(v); ...; set(old)` restores it. Not meant to
 * be called while other threads run the kernels (a call in flight keeps its old value). */
#define RELUKIT_AUTO (SIZE_MAX - 1)
size_t relukit__set_nt_threshold(size_t bytes);
size_t relukit__set_split_threshold(size_t bytes);
size_t relukit__set_dense_split(size_t macs);
/* How many array calls have taken the streaming path so far. */
unsigned long relukit__nt_calls(void);
void relukit__count_nt_call(void);

/* ---- pool.c --------------------------------------------------------------------------------
 *
 * relukit__parallel_for(fn, ctx, nparts, threads) runs fn(ctx, p, nparts) once for every
 * p < nparts, on the calling thread and at most threads - 1 pool workers (never more than the
 * relukit_set_num_threads setting), and returns when all parts are done, with every part's
 * writes visible to the caller. Parts run in any order, possibly several on one thread, so
 * they must write disjoint memory. Runs everything on the calling thread when threads <= 1,
 * nparts <= 1 or > RELUKIT_MAX_PARTS, or when the pool is busy with another thread's call.
 * Returns the number of threads that took part (1 = it ran serially). A part that uses
 * non-temporal stores must end with a store fence (the kernels' streaming loops do). */
#define RELUKIT_MAX_THREADS 64
#define RELUKIT_MAX_PARTS 4096
typedef void (*relukit_part_fn)(void *ctx, size_t part, size_t nparts);
size_t relukit__parallel_for(relukit_part_fn fn, void *ctx, size_t nparts, size_t threads);
/* Test hook: how many jobs were handed to the pool (not run serially) since the process
 * started. */
unsigned long relukit__pool_jobs(void);

/* ---- split.c -------------------------------------------------------------------------------
 *
 * y[i] = op(x[i]) for i < n over one contiguous range; `params` is the op's own parameter
 * block (NULL for none). x == y (in place) is allowed where the range function says so. */
typedef void (*relukit_range_fn)(const void *x, void *y, size_t n, const void *params);
/* How many threads a call over n elements of esize bytes is split over (1: not split). */
size_t relukit__ew_threads(size_t n, size_t esize);
/* 1 if an AVX2 call over n elements of esize bytes, split over `threads`, streams its stores:
 * out of place, more bytes moved than relukit__nt_limit(threads), y aligned to esize (so the
 * scalar head reaches a 32-byte boundary). Counts the call in relukit__nt_calls. */
int relukit__ew_stream(const void *x, const void *y, size_t n, size_t esize, size_t threads);
/* Run fn over the n elements, split over `threads` (from relukit__ew_threads) at 64-byte
 * boundaries of y, so no cache line of y is written by two threads. */
void relukit__ew_run(relukit_range_fn fn, const void *params, const void *x, void *y, size_t n,
                     size_t esize, size_t threads);

#endif /* RELUKIT_RUNTIME_H */
