/* gemm.c: the GEMM under the dense and linear layers and the dense backward pass (gemm.h has
 * the numeric definition; relukit.h the public contract).
 *
 * Structure (the five loops around a micro-kernel, as in BLIS; written here from scratch):
 *   for jc over n in steps of nc:            B's columns for the L3
 *     for pc over k in steps of kc:          one k-block; pack B(pc:pc+kc, jc:jc+nc) -> Bp
 *       for ic over m in steps of mc:        pack A(ic:ic+mc, pc:pc+kc) -> Ap (the L2)
 *         for jr over nc in steps of NR:     a kc x NR micro-panel of Bp (the L1)
 *           for ir over mc in steps of MR:   the micro-kernel: an MR x NR tile of C in
 *                                            registers, kc FMA steps (one broadcast of A and
 *                                            NR/L loads of B per step and row)
 *         on the last k-block: the activation on the mc x nc block just written (hot in L2)
 * The micro-kernel starts its tile from the bias (first k-block), from +0.0 (no bias), or from
 * C (later k-blocks: C holds the rounded accumulator, so storing and reloading is exact), and
 * applies relu before its store on the last k-block. Packing is where transposes are handled:
 * A and B are read through element strides, so dx = dy w^T and dW = x^T dy use this same
 * kernel. Panels are padded with zeros to whole tiles; an edge tile runs on a scratch tile
 * (filled from C or the bias, copied back), so the micro-kernel never reads or writes outside
 * the shape.
 *
 * Paths, per call: AVX-512F (MR x NR = 12 x 32 f32, 12 x 16 f64), AVX2+FMA (6 x 16, 6 x 8),
 * portable (i-p-j loops with fmaf/fma: no packing). The portable path is taken when
 * relukit__get_simd() says portable (RELUKIT_FORCE_PORTABLE), when the CPU has no FMA, or when
 * the packing buffers cannot be allocated. Block sizes: relukit__gemm_blocks (machine.c).
 * Threads: the C matrix is cut into one part per thread, over columns (whole NR panels) or
 * rows (whole MR tiles), whichever repacks less; each part packs its own panels into
 * buffers kept per thread. k is never split, so every output is the same sequence of fmas. */
#include "gemm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "elementwise.h"

/* ---- the path ------------------------------------------------------------------------------ */

static RELUKIT_ATOMIC(int) gemm_forced = -1; /* -1: the default choice */

static int gemm_cpu_best(void)
{
#if RELUKIT_X86_DISPATCH
    if (relukit__get_simd() != RELUKIT_SIMD_AVX2 || !relukit__have_fma())
        return RELUKIT_SIMD_PORTABLE;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? RELUKIT_SIMD_AVX512 : RELUKIT_SIMD_AVX2;
#else
    return RELUKIT_SIMD_PORTABLE;
#endif
}

int relukit__gemm_simd(void)
{
    const int best = gemm_cpu_best();
    const int f = RELUKIT_LOAD(&gemm_forced);
    return f >= 0 && f < best ? f : best;
}

int relukit__set_gemm_simd(int mode)
{
    RELUKIT_STORE(&gemm_forced, (mode == RELUKIT_SIMD_PORTABLE || mode == RELUKIT_SIMD_AVX2 ||
                                 mode == RELUKIT_SIMD_AVX512)
                                    ? mode
                                    : -1);
    return relukit__gemm_simd();
}

void relukit__gemm_tile(size_t esize, size_t *mr, size_t *nr)
{
    switch (relukit__gemm_simd()) {
    case RELUKIT_SIMD_AVX512:
        *mr = 12, *nr = esize == 4 ? 32 : 16;
        break;
    case RELUKIT_SIMD_AVX2:
        *mr = 6, *nr = esize == 4 ? 16 : 8;
        break;
    default:
        *mr = 1, *nr = 1;
    }
}

/* ---- per-thread packing buffers -------------------------------------------------------------
 * Grown as needed and kept for the thread's lifetime (the pool's workers live as long as the
 * process): a call of a size seen before allocates nothing. */
static _Thread_local void *tl_buf;
static _Thread_local size_t tl_cap;

static void *gemm_buffer(size_t bytes)
{
    if (bytes <= tl_cap)
        return tl_buf;
    const size_t rounded = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, rounded);
    if (p == NULL)
        return NULL;
    free(tl_buf);
    tl_buf = p;
    tl_cap = rounded;
    return p;
}

/* ---- the micro-kernels ---------------------------------------------------------------------- */

enum { INIT_LOAD = 0, INIT_BIAS = 1, INIT_ZERO = 2 };

/* A micro-kernel: the MR x NR tile at c (row stride ldc) from kc steps over the packed
 * micro-panels ap (kc x MR: A(r, p) at ap[p*MR + r]) and bp (kc x NR, row stride ldb). */
typedef void (*gemm_ukr_fn)(size_t kc, const void *ap, const void *bp, size_t ldb, void *c,
                            size_t ldc, const void *bias, int mode, int relu);

#define RELUKIT_PRAGMA(x) _Pragma(#x)
#define RELUKIT_UNROLL(n) RELUKIT_PRAGMA(GCC unroll n)

/* GEMM_UKR(NAME, ATTR, FT, VT, L, MR, NV, LOAD, STORE, SET1, FMA, ZERO, RELU) defines one
 * micro-kernel: MR rows x NV vectors of L lanes. */
#define GEMM_UKR(NAME, ATTR, FT, VT, L, MR, NV, LOAD, STORE, SET1, FMA, ZERO, RELU)             \
    ATTR static void NAME(size_t kc, const void *apv, const void *bpv, size_t ldb, void *cv,     \
                          size_t ldc, const void *biasv, int mode, int relu)                     \
    {                                                                                            \
        const FT *restrict ap = apv;                                                             \
        const FT *restrict bp = bpv;                                                             \
        FT *restrict c = cv;                                                                     \
        VT acc[MR][NV];                                                                          \
        if (mode == INIT_LOAD) {                                                                 \
            RELUKIT_UNROLL(16)                                                                   \
            for (int r = 0; r < (MR); r++)                                                       \
                RELUKIT_UNROLL(16)                                                                \
                for (int v = 0; v < (NV); v++)                                                   \
                    acc[r][v] = LOAD(c + (size_t)r * ldc + (size_t)v * (L));                     \
        } else {                                                                                 \
            RELUKIT_UNROLL(16)                                                                    \
            for (int v = 0; v < (NV); v++) {                                                     \
                const VT t = mode == INIT_BIAS ? LOAD((const FT *)biasv + v * (L)) : ZERO();     \
                RELUKIT_UNROLL(16)                                                               \
                for (int r = 0; r < (MR); r++)                                                   \
                    acc[r][v] = t;                                                               \
            }                                                                                    \
        }                                                                                        \
        RELUKIT_UNROLL(2)                                                                        \
        for (size_t p = 0; p < kc; p++, ap += (MR), bp += ldb) {                                 \
            VT bk[NV];                                                                           \
            RELUKIT_UNROLL(16)                                                                    \
            for (int v = 0; v < (NV); v++)                                                       \
                bk[v] = LOAD(bp + v * (L));                                                      \
            RELUKIT_UNROLL(16)                                                                   \
            for (int r = 0; r < (MR); r++) {                                                     \
                const VT a = SET1(ap[r]);                                                        \
                RELUKIT_UNROLL(16)                                                                \
                for (int v = 0; v < (NV); v++)                                                   \
                    acc[r][v] = FMA(a, bk[v], acc[r][v]);                                        \
            }                                                                                    \
        }                                                                                        \
        if (relu) {                                                                              \
            RELUKIT_UNROLL(16)                                                                   \
            for (int r = 0; r < (MR); r++)                                                       \
                RELUKIT_UNROLL(16)                                                                \
                for (int v = 0; v < (NV); v++)                                                   \
                    acc[r][v] = RELU(acc[r][v]);                                                 \
        }                                                                                        \
        RELUKIT_UNROLL(16)                                                                       \
        for (int r = 0; r < (MR); r++)                                                           \
            RELUKIT_UNROLL(16)                                                                    \
            for (int v = 0; v < (NV); v++)                                                       \
                STORE(c + (size_t)r * ldc + (size_t)v * (L), acc[r][v]);                         \
    }

#if RELUKIT_X86_DISPATCH
#define RELUKIT_FMA_FN __attribute__((target("avx2,fma")))
#define RELUKIT_AVX512_FN __attribute__((target("avx512f,avx2,fma")))

RELUKIT_FMA_FN static inline __m256 relu_ps256(__m256 v)
{
    return _mm256_castsi256_ps(relukit_relu_vec_f32(_mm256_castps_si256(v)));
}
RELUKIT_FMA_FN static inline __m256d relu_pd256(__m256d v)
{
    return _mm256_castsi256_pd(relukit_relu_vec_f64(_mm256_castpd_si256(v)));
}
/* relu on the bit pattern: keep iff (signed) bits > bits(-inf) (see elementwise.h) */
RELUKIT_AVX512_FN static inline __m512 relu_ps512(__m512 v)
{
    const __m512i u = _mm512_castps_si512(v);
    const __mmask16 keep = _mm512_cmpgt_epi32_mask(u, _mm512_set1_epi32(-0x800000));
    return _mm512_castsi512_ps(_mm512_maskz_mov_epi32(keep, u));
}
RELUKIT_AVX512_FN static inline __m512d relu_pd512(__m512d v)
{
    const __m512i u = _mm512_castpd_si512(v);
    const __mmask8 keep = _mm512_cmpgt_epi64_mask(u, _mm512_set1_epi64(-0x10000000000000LL));
    return _mm512_castsi512_pd(_mm512_maskz_mov_epi64(keep, u));
}

GEMM_UKR(ukr_f32_avx2, RELUKIT_FMA_FN, float, __m256, 8, 6, 2, _mm256_loadu_ps, _mm256_storeu_ps,
         _mm256_set1_ps, _mm256_fmadd_ps, _mm256_setzero_ps, relu_ps256)
GEMM_UKR(ukr_f64_avx2, RELUKIT_FMA_FN, double, __m256d, 4, 6, 2, _mm256_loadu_pd,
         _mm256_storeu_pd, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_setzero_pd, relu_pd256)
GEMM_UKR(ukr_f32_avx512, RELUKIT_AVX512_FN, float, __m512, 16, 12, 2, _mm512_loadu_ps,
         _mm512_storeu_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_setzero_ps, relu_ps512)
GEMM_UKR(ukr_f64_avx512, RELUKIT_AVX512_FN, double, __m512d, 8, 12, 2, _mm512_loadu_pd,
         _mm512_storeu_pd, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_setzero_pd, relu_pd512)
/* one row of C, 8 vectors wide: the few-row (batch 1) path, B read in place */
GEMM_UKR(row_f32_avx2, RELUKIT_FMA_FN, float, __m256, 8, 1, 8, _mm256_loadu_ps, _mm256_storeu_ps,
         _mm256_set1_ps, _mm256_fmadd_ps, _mm256_setzero_ps, relu_ps256)
GEMM_UKR(row_f64_avx2, RELUKIT_FMA_FN, double, __m256d, 4, 1, 8, _mm256_loadu_pd,
         _mm256_storeu_pd, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_setzero_pd, relu_pd256)
GEMM_UKR(row_f32_avx512, RELUKIT_AVX512_FN, float, __m512, 16, 1, 16, _mm512_loadu_ps,
         _mm512_storeu_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_setzero_ps, relu_ps512)
GEMM_UKR(row_f64_avx512, RELUKIT_AVX512_FN, double, __m512d, 8, 1, 16, _mm512_loadu_pd,
         _mm512_storeu_pd, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_setzero_pd, relu_pd512)
#endif

/* ---- one part of C: the blocked loops (SIMD) or the plain loops (portable) ------------------ */

struct gemm_path {
    gemm_ukr_fn ukr;
    size_t mr, nr;
    gemm_ukr_fn row; /* one row, row_nr columns, B in place */
    size_t row_nr;
};

/* Up to this many rows of C, with B's rows contiguous (csb == 1), a call runs row by row on
 * the row kernel, reading B in place (packing B would cost as much as the product); the
 * columns after the last whole row panel go through the blocked loops. */
#define GEMM_FEW_ROWS 3
/* Up to this many rows (and B's rows contiguous), the blocked loops read B's micro-panels in
 * place instead of packing them: B is used by too few tiles to repay its packing. */
#define GEMM_DIRECT_B_ROWS 48

/* GEMM_DRIVER(SFX, FT, FMAF) defines pack_a_SFX, pack_b_SFX, blocked_SFX and portable_SFX. */
#define GEMM_DRIVER(SFX, FT, FMAF)                                                               \
    /* Ap: ceil(mb/MR) micro-panels, A(i0 + r, p0 + p) at [panel][p*MR + r]; zero-padded. */     \
    static void pack_a_##SFX(const struct relukit_gemm *g, size_t i0, size_t mb, size_t p0,     \
                             size_t kb, size_t mr, FT *restrict ap)                              \
    {                                                                                            \
        const FT *a = g->a;                                                                      \
        for (size_t ir = 0; ir < mb; ir += mr, ap += kb * mr) {                                  \
            const size_t rows = mb - ir < mr ? mb - ir : mr;                                     \
            const FT *src = a + (i0 + ir) * g->rsa + p0 * g->csa;                                \
            if (g->csa == 1) {                                                                   \
                for (size_t r = 0; r < rows; r++) {                                              \
                    const FT *s = src + r * g->rsa;                                              \
                    for (size_t p = 0; p < kb; p++)                                              \
                        ap[p * mr + r] = s[p];                                                   \
                }                                                                                \
            } else {                                                                             \
                for (size_t p = 0; p < kb; p++) {                                                \
                    const FT *s = src + p * g->csa;                                              \
                    for (size_t r = 0; r < rows; r++)                                            \
                        ap[p * mr + r] = s[r * g->rsa];                                          \
                }                                                                                \
            }                                                                                    \
            for (size_t r = rows; r < mr; r++)                                                   \
                for (size_t p = 0; p < kb; p++)                                                  \
                    ap[p * mr + r] = (FT)0;                                                      \
        }                                                                                        \
    }                                                                                            \
    /* Bp: ceil(nb/NR) micro-panels, B(p0 + p, j0 + j) at [panel][p*NR + j]; zero-padded. */     \
    static void pack_b_##SFX(const struct relukit_gemm *g, size_t p0, size_t kb, size_t j0,     \
                             size_t nb, size_t nr, FT *restrict bp)                              \
    {                                                                                            \
        const FT *b = g->b;                                                                      \
        for (size_t jr = 0; jr < nb; jr += nr, bp += kb * nr) {                                  \
            const size_t cols = nb - jr < nr ? nb - jr : nr;                                     \
            const FT *src = b + p0 * g->rsb + (j0 + jr) * g->csb;                                \
            if (g->csb == 1) {                                                                   \
                for (size_t p = 0; p < kb; p++) {                                                \
                    memcpy(bp + p * nr, src + p * g->rsb, cols * sizeof(FT));                    \
                    for (size_t j = cols; j < nr; j++)                                           \
                        bp[p * nr + j] = (FT)0;                                                  \
                }                                                                                \
            } else {                                                                             \
                for (size_t p = 0; p < kb; p++)                                                  \
                    for (size_t j = cols; j < nr; j++)                                           \
                        bp[p * nr + j] = (FT)0;                                                  \
                for (size_t j = 0; j < cols; j++) {                                              \
                    const FT *s = src + j * g->csb;                                              \
                    for (size_t p = 0; p < kb; p++)                                              \
                        bp[p * nr + j] = s[p * g->rsb];                                          \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
    }                                                                                            \
    /* C rows [m0, m1), columns [n0, n1): the blocked loops; 0 if no buffer could be had. */    \
    static int blocked_##SFX(const struct relukit_gemm *g, const struct gemm_path *path,         \
                             size_t m0, size_t m1, size_t n0, size_t n1)                         \
    {                                                                                            \
        const size_t mr = path->mr, nr = path->nr;                                               \
        struct relukit_gemm_blocks bl;                                                           \
        relukit__gemm_blocks(sizeof(FT), mr, nr, &bl);                                           \
        const size_t m = m1 - m0, n = n1 - n0;                                                   \
        const size_t kc = bl.kc < g->k ? bl.kc : g->k;                                           \
        const size_t mc = bl.mc < m ? bl.mc : (m + mr - 1) / mr * mr;                            \
        const size_t nc = bl.nc < n ? bl.nc : (n + nr - 1) / nr * nr;                            \
        FT *ap = gemm_buffer((mc * kc + kc * nc) * sizeof(FT));                                  \
        if (ap == NULL)                                                                          \
            return 0;                                                                            \
        FT *bp = ap + mc * kc; /* mc * kc is a multiple of mr, so bp stays FT-aligned */         \
        _Alignas(64) FT tile[12 * 32];                                                           \
        FT *c = g->c;                                                                            \
        const FT *bias = g->bias;                                                                \
        const int direct = g->csb == 1 && m <= GEMM_DIRECT_B_ROWS;                               \
        for (size_t jc = n0; jc < n1; jc += nc) {                                                \
            const size_t nb = n1 - jc < nc ? n1 - jc : nc;                                       \
            for (size_t pc = 0; pc < g->k; pc += kc) {                                           \
                const size_t kb = g->k - pc < kc ? g->k - pc : kc;                               \
                const int first = pc == 0, last = pc + kb == g->k;                               \
                const int mode = !first ? INIT_LOAD : bias != NULL ? INIT_BIAS : INIT_ZERO;      \
                const int relu = last && g->relu;                                                \
                if (!direct)                                                                     \
                    pack_b_##SFX(g, pc, kb, jc, nb, nr, bp);                                     \
                else if (nb % nr != 0) /* only the last, partial panel */                        \
                    pack_b_##SFX(g, pc, kb, jc + nb / nr * nr, nb % nr, nr,                       \
                                 bp + nb / nr * kb * nr);                                        \
                for (size_t ic = m0; ic < m1; ic += mc) {                                        \
                    const size_t mb = m1 - ic < mc ? m1 - ic : mc;                               \
                    pack_a_##SFX(g, ic, mb, pc, kb, mr, ap);                                     \
                    for (size_t jr = 0; jr < nb; jr += nr) {                                     \
                        const size_t cols = nb - jr < nr ? nb - jr : nr;                         \
                        const size_t j = jc + jr;                                                \
                        const int in_place = direct && cols == nr;                               \
                        const FT *bpan = in_place ? (const FT *)g->b + pc * g->rsb + j           \
                                                  : bp + (jr / nr) * kb * nr;                    \
                        const size_t ldb = in_place ? g->rsb : nr;                               \
                        for (size_t ir = 0; ir < mb; ir += mr) {                                 \
                            const size_t rows = mb - ir < mr ? mb - ir : mr;                     \
                            const FT *apan = ap + (ir / mr) * kb * mr;                           \
                            FT *ct = c + (ic + ir) * g->ldc + j;                                 \
                            if (rows == mr && cols == nr) {                                      \
                                path->ukr(kb, apan, bpan, ldb, ct, g->ldc,                       \
                                          bias != NULL ? bias + j : NULL, mode, relu);           \
                                continue;                                                        \
                            }                                                                    \
                            /* an edge tile: through the scratch tile (nr columns) */            \
                            for (size_t r = 0; r < mr; r++)                                      \
                                for (size_t q = 0; q < nr; q++)                                  \
                                    tile[r * nr + q] =                                           \
                                        r >= rows || q >= cols ? (FT)0                           \
                                        : mode == INIT_LOAD    ? ct[r * g->ldc + q]              \
                                        : mode == INIT_BIAS    ? bias[j + q]                     \
                                                               : (FT)0;                          \
                            path->ukr(kb, apan, bpan, ldb, tile, nr, NULL, INIT_LOAD, relu);     \
                            for (size_t r = 0; r < rows; r++)                                    \
                                memcpy(ct + r * g->ldc, tile + r * nr, cols * sizeof(FT));       \
                        }                                                                        \
                    }                                                                            \
                    if (last && g->act != NULL)                                                  \
                        for (size_t r = 0; r < mb; r++)                                          \
                            g->act(c + (ic + r) * g->ldc + jc, nb, g->act_params);               \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
        return 1;                                                                                \
    }                                                                                            \
    /* Few rows, B's rows contiguous: each row's whole panels of row_nr columns on the row      \
     * kernel over all of k, A and B read in place (A packed only if its row is strided); the  \
     * remaining columns on the blocked loops. 0 if no buffer could be had. */                  \
    static int few_rows_##SFX(const struct relukit_gemm *g, const struct gemm_path *path,        \
                              size_t m0, size_t m1, size_t n0, size_t n1)                        \
    {                                                                                            \
        const size_t w = path->row_nr, nfull = (n1 - n0) / w * w;                                \
        FT *arow = NULL;                                                                         \
        if (g->csa != 1 && nfull != 0 && (arow = gemm_buffer(g->k * sizeof(FT))) == NULL)        \
            return 0;                                                                            \
        const FT *bias = g->bias;                                                                \
        const int mode = bias != NULL ? INIT_BIAS : INIT_ZERO;                                   \
        for (size_t i = m0; i < m1 && nfull != 0; i++) {                                         \
            const FT *ai = (const FT *)g->a + i * g->rsa;                                        \
            if (arow != NULL) {                                                                  \
                for (size_t p = 0; p < g->k; p++)                                                \
                    arow[p] = ai[p * g->csa];                                                    \
                ai = arow;                                                                       \
            }                                                                                    \
            FT *ci = (FT *)g->c + i * g->ldc;                                                    \
            for (size_t j = n0; j < n0 + nfull; j += w)                                          \
                path->row(g->k, ai, (const FT *)g->b + j, g->rsb, ci + j, g->ldc,                \
                          bias != NULL ? bias + j : NULL, mode, g->relu);                        \
            if (g->act != NULL)                                                                  \
                g->act(ci + n0, nfull, g->act_params);                                           \
        }                                                                                        \
        return nfull == n1 - n0 || blocked_##SFX(g, path, m0, m1, n0 + nfull, n1);               \
    }                                                                                            \
    /* The same outputs with plain loops: row i of C = bias; C[i,:] = fma(A(i,p), B(p,:),       \
     * C[i,:]) for p increasing; relu; act. */                                                   \
    static void portable_##SFX(const struct relukit_gemm *g, size_t m0, size_t m1, size_t n0,    \
                               size_t n1)                                                        \
    {                                                                                            \
        const FT *a = g->a, *b = g->b, *bias = g->bias;                                          \
        for (size_t i = m0; i < m1; i++) {                                                       \
            FT *restrict ci = (FT *)g->c + i * g->ldc;                                           \
            for (size_t j = n0; j < n1; j++)                                                     \
                ci[j] = bias != NULL ? bias[j] : (FT)0;                                          \
            for (size_t p = 0; p < g->k; p++) {                                                  \
                const FT aip = a[i * g->rsa + p * g->csa];                                       \
                const FT *bp = b + p * g->rsb;                                                   \
                for (size_t j = n0; j < n1; j++)                                                 \
                    ci[j] = FMAF(aip, bp[j * g->csb], ci[j]);                                    \
            }                                                                                    \
            if (g->relu)                                                                         \
                relukit_relu_inplace_##SFX(ci + n0, n1 - n0);                                    \
            if (g->act != NULL)                                                                  \
                g->act(ci + n0, n1 - n0, g->act_params);                                         \
        }                                                                                        \
    }

GEMM_DRIVER(f32, float, fmaf)
GEMM_DRIVER(f64, double, fma)

/* ---- the call: paths and the split over threads --------------------------------------------- */

struct gemm_job {
    const struct relukit_gemm *g;
    struct gemm_path path; /* ukr NULL: portable */
    size_t esize;
    int by_cols;
    size_t unit; /* rows or columns per unit of the split */
};

static void gemm_region(const struct gemm_job *j, size_t m0, size_t m1, size_t n0, size_t n1)
{
    if (m1 <= m0 || n1 <= n0)
        return;
    const int few = m1 - m0 <= GEMM_FEW_ROWS && j->g->csb == 1;
    if (j->esize == 4) {
        if (j->path.ukr == NULL ||
            !(few ? few_rows_f32 : blocked_f32)(j->g, &j->path, m0, m1, n0, n1))
            portable_f32(j->g, m0, m1, n0, n1);
    } else {
        if (j->path.ukr == NULL ||
            !(few ? few_rows_f64 : blocked_f64)(j->g, &j->path, m0, m1, n0, n1))
            portable_f64(j->g, m0, m1, n0, n1);
    }
}

static void gemm_part(void *ctx, size_t p, size_t nparts)
{
    const struct gemm_job *j = ctx;
    const size_t total = j->by_cols ? j->g->n : j->g->m;
    const size_t units = (total + j->unit - 1) / j->unit;
    const size_t u0 = units * p / nparts, u1 = units * (p + 1) / nparts;
    size_t e0 = u0 * j->unit, e1 = u1 * j->unit;
    if (e1 > total)
        e1 = total;
    if (e0 > total)
        e0 = total;
    if (j->by_cols)
        gemm_region(j, 0, j->g->m, e0, e1);
    else
        gemm_region(j, e0, e1, 0, j->g->n);
}

/* k == 0: C = act(bias or +0.0). */
#define GEMM_EMPTY_K(SFX, FT)                                                                    \
    static void empty_k_##SFX(const struct relukit_gemm *g)                                      \
    {                                                                                            \
        const FT *bias = g->bias;                                                                \
        for (size_t i = 0; i < g->m; i++) {                                                      \
            FT *ci = (FT *)g->c + i * g->ldc;                                                    \
            for (size_t j = 0; j < g->n; j++)                                                    \
                ci[j] = bias != NULL ? bias[j] : (FT)0;                                          \
            if (g->relu)                                                                         \
                relukit_relu_inplace_##SFX(ci, g->n);                                            \
            if (g->act != NULL)                                                                  \
                g->act(ci, g->n, g->act_params);                                                 \
        }                                                                                        \
    }
GEMM_EMPTY_K(f32, float)
GEMM_EMPTY_K(f64, double)

static struct gemm_path gemm_pick(size_t esize)
{
    struct gemm_path p = {NULL, 1, 1, NULL, 1};
#if RELUKIT_X86_DISPATCH
    const int simd = relukit__gemm_simd();
    if (simd == RELUKIT_SIMD_AVX512) {
        p.ukr = esize == 4 ? ukr_f32_avx512 : ukr_f64_avx512;
        p.row = esize == 4 ? row_f32_avx512 : row_f64_avx512;
        p.row_nr = esize == 4 ? 256 : 128;
    } else if (simd == RELUKIT_SIMD_AVX2) {
        p.ukr = esize == 4 ? ukr_f32_avx2 : ukr_f64_avx2;
        p.row = esize == 4 ? row_f32_avx2 : row_f64_avx2;
        p.row_nr = esize == 4 ? 64 : 32;
    }
    if (p.ukr != NULL)
        relukit__gemm_tile(esize, &p.mr, &p.nr);
#else
    (void)esize;
#endif
    return p;
}

static void gemm_run(const struct relukit_gemm *g, size_t esize)
{
    if (g->m == 0 || g->n == 0)
        return;
    if (g->k == 0) {
        if (esize == 4)
            empty_k_f32(g);
        else
            empty_k_f64(g);
        return;
    }
    struct gemm_job j = {g, gemm_pick(esize), esize, 0, 1};
    const size_t threads = relukit_get_num_threads();
    size_t macs;
    if (threads > 1 && relukit_mul_size(g->m * g->n, g->k, &macs) &&
        macs >= relukit__dense_split_macs()) {
        /* split the dimension whose cut repacks less: over columns every part packs all of A
         * (m * k), over rows all of B (k * n); a part gets whole micro-tiles */
        const size_t mr = j.path.mr;
        /* few rows: parts of whole row-kernel panels (a narrower part would pack B) */
        const int few = g->m <= GEMM_FEW_ROWS && g->csb == 1 && j.path.row != NULL;
        const size_t nr = few ? j.path.row_nr : j.path.nr;
        const size_t col_units = (g->n + nr - 1) / nr, row_units = (g->m + mr - 1) / mr;
        j.by_cols = few || (g->m <= g->n && col_units >= 2) || row_units < 2;
        j.unit = j.by_cols ? nr : mr;
        size_t nparts = threads, units = j.by_cols ? col_units : row_units;
        if (nparts > units)
            nparts = units;
        if (nparts > 1) {
            relukit__parallel_for(gemm_part, &j, nparts, nparts);
            return;
        }
    }
    gemm_region(&j, 0, g->m, 0, g->n);
}

void relukit__gemm_f32(const struct relukit_gemm *g) { gemm_run(g, 4); }
void relukit__gemm_f64(const struct relukit_gemm *g) { gemm_run(g, 8); }

/* ---- the activations of the fused epilogue (relukit.ops.KERNELS) ----------------------------
 * Each wraps the op's array kernel, in place on a finished row segment, with the parameters
 * rounded to the array's type (as every array call takes them). */
#define ACT0(OP)                                                                                 \
    static void act_##OP##_f32(void *y, size_t n, const double *p)                               \
    {                                                                                            \
        (void)p;                                                                                 \
        (void)relukit_##OP##_array_f32(y, n, y, n);                                              \
    }                                                                                            \
    static void act_##OP##_f64(void *y, size_t n, const double *p)                               \
    {                                                                                            \
        (void)p;                                                                                 \
        (void)relukit_##OP##_array_f64(y, n, y, n);                                              \
    }
#define ACT1(OP)                                                                                 \
    static void act_##OP##_f32(void *y, size_t n, const double *p)                               \
    {                                                                                            \
        (void)relukit_##OP##_array_f32(y, n, y, n, (float)p[0]);                                 \
    }                                                                                            \
    static void act_##OP##_f64(void *y, size_t n, const double *p)                               \
    {                                                                                            \
        (void)relukit_##OP##_array_f64(y, n, y, n, p[0]);                                        \
    }
#define ACT2(OP)                                                                                 \
    static void act_##OP##_f32(void *y, size_t n, const double *p)                               \
    {                                                                                            \
        (void)relukit_##OP##_array_f32(y, n, y, n, (float)p[0], (float)p[1]);                    \
    }                                                                                            \
    static void act_##OP##_f64(void *y, size_t n, const double *p)                               \
    {                                                                                            \
        (void)relukit_##OP##_array_f64(y, n, y, n, p[0], p[1]);                                  \
    }
ACT0(relu_grad)
ACT1(leaky_relu)
ACT1(leaky_relu_grad)
ACT2(hardtanh)
ACT2(hardtanh_grad)
ACT2(threshold)
ACT2(threshold_grad)
ACT1(elu)
ACT1(elu_grad)
ACT0(gelu)
ACT0(gelu_grad)
ACT0(gelu_tanh)
ACT0(gelu_tanh_grad)
ACT0(sigmoid)
ACT0(sigmoid_grad)
ACT0(tanh)
ACT0(tanh_grad)
ACT0(silu)
ACT0(silu_grad)
ACT2(softplus)
ACT2(softplus_grad)
ACT0(selu)
ACT0(selu_grad)
ACT0(mish)
ACT0(mish_grad)
ACT0(hardswish)
ACT0(hardswish_grad)
ACT0(hardsigmoid)
ACT0(hardsigmoid_grad)

static const struct {
    const char *name;
    size_t n_params;
    relukit_gemm_act_fn f32, f64;
} gemm_acts[] = {
#define ACT_ROW(OP, N) {#OP, N, act_##OP##_f32, act_##OP##_f64}
    /* relu itself is done in the micro-kernel (relukit__gemm_act_lookup gives NULL for it) */
    ACT_ROW(relu_grad, 0),      ACT_ROW(leaky_relu, 1),     ACT_ROW(leaky_relu_grad, 1),
    ACT_ROW(hardtanh, 2),       ACT_ROW(hardtanh_grad, 2),  ACT_ROW(threshold, 2),
    ACT_ROW(threshold_grad, 2), ACT_ROW(elu, 1),            ACT_ROW(elu_grad, 1),
    ACT_ROW(gelu, 0),           ACT_ROW(gelu_grad, 0),      ACT_ROW(gelu_tanh, 0),
    ACT_ROW(gelu_tanh_grad, 0), ACT_ROW(sigmoid, 0),        ACT_ROW(sigmoid_grad, 0),
    ACT_ROW(tanh, 0),           ACT_ROW(tanh_grad, 0),      ACT_ROW(silu, 0),
    ACT_ROW(silu_grad, 0),      ACT_ROW(softplus, 2),       ACT_ROW(softplus_grad, 2),
    ACT_ROW(selu, 0),           ACT_ROW(selu_grad, 0),      ACT_ROW(mish, 0),
    ACT_ROW(mish_grad, 0),      ACT_ROW(hardswish, 0),      ACT_ROW(hardswish_grad, 0),
    ACT_ROW(hardsigmoid, 0),    ACT_ROW(hardsigmoid_grad, 0),
#undef ACT_ROW
};

int relukit__gemm_act_lookup(const char *name, size_t esize, relukit_gemm_act_fn *fn,
                             size_t *n_params)
{
    if (strcmp(name, "relu") == 0) {
        *fn = NULL;
        *n_params = 0;
        return 1;
    }
    for (size_t i = 0; i < sizeof gemm_acts / sizeof gemm_acts[0]; i++)
        if (strcmp(name, gemm_acts[i].name) == 0) {
            *fn = esize == 4 ? gemm_acts[i].f32 : gemm_acts[i].f64;
            *n_params = gemm_acts[i].n_params;
            return 1;
        }
    return 0;
}
