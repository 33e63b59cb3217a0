//! Explicit AVX2 kernels of the dense layers (x86-64 only): the forward tiles and the dot
//! products of the backward pass.
//!
//! Forward tiles: the same arithmetic as the portable loop, element for element: each
//! `y[r, j]` starts as `b[j]`, then for `k = 0, 1, ..., inp - 1` in that order becomes
//! `y + x[r, k] * w[k, j]` with a rounded multiply and a rounded add (no FMA: `_mm256_mul_*`
//! then `_mm256_add_*`), then (dense) goes through ReLU on its bits, with relu's own vector
//! op. Only which elements are computed together changes, so results do not depend on the
//! path, the tiling or the threads.
//!
//! Register blocking: groups of four rows take 2 vectors of columns (8 accumulators, one
//! load of `w` serves four rows), single rows take 8 vectors (64 f32 / 32 f64 columns: one
//! pass over `w` per 256 bytes of each of its rows); leftover columns use 1-vector blocks,
//! then scalar code. Column blocks are the outer loop and row groups the inner one, so a
//! strip of `w` is reused from L1/L2 by every row group.
//!
//! Safety contract of every tile `unsafe fn` here: the CPU supports AVX2, the buffers of the
//! [`Bufs`] are valid as it documents, and the tile lies inside the output (`rows.1 <= batch`,
//! `cols.1 <= out`); no other thread writes the tile meanwhile.

use core::arch::x86_64::*;

use crate::dense::Bufs;
use crate::Float;

macro_rules! dense_tiles {
    (
        $modname:ident, $t:ty, $v:ty, $lanes:expr,
        $zero:ident, $load:ident, $store:ident, $set1:ident, $add:ident, $mul:ident,
        $to_i:ident, $from_i:ident
    ) => {
        pub(crate) mod $modname {
            use super::*;

            /// Lanes per vector.
            const L: usize = $lanes;

            /// ReLU of one vector on its bits (relu's own vector op) if `relu`, else `a`.
            #[inline]
            #[target_feature(enable = "avx2")]
            unsafe fn finish(a: $v, relu: bool) -> $v {
                if relu {
                    $from_i(crate::elementwise::relu::avx2::$modname::relu_v($to_i(a)))
                } else {
                    a
                }
            }

            /// `y[i, v*L..] = relu(b + sum_k x[i, k] * w[k, v*L..])` for `MR` rows and
            /// `NV` vectors of columns; pointers at the tile's top-left element.
            ///
            /// # Safety
            ///
            /// AVX2; `x` valid for `MR` rows of stride `inp`, `w` for `inp` rows of stride
            /// `out` and `NV * L` columns, `b` for `NV * L`, `y` for `MR` rows of stride `out`.
            #[inline]
            #[target_feature(enable = "avx2")]
            unsafe fn block<const MR: usize, const NV: usize>(
                x: *const $t,
                w: *const $t,
                b: *const $t,
                y: *mut $t,
                inp: usize,
                out: usize,
                relu: bool,
            ) {
                let mut acc: [[$v; NV]; MR] = [[$zero(); NV]; MR];
                for row in acc.iter_mut() {
                    for (v, a) in row.iter_mut().enumerate() {
                        // SAFETY: b holds NV * L elements.
                        *a = unsafe { $load(b.add(v * L)) };
                    }
                }
                for k in 0..inp {
                    // SAFETY: k < inp rows of w, NV * L columns each.
                    let wk = unsafe { w.add(k * out) };
                    let mut wv: [$v; NV] = [$zero(); NV];
                    for (v, wvv) in wv.iter_mut().enumerate() {
                        // SAFETY: inside row k of the tile.
                        *wvv = unsafe { $load(wk.add(v * L)) };
                    }
                    for (i, row) in acc.iter_mut().enumerate() {
                        // SAFETY: i < MR rows of x, k < inp.
                        let xv = $set1(unsafe { *x.add(i * inp + k) });
                        for (a, &wvv) in row.iter_mut().zip(&wv) {
                            *a = $add(*a, $mul(xv, wvv));
                        }
                    }
                }
                for (i, row) in acc.iter().enumerate() {
                    for (v, &a) in row.iter().enumerate() {
                        // SAFETY: i < MR rows of y, NV * L columns.
                        unsafe { $store(y.add(i * out + v * L), finish(a, relu)) };
                    }
                }
            }

            /// One output element `y[r, j]` in scalar code (same order of operations).
            ///
            /// # Safety
            ///
            /// `x` valid for `inp` elements (row r), `w` for `inp` rows of stride `out` at
            /// column j, `b` and `y` for one element.
            #[inline]
            #[target_feature(enable = "avx2")]
            unsafe fn scalar(
                x: *const $t,
                w: *const $t,
                b: *const $t,
                y: *mut $t,
                inp: usize,
                out: usize,
                relu: bool,
            ) {
                // SAFETY: per this function's contract.
                unsafe {
                    let mut acc = *b;
                    for k in 0..inp {
                        acc += *x.add(k) * *w.add(k * out);
                    }
                    *y = if relu { Float::relu(acc) } else { acc };
                }
            }

            /// Rows `r0..r1`, columns `j0..j1` of the output, `MR` rows at a time with
            /// `NV`-vector column blocks, then 1-vector blocks, then scalar columns.
            ///
            /// # Safety
            ///
            /// The module contract; `(r1 - r0)` is a multiple of `MR`.
            #[inline]
            #[target_feature(enable = "avx2")]
            unsafe fn rows<const MR: usize, const NV: usize>(
                p: &Bufs<$t>,
                (r0, r1): (usize, usize),
                (j0, j1): (usize, usize),
            ) {
                let (x, w, b, y, inp, out, relu) = (p.x, p.w, p.b, p.y, p.inp, p.out, p.relu);
                let mut j = j0;
                // SAFETY (every block and scalar call below): r + MR <= r1 and the columns
                // j..j + width <= j1 lie inside the tile, which lies inside the buffers.
                while j + NV * L <= j1 {
                    for r in (r0..r1).step_by(MR) {
                        unsafe {
                            block::<MR, NV>(
                                x.add(r * inp),
                                w.add(j),
                                b.add(j),
                                y.add(r * out + j),
                                inp,
                                out,
                                relu,
                            )
                        };
                    }
                    j += NV * L;
                }
                while j + L <= j1 {
                    for r in (r0..r1).step_by(MR) {
                        unsafe {
                            block::<MR, 1>(
                                x.add(r * inp),
                                w.add(j),
                                b.add(j),
                                y.add(r * out + j),
                                inp,
                                out,
                                relu,
                            )
                        };
                    }
                    j += L;
                }
                for jj in j..j1 {
                    for r in r0..r1 {
                        unsafe {
                            scalar(
                                x.add(r * inp),
                                w.add(jj),
                                b.add(jj),
                                y.add(r * out + jj),
                                inp,
                                out,
                                relu,
                            )
                        };
                    }
                }
            }

            /// The tile `rows.0..rows.1` x `cols.0..cols.1` of `y = relu(x @ w + b)`.
            ///
            /// # Safety
            ///
            /// The module contract.
            #[target_feature(enable = "avx2")]
            pub(crate) unsafe fn tile(
                p: &Bufs<$t>,
                (r0, r1): (usize, usize),
                cols: (usize, usize),
            ) {
                let r4 = r0 + (r1 - r0) / 4 * 4;
                // SAFETY: the module contract covers every sub-tile.
                unsafe {
                    if r4 > r0 {
                        rows::<4, 2>(p, (r0, r4), cols);
                    }
                    if r1 > r4 {
                        rows::<1, 8>(p, (r4, r1), cols);
                    }
                }
            }
        }
    };
}

dense_tiles!(
    f32,
    f32,
    __m256,
    8,
    _mm256_setzero_ps,
    _mm256_loadu_ps,
    _mm256_storeu_ps,
    _mm256_set1_ps,
    _mm256_add_ps,
    _mm256_mul_ps,
    _mm256_castps_si256,
    _mm256_castsi256_ps
);
dense_tiles!(
    f64,
    f64,
    __m256d,
    4,
    _mm256_setzero_pd,
    _mm256_loadu_pd,
    _mm256_storeu_pd,
    _mm256_set1_pd,
    _mm256_add_pd,
    _mm256_mul_pd,
    _mm256_castpd_si256,
    _mm256_castsi256_pd
);

/// The dot products of the backward pass: lane `l` of the accumulator is the documented
/// partial sum `s[l]`.
mod dot {
    use core::arch::x86_64::{
        _mm256_add_pd, _mm256_add_ps, _mm256_castpd256_pd128, _mm256_castps256_ps128,
        _mm256_extractf128_pd, _mm256_extractf128_ps, _mm256_loadu_pd, _mm256_loadu_ps,
        _mm256_mul_pd, _mm256_mul_ps, _mm256_setzero_pd, _mm256_setzero_ps, _mm_add_pd, _mm_add_ps,
        _mm_add_ss, _mm_cvtsd_f64, _mm_cvtss_f32, _mm_movehl_ps, _mm_shuffle_ps, _mm_unpackhi_pd,
    };

    /// # Safety
    ///
    /// The CPU must support AVX2; `a.len() == b.len()`.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn dot8_f32(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let blocked = n - n % 8;
        let mut s = _mm256_setzero_ps();
        let mut j = 0;
        while j < blocked {
            // SAFETY: j + 8 <= blocked <= n, within both slices.
            let (va, vb) = unsafe {
                (
                    _mm256_loadu_ps(a.as_ptr().add(j)),
                    _mm256_loadu_ps(b.as_ptr().add(j)),
                )
            };
            s = _mm256_add_ps(s, _mm256_mul_ps(va, vb));
            j += 8;
        }
        // q = (s0+s4, s1+s5, s2+s6, s3+s7); h0 = q0+q2, h1 = q1+q3; h0 + h1
        let q = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps::<1>(s));
        let h = _mm_add_ps(q, _mm_movehl_ps(q, q));
        let mut acc = _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps::<1>(h, h)));
        for k in blocked..n {
            acc += a[k] * b[k];
        }
        acc
    }

    /// # Safety
    ///
    /// The CPU must support AVX2; `a.len() == b.len()`.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn dot8_f64(a: &[f64], b: &[f64]) -> f64 {
        let n = a.len().min(b.len());
        let blocked = n - n % 8;
        let (mut lo, mut hi) = (_mm256_setzero_pd(), _mm256_setzero_pd());
        let mut j = 0;
        while j < blocked {
            // SAFETY: j + 8 <= blocked <= n, within both slices.
            let (a0, b0, a1, b1) = unsafe {
                (
                    _mm256_loadu_pd(a.as_ptr().add(j)),
                    _mm256_loadu_pd(b.as_ptr().add(j)),
                    _mm256_loadu_pd(a.as_ptr().add(j + 4)),
                    _mm256_loadu_pd(b.as_ptr().add(j + 4)),
                )
            };
            lo = _mm256_add_pd(lo, _mm256_mul_pd(a0, b0));
            hi = _mm256_add_pd(hi, _mm256_mul_pd(a1, b1));
            j += 8;
        }
        // q = (s0+s4, s1+s5, s2+s6, s3+s7); h = (q0+q2, q1+q3); h0 + h1
        let q = _mm256_add_pd(lo, hi);
        let h = _mm_add_pd(_mm256_castpd256_pd128(q), _mm256_extractf128_pd::<1>(q));
        let mut acc = _mm_cvtsd_f64(h) + _mm_cvtsd_f64(_mm_unpackhi_pd(h, h));
        for k in blocked..n {
            acc += a[k] * b[k];
        }
        acc
    }
}

pub(crate) use dot::{dot8_f32, dot8_f64};
