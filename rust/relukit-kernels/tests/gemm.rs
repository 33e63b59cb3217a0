//! The matrix product under the dense layers, on every micro-kernel this CPU runs, forced
//! small cache blocks and 1-3 threads: bit for bit against a scalar model of the numeric
//! definition (`mul_add` in increasing order), and against a float64 reference within the
//! documented bound. Shapes straddle every tile and block size; the transposed operands are
//! exercised by the backward pass.

mod common;

use common::{Rng, TestFloat};
use relukit_kernels::dense::backward::dense_backward_tuned;
use relukit_kernels::dense::forward::{affine_forward_tuned, Tuning};
use relukit_kernels::runtime::{Config, GemmBlocks, GemmKernel, Path};
use relukit_kernels::{Activation, ActivationFloat, Float, MatFloat};

/// `self * a + b` rounded once, from the standard library.
trait Ref: TestFloat + MatFloat + Copy {
    fn fma_ref(self, a: Self, b: Self) -> Self;
    fn add_ref(self, a: Self) -> Self;
}
impl Ref for f32 {
    fn fma_ref(self, a: f32, b: f32) -> f32 {
        self.mul_add(a, b)
    }
    fn add_ref(self, a: f32) -> f32 {
        self + a
    }
}
impl Ref for f64 {
    fn fma_ref(self, a: f64, b: f64) -> f64 {
        self.mul_add(a, b)
    }
    fn add_ref(self, a: f64) -> f64 {
        self + a
    }
}

/// The definition: acc = b[j]; acc = fma(x[i, k], w[k, j], acc) for k = 0..inp; act.
fn forward_ref<T: Ref>(x: &[T], w: &[T], b: &[T], m: usize, k: usize, n: usize) -> Vec<T> {
    let mut y = Vec::with_capacity(m * n);
    for i in 0..m {
        for j in 0..n {
            let mut acc = b[j];
            for p in 0..k {
                acc = x[i * k + p].fma_ref(w[p * n + j], acc);
            }
            y.push(acc);
        }
    }
    y
}

/// dx[i, p] over j from +0.0; dw[p, j] over i from +0.0; db[j] plain adds over i.
#[allow(clippy::type_complexity)]
fn backward_ref<T: Ref>(
    x: &[T],
    w: &[T],
    dy: &[T],
    m: usize,
    k: usize,
    n: usize,
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let zero = T::from_f64(0.0);
    let mut dx = vec![zero; m * k];
    for i in 0..m {
        for p in 0..k {
            let mut acc = zero;
            for j in 0..n {
                acc = dy[i * n + j].fma_ref(w[p * n + j], acc);
            }
            dx[i * k + p] = acc;
        }
    }
    let mut dw = vec![zero; k * n];
    for p in 0..k {
        for j in 0..n {
            let mut acc = zero;
            for i in 0..m {
                acc = x[i * k + p].fma_ref(dy[i * n + j], acc);
            }
            dw[p * n + j] = acc;
        }
    }
    let mut db = vec![zero; n];
    for j in 0..n {
        let mut acc = zero;
        for i in 0..m {
            acc = acc.add_ref(dy[i * n + j]);
        }
        db[j] = acc;
    }
    (dx, dw, db)
}

fn same_bits<T: TestFloat>(got: &[T], want: &[T], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.bits(), w.bits(), "{what}: element {i}: {g:?} != {w:?}");
    }
}

fn kernels() -> Vec<GemmKernel> {
    [
        GemmKernel::Portable,
        GemmKernel::Avx2Fma,
        GemmKernel::Avx512,
    ]
    .into_iter()
    .filter(|k| k.available())
    .collect()
}

/// The detected blocks, and small ones that put several block edges inside every shape.
fn block_sets<T>(kernel: GemmKernel) -> Vec<GemmBlocks> {
    let size = core::mem::size_of::<T>();
    let (mr, nr) = kernel.tile(size);
    vec![
        GemmBlocks::detected(kernel, size),
        GemmBlocks {
            kc: 1,
            mc: mr,
            nc: nr,
        },
        GemmBlocks {
            kc: 3,
            mc: 2 * mr,
            nc: 3 * nr,
        },
        GemmBlocks {
            kc: 7,
            mc: mr + 1,
            nc: nr + 1,
        },
    ]
}

fn values<T: TestFloat>(rng: &mut Rng, n: usize) -> Vec<T> {
    (0..n).map(|_| T::from_f64(rng.unit() * 2.0)).collect()
}

/// Shapes around every tile (4x8, 6x8/16, 12x16/32) and the small blocks.
fn shapes() -> Vec<(usize, usize, usize)> {
    let mut v = vec![
        (0, 3, 5),
        (3, 0, 5),
        (3, 4, 0),
        (0, 0, 0),
        (1, 0, 1),
        (1, 1, 1),
        (1, 1, 33),
        (2, 1, 17),
        (1, 7, 64),
        (13, 2, 1),
        (4, 8, 8),
        (5, 9, 15),
        (6, 16, 16),
        (7, 17, 33),
        (11, 5, 31),
        (12, 32, 32),
        (13, 31, 65),
        (25, 3, 97),
        (37, 70, 10),
    ];
    v.push((3, 300, 40)); // depth beyond the detected kc of every kernel
    v.extend([
        (1, 9, 300),
        (2, 300, 260),
        (3, 20, 257),
        (16, 33, 129),
        (17, 9, 70),
    ]);
    v
}

fn run_all<T: Ref + ActivationFloat>(eps: f64) {
    let mut rng = Rng::new(0x6e6d);
    for (m, k, n) in shapes() {
        let x: Vec<T> = values(&mut rng, m * k);
        let w: Vec<T> = values(&mut rng, k * n);
        let b: Vec<T> = values(&mut rng, n);
        let dy: Vec<T> = values(&mut rng, m * n);
        let lin = forward_ref(&x, &w, &b, m, k, n);
        let relu: Vec<T> = lin.iter().map(|v| v.relu()).collect();
        let op = Activation::LeakyRelu(T::from_f64(0.125));
        let act: Vec<T> = lin.iter().map(|&v| T::apply(op, v)).collect();
        let (dx_r, dw_r, db_r) = backward_ref(&x, &w, &dy, m, k, n);
        // float64 bound on the forward reference itself (it is what every path returns)
        for i in 0..m {
            for j in 0..n {
                let (mut z, mut mag) = (b[j].to_f64(), b[j].to_f64().abs());
                for p in 0..k {
                    let t = x[i * k + p].to_f64() * w[p * n + j].to_f64();
                    z += t;
                    mag += t.abs();
                }
                let tol = (k as f64 + 2.0) * eps * mag;
                assert!(
                    (lin[i * n + j].to_f64() - z).abs() <= tol,
                    "bound {m}x{k}x{n}"
                );
            }
        }
        for kernel in kernels() {
            for blocks in block_sets::<T>(kernel) {
                for parts in 1..=3 {
                    let t = Tuning {
                        kernel,
                        blocks,
                        parts,
                    };
                    let what = format!("{} {m}x{k}x{n} {t:?}", T::NAME);
                    let mut y = vec![T::from_f64(-7.0); m * n];
                    affine_forward_tuned(&t, false, None, &x, &w, &b, &mut y, m, k, n).unwrap();
                    same_bits(&y, &lin, &format!("linear {what}"));
                    affine_forward_tuned(&t, true, None, &x, &w, &b, &mut y, m, k, n).unwrap();
                    same_bits(&y, &relu, &format!("relu {what}"));
                    affine_forward_tuned(&t, false, Some(op), &x, &w, &b, &mut y, m, k, n).unwrap();
                    same_bits(&y, &act, &format!("leaky_relu {what}"));
                    let mut dx = vec![T::from_f64(9.0); m * k];
                    let mut dw = vec![T::from_f64(9.0); k * n];
                    let mut db = vec![T::from_f64(9.0); n];
                    dense_backward_tuned(
                        &t,
                        &x,
                        &w,
                        &dy,
                        Some(&mut dx),
                        Some(&mut dw),
                        Some(&mut db),
                        m,
                        k,
                        n,
                    )
                    .unwrap();
                    same_bits(&dx, &dx_r, &format!("dx {what}"));
                    same_bits(&dw, &dw_r, &format!("dw {what}"));
                    same_bits(&db, &db_r, &format!("db {what}"));
                }
            }
        }
    }
}

#[test]
fn every_kernel_block_and_thread_count_gives_the_definition_f32() {
    run_all::<f32>(f64::from(f32::EPSILON));
}

#[test]
fn every_kernel_block_and_thread_count_gives_the_definition_f64() {
    run_all::<f64>(f64::EPSILON);
}

/// A case where fusing changes the answer: 1 + 2^-24 rounds to 1 unfused, while
/// fma((1 + 2^-12), (1 + 2^-12), -1) keeps the 2^-24 term.
#[test]
fn products_are_fused() {
    let e = f32::powi(2.0, -12);
    let x = [1.0 + e];
    let w = [1.0 + e];
    let b = [-1.0f32];
    let want = (1.0f32 + e).mul_add(1.0 + e, -1.0);
    assert_ne!(want, (1.0 + e) * (1.0 + e) - 1.0);
    for kernel in kernels() {
        let t = Tuning {
            kernel,
            blocks: GemmBlocks::detected(kernel, 4),
            parts: 1,
        };
        let mut y = [0.0f32];
        affine_forward_tuned(&t, false, None, &x, &w, &b, &mut y, 1, 1, 1).unwrap();
        assert_eq!(y[0].to_bits(), want.to_bits(), "{kernel:?}");
    }
}

/// NaN, infinities, signed zeros and subnormals go through like the scalar definition.
#[test]
fn special_values_follow_the_definition() {
    let mut rng = Rng::new(99);
    let (m, k, n) = (7, 9, 37);
    let x: Vec<f64> = (0..m * k).map(|_| rng.value::<f64>()).collect();
    let w: Vec<f64> = (0..k * n).map(|_| rng.value::<f64>()).collect();
    let b: Vec<f64> = (0..n).map(|_| rng.value::<f64>()).collect();
    let lin = forward_ref(&x, &w, &b, m, k, n);
    let relu: Vec<f64> = lin.iter().map(|v| v.relu()).collect();
    for kernel in kernels() {
        let t = Tuning {
            kernel,
            blocks: GemmBlocks {
                kc: 4,
                mc: 12,
                nc: 32,
            },
            parts: 2,
        };
        let mut y = vec![0.0; m * n];
        affine_forward_tuned(&t, true, None, &x, &w, &b, &mut y, m, k, n).unwrap();
        // NaN payloads from a sum of NaNs are not specified by IEEE 754: compare NaN-ness
        for (i, (g, r)) in y.iter().zip(&relu).enumerate() {
            if r.is_nan() {
                assert!(g.is_nan(), "{kernel:?} element {i}");
            } else {
                assert_eq!(g.to_bits(), r.to_bits(), "{kernel:?} element {i}");
            }
        }
    }
}

/// The public entry points pick the kernel of the path; forced portable gives the same bits.
#[test]
fn public_entry_points_agree_on_every_path() {
    let mut rng = Rng::new(5);
    let (m, k, n) = (33, 70, 45);
    let x: Vec<f32> = values(&mut rng, m * k);
    let w: Vec<f32> = values(&mut rng, k * n);
    let b: Vec<f32> = values(&mut rng, n);
    let want: Vec<f32> = forward_ref(&x, &w, &b, m, k, n)
        .iter()
        .map(|v| v.relu())
        .collect();
    let mut paths = vec![Path::Portable];
    if relukit_kernels::runtime::avx2_available() {
        paths.push(Path::Avx2);
    }
    for path in paths {
        for threads in 1..=3 {
            let mut t = *relukit_kernels::runtime::Thresholds::detected();
            t.dense_split_min_macs = 0;
            let cfg = Config::new(path, threads, &t);
            let mut y = vec![0.0f32; m * n];
            relukit_kernels::dense_forward_with(&cfg, &x, &w, &b, &mut y, m, k, n).unwrap();
            same_bits(&y, &want, &format!("{path:?} {threads}"));
            let mut y2 = vec![0.0f32; m * n];
            relukit_kernels::dense::affine_forward_with(
                &cfg,
                &x,
                &w,
                &b,
                &mut y2,
                m,
                k,
                n,
                Some(Activation::Threshold(0.0, 0.0)),
            )
            .unwrap();
            let thr: Vec<f32> = forward_ref(&x, &w, &b, m, k, n)
                .iter()
                .map(|&v| f32::apply(Activation::Threshold(0.0, 0.0), v))
                .collect();
            same_bits(&y2, &thr, &format!("threshold {path:?} {threads}"));
        }
    }
}
