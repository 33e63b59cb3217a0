/* machine.c: the caches and CPUs of this machine, and the thresholds derived from them, once
 * per process (relukit_runtime_info in relukit.h; measurements in docs/benchmark.md, "C
 * kernels").
 *
 * Detection: sysfs (/sys/devices/system/cpu/cpu0/cache/index*: level, type, size,
 * shared_cpu_list), else cpuid (leaf 4, or AMD's 0x8000001D), else 512 KiB of L2 and 8 MiB of
 * L3. CPUs: those this process may run on (sched_getaffinity), else the online count.
 *
 * The thresholds, and why:
 *   - L3 share: the L3 counted as ours is at most 16 MiB per CPU listed as sharing it. A VM
 *     sees the host's whole L3 next to only its own CPUs (480 MiB for 2 vCPUs here) while the
 *     host's other cores use it too; no current part has more than 12 MiB of L3 per core.
 *   - non-temporal stores (out of place, AVX2): from the point where x and y no longer fit in
 *     the cache the call's threads can use, L3 share + threads * L2. Below it, streaming only
 *     evicts a y that would have stayed cached (and invalidates lines already there); above it,
 *     it saves the read-for-ownership of every line of y.
 *   - elementwise split: from half of one core's L2 moved. Below, one core runs the call from
 *     its own L2 in a few microseconds and a second core gains less than the hand-off costs.
 *   - dense split: from L2 / 32 multiply-adds (batch 1: a float32 w of an eighth of the L2),
 *     and never under 32 Ki (a part must outweigh the ~1 us hand-off).
 * Environment overrides (decimal): RELUKIT_NT_BYTES, RELUKIT_SPLIT_BYTES,
 * RELUKIT_DENSE_SPLIT_MACS. */
#if defined(__linux__)
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#elif !defined(_WIN32)
#define _POSIX_C_SOURCE 200809L /* sysconf */
#endif

#include "runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__linux__)
#include <sched.h>
#endif
#if !defined(_WIN32)
#include <unistd.h>
#endif
#if RELUKIT_X86_DISPATCH
#include <cpuid.h>
#endif

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)
#define DEFAULT_L1D (32 * KIB)
#define DEFAULT_L2 (512 * KIB)
#define DEFAULT_L3 (8 * MIB)
#define L3_PER_CPU_CAP (16 * MIB)
#define MIN_SPLIT_BYTES (64 * KIB)
#define MIN_DENSE_SPLIT_MACS (32 * KIB)

static struct relukit_runtime_info machine;

/* ---- detection ---------------------------------------------------------------------------- */

/* The CPUs in a list such as "0-3,8,10-11" (0 if it cannot be parsed). */
static size_t count_cpu_list(const char *s)
{
    size_t count = 0;
    while (*s != '\0' && *s != '\n') {
        char *end;
        const unsigned long a = strtoul(s, &end, 10);
        if (end == s)
            return 0;
        unsigned long b = a;
        s = end;
        if (*s == '-') {
            b = strtoul(s + 1, &end, 10);
            if (end == s + 1 || b < a)
                return 0;
            s = end;
        }
        count += (size_t)(b - a + 1);
        if (*s == ',')
            s++;
    }
    return count;
}

/* Read the first line of dir/name into buf; 1 on success. */
static int read_line(const char *dir, const char *name, char *buf, size_t len)
{
    char path[160];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return 0;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    const int ok = fgets(buf, (int)len, f) != NULL;
    fclose(f);
    return ok;
}

/* "2048K", "32M", "1G" or plain bytes, as bytes (0 if unreadable). */
static size_t parse_size(const char *s)
{
    char *end;
    const unsigned long long v = strtoull(s, &end, 10);
    if (end == s)
        return 0;
    unsigned long long scale = 1;
    if (*end == 'K' || *end == 'k')
        scale = KIB;
    else if (*end == 'M' || *end == 'm')
        scale = MIB;
    else if (*end == 'G' || *end == 'g')
        scale = (unsigned long long)MIB * 1024u;
    if (v > (unsigned long long)SIZE_MAX / scale)
        return SIZE_MAX;
    return (size_t)(v * scale);
}

static int caches_from_sysfs(size_t *l2, size_t *l3, size_t *l3_cpus)
{
    int found = 0;
    for (int i = 0; i < 16; i++) {
        char dir[96], buf[256];
        snprintf(dir, sizeof dir, "/sys/devices/system/cpu/cpu0/cache/index%d", i);
        if (!read_line(dir, "level", buf, sizeof buf))
            continue;
        const long level = strtol(buf, NULL, 10);
        if ((level != 2 && level != 3) || !read_line(dir, "type", buf, sizeof buf) ||
            strncmp(buf, "Instruction", 11) == 0 || !read_line(dir, "size", buf, sizeof buf))
            continue;
        const size_t size = parse_size(buf);
        if (size == 0)
            continue;
        if (level == 2) {
            *l2 = size;
        } else {
            *l3 = size;
            if (read_line(dir, "shared_cpu_list", buf, sizeof buf))
                *l3_cpus = count_cpu_list(buf);
        }
        found = 1;
    }
    return found && *l2 != 0;
}

static int caches_from_cpuid(size_t *l2, size_t *l3, size_t *l3_cpus)
{
#if RELUKIT_X86_DISPATCH
    static const unsigned leaves[] = {4u, 0x8000001du};
    for (size_t li = 0; li < 2; li++) {
        const unsigned leaf = leaves[li];
        if (__get_cpuid_max(leaf & 0x80000000u, NULL) < leaf)
            continue;
        int found = 0;
        for (unsigned sub = 0; sub < 16; sub++) {
            unsigned a, b, c, d;
            if (!__get_cpuid_count(leaf, sub, &a, &b, &c, &d))
                break;
            const unsigned type = a & 0x1fu, level = (a >> 5) & 7u;
            if (type == 0)
                break;
            if (type == 2 || (level != 2 && level != 3))
                continue; /* instruction cache, or L1 */
            const size_t size = (size_t)((b >> 22) + 1) * (((b >> 12) & 0x3ffu) + 1) *
                                ((b & 0xfffu) + 1) * ((size_t)c + 1);
            if (level == 2) {
                *l2 = size;
            } else {
                *l3 = size;
                *l3_cpus = ((a >> 14) & 0xfffu) + 1;
            }
            found = 1;
        }
        if (found && *l2 != 0)
            return 1;
    }
#else
    (void)l2, (void)l3, (void)l3_cpus;
#endif
    return 0;
}

/* The L1 data cache of one core: sysfs, else cpuid leaf 4, else DEFAULT_L1D. */
static size_t detect_l1d(void)
{
    for (int i = 0; i < 16; i++) {
        char dir[96], buf[256];
        snprintf(dir, sizeof dir, "/sys/devices/system/cpu/cpu0/cache/index%d", i);
        if (!read_line(dir, "level", buf, sizeof buf) || strtol(buf, NULL, 10) != 1 ||
            !read_line(dir, "type", buf, sizeof buf) || strncmp(buf, "Instruction", 11) == 0 ||
            !read_line(dir, "size", buf, sizeof buf))
            continue;
        const size_t size = parse_size(buf);
        if (size != 0)
            return size;
    }
#if RELUKIT_X86_DISPATCH
    if (__get_cpuid_max(0, NULL) >= 4u)
        for (unsigned sub = 0; sub < 16; sub++) {
            unsigned a, b, c, d;
            if (!__get_cpuid_count(4u, sub, &a, &b, &c, &d) || (a & 0x1fu) == 0)
                break;
            if ((a & 0x1fu) == 1 && ((a >> 5) & 7u) == 1)
                return (size_t)((b >> 22) + 1) * (((b >> 12) & 0x3ffu) + 1) *
                       ((b & 0xfffu) + 1) * ((size_t)c + 1);
        }
#endif
    return DEFAULT_L1D;
}

static size_t count_cpus(void)
{
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return (size_t)CPU_COUNT(&set);
#endif
#if !defined(_WIN32)
    const long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n > 0)
        return (size_t)n;
#endif
    return 1;
}

/* The environment variable `name` as a decimal size, or `fallback`. */
static size_t env_size(const char *name, size_t fallback)
{
    const char *s = getenv(name);
    if (s == NULL || *s == '\0')
        return fallback;
    char *end;
    const unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end != '\0' || s[0] == '-')
        return fallback;
    return v >= (unsigned long long)SIZE_MAX ? SIZE_MAX : (size_t)v;
}

static size_t sat_add(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }

static void detect(struct relukit_runtime_info *m)
{
    size_t l2 = 0, l3 = 0, l3_cpus = 0;
    memset(m, 0, sizeof *m);
    m->cpus = count_cpus();
    if (caches_from_sysfs(&l2, &l3, &l3_cpus)) {
        m->cache_source = "sysfs";
    } else {
        l2 = l3 = l3_cpus = 0;
        if (caches_from_cpuid(&l2, &l3, &l3_cpus)) {
            m->cache_source = "cpuid";
        } else {
            m->cache_source = "default";
            l2 = DEFAULT_L2;
            l3 = DEFAULT_L3;
        }
    }
    if (l3 != 0 && l3_cpus == 0)
        l3_cpus = m->cpus;
    m->l1d_bytes = detect_l1d();
    m->l2_bytes = l2;
    m->l3_bytes = l3;
    m->l3_cpus = l3_cpus;
    size_t cap;
    if (!relukit_mul_size(l3_cpus, L3_PER_CPU_CAP, &cap))
        cap = SIZE_MAX;
    m->l3_share_bytes = l3 < cap ? l3 : cap;
    m->max_threads = RELUKIT_MAX_THREADS;

    m->nt_bytes_per_thread = l2;
    m->nt_bytes = sat_add(m->l3_share_bytes, l2);
    m->split_bytes = l2 / 2 > MIN_SPLIT_BYTES ? l2 / 2 : MIN_SPLIT_BYTES;
    m->dense_split_macs = l2 / 32 > MIN_DENSE_SPLIT_MACS ? l2 / 32 : MIN_DENSE_SPLIT_MACS;

    const size_t nt = env_size("RELUKIT_NT_BYTES", RELUKIT_AUTO);
    if (nt != RELUKIT_AUTO) {
        m->nt_bytes = nt;
        m->nt_bytes_per_thread = 0;
    }
    m->split_bytes = env_size("RELUKIT_SPLIT_BYTES", m->split_bytes);
    m->dense_split_macs = env_size("RELUKIT_DENSE_SPLIT_MACS", m->dense_split_macs);
}

/* ---- once per process ----------------------------------------------------------------------
 * The first caller detects; concurrent first callers wait for it (the struct is published
 * with release/acquire). Without C11 atomics every first caller detects (the same values). */
#if defined(__STDC_NO_ATOMICS__)
static volatile int machine_state;
const struct relukit_runtime_info *relukit__machine(void)
{
    if (machine_state != 2) {
        detect(&machine);
        machine_state = 2;
    }
    return &machine;
}
#else
static _Atomic int machine_state; /* 0: not started, 1: detecting, 2: ready */
const struct relukit_runtime_info *relukit__machine(void)
{
    if (atomic_load_explicit(&machine_state, memory_order_acquire) == 2)
        return &machine;
    int expected = 0;
    if (atomic_compare_exchange_strong_explicit(&machine_state, &expected, 1,
                                                memory_order_acq_rel, memory_order_acquire)) {
        detect(&machine);
        atomic_store_explicit(&machine_state, 2, memory_order_release);
    } else {
        while (atomic_load_explicit(&machine_state, memory_order_acquire) != 2)
            ; /* detection takes microseconds */
    }
    return &machine;
}
#endif

/* ---- thresholds and their test overrides ---------------------------------------------------- */

static RELUKIT_ATOMIC(size_t) nt_override = RELUKIT_AUTO;
static RELUKIT_ATOMIC(size_t) split_override = RELUKIT_AUTO;
static RELUKIT_ATOMIC(size_t) dense_override = RELUKIT_AUTO;
static RELUKIT_ATOMIC(unsigned long) nt_calls;

size_t relukit__nt_limit(size_t threads)
{
    const size_t o = RELUKIT_LOAD(&nt_override);
    if (o != RELUKIT_AUTO)
        return o;
    const struct relukit_runtime_info *m = relukit__machine();
    size_t extra;
    if (threads < 1)
        threads = 1;
    if (!relukit_mul_size(threads - 1, m->nt_bytes_per_thread, &extra))
        return SIZE_MAX;
    return sat_add(m->nt_bytes, extra);
}

size_t relukit__split_bytes(void)
{
    const size_t o = RELUKIT_LOAD(&split_override);
    return o != RELUKIT_AUTO ? o : relukit__machine()->split_bytes;
}

size_t relukit__dense_split_macs(void)
{
    const size_t o = RELUKIT_LOAD(&dense_override);
    return o != RELUKIT_AUTO ? o : relukit__machine()->dense_split_macs;
}

size_t relukit__set_nt_threshold(size_t bytes)
{
    const size_t old = RELUKIT_LOAD(&nt_override);
    RELUKIT_STORE(&nt_override, bytes);
    return old;
}

size_t relukit__set_split_threshold(size_t bytes)
{
    const size_t old = RELUKIT_LOAD(&split_override);
    RELUKIT_STORE(&split_override, bytes);
    return old;
}

size_t relukit__set_dense_split(size_t macs)
{
    const size_t old = RELUKIT_LOAD(&dense_override);
    RELUKIT_STORE(&dense_override, macs);
    return old;
}

unsigned long relukit__nt_calls(void) { return RELUKIT_LOAD(&nt_calls); }
void relukit__count_nt_call(void) { RELUKIT_INC(&nt_calls); }

int relukit_max_threads(void) { return RELUKIT_MAX_THREADS; }

/* ---- GEMM blocking ---------------------------------------------------------------------------
 * kc: a kc x nr micro-panel of B (reused by every MR-row tile of a block) takes half of the
 * L1d, the other half left to the streaming A micro-panels and C; mc: the packed mc x kc block
 * of A takes half of the L2; nc: the packed kc x nc block of B takes half of the L3 share,
 * at most GEMM_NC_MAX columns (larger B blocks only cost packing buffer). */
#define GEMM_KC_MIN 64
#define GEMM_KC_MAX 1024
#define GEMM_NC_MAX 4096

static RELUKIT_ATOMIC(size_t) gemm_kc_override, gemm_mc_override, gemm_nc_override;

static size_t clamp_multiple(size_t v, size_t unit, size_t lo, size_t hi)
{
    if (v > hi)
        v = hi;
    v = v / unit * unit;
    return v < lo ? lo : v;
}

void relukit__gemm_blocks(size_t esize, size_t mr, size_t nr, struct relukit_gemm_blocks *out)
{
    const struct relukit_runtime_info *m = relukit__machine();
    size_t kc = clamp_multiple(m->l1d_bytes / 2 / (nr * esize), 8, GEMM_KC_MIN, GEMM_KC_MAX);
    size_t mc = clamp_multiple(m->l2_bytes / 2 / (kc * esize), mr, mr, SIZE_MAX / 2);
    const size_t l3 = m->l3_share_bytes != 0 ? m->l3_share_bytes : m->l2_bytes;
    size_t nc = clamp_multiple(l3 / 2 / (kc * esize), nr, nr, GEMM_NC_MAX / nr * nr);
    const size_t ko = RELUKIT_LOAD(&gemm_kc_override), mo = RELUKIT_LOAD(&gemm_mc_override),
                 no = RELUKIT_LOAD(&gemm_nc_override);
    if (ko != 0)
        kc = ko;
    if (mo != 0)
        mc = (mo + mr - 1) / mr * mr;
    if (no != 0)
        nc = (no + nr - 1) / nr * nr;
    out->kc = kc, out->mc = mc, out->nc = nc;
}

void relukit__set_gemm_blocks(size_t kc, size_t mc, size_t nc)
{
    RELUKIT_STORE(&gemm_kc_override, kc);
    RELUKIT_STORE(&gemm_mc_override, mc);
    RELUKIT_STORE(&gemm_nc_override, nc);
}

int relukit_runtime_info(struct relukit_runtime_info *info)
{
    if (info == NULL)
        return RELUKIT_ESIZE;
    *info = *relukit__machine();
    info->simd = relukit__get_simd();
    info->fma = relukit__have_fma();
    info->nt_bytes = relukit__nt_limit(1);
    if (RELUKIT_LOAD(&nt_override) != RELUKIT_AUTO)
        info->nt_bytes_per_thread = 0;
    info->split_bytes = relukit__split_bytes();
    info->dense_split_macs = relukit__dense_split_macs();
    info->gemm_simd = relukit__gemm_simd();
    for (int e = 0; e < 2; e++) {
        const size_t esize = e == 0 ? 4 : 8;
        size_t mr, nr;
        struct relukit_gemm_blocks bl;
        relukit__gemm_tile(esize, &mr, &nr);
        relukit__gemm_blocks(esize, mr, nr, &bl);
        size_t *dst = e == 0 ? info->gemm_f32 : info->gemm_f64;
        dst[0] = mr, dst[1] = nr, dst[2] = bl.kc, dst[3] = bl.mc, dst[4] = bl.nc;
    }
    return RELUKIT_OK;
}
