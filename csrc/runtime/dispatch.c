/* dispatch.c: which path the kernels take, picked once per process.
 *
 * AVX2 (x86-64 with GCC/Clang) when the CPU and OS support it and RELUKIT_FORCE_PORTABLE is
 * unset, empty or "0"; else the portable path (plain C the compiler vectorises for the
 * baseline ISA). Every kernel gives the same bits on both paths, so the choice is only about
 * speed; forcing the portable path is how the tests and `relukit check` reach it. */
#include "runtime.h"

#include <stdlib.h> /* getenv */

enum { SIMD_UNRESOLVED = -1 };

static RELUKIT_ATOMIC(int) simd_mode = SIMD_UNRESOLVED;
static RELUKIT_ATOMIC(int) fma_state = -1;

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
int relukit__get_simd(void)
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

int relukit__have_fma(void)
{
    int v = RELUKIT_LOAD(&fma_state);
    if (v < 0) {
#if RELUKIT_X86_DISPATCH
        __builtin_cpu_init();
        v = __builtin_cpu_supports("fma") ? 1 : 0;
#else
        v = 0;
#endif
        RELUKIT_STORE(&fma_state, v);
    }
    return v;
}
