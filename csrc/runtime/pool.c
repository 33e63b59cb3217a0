/* pool.c: the persistent thread pool that splits large kernel calls (relukit__parallel_for in
 * runtime.h; relukit_set_num_threads / relukit_get_num_threads in relukit.h).
 *
 * Why a small pthread pool and not OpenMP: GCC's libgomp is not fork-safe (GCC bug 60035,
 * never merged; OpenBLAS #294 / #343 hit the same): a child forked after the parent ran a
 * parallel region hangs in its first one, and Python's multiprocessing forks by default on
 * Linux before 3.14. This pool re-creates its workers lazily in a forked child
 * (pthread_atfork), needs no extra runtime library in the wheel, and lets a second caller that
 * finds the pool busy run its call on its own thread instead of oversubscribing the cores.
 *
 * How one call runs. A job is `nparts` parts of one function; the caller and up to
 * `threads - 1` workers claim parts one at a time with a compare-and-swap on a single 64-bit
 * word (next part, part count, participant limit), so every part runs exactly once on
 * whichever thread gets there first: a worker that is slow to wake (asleep, or descheduled on
 * a busy machine) costs nothing, the caller just does more parts itself. The caller counts the
 * parts it ran and waits (spinning) until the workers' `done` count covers the rest; the
 * workers' release increments make their writes visible to it. The job's function and context
 * are read by a worker only after it has claimed a part, and the caller does not publish the
 * next job before every part of this one is done, so they are never read while being written.
 *
 * Waiting. An idle worker polls the job word for RELUKIT_SPIN_NS (back-to-back calls find
 * it awake), yielding the CPU about every microsecond so that it never slows down a caller it
 * shares a CPU with, then sleeps on a condition variable; the caller signals only when some
 * worker sleeps (`sleepers`, a Dekker-style seq_cst handshake with the job word, so no
 * wake-up is lost), and a woken worker polls again before it sleeps. A polling worker takes a
 * part within a microsecond, a sleeping one only after tens of microseconds, which the caller
 * does not wait for: it runs the parts itself meanwhile (latencies: docs/benchmark.md, "C
 * kernels").
 *
 * Placement (Linux). A new thread starts on its creator's CPU, and a woken one is often put
 * on its waker's; a worker polling next to its caller then stays there (the balancer leaves
 * recently run tasks alone), and every hand-off waits for a context switch. So a worker is started with the caller's CPU masked out, and moves off
 * the caller's CPU when it wakes up there; both times it widens its mask back to every CPU
 * the process may use. Nothing is pinned.
 *
 * FP mode. FTZ, DAZ and the rounding mode are per thread (MXCSR on x86): the caller's is
 * published with each job and a worker takes it before it runs a part, so a split call
 * computes what the caller alone would, whatever its FP mode.
 *
 * Callers. One job at a time: `run_lock` is taken with trylock, and a caller that finds it
 * taken (another thread's call in flight) runs every part itself: correct, never blocked,
 * never more threads than the setting. Built without pthreads (e.g. MSVC) or C11 atomics, the
 * pool is absent and every call runs on the calling thread. */
#if defined(__linux__)
#define _GNU_SOURCE /* sched_getcpu, pthread_attr_setaffinity_np (start a worker elsewhere) */
#elif !defined(_WIN32)
#define _POSIX_C_SOURCE 200809L /* pthread_*, clock_gettime, sched_yield */
#endif

#include "runtime.h"

#if !defined(_WIN32) && !defined(__STDC_NO_ATOMICS__)
#define RELUKIT_HAVE_POOL 1
#else
#define RELUKIT_HAVE_POOL 0
#endif

#if RELUKIT_HAVE_POOL
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define RELUKIT_CPU_RELAX() _mm_pause()
/* The caller's SSE control word (FTZ, DAZ, rounding) is handed to the workers with each job:
 * it is per thread, and a part run on a worker must compute what it would on the caller. */
#define RELUKIT_HAVE_CSR 1
#else
#define RELUKIT_CPU_RELAX() ((void)0)
#endif

/* An idle worker polls this long before it sleeps. Long enough to bridge the Python-side gap
 * between back-to-back calls (a few us), short enough that an idle pool stops using a core
 * almost at once (OpenBLAS polls far longer). */
#define RELUKIT_SPIN_NS 200000L

/* ---- the job word: participant limit (8 bits) | part count (16) | next part (16) --------- */
#define W_NEXT(w) ((size_t)((w)&0xffffu))
#define W_PARTS(w) ((size_t)(((w) >> 16) & 0xffffu))
#define W_ALLOWED(w) ((size_t)(((w) >> 32) & 0xffu))
#define W_MAKE(allowed, parts) (((uint64_t)(allowed) << 32) | ((uint64_t)(parts) << 16))

static _Atomic uint64_t job_word;   /* no part left to claim: next == parts (0 == 0) */
static relukit_part_fn job_fn;      /* written by the caller before it publishes job_word */
static void *job_ctx;               /* likewise */
#if defined(RELUKIT_HAVE_CSR)
static unsigned int job_csr; /* likewise: the caller's MXCSR */
#endif
static _Atomic size_t job_done;     /* parts finished by workers in the current job */
static _Atomic size_t target_threads = 1; /* the setting: caller + workers */
static _Atomic size_t sleepers;           /* workers blocked on wake_cond */
static _Atomic unsigned long pool_jobs;    /* jobs handed to the pool, ever (a test hook) */

static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER; /* one job at a time; pool size */
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cond = PTHREAD_COND_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static pthread_t workers[RELUKIT_MAX_THREADS];
#if defined(__linux__)
static cpu_set_t worker_cpus[RELUKIT_MAX_THREADS]; /* each worker's CPUs to widen to */
static int worker_cpus_ok[RELUKIT_MAX_THREADS];    /* (written before it is created) */
#endif
static size_t n_workers; /* started workers, indices 1..n_workers (guarded by run_lock) */

static long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* Worker `index` (1-based) may take a part of the job in word w. */
static int work_for(uint64_t w, size_t index)
{
    return W_NEXT(w) < W_PARTS(w) && index < W_ALLOWED(w);
}

/* Claim the next part of the current job for participant `index`: returns 1 and sets *part and
 * *nparts, or 0 if nothing is left for it. */
static int claim(size_t index, size_t *part, size_t *nparts)
{
    uint64_t w = atomic_load_explicit(&job_word, memory_order_acquire);
    while (work_for(w, index)) {
        if (atomic_compare_exchange_weak_explicit(&job_word, &w, w + 1, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            *part = W_NEXT(w);
            *nparts = W_PARTS(w);
            return 1;
        }
    }
    return 0;
}

/* The CPU of the caller of the latest job (-1: unknown). */
static _Atomic int caller_cpu = -1;

/* A worker woken by a caller is often placed on the caller's CPU (Linux's wake-affine), and
 * then stays there next to it (measured: hand-offs go from 0.3 us to 8 us, the other CPU
 * idle). If that happened, move to another allowed CPU: narrow the mask to exclude the
 * caller's CPU (which migrates this thread), then widen it back. */
static void leave_callers_cpu(size_t index)
{
#if defined(__linux__)
    const int there = atomic_load_explicit(&caller_cpu, memory_order_relaxed);
    if (there < 0 || !worker_cpus_ok[index] || sched_getcpu() != there ||
        CPU_COUNT(&worker_cpus[index]) < 2 || !CPU_ISSET((size_t)there, &worker_cpus[index]))
        return;
    cpu_set_t elsewhere = worker_cpus[index];
    CPU_CLR((size_t)there, &elsewhere);
    if (pthread_setaffinity_np(pthread_self(), sizeof elsewhere, &elsewhere) == 0)
        (void)pthread_setaffinity_np(pthread_self(), sizeof worker_cpus[index],
                                     &worker_cpus[index]);
#else
    (void)index;
#endif
}

/* A worker: run parts while there are any for it; then poll the job word (a pause between
 * reads, sched_yield about every microsecond, so a worker that shares its core with the caller
 * on a busy machine does not hold it up) for RELUKIT_SPIN_NS; then sleep until woken. */
static void *worker_main(void *arg)
{
    const size_t index = (size_t)(uintptr_t)arg;
#if defined(__linux__)
    /* started off the caller's CPU (see start_worker); from now on any allowed CPU */
    if (worker_cpus_ok[index])
        (void)pthread_setaffinity_np(pthread_self(), sizeof worker_cpus[index],
                                     &worker_cpus[index]);
#endif
    for (;;) {
        size_t part, nparts;
        if (claim(index, &part, &nparts)) {
#if defined(RELUKIT_HAVE_CSR)
            if (_mm_getcsr() != job_csr)
                _mm_setcsr(job_csr);
#endif
            job_fn(job_ctx, part, nparts);
            atomic_fetch_add_explicit(&job_done, 1, memory_order_release);
            continue;
        }
        /* poll a while: the next call usually comes within microseconds */
        const long until = now_ns() + RELUKIT_SPIN_NS;
        int found = 0;
        while (!found && now_ns() < until) {
            for (int i = 0; i < 32 && !found; i++) {
                RELUKIT_CPU_RELAX();
                found = work_for(atomic_load_explicit(&job_word, memory_order_relaxed), index);
            }
            if (!found)
                sched_yield(); /* never slow down a caller that shares this CPU */
        }
        if (found)
            continue;
        /* sleep until the next broadcast; then poll again even if the job that caused it is
         * already done (the caller often finishes a job before a sleeping worker is up, and
         * without the polling phase the worker would be late for every later job too) */
        pthread_mutex_lock(&sleep_lock);
        atomic_fetch_add_explicit(&sleepers, 1, memory_order_seq_cst);
        if (!work_for(atomic_load_explicit(&job_word, memory_order_seq_cst), index))
            pthread_cond_wait(&wake_cond, &sleep_lock);
        atomic_fetch_sub_explicit(&sleepers, 1, memory_order_relaxed);
        pthread_mutex_unlock(&sleep_lock);
        leave_callers_cpu(index);
    }
    return NULL; /* not reached: workers live as long as the process */
}

static void wake_all(void)
{
    pthread_mutex_lock(&sleep_lock);
    pthread_cond_broadcast(&wake_cond);
    pthread_mutex_unlock(&sleep_lock);
}

/* fork: hold both locks across fork() so the child gets them in a known state; the child has
 * no workers (threads do not survive fork) and starts them again on its first large call. */
static void atfork_prepare(void)
{
    pthread_mutex_lock(&run_lock);
    pthread_mutex_lock(&sleep_lock);
}
static void atfork_parent(void)
{
    pthread_mutex_unlock(&sleep_lock);
    pthread_mutex_unlock(&run_lock);
}
static void atfork_child(void)
{
    n_workers = 0;
    atomic_store(&sleepers, 0);
    atomic_store(&job_word, 0);
    pthread_cond_init(&wake_cond, NULL); /* the parent's waiters do not exist here */
    pthread_mutex_unlock(&sleep_lock);
    pthread_mutex_unlock(&run_lock);
}
static void register_atfork(void)
{
    (void)pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* With run_lock held: start workers up to the setting. Workers are never stopped: a smaller
 * setting only lowers the job's participant limit, and the surplus ones sleep (so switching
 * between 1 and 2 threads does not create a thread each time). A worker that cannot be
 * started just leaves the pool smaller. */
static int start_worker(size_t index)
{
#if defined(__linux__)
    /* Linux puts a new thread on its creator's CPU, and a worker that polls there next to its
     * caller stays there (the load balancer does not move a task that ran within the last
     * half millisecond): the two then share one CPU (measured: every hand-off 6.5 us, both on
     * the same CPU, the other idle). So start the worker on any allowed CPU but the caller's;
     * it widens its own mask back to every allowed CPU as it starts. */
    cpu_set_t *all = &worker_cpus[index];
    worker_cpus_ok[index] = sched_getaffinity(0, sizeof *all, all) == 0;
    const int here = sched_getcpu();
    if (worker_cpus_ok[index] && here >= 0 && CPU_COUNT(all) > 1) {
        cpu_set_t elsewhere = *all;
        CPU_CLR((size_t)here, &elsewhere);
        pthread_attr_t attr;
        if (pthread_attr_init(&attr) == 0) {
            int rc = pthread_attr_setaffinity_np(&attr, sizeof elsewhere, &elsewhere);
            if (rc == 0)
                rc = pthread_create(&workers[index], &attr, worker_main, (void *)(uintptr_t)index);
            pthread_attr_destroy(&attr);
            if (rc == 0)
                return 1;
        }
    }
#endif
    return pthread_create(&workers[index], NULL, worker_main, (void *)(uintptr_t)index) == 0;
}

static void grow_locked(size_t threads)
{
    while (n_workers + 1 < threads) {
        const size_t index = n_workers + 1;
        if (!start_worker(index))
            break;
        n_workers = index;
    }
}

void relukit_set_num_threads(size_t n)
{
    if (n < 1)
        n = 1;
    if (n > RELUKIT_MAX_THREADS)
        n = RELUKIT_MAX_THREADS;
    atomic_store_explicit(&target_threads, n, memory_order_relaxed);
}

size_t relukit_get_num_threads(void)
{
    return atomic_load_explicit(&target_threads, memory_order_relaxed);
}

unsigned long relukit__pool_jobs(void)
{
    return atomic_load_explicit(&pool_jobs, memory_order_relaxed);
}

static void run_serial(relukit_part_fn fn, void *ctx, size_t nparts)
{
    for (size_t p = 0; p < nparts; p++)
        fn(ctx, p, nparts);
}

size_t relukit__parallel_for(relukit_part_fn fn, void *ctx, size_t nparts, size_t threads)
{
    const size_t setting = atomic_load_explicit(&target_threads, memory_order_relaxed);
    if (threads > setting)
        threads = setting;
    if (threads <= 1 || nparts <= 1 || nparts > RELUKIT_MAX_PARTS ||
        pthread_mutex_trylock(&run_lock) != 0) {
        run_serial(fn, ctx, nparts);
        return 1;
    }
    pthread_once(&atfork_once, register_atfork);
    if (n_workers + 1 < threads)
        grow_locked(threads);
    if (threads > n_workers + 1)
        threads = n_workers + 1;
    if (threads <= 1) {
        pthread_mutex_unlock(&run_lock);
        run_serial(fn, ctx, nparts);
        return 1;
    }

    atomic_fetch_add_explicit(&pool_jobs, 1, memory_order_relaxed);
#if defined(__linux__)
    atomic_store_explicit(&caller_cpu, sched_getcpu(), memory_order_relaxed);
#endif
    job_fn = fn;
#if defined(RELUKIT_HAVE_CSR)
    job_csr = _mm_getcsr();
#endif
    job_ctx = ctx;
    atomic_store_explicit(&job_done, 0, memory_order_relaxed);
    /* seq_cst store, then seq_cst load of sleepers: pairs with the worker's seq_cst increment
     * of sleepers then re-check of job_word, so either we see it sleeping or it sees the job */
    atomic_store_explicit(&job_word, W_MAKE(threads, nparts), memory_order_seq_cst);
    if (atomic_load_explicit(&sleepers, memory_order_seq_cst) != 0)
        wake_all();

    size_t mine = 0, part, parts;
    while (claim(0, &part, &parts)) {
        fn(ctx, part, parts);
        mine++;
    }
    /* every part is claimed; wait for the ones the workers run */
    for (unsigned spins = 0;
         atomic_load_explicit(&job_done, memory_order_acquire) + mine < nparts; spins++) {
        if (spins < 64)
            RELUKIT_CPU_RELAX();
        else
            sched_yield(); /* the worker holding a part may be waiting for this CPU */
    }
    pthread_mutex_unlock(&run_lock);
    return threads;
}

#else /* no pool: every call on the calling thread */

static size_t target_threads_serial = 1;

void relukit_set_num_threads(size_t n)
{
    target_threads_serial = n < 1 ? 1 : (n > RELUKIT_MAX_THREADS ? RELUKIT_MAX_THREADS : n);
}
size_t relukit_get_num_threads(void) { return target_threads_serial; }
unsigned long relukit__pool_jobs(void) { return 0; }

size_t relukit__parallel_for(relukit_part_fn fn, void *ctx, size_t nparts, size_t threads)
{
    (void)threads;
    for (size_t p = 0; p < nparts; p++)
        fn(ctx, p, nparts);
    return 1;
}

#endif /* RELUKIT_HAVE_POOL */
