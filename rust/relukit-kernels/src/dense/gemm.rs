//! The matrix product under the dense layers: `c = act(init + a @ b)` for row-major `c` and
//! any strides of `a` and `b` (so `dy @ w^T` and `x^T @ dy` run on it too).
//!
//! # The numeric definition
//!
//! Every element is one accumulator: it starts as the initial value (`b[j]` for the forward
//! passes, `+0.0` for the gradients), then for `p = 0, 1, ..., K - 1` in increasing order
//! becomes `fma(a[i, p], b[p, j], acc)`, one fused multiply-add rounded once (`mul_add` on
//! the portable kernel, `vfmadd` on the AVX2 and AVX-512 ones), then goes through the
//! activation. `K = 0` gives `act(init)`. Between depth blocks the accumulator is stored to
//! `c` and loaded again, which is exact. So every kernel, block size and thread count gives
//! the same bits, and so does the C library, which implements the same definition.
//!
//! # Structure
//!
//! The five loops around a register-blocked micro-kernel (the BLIS structure): columns of
//! `c` in panels of `nc`, depth in blocks of `kc` (a `kc x nc` panel of `b` is packed into
//! `NR`-wide slivers), rows in blocks of `mc` (an `mc x kc` block of `a` is packed into
//! `MR`-tall slivers), then `NR` columns, then `MR` rows: the micro-kernel keeps an
//! `MR x NR` tile of accumulators in registers, reads the sliver of `b` from L1 and the
//! sliver of `a` from L2. Packing reads the operands through their strides, which is how
//! transposed operands are handled. Edge tiles run the same kernel on a padded copy.
//! After the last depth block the tile's rows go through the activation while they are in
//! L1 (the fused epilogue).
//!
//! Threads split `c` over rows or columns (never the depth), each computing its part with the
//! same loops, so the split cannot change a bit.

use core::cell::RefCell;

use super::MatFloat;
use crate::elementwise::activation::{activation_inplace_with, Activation, ActivationFloat};
use crate::runtime::cpu::GemmKernel;
use crate::runtime::{pool, Config, GemmBlocks, Path};

/// A read-only matrix operand: element `(i, p)` is at `ptr + i * rs + p * cs`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<T> {
    pub(crate) ptr: *const T,
    pub(crate) rs: usize,
    pub(crate) cs: usize,
}

/// The accumulators' initial value.
#[derive(Clone, Copy)]
pub(crate) enum Init<T> {
    /// `+0.0`.
    Zero,
    /// The row vector `b` (`n` elements), the same for every row of `c`.
    Row(*const T),
}

/// What is applied to each finished element.
#[derive(Clone, Copy)]
pub(crate) enum Epilogue<T> {
    /// Nothing (the affine layer, the gradients).
    Identity,
    /// [`crate::Float::relu`].
    Relu,
    /// An elementwise op of the op table, through its slice kernel on `path`.
    Op(Activation<T>, Path),
}

/// One product `c = epilogue(init + a @ b)`, `a` is `m x k`, `b` is `k x n`, `c` is `m x n`
/// with row stride `ldc`.
#[derive(Clone, Copy)]
pub(crate) struct Problem<T> {
    pub(crate) m: usize,
    pub(crate) n: usize,
    pub(crate) k: usize,
    pub(crate) a: Mat<T>,
    pub(crate) b: Mat<T>,
    pub(crate) c: *mut T,
    pub(crate) ldc: usize,
    pub(crate) init: Init<T>,
    pub(crate) epi: Epilogue<T>,
}

// SAFETY: the pointers come from slices borrowed for the whole call (shared for the inputs,
// exclusive for c); threads only read the inputs and write disjoint parts of c.
unsafe impl<T: Send> Send for Problem<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Problem<T> {}

/// The micro-kernel contract: `kc` steps over the `a` sliver (step `p` holds the `rows`
/// values at `a + p * lda`) and the `b` sliver (step `p` holds `NR` values at `b + p * ldb`)
/// into the `rows x NR` tile at `c` (row stride `ldc`), whose accumulators start as the `NR`
/// values at `init` (every row) or, if `init` is null, as the tile's current contents.
pub type MicroKernel<T> =
    unsafe fn(usize, *const T, usize, *const T, usize, *mut T, usize, *const T);

/// A micro-kernel family with its tile shape: `rows[r - 1]` computes `r` rows, `r <= mr`.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct Micro<T> {
    pub(crate) mr: usize,
    pub(crate) nr: usize,
    pub(crate) rows: [MicroKernel<T>; MAX_MR],
}

/// The most rows of any micro-kernel.
pub(crate) const MAX_MR: usize = 12;

/// The largest tile of any kernel (elements): 12 x 32 or 3 x 128 (AVX-512 f32).
const MAX_TILE: usize = 12 * 32;

/// `+0.0` for up to 128 columns of either type (all bits clear).
static ZEROS: [u64; 128] = [0; 128];

thread_local! {
    /// Packing buffers, kept per thread from one call to the next.
    static PACK: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// The portable micro-kernel, `MR x NR` with `mul_add`.
///
/// # Safety
///
/// The micro-kernel contract ([`MicroKernel`]).
#[allow(clippy::too_many_arguments)]
unsafe fn portable_kernel<T: MatFloat, const MR: usize, const NR: usize>(
    kc: usize,
    a: *const T,
    lda: usize,
    b: *const T,
    ldb: usize,
    c: *mut T,
    ldc: usize,
    init: *const T,
) {
    let mut acc = [[T::default(); NR]; MR];
    // SAFETY: the micro-kernel contract: the tile, the slivers and init are valid.
    unsafe {
        for (i, row) in acc.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = if init.is_null() {
                    *c.add(i * ldc + j)
                } else {
                    *init.add(j)
                };
            }
        }
        for p in 0..kc {
            let ap = core::slice::from_raw_parts(a.add(p * lda), MR);
            let bp = core::slice::from_raw_parts(b.add(p * ldb), NR);
            for (row, &av) in acc.iter_mut().zip(ap) {
                for (v, &bv) in row.iter_mut().zip(bp) {
                    *v = av.fma(bv, *v);
                }
            }
        }
        for (i, row) in acc.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                *c.add(i * ldc + j) = *v;
            }
        }
    }
}

/// The portable micro-kernels of either type (4 x 8; the wide family 2 x 16).
pub(crate) fn portable_micro<T: MatFloat>(wide: bool) -> Micro<T> {
    if wide {
        let k2: MicroKernel<T> = portable_kernel::<T, 2, 16>;
        let mut rows = [k2; MAX_MR];
        rows[0] = portable_kernel::<T, 1, 16>;
        Micro {
            mr: 2,
            nr: 16,
            rows,
        }
    } else {
        let k4: MicroKernel<T> = portable_kernel::<T, 4, 8>;
        let mut rows = [k4; MAX_MR];
        rows[0] = portable_kernel::<T, 1, 8>;
        rows[1] = portable_kernel::<T, 2, 8>;
        rows[2] = portable_kernel::<T, 3, 8>;
        Micro { mr: 4, nr: 8, rows }
    }
}

/// Packs rows `i0..i0 + mb` x depth `p0..p0 + kb` of `a` into `MR`-tall slivers (`kb x mr`
/// each, step-major), padding the last sliver's missing rows with zeros.
///
/// # Safety
///
/// The block lies inside `a`; `dst` holds `ceil(mb / mr) * mr * kb` elements.
#[allow(clippy::too_many_arguments)]
unsafe fn pack_a<T: MatFloat>(
    a: Mat<T>,
    i0: usize,
    mb: usize,
    p0: usize,
    kb: usize,
    mr: usize,
    dst: *mut T,
) {
    let mut d = dst;
    for s in (0..mb).step_by(mr) {
        let rows = mr.min(mb - s);
        // SAFETY: the block lies inside a, d stays inside dst.
        unsafe {
            let base = a.ptr.add((i0 + s) * a.rs + p0 * a.cs);
            if a.rs == 1 {
                // transposed operand: one sliver step is contiguous
                for p in 0..kb {
                    let src = base.add(p * a.cs);
                    for i in 0..rows {
                        *d.add(p * mr + i) = *src.add(i);
                    }
                    for i in rows..mr {
                        *d.add(p * mr + i) = T::default();
                    }
                }
            } else {
                for i in 0..mr {
                    if i < rows {
                        let src = base.add(i * a.rs);
                        for p in 0..kb {
                            *d.add(p * mr + i) = *src.add(p * a.cs);
                        }
                    } else {
                        for p in 0..kb {
                            *d.add(p * mr + i) = T::default();
                        }
                    }
                }
            }
            d = d.add(mr * kb);
        }
    }
}

/// Packs depth `p0..p0 + kb` x columns `j0..j0 + nb` of `b` into `NR`-wide slivers (`kb x nr`
/// each, step-major), padding the last sliver's missing columns with zeros.
///
/// # Safety
///
/// The panel lies inside `b`; `dst` holds `ceil(nb / nr) * nr * kb` elements.
#[allow(clippy::too_many_arguments)]
unsafe fn pack_b<T: MatFloat>(
    b: Mat<T>,
    p0: usize,
    kb: usize,
    j0: usize,
    nb: usize,
    nr: usize,
    dst: *mut T,
) {
    let mut d = dst;
    for s in (0..nb).step_by(nr) {
        let cols = nr.min(nb - s);
        // SAFETY: the panel lies inside b, d stays inside dst.
        unsafe {
            let base = b.ptr.add(p0 * b.rs + (j0 + s) * b.cs);
            if b.cs == 1 {
                for p in 0..kb {
                    let src = base.add(p * b.rs);
                    let out = d.add(p * nr);
                    core::ptr::copy_nonoverlapping(src, out, cols);
                    for j in cols..nr {
                        *out.add(j) = T::default();
                    }
                }
            } else {
                // transposed operand: gather along the columns, each column contiguous
                for j in 0..nr {
                    if j < cols {
                        let src = base.add(j * b.cs);
                        for p in 0..kb {
                            *d.add(p * nr + j) = *src.add(p * b.rs);
                        }
                    } else {
                        for p in 0..kb {
                            *d.add(p * nr + j) = T::default();
                        }
                    }
                }
            }
            d = d.add(nr * kb);
        }
    }
}

/// Applies the epilogue to `len` elements at `row`.
///
/// # Safety
///
/// `row` is valid for `len` elements that no other thread touches.
#[inline]
unsafe fn finish_row<T: MatFloat + ActivationFloat>(epi: Epilogue<T>, row: *mut T, len: usize) {
    // SAFETY: the caller's contract.
    let seg = unsafe { core::slice::from_raw_parts_mut(row, len) };
    match epi {
        Epilogue::Identity => {}
        Epilogue::Relu => seg.iter_mut().for_each(|v| *v = v.relu()),
        Epilogue::Op(op, path) => {
            activation_inplace_with(&Config::single(path, usize::MAX), op, seg)
        }
    }
}

/// The rounded-down multiple of `unit` (at least `unit`).
fn round_to(v: usize, unit: usize) -> usize {
    (v / unit).max(1) * unit
}

/// Rows of a part up to which `b` is read in place (row-major `b` only) instead of packed:
/// with so few rows, packing would cost as much as the product.
const UNPACKED_B_ROWS: usize = 16;

/// Computes rows `m0..m1` x columns `n0..n1` of `pr` on this thread.
///
/// # Safety
///
/// `pr` valid as [`Problem`] says, the ranges inside it, no other thread writing them.
unsafe fn gemm_part<T: MatFloat + ActivationFloat>(
    pr: &Problem<T>,
    uk: Micro<T>,
    blocks: GemmBlocks,
    (m0, m1): (usize, usize),
    (n0, n1): (usize, usize),
) {
    let (mr, nr) = (uk.mr, uk.nr);
    let kc = blocks.kc.max(1);
    let mc = round_to(blocks.mc, mr);
    let nc = round_to(blocks.nc, nr);
    let (m, n) = (m1 - m0, n1 - n0);
    if pr.k == 0 {
        for i in m0..m1 {
            // SAFETY: row i of c, columns n0..n1, are this thread's; init has n elements.
            unsafe {
                let row = pr.c.add(i * pr.ldc + n0);
                match pr.init {
                    Init::Zero => core::ptr::write_bytes(row, 0, n),
                    Init::Row(b) => core::ptr::copy_nonoverlapping(b.add(n0), row, n),
                }
                finish_row(pr.epi, row, n);
            }
        }
        return;
    }
    let in_place_b = pr.b.cs == 1 && m <= UNPACKED_B_ROWS;
    let kb_max = kc.min(pr.k);
    let a_len = m.min(mc).div_ceil(mr) * mr * kb_max;
    let b_len = if in_place_b {
        nr * kb_max
    } else {
        n.min(nc).div_ceil(nr) * nr * kb_max
    };
    let words = (a_len + b_len) * core::mem::size_of::<T>() / 8 + 1;
    let mut buf = PACK.with(|p| p.take());
    if buf.len() < words {
        buf = vec![0u64; words];
    }
    let ap = buf.as_mut_ptr() as *mut T;
    // SAFETY: buf holds a_len + b_len elements of T (u64 alignment suffices for f32/f64).
    let bp = unsafe { ap.add(a_len) };
    let zeros = ZEROS.as_ptr() as *const T;
    let mut tmp = [T::default(); MAX_TILE];
    for jc in (n0..n1).step_by(nc) {
        let nb = nc.min(n1 - jc);
        for pc in (0..pr.k).step_by(kc) {
            let kb = kc.min(pr.k - pc);
            let (first, last) = (pc == 0, pc + kb == pr.k);
            if !in_place_b {
                // SAFETY: the panel lies inside b; bp holds ceil(nb / nr) * nr * kb elements.
                unsafe { pack_b(pr.b, pc, kb, jc, nb, nr, bp) };
            }
            for ic in (m0..m1).step_by(mc) {
                let mb = mc.min(m1 - ic);
                // SAFETY: the block lies inside a; ap holds ceil(mb / mr) * mr * kb elements.
                unsafe { pack_a(pr.a, ic, mb, pc, kb, mr, ap) };
                for jr in (0..nb).step_by(nr) {
                    let cols = nr.min(nb - jr);
                    let j = jc + jr;
                    // SAFETY: inside the packed panel, or inside b (step p at b + p * rs).
                    let (b_sliver, ldb) = unsafe {
                        if !in_place_b {
                            (bp.add(jr / nr * nr * kb) as *const T, nr)
                        } else if cols == nr {
                            (pr.b.ptr.add(pc * pr.b.rs + j), pr.b.rs)
                        } else {
                            pack_b(pr.b, pc, kb, j, cols, nr, bp);
                            (bp as *const T, nr)
                        }
                    };
                    for ir in (0..mb).step_by(mr) {
                        let rows = mr.min(mb - ir);
                        let i = ic + ir;
                        let run = uk.rows[rows - 1];
                        // SAFETY: inside the packed block.
                        let a_sliver = unsafe { ap.add(ir / mr * mr * kb) };
                        // SAFETY: the tile (i..i + rows, j..j + cols) lies inside this
                        // thread's part of c; the slivers hold kb steps; a full-width tile's
                        // init row has nr valid elements (j + nr <= n).
                        unsafe {
                            let ct = pr.c.add(i * pr.ldc + j);
                            if cols == nr {
                                let init = match (first, pr.init) {
                                    (false, _) => core::ptr::null(),
                                    (true, Init::Zero) => zeros,
                                    (true, Init::Row(b)) => b.add(j),
                                };
                                run(kb, a_sliver, mr, b_sliver, ldb, ct, pr.ldc, init);
                            } else {
                                let t = tmp.as_mut_ptr();
                                for r in 0..rows {
                                    let dst = t.add(r * nr);
                                    match (first, pr.init) {
                                        (false, _) => {
                                            core::ptr::copy_nonoverlapping(
                                                ct.add(r * pr.ldc),
                                                dst,
                                                cols,
                                            );
                                        }
                                        (true, Init::Zero) => {
                                            core::ptr::write_bytes(dst, 0, cols);
                                        }
                                        (true, Init::Row(b)) => {
                                            core::ptr::copy_nonoverlapping(b.add(j), dst, cols);
                                        }
                                    }
                                }
                                run(kb, a_sliver, mr, b_sliver, ldb, t, nr, core::ptr::null());
                                for r in 0..rows {
                                    core::ptr::copy_nonoverlapping(
                                        t.add(r * nr),
                                        ct.add(r * pr.ldc),
                                        cols,
                                    );
                                }
                            }
                            if last {
                                for r in 0..rows {
                                    finish_row(pr.epi, ct.add(r * pr.ldc), cols);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    PACK.with(|p| *p.borrow_mut() = buf);
}

/// The micro-kernels `kernel` runs for `T` (the wide family for a product of at most
/// its rows); the portable ones if the CPU lacks what `kernel` needs.
pub(crate) fn micro_for<T: MatFloat>(kernel: GemmKernel, m: usize) -> Micro<T> {
    let wide = T::micro(kernel, true).unwrap_or_else(|| portable_micro::<T>(true));
    if m <= wide.mr {
        wide
    } else {
        T::micro(kernel, false).unwrap_or_else(|| portable_micro::<T>(false))
    }
}

/// How a product is cut over threads: `(over rows, units of the tile, chunks)`, one chunk
/// per thread (each chunk packs its own operands: a column chunk packs all of `a` and its
/// part of `b`, a row chunk all of `b` and its part of `a`). The cut that repacks less is
/// taken: columns when `a` is the smaller operand (or `b` is read in place), else rows.
fn plan(
    parts: usize,
    pr: &(usize, usize, usize),
    mr: usize,
    nr: usize,
    b_in_place: bool,
) -> Option<(bool, usize, usize)> {
    let &(m, n, k) = pr;
    if parts <= 1 {
        return None;
    }
    let n_units = n.div_ceil(nr);
    let m_units = m.div_ceil(mr);
    let cols_ok = n_units >= parts;
    let rows_ok = m_units >= parts;
    // repacked elements: a column cut packs `a` (m x k) once per chunk, a row cut packs `b`
    // (k x n) once per chunk unless it is read in place
    let by_cols = m.saturating_mul(k);
    let by_rows = if b_in_place { 0 } else { k.saturating_mul(n) };
    match (cols_ok, rows_ok) {
        (true, true) if by_cols <= by_rows => Some((false, n_units, parts)),
        (true, true) | (false, true) => Some((true, m_units, parts)),
        (true, false) => Some((false, n_units, parts)),
        (false, false) => None,
    }
}

/// Runs `pr` with `kernel` and `blocks` on up to `parts` threads.
///
/// # Safety
///
/// `pr` valid as [`Problem`] says, `c` borrowed exclusively for the call.
pub(crate) unsafe fn gemm<T: MatFloat + ActivationFloat>(
    pr: &Problem<T>,
    kernel: GemmKernel,
    blocks: GemmBlocks,
    parts: usize,
) {
    if pr.m == 0 || pr.n == 0 {
        return;
    }
    let uk = micro_for::<T>(kernel, pr.m);
    let b_in_place = pr.b.cs == 1 && pr.m <= UNPACKED_B_ROWS;
    match plan(parts, &(pr.m, pr.n, pr.k), uk.mr, uk.nr, b_in_place) {
        // SAFETY: the whole of c, on this thread.
        None => unsafe { gemm_part(pr, uk, blocks, (0, pr.m), (0, pr.n)) },
        Some((rows, units, n)) => pool::run(parts, n, |c| {
            let (unit, len) = if rows { (uk.mr, pr.m) } else { (uk.nr, pr.n) };
            let lo = (c * units / n * unit).min(len);
            let hi = ((c + 1) * units / n * unit).min(len);
            if lo == hi {
                return;
            }
            // SAFETY: distinct chunks are disjoint row or column ranges of c.
            unsafe {
                if rows {
                    gemm_part(pr, uk, blocks, (lo, hi), (0, pr.n))
                } else {
                    gemm_part(pr, uk, blocks, (0, pr.m), (lo, hi))
                }
            }
        }),
    }
}

// The AVX-512 intrinsics are stable from Rust 1.89, above the workspace's declared 1.85:
// building this module needs 1.89 (the toolchain in use is 1.95).
#[cfg(target_arch = "x86_64")]
#[allow(clippy::incompatible_msrv)]
pub(crate) mod x86 {
    //! The AVX2+FMA and AVX-512 micro-kernels: `MR` rows of broadcast `a` times `NV`
    //! vectors of `b`, `MR * NV` accumulators in registers, one `vfmadd` per accumulator and
    //! step.

    use super::{Micro, MicroKernel, MAX_MR};
    use core::arch::x86_64::*;

    macro_rules! micro_kernel {
        ($name:ident, $t:ty, $feat:literal, $v:ty, $lanes:expr,
         $load:ident, $store:ident, $fma:ident, $set1:ident, $zero:ident) => {
            /// The micro-kernel contract of `gemm.rs` for `MR` rows and `NV` vectors.
            ///
            /// # Safety
            ///
            /// The CPU has the enabled features; the micro-kernel contract.
            #[target_feature(enable = $feat)]
            #[allow(clippy::too_many_arguments)]
            pub(crate) unsafe fn $name<const MR: usize, const NV: usize>(
                kc: usize,
                a: *const $t,
                lda: usize,
                b: *const $t,
                ldb: usize,
                c: *mut $t,
                ldc: usize,
                init: *const $t,
            ) {
                let mut acc: [[$v; NV]; MR] = [[$zero(); NV]; MR];
                // SAFETY: the micro-kernel contract: the tile, the slivers and init are valid.
                unsafe {
                    for i in 0..MR {
                        for v in 0..NV {
                            acc[i][v] = if init.is_null() {
                                $load(c.add(i * ldc + v * $lanes))
                            } else {
                                $load(init.add(v * $lanes))
                            };
                        }
                    }
                    let (mut ap, mut bp) = (a, b);
                    for _ in 0..kc {
                        let mut bv: [$v; NV] = [$zero(); NV];
                        for v in 0..NV {
                            bv[v] = $load(bp.add(v * $lanes));
                        }
                        for i in 0..MR {
                            let av = $set1(*ap.add(i));
                            for v in 0..NV {
                                acc[i][v] = $fma(av, bv[v], acc[i][v]);
                            }
                        }
                        ap = ap.add(lda);
                        bp = bp.add(ldb);
                    }
                    for i in 0..MR {
                        for v in 0..NV {
                            $store(c.add(i * ldc + v * $lanes), acc[i][v]);
                        }
                    }
                }
            }
        };
    }

    micro_kernel!(
        avx2_f32,
        f32,
        "avx2,fma",
        __m256,
        8,
        _mm256_loadu_ps,
        _mm256_storeu_ps,
        _mm256_fmadd_ps,
        _mm256_set1_ps,
        _mm256_setzero_ps
    );
    micro_kernel!(
        avx2_f64,
        f64,
        "avx2,fma",
        __m256d,
        4,
        _mm256_loadu_pd,
        _mm256_storeu_pd,
        _mm256_fmadd_pd,
        _mm256_set1_pd,
        _mm256_setzero_pd
    );
    micro_kernel!(
        avx512_f32,
        f32,
        "avx512f",
        __m512,
        16,
        _mm512_loadu_ps,
        _mm512_storeu_ps,
        _mm512_fmadd_ps,
        _mm512_set1_ps,
        _mm512_setzero_ps
    );
    micro_kernel!(
        avx512_f64,
        f64,
        "avx512f",
        __m512d,
        8,
        _mm512_loadu_pd,
        _mm512_storeu_pd,
        _mm512_fmadd_pd,
        _mm512_set1_pd,
        _mm512_setzero_pd
    );

    /// The family `$k::<1, NV>, ..., $k::<MR, NV>` of one element type.
    macro_rules! family {
        ($t:ty, $k:ident, $lanes:expr, $nv:literal, [$($r:literal),+]) => {{
            let list: &[MicroKernel<$t>] = &[$($k::<$r, $nv>),+];
            let mut rows = [list[list.len() - 1]; MAX_MR];
            rows[..list.len()].copy_from_slice(list);
            Micro { mr: list.len(), nr: $lanes * $nv, rows }
        }};
    }

    /// The AVX2 families: 6 rows x 2 vectors, wide 3 rows x 4 vectors.
    pub(crate) fn avx2_f32_micro(wide: bool) -> Micro<f32> {
        if wide {
            family!(f32, avx2_f32, 8, 4, [1, 2, 3])
        } else {
            family!(f32, avx2_f32, 8, 2, [1, 2, 3, 4, 5, 6])
        }
    }

    /// As [`avx2_f32_micro`].
    pub(crate) fn avx2_f64_micro(wide: bool) -> Micro<f64> {
        if wide {
            family!(f64, avx2_f64, 4, 4, [1, 2, 3])
        } else {
            family!(f64, avx2_f64, 4, 2, [1, 2, 3, 4, 5, 6])
        }
    }

    /// The AVX-512 families: 12 rows x 2 vectors, wide 3 rows x 8 vectors.
    pub(crate) fn avx512_f32_micro(wide: bool) -> Micro<f32> {
        if wide {
            family!(f32, avx512_f32, 16, 8, [1, 2, 3])
        } else {
            family!(
                f32,
                avx512_f32,
                16,
                2,
                [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
            )
        }
    }

    /// As [`avx512_f32_micro`].
    pub(crate) fn avx512_f64_micro(wide: bool) -> Micro<f64> {
        if wide {
            family!(f64, avx512_f64, 8, 8, [1, 2, 3])
        } else {
            family!(
                f64,
                avx512_f64,
                8,
                2,
                [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
            )
        }
    }
}
