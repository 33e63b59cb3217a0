/* split.c: one elementwise call cut into parts over the thread pool (runtime.h).
 *
 * A call is split when it moves at least relukit__split_bytes() (machine.c says why) and
 * relukit_set_num_threads allows more than one thread. Each thread takes parts one at a time,
 * several per thread, so a late-waking worker or a descheduled thread costs at most a part,
 * not half the call; but no part is smaller than MIN_PART_BYTES of output (a part's fixed
 * cost is a claim, a call and the vector loop's head and tail). */
#include "runtime.h"

#define PARTS_PER_THREAD 4
#define MIN_PART_BYTES ((size_t)64 << 10)

/* Parts at 64-byte boundaries of y: part 0 is [0, head + chunk), part p is
 * [head + p chunk, head + (p+1) chunk) clipped to n, the last part ends at n. head takes y to
 * a 64-byte boundary (0 if y is not element-aligned), chunk is a multiple of 64 / esize
 * elements, so no cache line of y is written by two threads and every part's vector stores
 * start aligned. */
struct ew_job {
    relukit_range_fn fn;
    const void *params;
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
        j->fn(j->x + b * j->esize, j->y + b * j->esize, e - b, j->params);
}

/* n >= T / (2 esize) is 2 n esize >= T without overflow (exact for T a multiple of 2 esize) */
size_t relukit__ew_threads(size_t n, size_t esize)
{
    const size_t threads = relukit_get_num_threads();
    if (threads <= 1 || n < relukit__split_bytes() / (2 * esize))
        return 1;
    return threads;
}

/* n > T / (2 esize) is exactly 2 esize n > T, without overflow */
int relukit__ew_stream(const void *x, const void *y, size_t n, size_t esize, size_t threads)
{
    if (x == y || ((uintptr_t)y % esize) != 0 || n <= relukit__nt_limit(threads) / (2 * esize))
        return 0;
    relukit__count_nt_call();
    return 1;
}

void relukit__ew_run(relukit_range_fn fn, const void *params, const void *x, void *y, size_t n,
                     size_t esize, size_t threads)
{
    if (threads <= 1) {
        fn(x, y, n, params);
        return;
    }
    const size_t line = 64 / esize;
    const uintptr_t ya = (uintptr_t)y;
    struct ew_job j = {fn, params, x, y, n, esize, 0, 0};
    if (ya % esize == 0)
        j.head = ((64 - (size_t)(ya & 63)) & 63) / esize;
    if (j.head > n)
        j.head = n;
    size_t nparts = threads * PARTS_PER_THREAD;
    const size_t max_parts = n * esize / MIN_PART_BYTES;
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
