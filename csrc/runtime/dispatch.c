/* dispatch.c: which path the kernels take, picked once per process.
 *
 * AVX2 (x86-64 with GCC/Clang) when the CPU and OS support it and RELUKIT_FORCE_PORTABLE is
 * unset, empty or "0"; else the portable path (plain C the compiler vectorises for the
 * baseline ISA). Every kernel gives the same bits on both paths, so the choice is only about
 * speed; forcing the portable path is how the tests and `relukit check` reach it. */
#include "runtime.h"

#include <stdlib.h> /* getenv */

#if RELUKIT_X86_DISPATCH
#include <cpuid.h>

/* The CPU's AVX2 and FMA, read with CPUID and XGETBV here rather than __builtin_cpu_supports:
 * the compiler-rt that zig links into the manylinux2014 wheel never fills in the CPU model
 * that builtin reads, so it reports no feature at all. Each counts only if the OS saves the
 * YMM registers (OSXSAVE set and XCR0 bits 1-2), as libgcc's builtin also requires. */
static void cpu_features(int *avx2, int *fma)
{
    unsigned a, b, c, d, xcr0_lo, xcr0_hi;
    *avx2 = 0;
    *fma = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return;
    if (!((c >> 27) & 1u) || !((c >> 28) & 1u)) /* OSXSAVE, AVX */
        return;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0u));
    (void)xcr0_hi;
    if ((xcr0_lo & 6u) != 6u) /* XMM and YMM state enabled by the OS */
        return;
    *fma = (int)((c >> 12) & 1u);
    if (__get_cpuid_max(0, NULL) >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        *avx2 = (int)((b >> 5) & 1u);
    }
}
#endif

enum { SIMD_UNRESOLVED = -1 };

static RELUKIT_ATOMIC(int) simd_mode = SIMD_UNRESOLVED;
static RELUKIT_ATOMIC(int) fma_state = -1;

static int simd_cpu_best(void)
{
#if RELUKIT_X86_DISPATCH
    int avx2, fma;
    cpu_features(&avx2, &fma);
    return avx2 ? RELUKIT_SIMD_AVX2 : RELUKIT_SIMD_PORTABLE;
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
        int avx2;
        cpu_features(&avx2, &v);
#else
        v = 0;
#endif
        RELUKIT_STORE(&fma_state, v);
    }
    return v;
}
