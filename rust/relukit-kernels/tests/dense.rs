//! Dense layer forward pass: against a naive f64 reference, the exact fused multiply-add
//! order, and every shape error.

mod common;

use common::{assert_bits_eq, Rng, TestFloat};
use relukit_kernels::{dense_forward, Float, MatFloat};

/// `self * a + b` rounded once, with the standard library's `mul_add` (independent of the
/// crate's kernels).
trait FusedRef: Copy {
    fn mul_add_ref(self, a: Self, b: Self) -> Self;
}
impl FusedRef for f32 {
    fn mul_add_ref(self, a: f32, b: f32) -> f32 {
        self.mul_add(a, b)
    }
}
impl FusedRef for f64 {
    fn mul_add_ref(self, a: f64, b: f64) -> f64 {
        self.mul_add(a, b)
    }
}

/// Bit-exact model of the contract: acc = b[j], then acc = fma(x[r, k], w[k, j], acc) for
/// increasing k, relu.
fn naive_same_order<T>(x: &[T], w: &[T], b: &[T], batch: usize, inp: usize, out: usize) -> Vec<T>
where
    T: TestFloat + MatFloat + FusedRef,
{
    let mut y = Vec::with_capacity(batch * out);
    for r in 0..batch {
        for j in 0..out {
            let mut acc = b[j];
            for k in 0..inp {
                acc = x[r * inp + k].mul_add_ref(w[k * out + j], acc);
            }
            y.push(acc.relu());
        }
    }
    y
}

fn random<T: TestFloat>(rng: &mut Rng, n: usize) -> Vec<T> {
    (0..n).map(|_| T::from_f64(rng.unit() * 4.0)).collect()
}

/// Against an f64 reference within (inp + 2) * eps * (sum |x||w| + |b|), and bit for bit
/// against the same-order model.
fn dense_matches_reference<T>(eps: f64)
where
    T: TestFloat + MatFloat + FusedRef,
{
    let mut rng = Rng::new(20);
    let shapes = [
        (1, 1, 1),
        (1, 3, 2),
        (2, 5, 3),
        (4, 7, 9),
        (3, 16, 17),
        (5, 33, 8),
        (7, 100, 31),
        (2, 1, 64),
    ];
    for (batch, inp, out) in shapes {
        let x: Vec<T> = random(&mut rng, batch * inp);
        let w: Vec<T> = random(&mut rng, inp * out);
        let b: Vec<T> = random(&mut rng, out);
        let mut y = vec![T::from_f64(-99.0); batch * out];
        dense_forward(&x, &w, &b, &mut y, batch, inp, out).unwrap();

        let what = format!("{} dense {batch}x{inp}->{out}", T::NAME);
        assert_bits_eq(&y, &naive_same_order(&x, &w, &b, batch, inp, out), &what);

        for r in 0..batch {
            for j in 0..out {
                let mut z = b[j].to_f64();
                let mut mag = b[j].to_f64().abs();
                for k in 0..inp {
                    let p = x[r * inp + k].to_f64() * w[k * out + j].to_f64();
                    z += p;
                    mag += p.abs();
                }
                let tol = (inp as f64 + 2.0) * eps * mag;
                let got = y[r * out + j].to_f64();
                assert!(got >= 0.0, "{what}: negative output {got}");
                assert!(
                    (got - z.max(0.0)).abs() <= tol,
                    "{what}: y[{r},{j}] = {got}, reference {z}, tol {tol}"
                );
            }
        }
    }
}

#[test]
fn dense_matches_reference_f32() {
    dense_matches_reference::<f32>(f64::from(f32::EPSILON));
}

#[test]
fn dense_matches_reference_f64() {
    dense_matches_reference::<f64>(f64::EPSILON);
}

fn guide_example<T>()
where
    T: TestFloat + MatFloat + FusedRef,
{
    // x = [1, 2, -1] through a 3 -> 2 layer; every value is exact in binary.
    let f = |v: &[f64]| -> Vec<T> { v.iter().map(|&a| T::from_f64(a)).collect() };
    let x = f(&[1.0, 2.0, -1.0]);
    let w = f(&[0.5, -1.0, 0.25, 0.5, 1.0, 2.0]); // (3, 2) row-major
    let b = f(&[0.5, 1.0]);
    let mut y = f(&[7.0, 7.0]);
    dense_forward(&x, &w, &b, &mut y, 1, 3, 2).unwrap();
    // z = [0.5 + 0.5 + 0.5 - 1, 1 - 1 + 1 - 2] = [0.5, -1] -> relu -> [0.5, +0.0]
    assert_bits_eq(&y, &f(&[0.5, 0.0]), "guide example");
}

#[test]
fn guide_example_f32() {
    guide_example::<f32>();
}

#[test]
fn guide_example_f64() {
    guide_example::<f64>();
}

#[test]
fn inp_zero_gives_relu_of_b() {
    let b = [
        1.5f64,
        -2.0,
        -0.0,
        0.0,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::from_bits(0x7ff0_0000_0000_0001),
        f64::from_bits(0xfff8_0000_0000_1234),
    ];
    let mut y = vec![9.0f64; 3 * b.len()];
    dense_forward(&[], &[], &b, &mut y, 3, 0, b.len()).unwrap();
    let want: Vec<f64> = b.iter().map(|v| v.relu()).collect();
    for row in y.chunks_exact(b.len()) {
        assert_bits_eq(row, &want, "inp == 0");
    }

    let bf: Vec<f32> = [1.0f32, -1.0, -0.0].to_vec();
    let mut yf = vec![9.0f32; 3];
    dense_forward(&[], &[], &bf, &mut yf, 1, 0, 3).unwrap();
    assert_bits_eq(&yf, &[1.0, 0.0, 0.0], "inp == 0 f32");
}

#[test]
fn batch_zero_and_out_zero() {
    let w = [1.0f32; 6];
    let b = [1.0f32; 2];
    let mut y: [f32; 0] = [];
    dense_forward(&[], &w, &b, &mut y, 0, 3, 2).unwrap();

    let x = [1.0f64; 8];
    let mut y: [f64; 0] = [];
    dense_forward(&x, &[], &[], &mut y, 2, 4, 0).unwrap();

    let mut y: [f64; 0] = [];
    dense_forward(&[], &[], &[], &mut y, 0, 0, 0).unwrap();
}

#[test]
fn nan_input_gives_nan() {
    let x = [f64::NAN, 1.0];
    let w = [1.0, 1.0];
    let mut y = [0.0; 1];
    dense_forward(&x, &w, &[0.0], &mut y, 1, 2, 1).unwrap();
    assert!(y[0].is_nan());
}

#[test]
fn wrong_lengths_leave_y_untouched() {
    let (batch, inp, out) = (2usize, 3usize, 4usize);
    let x = vec![1.0f32; batch * inp];
    let w = vec![1.0f32; inp * out];
    let b = vec![1.0f32; out];
    let y0 = vec![-5.0f32; batch * out];

    let check = |x: &[f32], w: &[f32], b: &[f32], ylen: usize, name: &str| {
        let mut y = vec![-5.0f32; ylen];
        let err = dense_forward(x, w, b, &mut y, batch, inp, out).unwrap_err();
        assert!(err.0.starts_with(name), "{name}: {err}");
        assert!(
            y.iter().all(|v| v.to_bits() == (-5.0f32).to_bits()),
            "{name}"
        );
    };
    for delta in [-1isize, 1] {
        let resize = |v: &Vec<f32>| -> Vec<f32> {
            let n = (v.len() as isize + delta) as usize;
            vec![1.0; n]
        };
        check(&resize(&x), &w, &b, y0.len(), "x");
        check(&x, &resize(&w), &b, y0.len(), "w");
        check(&x, &w, &resize(&b), y0.len(), "b");
        check(&x, &w, &b, (y0.len() as isize + delta) as usize, "y");
    }
    // Transposed shape claims with the right total sizes are still caught via b / y.
    let mut y = y0.clone();
    assert!(dense_forward(&x, &w, &b, &mut y, batch, out, inp).is_err());
    assert_eq!(y, y0);

    // Sanity: the right lengths work.
    let mut y = y0.clone();
    dense_forward(&x, &w, &b, &mut y, batch, inp, out).unwrap();
    assert!(y.iter().all(|&v| v == 4.0));
}

#[test]
fn overflowing_shapes_are_errors() {
    let big = usize::MAX / 2 + 1;
    let mut y: [f64; 0] = [];
    // batch * inp overflows
    let e = dense_forward(&[], &[], &[], &mut y, big, 2, 0).unwrap_err();
    assert!(e.0.contains("overflow"), "{e}");
    // inp * out overflows
    let e = dense_forward(&[], &[], &[], &mut y, 0, big, 2).unwrap_err();
    assert!(e.0.contains("overflow"), "{e}");
    // batch * out overflows (b cannot hold `out` elements, so that is reported first)
    assert!(dense_forward(&[], &[], &[], &mut y, big, 0, 2).is_err());
    let e = dense_forward(&[], &[], &[0.0, 0.0], &mut y, big, 0, 2).unwrap_err();
    assert!(e.0.starts_with("y") && e.0.contains("overflow"), "{e}");
    // every product overflows
    assert!(dense_forward(&[], &[], &[], &mut y, usize::MAX, usize::MAX, usize::MAX).is_err());
    let mut yf: [f32; 0] = [];
    assert!(dense_forward(&[], &[], &[], &mut yf, big, 2, 0).is_err());
}
