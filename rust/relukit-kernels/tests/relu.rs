//! Scalar and slice ReLU kernels: edge values bit for bit, slices against the scalar op.

mod common;

use common::{assert_bits_eq, expected_grad, expected_relu, Rng, TestFloat};
use relukit_kernels::{
    relu_grad_i64, relu_grad_inplace, relu_grad_slice, relu_i64, relu_inplace, relu_slice, Float,
    ShapeError,
};

const LENGTHS: [usize; 12] = [0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 1000];

fn scalar_edges<T: TestFloat>() {
    for (x, kind) in T::edges() {
        assert_eq!(
            x.relu().bits(),
            expected_relu(x, kind),
            "{} relu({x:?}) [{:#x}]",
            T::NAME,
            x.bits()
        );
        assert_eq!(
            x.relu_grad().bits(),
            expected_grad(x, kind),
            "{} relu_grad({x:?}) [{:#x}]",
            T::NAME,
            x.bits()
        );
    }
}

#[test]
fn scalar_edges_f32() {
    scalar_edges::<f32>();
}

#[test]
fn scalar_edges_f64() {
    scalar_edges::<f64>();
}

#[test]
fn zero_results_are_positive_zero() {
    assert_eq!((-0.0f32).relu().to_bits(), 0);
    assert_eq!((-0.0f64).relu().to_bits(), 0);
    assert_eq!((-0.0f32).relu_grad().to_bits(), 0);
    assert_eq!((-0.0f64).relu_grad().to_bits(), 0);
    assert_eq!(f32::NEG_INFINITY.relu().to_bits(), 0);
    assert_eq!(f64::NEG_INFINITY.relu().to_bits(), 0);
    assert_eq!(f32::from_bits(0x8000_0001).relu_grad().to_bits(), 0);
    assert_eq!(
        f64::from_bits(0x8000_0000_0000_0001).relu_grad().to_bits(),
        0
    );
}

#[test]
fn signaling_nans_exact() {
    for b in [0x7f80_0001u32, 0xff80_0001] {
        assert_eq!(f32::from_bits(b).relu().to_bits(), b);
        assert_eq!(f32::from_bits(b).relu_grad().to_bits(), b);
    }
    for b in [0x7ff0_0000_0000_0001u64, 0xfff0_0000_0000_0001] {
        assert_eq!(f64::from_bits(b).relu().to_bits(), b);
        assert_eq!(f64::from_bits(b).relu_grad().to_bits(), b);
    }
}

#[test]
fn i64_ops() {
    let cases = [
        (i64::MIN, 0, 0),
        (i64::MIN + 1, 0, 0),
        (-1, 0, 0),
        (0, 0, 0),
        (1, 1, 1),
        (42, 42, 1),
        (i64::MAX, i64::MAX, 1),
    ];
    for (x, r, g) in cases {
        assert_eq!(relu_i64(x), r, "relu_i64({x})");
        assert_eq!(relu_grad_i64(x), g, "relu_grad_i64({x})");
    }
}

/// Every slice kernel against the scalar op on `x`, with a sentinel-filled output.
fn check_slice_kernels<T: TestFloat>(x: &[T], what: &str) {
    let want_relu: Vec<T> = x.iter().map(|v| v.relu()).collect();
    let want_grad: Vec<T> = x.iter().map(|v| v.relu_grad()).collect();
    let sentinel = T::from_f64(-7.5);

    let mut y = vec![sentinel; x.len()];
    relu_slice(x, &mut y).unwrap();
    assert_bits_eq(&y, &want_relu, &format!("relu_slice {what}"));

    let mut y = vec![sentinel; x.len()];
    relu_grad_slice(x, &mut y).unwrap();
    assert_bits_eq(&y, &want_grad, &format!("relu_grad_slice {what}"));

    let mut y = x.to_vec();
    relu_inplace(&mut y);
    assert_bits_eq(&y, &want_relu, &format!("relu_inplace {what}"));

    let mut y = x.to_vec();
    relu_grad_inplace(&mut y);
    assert_bits_eq(&y, &want_grad, &format!("relu_grad_inplace {what}"));
}

fn slices_match_scalar<T: TestFloat>() {
    let mut rng = Rng::new(1);
    for n in LENGTHS {
        let x: Vec<T> = rng.values(n);
        check_slice_kernels(&x, &format!("len {n}"));
    }
    // All edges in one slice, so they also pass through the vectorized body.
    let edges: Vec<T> = T::edges().into_iter().map(|(v, _)| v).collect();
    let many: Vec<T> = edges
        .iter()
        .cycle()
        .take(edges.len() * 5)
        .copied()
        .collect();
    check_slice_kernels(&many, "edges");
}

#[test]
fn slices_match_scalar_f32() {
    slices_match_scalar::<f32>();
}

#[test]
fn slices_match_scalar_f64() {
    slices_match_scalar::<f64>();
}

/// Sub-slices starting at every offset within a vector register, for input and output, and
/// the in-place kernels on unaligned sub-slices leave the neighbours alone.
fn unaligned_subslices<T: TestFloat>() {
    let mut rng = Rng::new(2);
    let buf: Vec<T> = rng.values(1100);
    for n in LENGTHS {
        for x_off in 0..5 {
            for y_off in [0, 1, 3] {
                let x = &buf[x_off..x_off + n];
                let sentinel = T::from_f64(-3.25);
                let mut ybuf = vec![sentinel; n + 8];
                relu_slice(x, &mut ybuf[y_off..y_off + n]).unwrap();
                let want: Vec<T> = x.iter().map(|v| v.relu()).collect();
                let what = format!("relu n={n} x_off={x_off} y_off={y_off}");
                assert_bits_eq(&ybuf[y_off..y_off + n], &want, &what);
                assert!(ybuf[..y_off].iter().all(|v| v.bits() == sentinel.bits()));
                assert!(ybuf[y_off + n..]
                    .iter()
                    .all(|v| v.bits() == sentinel.bits()));

                relu_grad_slice(x, &mut ybuf[y_off..y_off + n]).unwrap();
                let want: Vec<T> = x.iter().map(|v| v.relu_grad()).collect();
                let what = format!("relu_grad n={n} x_off={x_off} y_off={y_off}");
                assert_bits_eq(&ybuf[y_off..y_off + n], &want, &what);
                assert!(ybuf[y_off + n..]
                    .iter()
                    .all(|v| v.bits() == sentinel.bits()));
            }
            let mut y = buf.clone();
            relu_inplace(&mut y[x_off..x_off + n]);
            let want: Vec<T> = buf[x_off..x_off + n].iter().map(|v| v.relu()).collect();
            assert_bits_eq(&y[x_off..x_off + n], &want, "relu_inplace unaligned");
            assert_bits_eq(&y[..x_off], &buf[..x_off], "relu_inplace before");
            assert_bits_eq(&y[x_off + n..], &buf[x_off + n..], "relu_inplace after");

            let mut y = buf.clone();
            relu_grad_inplace(&mut y[x_off..x_off + n]);
            let want: Vec<T> = buf[x_off..x_off + n]
                .iter()
                .map(|v| v.relu_grad())
                .collect();
            assert_bits_eq(&y[x_off..x_off + n], &want, "relu_grad_inplace unaligned");
            assert_bits_eq(&y[..x_off], &buf[..x_off], "relu_grad_inplace before");
            assert_bits_eq(
                &y[x_off + n..],
                &buf[x_off + n..],
                "relu_grad_inplace after",
            );
        }
    }
}

#[test]
fn unaligned_subslices_f32() {
    unaligned_subslices::<f32>();
}

#[test]
fn unaligned_subslices_f64() {
    unaligned_subslices::<f64>();
}

fn mismatched_lengths<T: TestFloat>() {
    let mut rng = Rng::new(3);
    for (nx, ny) in [(0, 1), (1, 0), (7, 8), (9, 8), (1000, 999)] {
        let x: Vec<T> = rng.values(nx);
        let original: Vec<T> = rng.values(ny);

        let mut y = original.clone();
        let err = relu_slice(&x, &mut y).unwrap_err();
        assert!(!err.0.is_empty());
        assert_bits_eq(&y, &original, "relu_slice error leaves y untouched");

        let mut y = original.clone();
        let err: ShapeError = relu_grad_slice(&x, &mut y).unwrap_err();
        assert_eq!(err.to_string(), err.0);
        assert_bits_eq(&y, &original, "relu_grad_slice error leaves y untouched");
    }
}

#[test]
fn mismatched_lengths_f32() {
    mismatched_lengths::<f32>();
}

#[test]
fn mismatched_lengths_f64() {
    mismatched_lengths::<f64>();
}

#[test]
fn shape_error_is_std_error() {
    let e: Box<dyn std::error::Error + Send + Sync> = Box::new(ShapeError("bad".to_string()));
    assert_eq!(e.to_string(), "bad");
    assert_eq!(ShapeError("a".into()), ShapeError("a".into()));
    assert_eq!(format!("{:?}", ShapeError("a".into())), "ShapeError(\"a\")");
}
