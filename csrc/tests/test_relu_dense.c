/* test_relu_dense.c: standalone test program for the relu and dense kernels and the runtime
 * (public API, plus the internal hooks of runtime.h so every code path and threshold setting
 * is reached).
 *
 * Build: make ctest (every file of csrc/sources.txt, csrc/tests/harness.c and this one).
 * Prints one line per failure, then a final line "N passed, M failed"; exits nonzero on any
 * failure.
 *
 * The array contract tests run under every path: portable, AVX2 (cached stores) and AVX2 with
 * the non-temporal-store threshold lowered to 0 (so every out-of-place call streams), each in
 * the default FP mode and under FTZ+DAZ. On a CPU without AVX2 the AVX2 runs are skipped with a
 * note. */
#define _POSIX_C_SOURCE 200809L /* setenv / unsetenv, to test RELUKIT_FORCE_PORTABLE */
#include <fenv.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if !defined(_WIN32)
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>
#define HAVE_PTHREADS 1
#else
#define HAVE_PTHREADS 0
#endif

#include "relukit.h"
#include "runtime.h"
#include "elementwise.h"

#include "harness.h"

#if defined(__SSE2__) || defined(_M_X64)
#include <xmmintrin.h>
#define HAVE_MXCSR 1
#else
#define HAVE_MXCSR 0
#endif




#define F32_ONE 0x3f800000u
#define F64_ONE 0x3ff0000000000000u

/* ---- scalar contract tables -------------------------------------------------------------- */

struct case32 {
    const char *name;
    uint32_t in, relu, grad;
};
struct case64 {
    const char *name;
    uint64_t in, relu, grad;
};

/* expected bit patterns, written out by hand from the contract */
static const struct case32 cases32[] = {
    {"+0.0", 0x00000000u, 0x00000000u, 0x00000000u},
    {"-0.0", 0x80000000u, 0x00000000u, 0x00000000u},
    {"+1", 0x3f800000u, 0x3f800000u, F32_ONE},
    {"-1", 0xbf800000u, 0x00000000u, 0x00000000u},
    {"+0.5", 0x3f000000u, 0x3f000000u, F32_ONE},
    {"+123.25", 0x42f68000u, 0x42f68000u, F32_ONE},
    {"-3.5", 0xc0600000u, 0x00000000u, 0x00000000u},
    {"+inf", 0x7f800000u, 0x7f800000u, F32_ONE},
    {"-inf", 0xff800000u, 0x00000000u, 0x00000000u},
    {"FLT_MAX", 0x7f7fffffu, 0x7f7fffffu, F32_ONE},
    {"-FLT_MAX", 0xff7fffffu, 0x00000000u, 0x00000000u},
    {"FLT_MIN", 0x00800000u, 0x00800000u, F32_ONE},
    {"-FLT_MIN", 0x80800000u, 0x00000000u, 0x00000000u},
    {"+min subnormal", 0x00000001u, 0x00000001u, F32_ONE},
    {"-min subnormal", 0x80000001u, 0x00000000u, 0x00000000u},
    {"+max subnormal", 0x007fffffu, 0x007fffffu, F32_ONE},
    {"-max subnormal", 0x807fffffu, 0x00000000u, 0x00000000u},
    {"+qNaN", 0x7fc00000u, 0x7fc00000u, 0x7fc00000u},
    {"-qNaN", 0xffc00000u, 0xffc00000u, 0xffc00000u},
    {"+qNaN payload", 0x7fc12345u, 0x7fc12345u, 0x7fc12345u},
    {"-qNaN payload", 0xffc12345u, 0xffc12345u, 0xffc12345u},
    {"+sNaN 1", 0x7f800001u, 0x7f800001u, 0x7f800001u},
    {"-sNaN 1", 0xff800001u, 0xff800001u, 0xff800001u},
    {"+sNaN max payload", 0x7fbfffffu, 0x7fbfffffu, 0x7fbfffffu},
    {"-sNaN max payload", 0xffbfffffu, 0xffbfffffu, 0xffbfffffu},
    {"all-ones NaN", 0xffffffffu, 0xffffffffu, 0xffffffffu},
    {"+max NaN", 0x7fffffffu, 0x7fffffffu, 0x7fffffffu},
};

static const struct case64 cases64[] = {
    {"+0.0", 0x0000000000000000u, 0x0000000000000000u, 0x0000000000000000u},
    {"-0.0", 0x8000000000000000u, 0x0000000000000000u, 0x0000000000000000u},
    {"+1", 0x3ff0000000000000u, 0x3ff0000000000000u, F64_ONE},
    {"-1", 0xbff0000000000000u, 0x0000000000000000u, 0x0000000000000000u},
    {"+0.5", 0x3fe0000000000000u, 0x3fe0000000000000u, F64_ONE},
    {"-3.5", 0xc00c000000000000u, 0x0000000000000000u, 0x0000000000000000u},
    {"+inf", 0x7ff0000000000000u, 0x7ff0000000000000u, F64_ONE},
    {"-inf", 0xfff0000000000000u, 0x0000000000000000u, 0x0000000000000000u},
    {"DBL_MAX", 0x7fefffffffffffffu, 0x7fefffffffffffffu, F64_ONE},
    {"-DBL_MAX", 0xffefffffffffffffu, 0x0000000000000000u, 0x0000000000000000u},
    {"DBL_MIN", 0x0010000000000000u, 0x0010000000000000u, F64_ONE},
    {"-DBL_MIN", 0x8010000000000000u, 0x0000000000000000u, 0x0000000000000000u},
    {"+min subnormal", 0x0000000000000001u, 0x0000000000000001u, F64_ONE},
    {"-min subnormal", 0x8000000000000001u, 0x0000000000000000u, 0x0000000000000000u},
    {"+max subnormal", 0x000fffffffffffffu, 0x000fffffffffffffu, F64_ONE},
    {"-max subnormal", 0x800fffffffffffffu, 0x0000000000000000u, 0x0000000000000000u},
    {"+FLT_MIN as f64", 0x3810000000000000u, 0x3810000000000000u, F64_ONE},
    {"+qNaN", 0x7ff8000000000000u, 0x7ff8000000000000u, 0x7ff8000000000000u},
    {"-qNaN", 0xfff8000000000000u, 0xfff8000000000000u, 0xfff8000000000000u},
    {"+qNaN payload", 0x7ff8000000012345u, 0x7ff8000000012345u, 0x7ff8000000012345u},
    {"-qNaN payload", 0xfff8000000012345u, 0xfff8000000012345u, 0xfff8000000012345u},
    {"+sNaN 1", 0x7ff0000000000001u, 0x7ff0000000000001u, 0x7ff0000000000001u},
    {"-sNaN 1", 0xfff0000000000001u, 0xfff0000000000001u, 0xfff0000000000001u},
    {"+sNaN max payload", 0x7ff7ffffffffffffu, 0x7ff7ffffffffffffu, 0x7ff7ffffffffffffu},
    {"-sNaN max payload", 0xfff7ffffffffffffu, 0xfff7ffffffffffffu, 0xfff7ffffffffffffu},
    {"all-ones NaN", 0xffffffffffffffffu, 0xffffffffffffffffu, 0xffffffffffffffffu},
    {"+max NaN", 0x7fffffffffffffffu, 0x7fffffffffffffffu, 0x7fffffffffffffffu},
};

#define N_CASES32 (sizeof cases32 / sizeof cases32[0])
#define N_CASES64 (sizeof cases64 / sizeof cases64[0])

/* the hand-written bit patterns agree with <float.h> */
static void test_table_constants(void)
{
    float fmax = FLT_MAX, fmin = FLT_MIN, finf = INFINITY;
    double dmax = DBL_MAX, dmin = DBL_MIN, dinf = (double)INFINITY;
    CHECK(bits32(fmax) == 0x7f7fffffu, "FLT_MAX bits");
    CHECK(bits32(fmin) == 0x00800000u, "FLT_MIN bits");
    CHECK(bits32(finf) == 0x7f800000u, "+inf f32 bits");
    CHECK(bits32(1.0f) == F32_ONE, "1.0f bits");
    CHECK(bits64(dmax) == 0x7fefffffffffffffu, "DBL_MAX bits");
    CHECK(bits64(dmin) == 0x0010000000000000u, "DBL_MIN bits");
    CHECK(bits64(dinf) == 0x7ff0000000000000u, "+inf f64 bits");
    CHECK(bits64(1.0) == F64_ONE, "1.0 bits");
}

static void test_scalars(const char *mode)
{
    for (size_t i = 0; i < N_CASES32; i++) {
        const struct case32 *c = &cases32[i];
        float x = f32_of(c->in), want_r = f32_of(c->relu), want_g = f32_of(c->grad);
        float r = relukit_relu_f32(x), g = relukit_relu_grad_f32(x);
        CHECK(memcmp(&r, &want_r, sizeof r) == 0, "[%s] relu_f32(%s=0x%08x) = 0x%08x, want 0x%08x",
              mode, c->name, (unsigned)c->in, (unsigned)bits32(r), (unsigned)c->relu);
        CHECK(memcmp(&g, &want_g, sizeof g) == 0,
              "[%s] relu_grad_f32(%s=0x%08x) = 0x%08x, want 0x%08x", mode, c->name,
              (unsigned)c->in, (unsigned)bits32(g), (unsigned)c->grad);
    }
    for (size_t i = 0; i < N_CASES64; i++) {
        const struct case64 *c = &cases64[i];
        double x = f64_of(c->in), want_r = f64_of(c->relu), want_g = f64_of(c->grad);
        double r = relukit_relu_f64(x), g = relukit_relu_grad_f64(x);
        CHECK(memcmp(&r, &want_r, sizeof r) == 0,
              "[%s] relu_f64(%s=0x%016llx) = 0x%016llx, want 0x%016llx", mode, c->name,
              (unsigned long long)c->in, (unsigned long long)bits64(r),
              (unsigned long long)c->relu);
        CHECK(memcmp(&g, &want_g, sizeof g) == 0,
              "[%s] relu_grad_f64(%s=0x%016llx) = 0x%016llx, want 0x%016llx", mode, c->name,
              (unsigned long long)c->in, (unsigned long long)bits64(g),
              (unsigned long long)c->grad);
    }
}

/* every table value at every position modulo 32 elements (every lane of every vector of the
 * AVX2 4-vector block, for both widths), plus a 7-element tail; in and out of place */
#define TILE_BLOCK 32
#define TILE_TAIL 7
#define TILE_TESTS(SFX, FT, UT, BITS_FN, OF_FN, CASES, N_CASES, FMT, FMTCAST)                    \
    static void test_table_tiled_##SFX(const char *mode)                                         \
    {                                                                                            \
        enum { N = (int)(TILE_BLOCK * N_CASES + TILE_TAIL) };                                    \
        static FT x[N], y[N];                                                                    \
        for (size_t i = 0; i < (size_t)N; i++)                                                   \
            x[i] = OF_FN(CASES[(i / TILE_BLOCK) % N_CASES].in);                                  \
        for (int op = 0; op < 2; op++)                                                           \
            for (int inplace = 0; inplace < 2; inplace++) {                                      \
                size_t bad = 0;                                                                  \
                int rc;                                                                          \
                if (inplace) {                                                                   \
                    memcpy(y, x, sizeof y);                                                      \
                    rc = op ? relukit_relu_grad_array_##SFX(y, N, y, N)                          \
                            : relukit_relu_array_##SFX(y, N, y, N);                              \
                } else {                                                                         \
                    memset(y, 0x5a, sizeof y);                                                   \
                    rc = op ? relukit_relu_grad_array_##SFX(x, N, y, N)                          \
                            : relukit_relu_array_##SFX(x, N, y, N);                              \
                }                                                                                \
                for (size_t i = 0; i < (size_t)N; i++) {                                         \
                    const size_t c = (i / TILE_BLOCK) % N_CASES;                                 \
                    const UT want = op ? CASES[c].grad : CASES[c].relu;                          \
                    if (BITS_FN(y[i]) != want && bad++ < 4)                                      \
                        printf("  [%s] tiled " #SFX " op=%d inplace=%d i=%zu %s: got " FMT       \
                               " want " FMT "\n",                                                \
                               mode, op, inplace, i, CASES[c].name, (FMTCAST)BITS_FN(y[i]),      \
                               (FMTCAST)want);                                                   \
                }                                                                                \
                CHECK(rc == RELUKIT_OK && bad == 0,                                              \
                      "[%s] tiled table " #SFX " op=%d inplace=%d: rc=%d, %zu wrong", mode, op,  \
                      inplace, rc, bad);                                                         \
            }                                                                                    \
    }
TILE_TESTS(f32, float, uint32_t, bits32, f32_of, cases32, N_CASES32, "0x%08x", unsigned)
TILE_TESTS(f64, double, uint64_t, bits64, f64_of, cases64, N_CASES64, "0x%016llx",
           unsigned long long)

/* the table through the array kernels too (one call over the whole table, in and out of place) */
static void test_table_arrays(const char *mode)
{
    float x32[N_CASES32], y32[N_CASES32];
    double x64[N_CASES64], y64[N_CASES64];
    for (size_t i = 0; i < N_CASES32; i++)
        x32[i] = f32_of(cases32[i].in);
    for (size_t i = 0; i < N_CASES64; i++)
        x64[i] = f64_of(cases64[i].in);

    for (int op = 0; op < 2; op++) {
        for (int inplace = 0; inplace < 2; inplace++) {
            int bad = 0, rc;
            float *out32 = y32;
            double *out64 = y64;
            if (inplace) {
                memcpy(y32, x32, sizeof y32);
                memcpy(y64, x64, sizeof y64);
            }
            const float *in32 = inplace ? y32 : x32;
            const double *in64 = inplace ? y64 : x64;
            rc = op ? relukit_relu_grad_array_f32(in32, N_CASES32, out32, N_CASES32)
                    : relukit_relu_array_f32(in32, N_CASES32, out32, N_CASES32);
            CHECK(rc == RELUKIT_OK, "[%s] table f32 op=%d inplace=%d rc=%d", mode, op, inplace, rc);
            for (size_t i = 0; i < N_CASES32; i++) {
                uint32_t want = op ? cases32[i].grad : cases32[i].relu;
                if (bits32(y32[i]) != want) {
                    bad++;
                    printf("  [%s] table f32 op=%d inplace=%d %s: got 0x%08x want 0x%08x\n", mode,
                           op, inplace, cases32[i].name, (unsigned)bits32(y32[i]), (unsigned)want);
                }
            }
            CHECK(bad == 0, "[%s] table f32 array op=%d inplace=%d: %d wrong", mode, op, inplace,
                  bad);

            bad = 0;
            rc = op ? relukit_relu_grad_array_f64(in64, N_CASES64, out64, N_CASES64)
                    : relukit_relu_array_f64(in64, N_CASES64, out64, N_CASES64);
            CHECK(rc == RELUKIT_OK, "[%s] table f64 op=%d inplace=%d rc=%d", mode, op, inplace, rc);
            for (size_t i = 0; i < N_CASES64; i++) {
                uint64_t want = op ? cases64[i].grad : cases64[i].relu;
                if (bits64(y64[i]) != want) {
                    bad++;
                    printf("  [%s] table f64 op=%d inplace=%d %s: got 0x%016llx want 0x%016llx\n",
                           mode, op, inplace, cases64[i].name, (unsigned long long)bits64(y64[i]),
                           (unsigned long long)want);
                }
            }
            CHECK(bad == 0, "[%s] table f64 array op=%d inplace=%d: %d wrong", mode, op, inplace,
                  bad);
        }
    }
}

/* No float arithmetic on the inputs: signaling NaNs must not raise FE_INVALID. */
static void test_no_fp_exceptions(const char *mode)
{
#if defined(FE_INVALID)
    float x32[N_CASES32], y32[N_CASES32];
    double x64[N_CASES64], y64[N_CASES64];
    for (size_t i = 0; i < N_CASES32; i++)
        x32[i] = f32_of(cases32[i].in);
    for (size_t i = 0; i < N_CASES64; i++)
        x64[i] = f64_of(cases64[i].in);
    volatile uint32_t sink32 = 0;
    volatile uint64_t sink64 = 0;

    feclearexcept(FE_ALL_EXCEPT);
    for (size_t i = 0; i < N_CASES32; i++) {
        sink32 ^= bits32(relukit_relu_f32(x32[i]));
        sink32 ^= bits32(relukit_relu_grad_f32(x32[i]));
    }
    for (size_t i = 0; i < N_CASES64; i++) {
        sink64 ^= bits64(relukit_relu_f64(x64[i]));
        sink64 ^= bits64(relukit_relu_grad_f64(x64[i]));
    }
    (void)relukit_relu_array_f32(x32, N_CASES32, y32, N_CASES32);
    (void)relukit_relu_grad_array_f32(x32, N_CASES32, y32, N_CASES32);
    (void)relukit_relu_array_f64(x64, N_CASES64, y64, N_CASES64);
    (void)relukit_relu_grad_array_f64(x64, N_CASES64, y64, N_CASES64);
    (void)relukit_relu_array_f32(x32, N_CASES32, x32, N_CASES32);
    (void)relukit_relu_array_f64(x64, N_CASES64, x64, N_CASES64);
    int raised = fetestexcept(FE_INVALID);
    CHECK(raised == 0, "[%s] FE_INVALID raised by the relu kernels (float arithmetic on a NaN?)",
          mode);
    (void)sink32;
    (void)sink64;
#else
    (void)mode;
#endif
}

static void test_i64(void)
{
    static const struct {
        int64_t in, relu, grad;
    } c[] = {
        {INT64_MIN, 0, 0}, {INT64_MIN + 1, 0, 0}, {-42, 0, 0}, {-1, 0, 0},
        {0, 0, 0},         {1, 1, 1},             {42, 42, 1}, {INT64_MAX, INT64_MAX, 1},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        int64_t r = relukit_relu_i64(c[i].in), g = relukit_relu_grad_i64(c[i].in);
        CHECK(r == c[i].relu, "relu_i64(%lld) = %lld", (long long)c[i].in, (long long)r);
        CHECK(g == c[i].grad, "relu_grad_i64(%lld) = %lld", (long long)c[i].in, (long long)g);
    }
}

/* ---- array kernels vs the scalar kernels ------------------------------------------------- */

/* every length 0..70 (empty, tails only, one vector, partial and full 4-vector blocks for both
 * widths), then 1000 and 4099 (many blocks, odd tail) */
#define N_SMALL_LENGTHS 71
static size_t length_at(size_t li)
{
    return li < N_SMALL_LENGTHS ? li : (li == N_SMALL_LENGTHS ? 1000 : 4099);
}
#define N_LENGTHS (N_SMALL_LENGTHS + 2)
#define MAX_LEN 4099
#define MAX_OFF 7 /* start offsets 0..7 elements from a 64-byte boundary, for x and y each */
#define GUARD 8
#define BUF_LEN (MAX_OFF + MAX_LEN + GUARD)

/* ARRAY_TESTS(SFX, FT, UT, BITS_FN, OF_FN, CASES, N_CASES, FMT) defines
 *   fill_SFX(FT *buf, size_t n)      input data: table values, random bit patterns, zeros
 *   test_arrays_SFX(const char *mode)
 *   test_esize_SFX(void) */
#define ARRAY_TESTS(SFX, FT, UT, BITS_FN, OF_FN, CASES, N_CASES)                                 \
    static void fill_##SFX(FT *buf, size_t n)                                                    \
    {                                                                                            \
        for (size_t i = 0; i < n; i++) {                                                         \
            switch (i % 4) {                                                                     \
            case 0: buf[i] = OF_FN(CASES[(i / 4) % N_CASES].in); break;                          \
            case 1: buf[i] = OF_FN((UT)rng()); break; /* any bits: NaNs, subnormals, ... */      \
            case 2: buf[i] = (FT)rng_sym(); break;                                               \
            default: buf[i] = (rng() & 1) ? (FT)0.0 : (FT)-0.0; break;                           \
            }                                                                                    \
        }                                                                                        \
    }                                                                                            \
    typedef int (*arrfn_##SFX)(const FT *, size_t, FT *, size_t);                                \
    typedef FT (*scalfn_##SFX)(FT);                                                              \
    static void test_arrays_##SFX(const char *mode)                                              \
    {                                                                                            \
        static _Alignas(64) FT src[BUF_LEN], dst[BUF_LEN], orig[BUF_LEN];                        \
        const arrfn_##SFX arr[2] = {relukit_relu_array_##SFX, relukit_relu_grad_array_##SFX};    \
        const scalfn_##SFX scal[2] = {relukit_relu_##SFX, relukit_relu_grad_##SFX};              \
        const char *names[2] = {"relu_array_" #SFX, "relu_grad_array_" #SFX};                    \
        const UT sentinel = (UT)0xa5a5a5a5a5a5a5a5u;                                             \
        for (int op = 0; op < 2; op++)                                                           \
            for (size_t li = 0; li < N_LENGTHS; li++)                                            \
                for (size_t ox = 0; ox <= MAX_OFF; ox++) {                                       \
                    const size_t n = length_at(li);                                              \
                    const size_t span = MAX_OFF + n + GUARD; /* the part of the buffers used */  \
                    fill_##SFX(src, span);                                                       \
                    memcpy(orig, src, span * sizeof *src);                                       \
                    /* out of place, every y offset for this x offset */                         \
                    for (size_t oy = 0; oy <= MAX_OFF; oy++) {                                   \
                        size_t bad = 0, guard_bad = 0;                                           \
                        for (size_t i = 0; i < span; i++)                                        \
                            dst[i] = OF_FN(sentinel);                                            \
                        int rc = arr[op](src + ox, n, dst + oy, n);                              \
                        for (size_t i = 0; i < n; i++)                                           \
                            if (BITS_FN(dst[oy + i]) != BITS_FN(scal[op](src[ox + i])))          \
                                bad++;                                                           \
                        for (size_t i = 0; i < span; i++)                                        \
                            if ((i < oy || i >= oy + n) && BITS_FN(dst[i]) != sentinel)          \
                                guard_bad++;                                                     \
                        const int src_ok = memcmp(src, orig, span * sizeof *src) == 0;          \
                        CHECK(rc == RELUKIT_OK && bad == 0 && guard_bad == 0 && src_ok,          \
                              "[%s] %s n=%zu x_off=%zu y_off=%zu: rc=%d, %zu wrong, "            \
                              "%zu outside y written, input %s",                                 \
                              mode, names[op], n, ox, oy, rc, bad, guard_bad,                    \
                              src_ok ? "intact" : "modified");                                   \
                    }                                                                            \
                    /* in place */                                                               \
                    {                                                                            \
                        size_t bad = 0, guard_bad = 0;                                           \
                        memcpy(dst, src, span * sizeof *src);                                    \
                        int rc = arr[op](dst + ox, n, dst + ox, n);                              \
                        for (size_t i = 0; i < span; i++) {                                      \
                            if (i >= ox && i < ox + n) {                                         \
                                if (BITS_FN(dst[i]) != BITS_FN(scal[op](src[i])))                \
                                    bad++;                                                       \
                            } else if (BITS_FN(dst[i]) != BITS_FN(src[i])) {                     \
                                guard_bad++;                                                     \
                            }                                                                    \
                        }                                                                        \
                        CHECK(rc == RELUKIT_OK && bad == 0 && guard_bad == 0,                    \
                              "[%s] %s in place n=%zu off=%zu: rc=%d, %zu wrong, "               \
                              "%zu outside written",                                             \
                              mode, names[op], n, ox, rc, bad, guard_bad);                       \
                    }                                                                            \
                }                                                                                \
    }                                                                                            \
    static void test_esize_##SFX(void)                                                           \
    {                                                                                            \
        FT x[8], y[8], ysave[8];                                                                 \
        const arrfn_##SFX arr[2] = {relukit_relu_array_##SFX, relukit_relu_grad_array_##SFX};    \
        const char *names[2] = {"relu_array_" #SFX, "relu_grad_array_" #SFX};                    \
        for (int op = 0; op < 2; op++) {                                                         \
            fill_##SFX(x, 8);                                                                    \
            for (size_t i = 0; i < 8; i++)                                                       \
                y[i] = (FT)(100 + i);                                                            \
            memcpy(ysave, y, sizeof y);                                                          \
            static const size_t bad_len[][2] = {{5, 4}, {4, 5}, {0, 1}, {1, 0}, {8, 7},          \
                                                {SIZE_MAX, 8}, {8, SIZE_MAX}};                   \
            for (size_t t = 0; t < sizeof bad_len / sizeof bad_len[0]; t++) {                    \
                int rc = arr[op](x, bad_len[t][0], y, bad_len[t][1]);                            \
                CHECK(rc == RELUKIT_ESIZE && memcmp(y, ysave, sizeof y) == 0,                    \
                      "%s x_len=%zu y_len=%zu: rc=%d (want ESIZE), y %s", names[op],             \
                      bad_len[t][0], bad_len[t][1], rc,                                          \
                      memcmp(y, ysave, sizeof y) ? "modified" : "intact");                       \
            }                                                                                    \
            /* in place with mismatched lengths */                                               \
            memcpy(x, ysave, sizeof x);                                                          \
            CHECK(arr[op](x, 8, x, 7) == RELUKIT_ESIZE && memcmp(x, ysave, sizeof x) == 0,       \
                  "%s in place mismatched lengths", names[op]);                                  \
            /* NULL with a nonzero length */                                                     \
            CHECK(arr[op](NULL, 3, y, 3) == RELUKIT_ESIZE && memcmp(y, ysave, sizeof y) == 0,    \
                  "%s x=NULL n=3", names[op]);                                                   \
            CHECK(arr[op](x, 3, NULL, 3) == RELUKIT_ESIZE, "%s y=NULL n=3", names[op]);          \
            CHECK(arr[op](NULL, 3, NULL, 3) == RELUKIT_ESIZE, "%s x=y=NULL n=3", names[op]);     \
            /* length 0 is fine, with or without pointers, and touches nothing */                \
            CHECK(arr[op](NULL, 0, NULL, 0) == RELUKIT_OK, "%s NULL n=0", names[op]);            \
            CHECK(arr[op](x, 0, y, 0) == RELUKIT_OK && memcmp(y, ysave, sizeof y) == 0,          \
                  "%s n=0 touched y", names[op]);                                                \
            CHECK(arr[op](NULL, 0, y, 0) == RELUKIT_OK, "%s x=NULL n=0", names[op]);             \
        }                                                                                        \
    }

ARRAY_TESTS(f32, float, uint32_t, bits32, f32_of, cases32, N_CASES32)
ARRAY_TESTS(f64, double, uint64_t, bits64, f64_of, cases64, N_CASES64)

/* ---- dense -------------------------------------------------------------------------------- */

/* The numeric definition (relukit.h) recomputed with fmaf/fma is exact wherever the type is
 * evaluated in itself. */
#if FLT_EVAL_METHOD == 0
#define EXACT_ORDER_CHECK 1
#else
#define EXACT_ORDER_CHECK 0
#endif
#define FMA_f32 fmaf
#define FMA_f64 fma

/* DENSE_TESTS(SFX, FT, UT, BITS_FN, OF_FN, EPS) defines test_dense_random_SFX and
 * test_dense_edges_SFX */
#define DENSE_TESTS(SFX, FT, UT, BITS_FN, OF_FN, EPS)                                            \
    static void test_dense_random_##SFX(void)                                                    \
    {                                                                                            \
        static const size_t shapes[][3] = {                                                      \
            {1, 3, 2}, {1, 1, 1}, {2, 1, 5}, {4, 5, 7}, {3, 17, 33}, {2, 64, 9}, {1, 8, 16},     \
            {5, 0, 3}, {0, 4, 3}, {3, 4, 0}, {0, 0, 0}, {7, 100, 31}, {2, 257, 1}, {16, 33, 17}, \
            /* the AVX2 blocks: 64-column row blocks, 4-row blocks, k groups of 8 and tails */  \
            {1, 9, 200}, {1, 16, 64}, {1, 17, 129}, {4, 8, 16}, {5, 23, 77}, {9, 3, 130},        \
            {2, 40, 256}, {1, 784, 256},                                                         \
        };                                                                                       \
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {                          \
            const size_t batch = shapes[s][0], in = shapes[s][1], out = shapes[s][2];            \
            const size_t nx = batch * in, nw = in * out, ny = batch * out;                       \
            FT *x = malloc((nx + 1) * sizeof *x), *w = malloc((nw + 1) * sizeof *w);             \
            FT *b = malloc((out + 1) * sizeof *b), *y = malloc((ny + 1) * sizeof *y);            \
            if (!x || !w || !b || !y) {                                                          \
                CHECK(0, "malloc");                                                              \
                free(x), free(w), free(b), free(y);                                              \
                return;                                                                          \
            }                                                                                    \
            for (size_t i = 0; i < nx; i++)                                                      \
                x[i] = (FT)rng_sym();                                                            \
            for (size_t i = 0; i < nw; i++)                                                      \
                w[i] = (FT)rng_sym();                                                            \
            for (size_t i = 0; i < out; i++)                                                     \
                b[i] = (FT)(0.5 * rng_sym());                                                    \
            y[ny] = (FT)12345; /* guard just past y */                                           \
            int rc = relukit_dense_forward_##SFX(x, nx, w, nw, b, out, y, ny, batch, in, out);   \
            CHECK(rc == RELUKIT_OK, "dense_" #SFX " (%zu,%zu,%zu) rc=%d", batch, in, out, rc);   \
            CHECK(y[ny] == (FT)12345, "dense_" #SFX " (%zu,%zu,%zu) wrote past y", batch, in,    \
                  out);                                                                          \
            size_t bad_tol = 0, bad_sign = 0, bad_exact = 0;                                     \
            double worst = 0.0;                                                                  \
            for (size_t r = 0; r < batch; r++)                                                   \
                for (size_t j = 0; j < out; j++) {                                               \
                    /* double-precision reference and its error bound */                         \
                    double ref = (double)b[j], mag = fabs((double)b[j]);                         \
                    FT acc = b[j]; /* the definition: one fma per k, k increasing */             \
                    for (size_t k = 0; k < in; k++) {                                            \
                        double p = (double)x[r * in + k] * (double)w[k * out + j];               \
                        ref += p;                                                                \
                        mag += fabs(p);                                                          \
                        acc = FMA_##SFX(x[r * in + k], w[k * out + j], acc);                     \
                    }                                                                            \
                    const FT got = y[r * out + j];                                               \
                    const double want = ref > 0.0 ? ref : 0.0;                                   \
                    const double tol = (double)(in + 2) * (EPS) * mag;                           \
                    const double err = fabs((double)got - want);                                 \
                    if (!(err <= tol))                                                           \
                        bad_tol++;                                                               \
                    if (err > worst)                                                             \
                        worst = err;                                                             \
                    /* never -0.0, never negative */                                             \
                    if (BITS_FN(got) >> (sizeof(UT) * 8 - 1))                                    \
                        bad_sign++;                                                              \
                    const FT exact = acc > (FT)0 ? acc : (FT)0;                                  \
                    if (EXACT_ORDER_CHECK && BITS_FN(got) != BITS_FN(exact))                     \
                        bad_exact++;                                                             \
                }                                                                                \
            CHECK(bad_tol == 0 && bad_sign == 0 && bad_exact == 0,                               \
                  "dense_" #SFX " (%zu,%zu,%zu): %zu outside tolerance (worst %g), %zu with "    \
                  "sign bit set, %zu differ from the definition (fma, k increasing)",                      \
                  batch, in, out, bad_tol, worst, bad_sign, bad_exact);                          \
            free(x), free(w), free(b), free(y);                                                  \
        }                                                                                        \
    }                                                                                            \
    static void test_dense_edges_##SFX(void)                                                     \
    {                                                                                            \
        /* the guide's example: inputs {1, 2, -1}, layer 3 -> 2, with fixed (exact) weights */   \
        {                                                                                        \
            const FT x[3] = {1, 2, -1};                                                          \
            const FT w[3 * 2] = {(FT)0.5, -1, (FT)0.25, (FT)0.5, -1, 2};                         \
            const FT b0[2] = {0, 0}, b1[2] = {(FT)0.5, 3};                                       \
            const FT want0[2] = {2, 0}, want1[2] = {(FT)2.5, 1};                                 \
            FT y[2] = {-7, -7};                                                                  \
            int rc = relukit_dense_forward_##SFX(x, 3, w, 6, b0, 2, y, 2, 1, 3, 2);              \
            CHECK(rc == RELUKIT_OK && memcmp(y, want0, sizeof y) == 0,                           \
                  "dense_" #SFX " guide example (zero bias): rc=%d y={%g,%g} want {2,+0}", rc,   \
                  (double)y[0], (double)y[1]);                                                   \
            rc = relukit_dense_forward_##SFX(x, 3, w, 6, b1, 2, y, 2, 1, 3, 2);                  \
            CHECK(rc == RELUKIT_OK && memcmp(y, want1, sizeof y) == 0,                           \
                  "dense_" #SFX " guide example (bias {0.5,3}): rc=%d y={%g,%g} want {2.5,1}",   \
                  rc, (double)y[0], (double)y[1]);                                               \
            /* the same input twice as a batch of 2 */                                           \
            const FT x2[6] = {1, 2, -1, 1, 2, -1};                                               \
            const FT want2[4] = {2, 0, 2, 0};                                                    \
            FT y2[4] = {-7, -7, -7, -7};                                                         \
            rc = relukit_dense_forward_##SFX(x2, 6, w, 6, b0, 2, y2, 4, 2, 3, 2);                \
            CHECK(rc == RELUKIT_OK && memcmp(y2, want2, sizeof y2) == 0,                         \
                  "dense_" #SFX " guide example batch 2: rc=%d", rc);                            \
        }                                                                                        \
        /* in == 0: y = relu(b) row by row, bit for bit (NaN payloads kept, -0.0 -> +0.0) */     \
        {                                                                                        \
            const UT qnan = (UT)((sizeof(UT) == 4) ? 0xffc12345u : 0xfff8000000012345u);         \
            const FT b[4] = {(FT)1.5, (FT)-2, (FT)-0.0, OF_FN(qnan)};                            \
            const FT dummy[1] = {0};                                                             \
            FT y[3 * 4];                                                                         \
            const FT wantrow[4] = {(FT)1.5, 0, 0, OF_FN(qnan)};                                  \
            for (int variant = 0; variant < 2; variant++) {                                      \
                for (size_t i = 0; i < 12; i++)                                                  \
                    y[i] = (FT)-9;                                                               \
                int rc = variant ? relukit_dense_forward_##SFX(dummy, 0, dummy, 0, b, 4, y, 12,  \
                                                               3, 0, 4)                          \
                                 : relukit_dense_forward_##SFX(NULL, 0, NULL, 0, b, 4, y, 12, 3, \
                                                               0, 4);                            \
                int ok = rc == RELUKIT_OK;                                                       \
                for (size_t r = 0; r < 3; r++)                                                   \
                    ok = ok && memcmp(y + 4 * r, wantrow, sizeof wantrow) == 0;                  \
                CHECK(ok, "dense_" #SFX " in=0 (variant %d): rc=%d", variant, rc);               \
            }                                                                                    \
        }                                                                                        \
        /* batch == 0 and out == 0 are valid and write nothing */                                \
        {                                                                                        \
            const FT w[2 * 3] = {1, 2, 3, 4, 5, 6}, b[3] = {1, 2, 3}, x[2] = {1, 1};             \
            FT y[1] = {-5};                                                                      \
            CHECK(relukit_dense_forward_##SFX(NULL, 0, w, 6, b, 3, NULL, 0, 0, 2, 3) ==          \
                      RELUKIT_OK,                                                                \
                  "dense_" #SFX " batch=0 NULL x/y");                                            \
            CHECK(relukit_dense_forward_##SFX(x, 0, w, 6, b, 3, y, 0, 0, 2, 3) == RELUKIT_OK &&  \
                      y[0] == (FT)-5,                                                            \
                  "dense_" #SFX " batch=0");                                                     \
            CHECK(relukit_dense_forward_##SFX(x, 2, NULL, 0, NULL, 0, NULL, 0, 1, 2, 0) ==       \
                      RELUKIT_OK,                                                                \
                  "dense_" #SFX " out=0 NULL w/b/y");                                            \
            CHECK(relukit_dense_forward_##SFX(x, 2, w, 0, b, 0, y, 0, 1, 2, 0) == RELUKIT_OK &&  \
                      y[0] == (FT)-5,                                                            \
                  "dense_" #SFX " out=0");                                                       \
            CHECK(relukit_dense_forward_##SFX(NULL, 0, NULL, 0, NULL, 0, NULL, 0, 0, 0, 0) ==    \
                      RELUKIT_OK,                                                                \
                  "dense_" #SFX " all zero");                                                    \
        }                                                                                        \
        /* NaN and infinities propagate through the arithmetic and the relu */                   \
        {                                                                                        \
            const FT x[2] = {1, (FT)INFINITY}, w[2 * 2] = {1, 1, 1, -1}, b[2] = {0, 0};          \
            FT y[2];                                                                             \
            int rc = relukit_dense_forward_##SFX(x, 2, w, 4, b, 2, y, 2, 1, 2, 2);               \
            CHECK(rc == RELUKIT_OK && y[0] == (FT)INFINITY && BITS_FN(y[1]) == 0,                \
                  "dense_" #SFX " +inf input: y={%g,%g} want {inf,+0}", (double)y[0],            \
                  (double)y[1]);                                                                 \
            const FT xn[2] = {1, (FT)NAN};                                                       \
            rc = relukit_dense_forward_##SFX(xn, 2, w, 4, b, 2, y, 2, 1, 2, 2);                  \
            CHECK(rc == RELUKIT_OK && y[0] != y[0] && y[1] != y[1],                              \
                  "dense_" #SFX " NaN input: y={%g,%g} want {nan,nan}", (double)y[0],            \
                  (double)y[1]);                                                                 \
        }                                                                                        \
        /* ESIZE on every wrong length, y untouched; base shape batch=2, in=3, out=4 */          \
        {                                                                                        \
            FT x[2 * 3 + 1], w[3 * 4 + 1], b[4 + 1], y[2 * 4 + 1], ysave[2 * 4 + 1];             \
            for (size_t i = 0; i < 7; i++)                                                       \
                x[i] = (FT)i;                                                                    \
            for (size_t i = 0; i < 13; i++)                                                      \
                w[i] = (FT)i;                                                                    \
            for (size_t i = 0; i < 5; i++)                                                       \
                b[i] = (FT)i;                                                                    \
            for (size_t i = 0; i < 9; i++)                                                       \
                y[i] = (FT)(-1.0 - (double)i);                                                   \
            memcpy(ysave, y, sizeof y);                                                          \
            static const size_t good[4] = {6, 12, 4, 8};                                         \
            for (size_t which = 0; which < 4; which++)                                           \
                for (int delta = -1; delta <= 1; delta += 2) {                                   \
                    size_t len[4] = {good[0], good[1], good[2], good[3]};                        \
                    len[which] = delta < 0 ? len[which] - 1 : len[which] + 1;                    \
                    int rc = relukit_dense_forward_##SFX(x, len[0], w, len[1], b, len[2], y,     \
                                                         len[3], 2, 3, 4);                       \
                    CHECK(rc == RELUKIT_ESIZE && memcmp(y, ysave, sizeof y) == 0,                \
                          "dense_" #SFX " lengths {%zu,%zu,%zu,%zu}: rc=%d (want ESIZE), y %s",  \
                          len[0], len[1], len[2], len[3], rc,                                    \
                          memcmp(y, ysave, sizeof y) ? "modified" : "intact");                   \
                }                                                                                \
            /* the good lengths work (sanity for the cases above) */                             \
            CHECK(relukit_dense_forward_##SFX(x, 6, w, 12, b, 4, y, 8, 2, 3, 4) == RELUKIT_OK,   \
                  "dense_" #SFX " good lengths");                                                \
            memcpy(y, ysave, sizeof y);                                                          \
            /* NULL with a nonzero length */                                                     \
            CHECK(relukit_dense_forward_##SFX(NULL, 6, w, 12, b, 4, y, 8, 2, 3, 4) ==            \
                          RELUKIT_ESIZE &&                                                       \
                      memcmp(y, ysave, sizeof y) == 0,                                           \
                  "dense_" #SFX " x=NULL");                                                      \
            CHECK(relukit_dense_forward_##SFX(x, 6, NULL, 12, b, 4, y, 8, 2, 3, 4) ==            \
                          RELUKIT_ESIZE &&                                                       \
                      memcmp(y, ysave, sizeof y) == 0,                                           \
                  "dense_" #SFX " w=NULL");                                                      \
            CHECK(relukit_dense_forward_##SFX(x, 6, w, 12, NULL, 4, y, 8, 2, 3, 4) ==            \
                          RELUKIT_ESIZE &&                                                       \
                      memcmp(y, ysave, sizeof y) == 0,                                           \
                  "dense_" #SFX " b=NULL");                                                      \
            CHECK(relukit_dense_forward_##SFX(x, 6, w, 12, b, 4, NULL, 8, 2, 3, 4) ==            \
                      RELUKIT_ESIZE,                                                             \
                  "dense_" #SFX " y=NULL");                                                      \
            /* overflowing products, also when the given length equals the wrapped product */    \
            const size_t big = SIZE_MAX / 2;                                                     \
            CHECK(relukit_dense_forward_##SFX(x, big * 3, w, 12, b, 4, y, 8, big, 3, 4) ==       \
                          RELUKIT_ESIZE &&                                                       \
                      memcmp(y, ysave, sizeof y) == 0,                                           \
                  "dense_" #SFX " batch*in overflow (SIZE_MAX/2, 3), wrapped x_len");            \
            CHECK(relukit_dense_forward_##SFX(x, 6, w, 12, b, 4, y, 8, big, 3, 4) ==             \
                      RELUKIT_ESIZE,                                                             \
                  "dense_" #SFX " batch*in overflow (SIZE_MAX/2, 3)");                           \
            CHECK(relukit_dense_forward_##SFX(x, big * 3, w, big * 3, b, 3, y, 3, 1, big, 3) ==  \
                      RELUKIT_ESIZE,                                                             \
                  "dense_" #SFX " in*out overflow");                                             \
            CHECK(relukit_dense_forward_##SFX(x, 0, w, 0, b, 3, y, big * 3, big, 0, 3) ==        \
                      RELUKIT_ESIZE,                                                             \
                  "dense_" #SFX " batch*out overflow");                                          \
            CHECK(relukit_dense_forward_##SFX(x, 0, w, 0, b, 3, y, big * 3, SIZE_MAX, 0, 3) ==   \
                      RELUKIT_ESIZE,                                                             \
                  "dense_" #SFX " batch*out overflow (SIZE_MAX)");                               \
            CHECK(memcmp(y, ysave, sizeof y) == 0, "dense_" #SFX " overflow cases modified y");  \
        }                                                                                        \
    }

DENSE_TESTS(f32, float, uint32_t, bits32, f32_of, (double)FLT_EPSILON)
DENSE_TESTS(f64, double, uint64_t, bits64, f64_of, DBL_EPSILON)

/* DENSE_ALIGN_TESTS(SFX, FT, BITS_FN): the same layer with w placed at every element offset
 * from a 64-byte boundary (the AVX2 kernels treat the columns before w's first 32-byte
 * boundary separately) and y at another; every placement gives the same bits. */
#define DENSE_ALIGN_TESTS(SFX, FT, BITS_FN)                                                      \
    static void test_dense_alignment_##SFX(void)                                                 \
    {                                                                                            \
        static const size_t shapes[][3] = {{1, 20, 64}, {1, 9, 256}, {5, 13, 128},               \
                                           {1, 784, 256}, {3, 11, 40}, {4, 8, 24}, {6, 3, 9}};   \
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {                          \
            const size_t batch = shapes[s][0], in = shapes[s][1], out = shapes[s][2];            \
            const size_t nx = batch * in, nw = in * out, ny = batch * out;                       \
            FT *x = malloc(nx * sizeof(FT)), *b = malloc(out * sizeof(FT));                      \
            FT *wbuf = aligned_alloc(64, ((nw + 8) * sizeof(FT) + 63) / 64 * 64);               \
            FT *ybuf = aligned_alloc(64, ((ny + 8) * sizeof(FT) + 63) / 64 * 64);               \
            FT *first = malloc(ny * sizeof(FT));                                                 \
            if (!x || !b || !wbuf || !ybuf || !first) {                                          \
                CHECK(0, "malloc");                                                              \
                free(x), free(b), free(wbuf), free(ybuf), free(first);                           \
                return;                                                                          \
            }                                                                                    \
            for (size_t i = 0; i < nx; i++)                                                      \
                x[i] = (FT)rng_sym();                                                            \
            for (size_t i = 0; i < out; i++)                                                     \
                b[i] = (FT)(0.25 * rng_sym());                                                   \
            FT *wsrc = malloc(nw * sizeof(FT));                                                  \
            for (size_t i = 0; wsrc && i < nw; i++)                                              \
                wsrc[i] = (FT)rng_sym();                                                         \
            size_t differ = 0;                                                                   \
            for (size_t off = 0; wsrc && off < 8; off++) {                                       \
                FT *w = wbuf + off, *y = ybuf + (off * 3) % 8;                                   \
                memcpy(w, wsrc, nw * sizeof(FT));                                                \
                const int rc =                                                                   \
                    relukit_dense_forward_##SFX(x, nx, w, nw, b, out, y, ny, batch, in, out);    \
                CHECK(rc == RELUKIT_OK, "dense_" #SFX " alignment rc=%d", rc);                   \
                if (off == 0)                                                                    \
                    memcpy(first, y, ny * sizeof(FT));                                           \
                for (size_t i = 0; i < ny; i++)                                                  \
                    differ += BITS_FN(y[i]) != BITS_FN(first[i]);                                \
            }                                                                                    \
            CHECK(wsrc && differ == 0,                                                           \
                  "dense_" #SFX " (%zu,%zu,%zu): %zu results differ between w placements",      \
                  batch, in, out, differ);                                                       \
            free(x), free(b), free(wbuf), free(ybuf), free(first), free(wsrc);                   \
        }                                                                                        \
    }
DENSE_ALIGN_TESTS(f32, float, bits32)
DENSE_ALIGN_TESTS(f64, double, bits64)

/* ---- code paths: selection, environment override, non-temporal threshold ------------------ */

/* the machine's thresholds (runtime/machine.c) in effect once a test override is dropped */
#define MACHINE_NT_THRESHOLD (relukit__machine()->nt_bytes)
#define MACHINE_SPLIT_BYTES (relukit__machine()->split_bytes)
/* the machine's NT threshold is tested by value only up to this size (it allocates that much) */
#define NT_TEST_MAX ((size_t)256 << 20)

static int cpu_has_avx2(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
#else
    return 0;
#endif
}

static int env_forces_portable(void)
{
    const char *v = getenv("RELUKIT_FORCE_PORTABLE");
    return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

/* Must run before any other kernel call: the first call resolves the path from the
 * environment and the CPU, once. */
static void test_initial_path(void)
{
    const int want = env_forces_portable() ? RELUKIT_SIMD_PORTABLE
                     : cpu_has_avx2()      ? RELUKIT_SIMD_AVX2
                                           : RELUKIT_SIMD_PORTABLE;
    const int got = relukit__get_simd();
    CHECK(got == want, "initial path %d, want %d (RELUKIT_FORCE_PORTABLE=%s, cpu avx2=%d)", got,
          want, getenv("RELUKIT_FORCE_PORTABLE") ? getenv("RELUKIT_FORCE_PORTABLE") : "(unset)",
          cpu_has_avx2());
}

static void test_env_override(void)
{
    const int best = cpu_has_avx2() ? RELUKIT_SIMD_AVX2 : RELUKIT_SIMD_PORTABLE;
    const char *old = getenv("RELUKIT_FORCE_PORTABLE");
    char saved[64] = "";
    const int had = old != NULL;
    if (had)
        snprintf(saved, sizeof saved, "%s", old);
    static const struct {
        const char *value; /* NULL: unset */
        int portable;
    } cases[] = {{"1", 1}, {NULL, 0}, {"0", 0}, {"", 0}, {"yes", 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].value)
            setenv("RELUKIT_FORCE_PORTABLE", cases[i].value, 1);
        else
            unsetenv("RELUKIT_FORCE_PORTABLE");
        const int want = cases[i].portable ? RELUKIT_SIMD_PORTABLE : best;
        const int got = relukit__set_simd(-1); /* re-run the default selection */
        CHECK(got == want && relukit__get_simd() == want,
              "RELUKIT_FORCE_PORTABLE=%s: path %d, want %d",
              cases[i].value ? cases[i].value : "(unset)", got, want);
    }
    /* read once: changing the environment afterwards does not change the resolved path */
    unsetenv("RELUKIT_FORCE_PORTABLE");
    (void)relukit__set_simd(-1);
    setenv("RELUKIT_FORCE_PORTABLE", "1", 1);
    CHECK(relukit__get_simd() == best, "path changed after the environment changed");
    if (had)
        setenv("RELUKIT_FORCE_PORTABLE", saved, 1);
    else
        unsetenv("RELUKIT_FORCE_PORTABLE");
    /* explicit selection */
    CHECK(relukit__set_simd(RELUKIT_SIMD_PORTABLE) == RELUKIT_SIMD_PORTABLE,
          "set_simd(portable) refused");
    CHECK(relukit__set_simd(RELUKIT_SIMD_AVX2) == best, "set_simd(avx2) gave %d, want %d",
          relukit__get_simd(), best);
    (void)relukit__set_simd(-1);
}

/* NT_TESTS(SFX, FT, BITS_FN, OF_FN) defines test_nt_SFX(threshold, use_default): lengths just
 * at (2*n*size == threshold: cached stores) and just above (streaming) the threshold, out of
 * place at several y alignments and in place (never streams), every result checked against the
 * scalar kernel and the streaming-call counter checked. Run under the AVX2 path; under the
 * portable path (expect_stream = 0) nothing may stream. */
#define NT_TESTS(SFX, FT, BITS_FN, OF_FN)                                                        \
    static void test_nt_##SFX(const char *mode, size_t threshold, int expect_stream)             \
    {                                                                                            \
        typedef int (*fn_t)(const FT *, size_t, FT *, size_t);                                   \
        typedef FT (*sfn_t)(FT);                                                                 \
        const fn_t arr[2] = {relukit_relu_array_##SFX, relukit_relu_grad_array_##SFX};           \
        const sfn_t scal[2] = {relukit_relu_##SFX, relukit_relu_grad_##SFX};                     \
        const size_t n_at = threshold / (2 * sizeof(FT));                                        \
        const size_t cap = n_at + 1 + 8;                                                         \
        FT *x = malloc(cap * sizeof *x), *y = malloc(cap * sizeof *y);                           \
        if (!x || !y) {                                                                          \
            CHECK(0, "malloc %zu", cap);                                                         \
            free(x), free(y);                                                                    \
            return;                                                                              \
        }                                                                                        \
        fill_##SFX(x, cap);                                                                      \
        for (int op = 0; op < 2; op++)                                                           \
            for (size_t above = 0; above < 2; above++)                                           \
                for (size_t off = 0; off < 8; off += 3) { /* y start 0, 3, 6 elements in */      \
                    const size_t n = n_at + above;                                               \
                    for (int inplace = 0; inplace < 2; inplace++) {                              \
                        FT *out = y + off;                                                       \
                        const FT *in = inplace ? out : x;                                        \
                        if (inplace)                                                             \
                            memcpy(out, x, n * sizeof *x);                                       \
                        else                                                                     \
                            memset(y, 0x5a, cap * sizeof *y);                                    \
                        const unsigned long before = relukit__nt_calls();                        \
                        const int rc = arr[op](in, n, out, n);                                   \
                        const unsigned long streamed = relukit__nt_calls() - before;             \
                        size_t bad = 0;                                                          \
                        for (size_t i = 0; i < n; i++)                                           \
                            if (BITS_FN(out[i]) != BITS_FN(scal[op](x[i])))                      \
                                bad++;                                                           \
                        const unsigned long want_stream =                                        \
                            (expect_stream && above && !inplace) ? 1u : 0u;                      \
                        CHECK(rc == RELUKIT_OK && bad == 0 && streamed == want_stream,           \
                              "[%s] nt " #SFX " op=%d threshold=%zu n=%zu y_off=%zu inplace=%d: " \
                              "rc=%d, %zu wrong, streamed %lu (want %lu)",                       \
                              mode, op, threshold, n, off, inplace, rc, bad, streamed,           \
                              want_stream);                                                      \
                    }                                                                            \
                }                                                                                \
        free(x), free(y);                                                                        \
    }
NT_TESTS(f32, float, bits32, f32_of)
NT_TESTS(f64, double, bits64, f64_of)

static void test_nt_thresholds(void)
{
    const size_t old = relukit__set_nt_threshold(RELUKIT_AUTO);
    CHECK(old == RELUKIT_AUTO, "NT threshold overridden at start (%zu)", old);
    if (relukit__set_simd(RELUKIT_SIMD_AVX2) == RELUKIT_SIMD_AVX2) {
        static const size_t small[] = {4096, 4096 + 64, 1000 * 8};
        for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
            relukit__set_nt_threshold(small[i]);
            test_nt_f32("avx2", small[i], 1);
            test_nt_f64("avx2", small[i], 1);
        }
        relukit__set_nt_threshold(RELUKIT_AUTO);
        if (MACHINE_NT_THRESHOLD <= NT_TEST_MAX) {
            test_nt_f32("avx2 machine threshold", MACHINE_NT_THRESHOLD, 1);
            test_nt_f64("avx2 machine threshold", MACHINE_NT_THRESHOLD, 1);
        }
        /* SIZE_MAX disables streaming */
        relukit__set_nt_threshold(SIZE_MAX);
        {
            float x[64] = {0}, y[64];
            const unsigned long before = relukit__nt_calls();
            CHECK(relukit_relu_array_f32(x, 64, y, 64) == RELUKIT_OK &&
                      relukit__nt_calls() == before,
                  "NT threshold SIZE_MAX still streamed");
        }
        relukit__set_nt_threshold(0);
        {
            float x[64] = {0}, y[64];
            const unsigned long before = relukit__nt_calls();
            CHECK(relukit_relu_array_f32(x, 64, y, 64) == RELUKIT_OK &&
                      relukit__nt_calls() == before + 1,
                  "NT threshold 0 did not stream");
        }
    } else {
        printf("note: no AVX2 on this CPU, streaming-store tests skipped\n");
    }
    (void)relukit__set_simd(RELUKIT_SIMD_PORTABLE);
    relukit__set_nt_threshold(4096);
    test_nt_f32("portable", 4096, 0);
    test_nt_f64("portable", 4096, 0);
    relukit__set_nt_threshold(RELUKIT_AUTO);
    (void)relukit__set_simd(-1);
}

/* ---- overlap: an output overlapping an input (other than exactly) is refused --------------- */

static void test_overlap(void)
{
    float buf[200], save[200];
    fill_f32(buf, 200);
    memcpy(save, buf, sizeof buf);
    const arrfn_f32 arr[2] = {relukit_relu_array_f32, relukit_relu_grad_array_f32};
    for (int op = 0; op < 2; op++) {
        /* partial overlaps, either direction, by one element or by all but one */
        static const size_t shifts[][2] = {{0, 1}, {1, 0}, {0, 49}, {49, 0}, {10, 30}};
        for (size_t i = 0; i < sizeof shifts / sizeof shifts[0]; i++) {
            const int rc = arr[op](buf + shifts[i][0], 50, buf + shifts[i][1], 50);
            CHECK(rc == RELUKIT_EOVERLAP && memcmp(buf, save, sizeof buf) == 0,
                  "op %d x=+%zu y=+%zu n=50: rc=%d (want EOVERLAP), buffer %s", op,
                  shifts[i][0], shifts[i][1], rc,
                  memcmp(buf, save, sizeof buf) ? "modified" : "intact");
        }
        /* adjacent ranges do not overlap; x == y is in place */
        CHECK(arr[op](buf, 50, buf + 50, 50) == RELUKIT_OK, "op %d adjacent after", op);
        CHECK(arr[op](buf + 100, 50, buf + 50, 50) == RELUKIT_OK, "op %d adjacent before", op);
        CHECK(arr[op](buf + 150, 50, buf + 150, 50) == RELUKIT_OK, "op %d in place", op);
        memcpy(buf, save, sizeof buf);
    }
    {
        double d[8] = {1, 2, 3, 4, 5, 6, 7, 8};
        CHECK(relukit_relu_array_f64(d, 4, d + 2, 4) == RELUKIT_EOVERLAP && d[2] == 3,
              "f64 partial overlap");
        CHECK(relukit_relu_grad_array_f64(d + 2, 4, d, 4) == RELUKIT_EOVERLAP && d[0] == 1,
              "f64 grad partial overlap");
    }
    /* dense: y may not overlap x, w or b (checked after the lengths) */
    {
        float m[64];
        for (size_t i = 0; i < 64; i++)
            m[i] = (float)i;
        memcpy(save, m, sizeof m);
        /* x = m[0..6), w = m[6..12), b = m[12..14), y 4 floats (batch 2, in 3, out 2) */
        const size_t y_at[] = {3, 8, 12, 13};
        for (size_t i = 0; i < sizeof y_at / sizeof y_at[0]; i++) {
            const int rc = relukit_dense_forward_f32(m, 6, m + 6, 6, m + 12, 2, m + y_at[i], 4,
                                                     2, 3, 2);
            CHECK(rc == RELUKIT_EOVERLAP && memcmp(m, save, sizeof m) == 0,
                  "dense y at %zu overlapping the inputs: rc=%d", y_at[i], rc);
        }
        CHECK(relukit_dense_forward_f32(m, 6, m + 6, 6, m + 12, 2, m + 14, 4, 2, 3, 2) ==
                  RELUKIT_OK,
              "dense y adjacent to the inputs");
        CHECK(relukit_dense_forward_f32(m, 6, m + 6, 6, m + 12, 2, m + 13, 5, 2, 3, 2) ==
                  RELUKIT_ESIZE,
              "dense: lengths are checked before overlap");
        double dm[16] = {0};
        CHECK(relukit_dense_forward_f64(dm, 2, dm + 2, 2, dm + 4, 1, dm + 1, 1, 1, 2, 1) ==
                  RELUKIT_EOVERLAP,
              "dense f64 y overlapping x");
    }
}

/* ---- threads: the pool and the split of large calls -------------------------------------- */


#if HAVE_PTHREADS
struct part_counts {
    size_t nparts;
    pthread_mutex_t lock;
    unsigned hits[5000];
    int bad_nparts;
};

static void count_part(void *ctx, size_t part, size_t nparts)
{
    struct part_counts *c = ctx;
    pthread_mutex_lock(&c->lock);
    if (part < 5000)
        c->hits[part]++;
    if (nparts != c->nparts)
        c->bad_nparts = 1;
    pthread_mutex_unlock(&c->lock);
}

/* every part runs exactly once, whatever the thread count and part count */
static void test_parallel_for(void)
{
    static struct part_counts c;
    static const size_t part_counts[] = {0, 1, 2, 3, 7, 64, 4096, 4097};
    pthread_mutex_init(&c.lock, NULL);
    for (size_t threads = 1; threads <= 4; threads++) {
        relukit_set_num_threads(threads);
        CHECK(relukit_get_num_threads() == threads, "set_num_threads(%zu): get gives %zu",
              threads, relukit_get_num_threads());
        for (size_t i = 0; i < sizeof part_counts / sizeof part_counts[0]; i++) {
            const size_t nparts = part_counts[i];
            memset(c.hits, 0, sizeof c.hits);
            c.nparts = nparts;
            c.bad_nparts = 0;
            const unsigned long jobs = relukit__pool_jobs();
            const size_t used = relukit__parallel_for(count_part, &c, nparts, threads);
            size_t wrong = 0;
            for (size_t p = 0; p < 5000; p++)
                wrong += c.hits[p] != (p < nparts ? 1u : 0u);
            const int pooled = threads > 1 && nparts > 1 && nparts <= RELUKIT_MAX_PARTS;
            CHECK(wrong == 0 && !c.bad_nparts && (relukit__pool_jobs() - jobs == (pooled ? 1u : 0u)) &&
                      used >= 1 && used <= threads,
                  "parallel_for threads=%zu nparts=%zu: %zu parts not run exactly once, "
                  "nparts %s, pooled %lu (want %d), used %zu",
                  threads, nparts, wrong, c.bad_nparts ? "wrong" : "ok",
                  relukit__pool_jobs() - jobs, pooled, used);
        }
    }
    /* the setting is clamped to [1, RELUKIT_MAX_THREADS] */
    relukit_set_num_threads(0);
    CHECK(relukit_get_num_threads() == 1, "set_num_threads(0) gives %zu", relukit_get_num_threads());
    relukit_set_num_threads(SIZE_MAX);
    CHECK(relukit_get_num_threads() == RELUKIT_MAX_THREADS, "set_num_threads(SIZE_MAX) gives %zu",
          relukit_get_num_threads());
    relukit_set_num_threads(1);
    pthread_mutex_destroy(&c.lock);
}

/* SPLIT_TESTS(SFX, FT, BITS_FN): test_split_SFX(mode, split_bytes, threads) runs both ops,
 * in place and out of place, at lengths around the split point and y offsets that move the
 * 64-byte chunk edges, and checks every element against the scalar kernel, the bytes around
 * y, and that the call went to the pool exactly when it should. */
#define SPLIT_TESTS(SFX, FT, BITS_FN, OF_FN)                                                     \
    static void test_split_##SFX(const char *mode, size_t split, size_t threads,                 \
                                 size_t max_off, size_t n_deltas)                                \
    {                                                                                            \
        const size_t lanes = 32 / sizeof(FT), n_split = split / (2 * sizeof(FT));                \
        const size_t deltas[] = {0, 1, 2, lanes - 1, lanes, lanes + 1, 4 * lanes + 3};           \
        const size_t cap = n_split + 4 * lanes + 3 + max_off + 2 * GUARD;                        \
        FT *x = aligned_alloc(64, (cap * sizeof(FT) + 63) / 64 * 64);                            \
        FT *y = aligned_alloc(64, (cap * sizeof(FT) + 63) / 64 * 64);                            \
        FT *want = malloc(cap * sizeof(FT));                                                     \
        if (!x || !y || !want) {                                                                 \
            CHECK(0, "malloc");                                                                  \
            free(x), free(y), free(want);                                                        \
            return;                                                                              \
        }                                                                                        \
        const arrfn_##SFX arr[2] = {relukit_relu_array_##SFX, relukit_relu_grad_array_##SFX};    \
        const scalfn_##SFX scal[2] = {relukit_relu_##SFX, relukit_relu_grad_##SFX};              \
        const FT sentinel = OF_FN((uint32_t)0x7fa5a5a5u); /* a NaN no kernel produces here */   \
        relukit_set_num_threads(threads);                                                        \
        relukit__set_split_threshold(split);                                                     \
        fill_##SFX(x, cap);                                                                      \
        for (int op = 0; op < 2; op++)                                                           \
            for (size_t d = 0; d < 2 * n_deltas && d < 2 * (sizeof deltas / sizeof deltas[0]);  \
                 d++) {                                                                          \
                const size_t delta = deltas[d / 2];                                              \
                if (d % 2 == 0 && delta > n_split)                                               \
                    continue;                                                                    \
                const size_t n = d % 2 ? n_split + delta : n_split - delta; /* below, above */   \
                for (size_t i = 0; i < n; i++)                                                   \
                    want[i] = scal[op](x[i]);                                                    \
                for (size_t off = 0; off <= max_off; off++)                                      \
                    for (int inplace = 0; inplace < 2; inplace++) {                              \
                        FT *out = y + GUARD + off;                                               \
                        for (size_t i = 0; i < cap; i++)                                         \
                            y[i] = sentinel;                                                     \
                        if (inplace)                                                             \
                            memcpy(out, x, n * sizeof(FT));                                      \
                        const unsigned long jobs = relukit__pool_jobs();                         \
                        const int rc = arr[op](inplace ? out : x, n, out, n);                    \
                        const unsigned long pooled = relukit__pool_jobs() - jobs;                \
                        size_t bad = 0, guard_bad = 0;                                           \
                        for (size_t i = 0; i < n; i++)                                           \
                            bad += BITS_FN(out[i]) != BITS_FN(want[i]);                          \
                        for (size_t i = 0; i < cap; i++)                                         \
                            if ((i < GUARD + off || i >= GUARD + off + n) &&                     \
                                BITS_FN(y[i]) != BITS_FN(sentinel))                              \
                                guard_bad++;                                                     \
                        const unsigned long want_pooled = threads > 1 && n >= n_split ? 1 : 0;   \
                        CHECK(rc == RELUKIT_OK && bad == 0 && guard_bad == 0 &&                  \
                                  pooled == want_pooled,                                         \
                              "[%s] split " #SFX " op=%d threads=%zu split=%zu n=%zu "           \
                              "y_off=%zu inplace=%d: rc=%d, %zu wrong, %zu outside y written, "  \
                              "pooled %lu (want %lu)",                                           \
                              mode, op, threads, split, n, off, inplace, rc, bad, guard_bad,     \
                              pooled, want_pooled);                                              \
                    }                                                                            \
            }                                                                                    \
        relukit__set_split_threshold(RELUKIT_AUTO);                                       \
        relukit_set_num_threads(1);                                                              \
        free(x), free(y), free(want);                                                            \
    }
SPLIT_TESTS(f32, float, bits32, f32_of)
SPLIT_TESTS(f64, double, bits64, (double)f32_of)

/* the thread split on every path: portable, AVX2, AVX2 streaming every out-of-place call */
static void test_split_paths(void)
{
    const size_t old = relukit__set_split_threshold(RELUKIT_AUTO);
    CHECK(old == RELUKIT_AUTO, "split threshold overridden at start (%zu)", old);
    static const struct {
        const char *name;
        int simd;
        size_t nt;
    } modes[] = {{"portable", RELUKIT_SIMD_PORTABLE, RELUKIT_AUTO},
                 {"avx2", RELUKIT_SIMD_AVX2, SIZE_MAX},
                 {"avx2+stream", RELUKIT_SIMD_AVX2, 0}};
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        if (relukit__set_simd(modes[m].simd) != modes[m].simd)
            continue; /* no AVX2 here: noted by the contract tests */
        relukit__set_nt_threshold(modes[m].nt);
        for (size_t threads = 1; threads <= 3; threads++) {
            /* a small threshold: many chunk edges on small arrays, every y offset */
            test_split_f32(modes[m].name, 1024, threads, 16, 7);
            test_split_f64(modes[m].name, 1024, threads, 8, 7);
            test_split_f32(modes[m].name, 40000, threads, 16, 7);
            /* the real threshold, and (2 threads) an array big enough for many parts each */
            test_split_f32(modes[m].name, MACHINE_SPLIT_BYTES, threads, 1, 7);
            test_split_f64(modes[m].name, MACHINE_SPLIT_BYTES, threads, 1, 2);
            if (threads == 2)
                test_split_f32(modes[m].name, (size_t)8 << 20, threads, 0, 2);
        }
    }
    relukit__set_nt_threshold(RELUKIT_AUTO);
    (void)relukit__set_simd(-1);
}

/* the non-temporal decision is made once per call, from the thread count it is split over:
 * an override holds for every thread count; the machine's limit grows by one L2 per thread */
static void test_split_nt_rule(void)
{
    const struct relukit_runtime_info *m = relukit__machine();
    CHECK(relukit__nt_limit(1) == m->nt_bytes, "machine NT limit, 1 thread");
    CHECK(relukit__nt_limit(3) == m->nt_bytes + 2 * m->nt_bytes_per_thread,
          "machine NT limit, 3 threads: %zu", relukit__nt_limit(3));
    if (relukit__set_simd(RELUKIT_SIMD_AVX2) != RELUKIT_SIMD_AVX2) {
        (void)relukit__set_simd(-1);
        return;
    }
    static float x[8192], y[8192];
    fill_f32(x, 8192);
    const size_t old_nt = relukit__set_nt_threshold(16384); /* bytes read + written */
    CHECK(relukit__nt_limit(1) == 16384 && relukit__nt_limit(4) == 16384,
          "an NT override holds for every thread count");
    relukit__set_split_threshold(4096);
    static const struct {
        size_t threads, n;
        unsigned long streams;
    } cases[] = {
        {1, 2048, 0}, /* 16384 bytes: not above the threshold */
        {1, 2049, 1}, /* one thread: above 16384 streams */
        {2, 2048, 0}, /* split: the same threshold */
        {2, 2049, 1},
        {3, 4097, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        relukit_set_num_threads(cases[i].threads);
        const unsigned long before = relukit__nt_calls();
        const int rc = relukit_relu_array_f32(x, cases[i].n, y, cases[i].n);
        size_t bad = 0;
        for (size_t k = 0; k < cases[i].n; k++)
            bad += bits32(y[k]) != bits32(relukit_relu_f32(x[k]));
        CHECK(rc == RELUKIT_OK && bad == 0 && relukit__nt_calls() - before == cases[i].streams,
              "NT rule threads=%zu n=%zu: rc=%d, %zu wrong, streamed %lu (want %lu)",
              cases[i].threads, cases[i].n, rc, bad, relukit__nt_calls() - before,
              cases[i].streams);
    }
    relukit__set_nt_threshold(SIZE_MAX); /* never, whatever the thread count */
    relukit_set_num_threads(2);
    {
        const unsigned long before = relukit__nt_calls();
        (void)relukit_relu_array_f32(x, 8192, y, 8192);
        CHECK(relukit__nt_calls() == before, "NT threshold SIZE_MAX streamed a split call");
    }
    relukit_set_num_threads(1);
    relukit__set_split_threshold(RELUKIT_AUTO);
    relukit__set_nt_threshold(old_nt);
    (void)relukit__set_simd(-1);
}

/* the runtime's report: what was detected, and thresholds that follow from it */
static void test_runtime_info(void)
{
    struct relukit_runtime_info info;
    CHECK(relukit_runtime_info(NULL) == RELUKIT_ESIZE, "runtime_info(NULL)");
    CHECK(relukit_runtime_info(&info) == RELUKIT_OK, "runtime_info status");
    CHECK(info.simd == relukit__get_simd(), "runtime_info simd %d", info.simd);
    CHECK(info.l2_bytes > 0 && info.cpus > 0 && info.cache_source != NULL,
          "runtime_info: l2 %zu, cpus %zu", info.l2_bytes, info.cpus);
    CHECK(info.max_threads == (size_t)relukit_max_threads() && relukit_max_threads() == 64,
          "max threads %zu", info.max_threads);
    CHECK(info.l3_share_bytes <= info.l3_bytes, "L3 share %zu above L3 %zu", info.l3_share_bytes,
          info.l3_bytes);
    {
        CHECK(info.nt_bytes == info.l3_share_bytes + info.l2_bytes &&
                  info.nt_bytes_per_thread == info.l2_bytes,
              "NT threshold %zu from L3 share %zu + L2 %zu", info.nt_bytes, info.l3_share_bytes,
              info.l2_bytes);
        CHECK(info.split_bytes >= ((size_t)64 << 10) && info.split_bytes <= info.l2_bytes,
              "split bytes %zu against L2 %zu", info.split_bytes, info.l2_bytes);
        CHECK(info.dense_split_macs >= ((size_t)32 << 10), "dense split %zu",
              info.dense_split_macs);
    }
    relukit_set_num_threads(1000);
    CHECK(relukit_get_num_threads() == (size_t)relukit_max_threads(), "threads capped: %zu",
          relukit_get_num_threads());
    relukit_set_num_threads(0);
    CHECK(relukit_get_num_threads() == 1, "0 threads taken as 1");
    /* an override shows in the report, and dropping it restores the machine's value */
    const size_t old = relukit__set_split_threshold(12345);
    (void)relukit_runtime_info(&info);
    CHECK(info.split_bytes == 12345, "split override reported: %zu", info.split_bytes);
    relukit__set_split_threshold(old);
    (void)relukit_runtime_info(&info);
    CHECK(info.split_bytes == relukit__machine()->split_bytes, "split override dropped");
}

/* dense over threads: column parts (wide layers) and row parts (narrow ones) give the same
 * bits as one thread (the recomputation of the definition in test_dense_random_*) */
static void test_dense_split(void)
{
    const size_t old = relukit__set_dense_split(0);
    for (int simd = 0; simd < 2; simd++) {
        if (relukit__set_simd(simd ? RELUKIT_SIMD_AVX2 : RELUKIT_SIMD_PORTABLE) !=
            (simd ? RELUKIT_SIMD_AVX2 : RELUKIT_SIMD_PORTABLE))
            continue;
        for (size_t threads = 2; threads <= 3; threads++) {
            relukit_set_num_threads(threads);
            const unsigned long jobs = relukit__pool_jobs();
            const unsigned long fails_before = n_fail;
            test_dense_random_f32();
            test_dense_random_f64();
            CHECK(relukit__pool_jobs() > jobs, "dense with %zu threads never used the pool",
                  threads);
            if (n_fail != fails_before)
                printf("  (the dense failures above are with %zu threads, simd %d)\n", threads,
                       simd);
        }
    }
    relukit_set_num_threads(1);
    relukit__set_dense_split(old);
    (void)relukit__set_simd(-1);
}

/* several callers at once (the pool takes one job at a time; the others run on their own
 * thread), while another thread changes the setting */
#define N_CALLERS 4
struct caller {
    float *x, *y;
    size_t n;
    int bad;
};

static void *caller_main(void *arg)
{
    struct caller *c = arg;
    for (int rep = 0; rep < 40; rep++) {
        const int op = rep % 2;
        const int rc = op ? relukit_relu_grad_array_f32(c->x, c->n, c->y, c->n)
                          : relukit_relu_array_f32(c->x, c->n, c->y, c->n);
        for (size_t i = 0; i < c->n; i++) {
            const float want = op ? relukit_relu_grad_f32(c->x[i]) : relukit_relu_f32(c->x[i]);
            if (rc != RELUKIT_OK || bits32(c->y[i]) != bits32(want)) {
                c->bad = 1;
                break;
            }
        }
    }
    return NULL;
}

static void *setting_main(void *arg)
{
    _Atomic int *stop = arg;
    for (size_t i = 0; !atomic_load(stop); i++)
        relukit_set_num_threads(1 + i % 3);
    return NULL;
}

static void test_concurrent_callers(void)
{
    struct caller c[N_CALLERS];
    pthread_t t[N_CALLERS], setter;
    _Atomic int stop = 0;
    relukit__set_split_threshold(4096);
    relukit_set_num_threads(2);
    for (size_t i = 0; i < N_CALLERS; i++) {
        c[i].n = 20000 + 17 * i;
        c[i].x = malloc(c[i].n * sizeof(float));
        c[i].y = malloc(c[i].n * sizeof(float));
        c[i].bad = c[i].x == NULL || c[i].y == NULL;
        if (!c[i].bad)
            fill_f32(c[i].x, c[i].n);
    }
    const int setter_ok = pthread_create(&setter, NULL, setting_main, &stop) == 0;
    for (size_t i = 0; i < N_CALLERS; i++)
        if (!c[i].bad && pthread_create(&t[i], NULL, caller_main, &c[i]) != 0)
            c[i].bad = 2;
    for (size_t i = 0; i < N_CALLERS; i++)
        if (c[i].bad != 2 && c[i].x && c[i].y)
            pthread_join(t[i], NULL);
    atomic_store(&stop, 1);
    if (setter_ok)
        pthread_join(setter, NULL);
    for (size_t i = 0; i < N_CALLERS; i++) {
        CHECK(c[i].bad == 0, "concurrent caller %zu: wrong result or no thread (%d)", i,
              c[i].bad);
        free(c[i].x), free(c[i].y);
    }
    relukit_set_num_threads(1);
    relukit__set_split_threshold(RELUKIT_AUTO);
}

/* a child forked after the pool ran starts its own workers and gets the same answers */
static void test_fork(void)
{
    const size_t n = 300000;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    if (!x || !y) {
        CHECK(0, "malloc");
        free(x), free(y);
        return;
    }
    fill_f32(x, n);
    relukit_set_num_threads(2);
    (void)relukit_relu_array_f32(x, n, y, n); /* the pool is up */
    fflush(stdout);
    const pid_t pid = fork();
    if (pid == 0) {
        alarm(30); /* a hang kills the child: the parent sees a failure, not a stuck test */
        const unsigned long jobs = relukit__pool_jobs();
        int ok = relukit_relu_array_f32(x, n, y, n) == RELUKIT_OK && relukit__pool_jobs() > jobs;
        for (size_t i = 0; ok && i < n; i++)
            ok = bits32(y[i]) == bits32(relukit_relu_f32(x[i]));
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    const int waited = pid > 0 && waitpid(pid, &status, 0) == pid;
    CHECK(waited && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "forked child: fork %s, status %d (exited %d, code %d)", pid > 0 ? "ok" : "failed",
          status, WIFEXITED(status), WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    relukit_set_num_threads(1);
    free(x), free(y);
}

#if HAVE_MXCSR
/* A part run on a worker sees the caller's MXCSR (FTZ, DAZ, rounding): part 0 waits until
 * part 1 is done, so the two run on different threads, one of them a worker. */
struct csr_job {
    atomic_int done1;
    unsigned int csr[2];
    int waited_out;
};
static void csr_part(void *ctx, size_t part, size_t nparts)
{
    struct csr_job *j = ctx;
    (void)nparts;
    j->csr[part] = _mm_getcsr();
    if (part == 1) {
        atomic_store(&j->done1, 1);
        return;
    }
    for (long spins = 0; !atomic_load(&j->done1); spins++)
        if (spins > 200000000L) { /* no worker came within seconds: inconclusive */
            j->waited_out = 1;
            return;
        }
}
static void test_pool_fp_mode(void)
{
    const unsigned int saved = _mm_getcsr();
    relukit_set_num_threads(2);
    for (int mode = 0; mode < 2; mode++) {
        const unsigned int want = mode ? (saved | 0x8040u) : (saved & ~0x8040u);
        _mm_setcsr(want);
        static struct csr_job j;
        atomic_store(&j.done1, 0);
        j.csr[0] = j.csr[1] = 0;
        j.waited_out = 0;
        const size_t used = relukit__parallel_for(csr_part, &j, 2, 2);
        _mm_setcsr(saved);
        if (used < 2 || j.waited_out) {
            printf("note: the pool did not run a part on a worker; FP-mode hand-off untested\n");
            continue;
        }
        CHECK(j.csr[0] == want && j.csr[1] == want,
              "parts ran with MXCSR 0x%x and 0x%x, the caller's is 0x%x (FTZ+DAZ %s)", j.csr[0],
              j.csr[1], want, mode ? "on" : "off");
    }
    relukit_set_num_threads(1);
}
#endif

static void test_threads(void)
{
    test_parallel_for();
#if HAVE_MXCSR
    test_pool_fp_mode();
#endif
    test_split_paths();
    test_split_nt_rule();
    test_runtime_info();
    test_dense_split();
    test_concurrent_callers();
    test_fork();
}
#else
static void test_threads(void) { printf("note: no pthreads, thread tests skipped\n"); }
#endif /* HAVE_PTHREADS */

/* ---- main ---------------------------------------------------------------------------------- */

static void run_contract_tests(const char *mode)
{
    test_scalars(mode);
    test_table_arrays(mode);
    test_table_tiled_f32(mode);
    test_table_tiled_f64(mode);
    test_arrays_f32(mode);
    test_arrays_f64(mode);
}

static const struct path {
    const char *name;
    int simd;
    size_t nt_threshold;
} paths[] = {
    {"portable", RELUKIT_SIMD_PORTABLE, RELUKIT_AUTO},
    {"avx2", RELUKIT_SIMD_AVX2, RELUKIT_AUTO},
    {"avx2+stream", RELUKIT_SIMD_AVX2, 0}, /* every out-of-place call streams */
};
#define N_PATHS (sizeof paths / sizeof paths[0])

/* Select a path; returns 0 (after a note) if this CPU cannot run it. */
static int select_path(const struct path *p)
{
    const int got = relukit__set_simd(p->simd);
    relukit__set_nt_threshold(p->nt_threshold);
    if (got == p->simd)
        return 1;
    CHECK(!cpu_has_avx2(), "[%s] path not selectable although the CPU has AVX2", p->name);
    printf("note: path %s not available on this CPU, skipped\n", p->name);
    return 0;
}

int main(void)
{
    harness_start(); /* failures stay visible if a kernel crashes */
    /* the thresholds are forced through the test hooks; the machine's are the derived ones */
    unsetenv("RELUKIT_NT_BYTES");
    unsetenv("RELUKIT_SPLIT_BYTES");
    unsetenv("RELUKIT_DENSE_SPLIT_MACS");
    harness_seed(0x9e3779b97f4a7c15u);
    test_initial_path();
    test_env_override();
    test_table_constants();
    for (size_t pi = 0; pi < N_PATHS; pi++) {
        if (!select_path(&paths[pi]))
            continue;
        const unsigned long before = relukit__nt_calls();
        run_contract_tests(paths[pi].name);
        test_no_fp_exceptions(paths[pi].name);
        /* dense: the AVX2 build of the row loop must give the same bits as the portable one
         * (the recomputation of the definition in test_dense_random_*) */
        const unsigned long fails_before = n_fail;
        test_dense_random_f32();
        test_dense_random_f64();
        test_dense_edges_f32();
        test_dense_edges_f64();
        test_dense_alignment_f32();
        test_dense_alignment_f64();
        if (n_fail != fails_before)
            printf("  (the dense failures above are on path %s)\n", paths[pi].name);
        const unsigned long streamed = relukit__nt_calls() - before;
        if (paths[pi].nt_threshold == 0)
            CHECK(streamed > 0, "[%s] no call streamed", paths[pi].name);
        else
            CHECK(streamed == 0, "[%s] %lu calls streamed", paths[pi].name, streamed);
    }
    (void)relukit__set_simd(-1);
    relukit__set_nt_threshold(RELUKIT_AUTO);
    test_nt_thresholds();
    test_i64();
    test_esize_f32();
    test_esize_f64();
    test_overlap();
    test_threads();

#if HAVE_MXCSR
    /* The ReLU kernels decide on bit patterns: flush-to-zero and denormals-are-zero must not
     * change any result (subnormal inputs stay subnormal, grad of one is still 1). */
    {
        const unsigned int saved = _mm_getcsr();
        _mm_setcsr(saved | 0x8040u); /* FTZ (bit 15) | DAZ (bit 6) */
        for (size_t pi = 0; pi < N_PATHS; pi++) {
            char mode[64];
            if (!select_path(&paths[pi]))
                continue;
            snprintf(mode, sizeof mode, "%s FTZ+DAZ", paths[pi].name);
            run_contract_tests(mode);
        }
        _mm_setcsr(saved);
        (void)relukit__set_simd(-1);
        relukit__set_nt_threshold(RELUKIT_AUTO);
    }
#endif

    return harness_finish();
}
