//! The backward pass of the affine layer `y = x @ w + b` on the matrix product of
//! [`super::gemm`]: `dx = dy @ w^T` and `dw = x^T @ dy` are products whose transposed
//! operand is read through its strides by the packing; `db` is a plain column sum. The
//! orders are those of [`crate::dense`].

use super::forward::{macs, Tuning};
use super::gemm::{gemm, Epilogue, Init, Mat, Problem};
use super::{check_shape, MatFloat};
use crate::runtime::Config;
use crate::ShapeError;

/// Gradients of `y = x @ w + b` given `dy`: `dx = dy @ w^T`, `dw = x^T @ dy`,
/// `db = dy.sum(0)`, each overwritten; `None` skips that gradient (the first layer of a
/// network needs no `dx`). `dx[i, k]` and `dw[k, j]` start at `+0.0` and take one fused
/// multiply-add per term in increasing order of the summed index; `db[j]` adds the rows in
/// order. Empty sums are `+0.0`. `Err`, touching nothing, if a length does not match the
/// shape.
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
    dense_backward_with(&Config::current(), x, w, dy, dx, dw, db, batch, inp, out)
}

/// [`dense_backward`] with the settings of `cfg` (path, threads from
/// `cfg.dense_split_min_macs` multiply-adds). Panics if `cfg.path` is `Avx2` and the CPU
/// lacks AVX2.
#[allow(clippy::too_many_arguments)]
pub fn dense_backward_with<T: MatFloat>(
    cfg: &Config,
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
    let t = Tuning::for_config::<T>(cfg, macs(batch, inp, out));
    dense_backward_tuned(&t, x, w, dy, dx, dw, db, batch, inp, out)
}

/// [`dense_backward`] with an explicit [`Tuning`] (tests and benchmarks; the bits do not
/// depend on it).
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub fn dense_backward_tuned<T: MatFloat>(
    t: &Tuning,
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
    check_shape("x", x.len(), batch, inp)?;
    check_shape("w", w.len(), inp, out)?;
    check_shape("dy", dy.len(), batch, out)?;
    if let Some(d) = &dx {
        check_shape("dx", d.len(), batch, inp)?;
    }
    if let Some(d) = &dw {
        check_shape("dw", d.len(), inp, out)?;
    }
    if let Some(d) = &db {
        check_shape("db", d.len(), out, 1)?;
    }
    if let Some(dx) = dx {
        // dx (batch x inp) = dy (batch x out) @ w^T (out x inp): w^T[p, k] = w[k * out + p]
        let pr = Problem {
            m: batch,
            n: inp,
            k: out,
            a: Mat {
                ptr: dy.as_ptr(),
                rs: out,
                cs: 1,
            },
            b: Mat {
                ptr: w.as_ptr(),
                rs: 1,
                cs: out,
            },
            c: dx.as_mut_ptr(),
            ldc: inp,
            init: Init::Zero,
            epi: Epilogue::Identity,
        };
        // SAFETY: lengths checked above; dx borrowed exclusively, the inputs shared.
        unsafe { gemm(&pr, t.kernel, t.blocks, t.parts) };
    }
    if let Some(dw) = dw {
        // dw (inp x out) = x^T (inp x batch) @ dy (batch x out): x^T[k, p] = x[p * inp + k]
        let pr = Problem {
            m: inp,
            n: out,
            k: batch,
            a: Mat {
                ptr: x.as_ptr(),
                rs: 1,
                cs: inp,
            },
            b: Mat {
                ptr: dy.as_ptr(),
                rs: out,
                cs: 1,
            },
            c: dw.as_mut_ptr(),
            ldc: out,
            init: Init::Zero,
            epi: Epilogue::Identity,
        };
        // SAFETY: lengths checked above; dw borrowed exclusively, the inputs shared.
        unsafe { gemm(&pr, t.kernel, t.blocks, t.parts) };
    }
    if let Some(db) = db {
        db.fill(T::default());
        if out > 0 {
            for dy_row in dy.chunks_exact(out) {
                for (acc, &d) in db.iter_mut().zip(dy_row) {
                    *acc = *acc + d;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Path;
    use crate::{dense_forward, linear_forward};

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

    fn paths() -> Vec<Config> {
        let mut p = vec![Config::single(Path::Portable, usize::MAX)];
        if crate::runtime::avx2_available() {
            p.push(Config::single(Path::Avx2, usize::MAX));
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
                crate::linear_forward_with(&path, &x, &w, &b, &mut y, batch, inp, out).unwrap();
                dense_backward_with(
                    &path,
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
