//! The affine layer `y = x @ w + b` (`relukit.nn.Linear`) and its backward pass.
//!
//! All buffers are row-major and contiguous: `x` is `(batch, inp)`, `w` is `(inp, out)`, `b`
//! and `db` are `(out)`, `y` and `dy` are `(batch, out)`, `dx` is `(batch, inp)`, `dw` is
//! `(inp, out)`. Every length is checked (shape products too, for overflow) before anything is
//! written. The summation orders are those of the C kernels (`csrc/dense_backward.c`, contract
//! in `csrc/relukit.h`), so both give the same bits:
//!
//! * forward: `y[r, j] = b[j] + x[r, 0] * w[0, j] + x[r, 1] * w[1, j] + ...` in increasing `k`;
//! * `dw[k, j]` and `db[j]` start from `+0.0` and add the rows `r = 0, 1, ...` in order;
//! * `dx[r, k] = dot(dy[r, :], w[k, :])` with eight partial sums (lane `l` adds
//!   `j = l, l + 8, ...` below `8 * (out / 8)`), combined as
//!   `((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7))`, then the tail in order.
//!
//! Plain multiply and add, never a fused multiply-add. Every inner loop is contiguous, so it
//! vectorizes without reassociation; on x86-64 the same code is also compiled with AVX2
//! enabled and chosen at run time like the ReLU kernels ([`crate::simd::active_path`],
//! `RELUKIT_FORCE_PORTABLE=1`). Both builds give identical bits.

use core::ops::{Add, Mul};

use crate::simd::{active_path, Path};
use crate::{Float, ShapeError};

/// The element types of the matrix kernels: `f32` and `f64` (`Default` is `+0.0`).
pub trait MatFloat: Float + Default + Add<Output = Self> + Mul<Output = Self> {
    /// [`dot8`] with explicit AVX2 vectors (LLVM does not vectorize the eight generic lanes
    /// by itself); the same operations in the same order, so the same bits.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2; `a` and `b` have the same length.
    #[doc(hidden)]
    #[cfg(target_arch = "x86_64")]
    unsafe fn dot8_avx2(a: &[Self], b: &[Self]) -> Self;
}

impl MatFloat for f32 {
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn dot8_avx2(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: the caller's contract (AVX2, equal lengths).
        unsafe { avx2::dot8_f32(a, b) }
    }
}

impl MatFloat for f64 {
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn dot8_avx2(a: &[f64], b: &[f64]) -> f64 {
        // SAFETY: the caller's contract (AVX2, equal lengths).
        unsafe { avx2::dot8_f64(a, b) }
    }
}

/// `Err` unless buffer `name` has exactly `rows * cols` elements (product checked).
fn check(name: &str, len: usize, rows: usize, cols: usize) -> Result<(), ShapeError> {
    match rows.checked_mul(cols) {
        Some(n) if n == len => Ok(()),
        Some(n) => Err(ShapeError(format!(
            "{name} has {len} elements, expected {n} for shape ({rows}, {cols})"
        ))),
        None => Err(ShapeError(format!(
            "{name} shape ({rows}, {cols}) overflows the address space"
        ))),
    }
}

/// `y = x @ w + b` (no activation). `inp == 0` gives `b` in every row. `Err`, touching
/// nothing, if a length does not match the shape.
#[allow(clippy::too_many_arguments)]
pub fn linear_forward<T: MatFloat>(
    x: &[T],
    w: &[T],
    b: &[T],
    y: &mut [T],
    batch: usize,
    inp: usize,
    out: usize,
) -> Result<(), ShapeError> {
    linear_forward_on(active_path(), x, w, b, y, batch, inp, out)
}

/// [`linear_forward`] on a given path (tests and benchmarks). Panics if `path` is `Avx2` and
/// the CPU lacks AVX2.
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub fn linear_forward_on<T: MatFloat>(
    path: Path,
    x: &[T],
    w: &[T],
    b: &[T],
    y: &mut [T],
    batch: usize,
    inp: usize,
    out: usize,
) -> Result<(), ShapeError> {
    check("x", x.len(), batch, inp)?;
    check("w", w.len(), inp, out)?;
    check("b", b.len(), out, 1)?;
    check("y", y.len(), batch, out)?;
    if batch == 0 || out == 0 {
        return Ok(());
    }
    match path {
        Path::Portable => linear_rows(x, w, b, y, inp, out),
        Path::Avx2 => {
            require_avx2();
            #[cfg(target_arch = "x86_64")]
            // SAFETY: require_avx2 just checked that the CPU supports AVX2.
            unsafe {
                linear_rows_avx2(x, w, b, y, inp, out)
            };
        }
    }
    Ok(())
}

/// Gradients of `y = x @ w + b` given `dy`: `dx = dy @ w^T`, `dw = x^T @ dy`,
/// `db = dy.sum(0)`, each overwritten; `None` skips that gradient (the first layer of a
/// network needs no `dx`). Empty sums are `+0.0`. `Err`, touching nothing, if a length does
/// not match the shape.
#[allow(clippy::too_many_arguments)]
pub fn dense_backward<T: MatFloat>(
    x: &[T],
    w: &[T],
    dy: &[T],
    dx: Option<&mut [T]>,
    dw: Option<&mut [T]>,
    db: Option<&mut [T]>,
    batch: usize,
    inp: usize,
    out: usize,
) -> Result<(), ShapeError> {
    dense_backward_on(active_path(), x, w, dy, dx, dw, db, batch, inp, out)
}

/// [`dense_backward`] on a given path (tests and benchmarks). Panics if `path` is `Avx2` and
/// the CPU lacks AVX2.
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub fn dense_backward_on<T: MatFloat>(
    path: Path,
    x: &[T],
    w: &[T],
    dy: &[T],
    dx: Option<&mut [T]>,
    dw: Option<&mut [T]>,
    db: Option<&mut [T]>,
    batch: usize,
    inp: usize,
    out: usize,
) -> Result<(), ShapeError> {
    check("x", x.len(), batch, inp)?;
    check("w", w.len(), inp, out)?;
    check("dy", dy.len(), batch, out)?;
    if let Some(d) = &dx {
        check("dx", d.len(), batch, inp)?;
    }
    if let Some(d) = &dw {
        check("dw", d.len(), inp, out)?;
    }
    if let Some(d) = &db {
        check("db", d.len(), out, 1)?;
    }
    let g = Grads { dx, dw, db };
    match path {
        Path::Portable => backward_loops(x, w, dy, g, batch, inp, out, dot8),
        Path::Avx2 => {
            require_avx2();
            #[cfg(target_arch = "x86_64")]
            // SAFETY: require_avx2 just checked that the CPU supports AVX2.
            unsafe {
                backward_avx2(x, w, dy, g, batch, inp, out)
            };
        }
    }
    Ok(())
}

/// The wanted gradient buffers, lengths already checked.
struct Grads<'a, T> {
    dx: Option<&'a mut [T]>,
    dw: Option<&'a mut [T]>,
    db: Option<&'a mut [T]>,
}

fn require_avx2() {
    assert!(
        crate::simd::avx2_available(),
        "relukit: the AVX2 kernel path was requested but this CPU does not support AVX2"
    );
}

/// `y = x @ w + b`, row by row; `batch`, `out` > 0 and lengths checked.
#[inline(always)]
fn linear_rows<T: MatFloat>(x: &[T], w: &[T], b: &[T], y: &mut [T], inp: usize, out: usize) {
    for (r, y_row) in y.chunks_exact_mut(out).enumerate() {
        y_row.copy_from_slice(b);
        for (k, &xv) in x[r * inp..(r + 1) * inp].iter().enumerate() {
            let w_row = &w[k * out..(k + 1) * out];
            for (acc, &wv) in y_row.iter_mut().zip(w_row) {
                *acc = *acc + xv * wv;
            }
        }
    }
}

/// The documented dot product: eight lanes, a fixed tree, then the tail in order.
#[inline(always)]
fn dot8<T: MatFloat>(a: &[T], b: &[T]) -> T {
    let mut s = [T::default(); 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (va, vb) in ca.zip(cb) {
        // fixed-size arrays: no bounds checks, so the eight lanes become one or two vectors
        let va: &[T; 8] = va.try_into().expect("chunks_exact(8)");
        let vb: &[T; 8] = vb.try_into().expect("chunks_exact(8)");
        for l in 0..8 {
            s[l] = s[l] + va[l] * vb[l];
        }
    }
    let mut acc = ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
    for (&p, &q) in ra.iter().zip(rb) {
        acc = acc + p * q;
    }
    acc
}

/// dw, db and dx with the documented orders (`dot` computes [`dot8`]); lengths checked.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_loops<T: MatFloat>(
    x: &[T],
    w: &[T],
    dy: &[T],
    g: Grads<'_, T>,
    batch: usize,
    inp: usize,
    out: usize,
    dot: impl Fn(&[T], &[T]) -> T,
) {
    let zero = T::default();
    if let Some(dw) = g.dw {
        if out > 0 {
            for (k, dw_row) in dw.chunks_exact_mut(out).enumerate() {
                dw_row.fill(zero);
                for r in 0..batch {
                    let xv = x[r * inp + k];
                    for (acc, &d) in dw_row.iter_mut().zip(&dy[r * out..(r + 1) * out]) {
                        *acc = *acc + xv * d;
                    }
                }
            }
        }
    }
    if let Some(db) = g.db {
        db.fill(zero);
        if out > 0 {
            for dy_row in dy.chunks_exact(out) {
                for (acc, &d) in db.iter_mut().zip(dy_row) {
                    *acc = *acc + d;
                }
            }
        }
    }
    if let Some(dx) = g.dx {
        if out == 0 {
            dx.fill(zero);
        } else if inp > 0 {
            for (dx_row, dy_row) in dx.chunks_exact_mut(inp).zip(dy.chunks_exact(out)) {
                for (d, w_row) in dx_row.iter_mut().zip(w.chunks_exact(out)) {
                    *d = dot(dy_row, w_row);
                }
            }
        }
    }
}

/// [`linear_rows`] compiled with AVX2.
///
/// # Safety
///
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn linear_rows_avx2<T: MatFloat>(
    x: &[T],
    w: &[T],
    b: &[T],
    y: &mut [T],
    inp: usize,
    out: usize,
) {
    linear_rows(x, w, b, y, inp, out)
}

/// [`backward_loops`] compiled with AVX2.
///
/// # Safety
///
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn backward_avx2<T: MatFloat>(
    x: &[T],
    w: &[T],
    dy: &[T],
    g: Grads<'_, T>,
    batch: usize,
    inp: usize,
    out: usize,
) {
    // SAFETY: this function's own precondition (AVX2); dy_row and w_row both have `out`
    // elements.
    backward_loops(x, w, dy, g, batch, inp, out, |a, b| unsafe {
        T::dot8_avx2(a, b)
    })
}

/// The AVX2 dot products: lane `l` of the accumulator is the documented partial sum `s[l]`.
#[cfg(target_arch = "x86_64")]
mod avx2 {
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
    pub(super) unsafe fn dot8_f32(a: &[f32], b: &[f32]) -> f32 {
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
    pub(super) unsafe fn dot8_f64(a: &[f64], b: &[f64]) -> f64 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dense_forward;

    /// Deterministic values in [-1, 1) (xorshift64*).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 * f64::powi(2.0, -52) - 1.0
        }
        fn vec<T: From<f32>>(&mut self, n: usize) -> Vec<T> {
            (0..n).map(|_| T::from(self.next() as f32)).collect()
        }
    }

    fn paths() -> Vec<Path> {
        let mut p = vec![Path::Portable];
        if crate::simd::avx2_available() {
            p.push(Path::Avx2);
        }
        p
    }

    const SHAPES: &[(usize, usize, usize)] = &[
        (1, 1, 1),
        (1, 3, 2),
        (2, 1, 5),
        (4, 5, 7),
        (3, 17, 33),
        (5, 0, 3),
        (0, 4, 3),
        (3, 4, 0),
        (0, 0, 0),
        (9, 7, 8),
        (3, 2, 15),
        (2, 3, 16),
        (33, 10, 64),
        (64, 128, 10),
    ];

    /// The float64 reference value and the bound (K + 2) * eps * sum |terms|.
    fn within(got: f64, terms: impl Iterator<Item = f64>, k: usize, eps: f64) -> bool {
        let (mut sum, mut mag) = (0.0f64, 0.0f64);
        for t in terms {
            sum += t;
            mag += t.abs();
        }
        (got - sum).abs() <= (k as f64 + 2.0) * eps * mag
    }

    fn run_shape<T: MatFloat + From<f32> + Into<f64>>(eps: f64) {
        for &(batch, inp, out) in SHAPES {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (batch * 1000 + inp * 10 + out) as u64);
            let x: Vec<T> = rng.vec(batch * inp);
            let w: Vec<T> = rng.vec(inp * out);
            let b: Vec<T> = rng.vec(out);
            let dy: Vec<T> = rng.vec(batch * out);
            let mut results: Vec<Vec<T>> = Vec::new();
            for path in paths() {
                let mut y = vec![T::from(7.0); batch * out];
                let mut dx = vec![T::from(7.0); batch * inp];
                let mut dw = vec![T::from(7.0); inp * out];
                let mut db = vec![T::from(7.0); out];
                linear_forward_on(path, &x, &w, &b, &mut y, batch, inp, out).unwrap();
                dense_backward_on(
                    path,
                    &x,
                    &w,
                    &dy,
                    Some(&mut dx),
                    Some(&mut dw),
                    Some(&mut db),
                    batch,
                    inp,
                    out,
                )
                .unwrap();
                let f = |v: T| -> f64 { v.into() };
                for r in 0..batch {
                    for j in 0..out {
                        let terms = (0..inp).map(|k| f(x[r * inp + k]) * f(w[k * out + j]));
                        assert!(within(f(y[r * out + j]), terms.chain([f(b[j])]), inp, eps));
                    }
                    for k in 0..inp {
                        let terms = (0..out).map(|j| f(dy[r * out + j]) * f(w[k * out + j]));
                        assert!(within(f(dx[r * inp + k]), terms, out, eps));
                    }
                }
                for j in 0..out {
                    for k in 0..inp {
                        let terms = (0..batch).map(|r| f(x[r * inp + k]) * f(dy[r * out + j]));
                        assert!(within(f(dw[k * out + j]), terms, batch, eps));
                    }
                    let terms = (0..batch).map(|r| f(dy[r * out + j]));
                    assert!(within(f(db[j]), terms, batch, eps));
                }
                // dense = relu(linear), bit for bit (the same summation order)
                let mut yd = vec![T::from(7.0); batch * out];
                dense_forward(&x, &w, &b, &mut yd, batch, inp, out).unwrap();
                for (a, d) in y.iter().zip(&yd) {
                    assert_eq!(a.relu().into().to_bits(), (*d).into().to_bits());
                }
                results.push([y, dx, dw, db].concat());
            }
            // every path gives the same bits
            for other in &results[1..] {
                let same = results[0]
                    .iter()
                    .zip(other)
                    .all(|(a, b)| (*a).into().to_bits() == (*b).into().to_bits());
                assert!(same, "paths disagree for shape {batch}x{inp}x{out}");
            }
        }
    }

    #[test]
    fn random_shapes_f32() {
        run_shape::<f32>(f32::EPSILON as f64);
    }

    #[test]
    fn random_shapes_f64() {
        run_shape::<f64>(f64::EPSILON);
    }

    #[test]
    fn worked_example() {
        let x = [1.0f32, 2.0, -1.0, 0.5, 0.0, 4.0];
        let w = [0.5f32, -1.0, 0.25, 0.5, -1.0, 2.0];
        let b = [0.5f32, 3.0];
        let dy = [1.0f32, -2.0, 0.5, 3.0];
        let mut y = [0.0f32; 4];
        linear_forward(&x, &w, &b, &mut y, 2, 3, 2).unwrap();
        assert_eq!(y, [2.5, 1.0, -3.25, 10.5]);
        let (mut dx, mut dw, mut db) = ([0.0f32; 6], [0.0f32; 6], [0.0f32; 2]);
        dense_backward(
            &x,
            &w,
            &dy,
            Some(&mut dx),
            Some(&mut dw),
            Some(&mut db),
            2,
            3,
            2,
        )
        .unwrap();
        assert_eq!(dx, [2.5, -0.75, -5.0, -2.75, 1.625, 5.5]);
        assert_eq!(dw, [1.25, -0.5, 2.0, -4.0, 1.0, 14.0]);
        assert_eq!(db, [1.5, 1.0]);
    }

    #[test]
    fn dot_order_is_the_documented_one() {
        // lane sums differ from a left-to-right sum here: 1e8 cancels within lane 0 only
        let mut a = vec![1.0f32; 19];
        a[0] = 1e8;
        a[8] = -1e8;
        let b = vec![1.0f32; 19];
        // lanes (j < 16): s0 = 1e8 + -1e8 = 0, the seven others 2 each; tree 14; tail +3 = 17.
        // Left to right, 1e8 absorbs the seven ones before it (ulp 8), giving 10.
        assert_eq!(dot8(&a, &b), 17.0);
        let left_to_right = a.iter().fold(0.0f32, |s, v| s + v);
        assert_eq!(left_to_right, 10.0);
    }

    #[test]
    fn empty_sums_and_skipped_outputs() {
        let w = [1.0f64; 6];
        let (mut dw, mut db) = ([7.0f64; 6], [7.0f64; 2]);
        dense_backward(&[], &w, &[], None, Some(&mut dw), Some(&mut db), 0, 3, 2).unwrap();
        assert!(dw.iter().chain(&db).all(|v| v.to_bits() == 0));
        let mut dx = [7.0f64; 6];
        dense_backward(&[1.0; 6], &[], &[], Some(&mut dx), None, None, 2, 3, 0).unwrap();
        assert!(dx.iter().all(|v| v.to_bits() == 0));
        let mut db = [7.0f64; 2];
        dense_backward(
            &[],
            &[],
            &[1.0, 2.0, 3.0, 4.0],
            None,
            None,
            Some(&mut db),
            2,
            0,
            2,
        )
        .unwrap();
        assert_eq!(db, [4.0, 6.0]);
        let mut y = [7.0f64; 4];
        linear_forward(&[], &[], &[0.5, -1.0], &mut y, 2, 0, 2).unwrap();
        assert_eq!(y, [0.5, -1.0, 0.5, -1.0]);
        dense_backward::<f64>(&[], &[], &[], None, None, None, 0, 0, 0).unwrap();
    }

    #[test]
    fn bad_lengths_are_errors_and_write_nothing() {
        // one spare element each, so every length off by one can be sliced
        let (x, w, dy) = ([1.0f32; 7], [1.0f32; 7], [1.0f32; 5]);
        let (mut dx, mut dw, mut db) = ([9.0f32; 7], [9.0f32; 7], [9.0f32; 3]);
        let lens = [6usize, 6, 4, 6, 6, 2];
        for which in 0..6 {
            for delta in [-1isize, 1] {
                let mut l = lens;
                l[which] = (l[which] as isize + delta) as usize;
                let e = dense_backward(
                    &x[..l[0]],
                    &w[..l[1]],
                    &dy[..l[2]],
                    Some(&mut dx[..l[3]]),
                    Some(&mut dw[..l[4]]),
                    Some(&mut db[..l[5]]),
                    2,
                    3,
                    2,
                );
                assert!(e.is_err(), "length {which} off by {delta} was accepted");
            }
        }
        assert!(dx.iter().chain(&dw).chain(&db).all(|&v| v == 9.0));
        let mut y = [9.0f32; 4];
        let (x, w, dy) = (&x[..6], &w[..6], &dy[..4]);
        let e = linear_forward(x, w, &[1.0f32; 3], &mut y, 2, 3, 2).unwrap_err();
        assert!(e.0.contains("b has 3 elements"), "{}", e.0);
        let e = linear_forward(x, w, &[1.0f32; 2], &mut y, 2, 3, usize::MAX).unwrap_err();
        assert!(e.0.contains("overflows"), "{}", e.0);
        let e = dense_backward(x, w, dy, None, None, None, usize::MAX, 2, 2).unwrap_err();
        assert!(e.0.contains("overflows"), "{}", e.0);
        assert!(y.iter().all(|&v| v == 9.0));
    }
}
