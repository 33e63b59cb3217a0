//! In place on a view that overlaps itself (a zero stride, or strides smaller than what they
//! step over), as the Python binding can build from raw NumPy pointers: every address gets
//! the op of its original value, once, on every path. Its own test binary: it flips the
//! process-wide path. ndarray holds such a view to break its invariants (debug builds assert
//! against building one), so callers should check [`has_self_overlap`] and not build it; the
//! kernels still give the right answer when one arrives (release builds).

use ndarray::{ArrayViewMutD, IxDyn, ShapeBuilder};
use relukit_kernels::runtime::{avx2_available, set_simd};
use relukit_kernels::{
    activation_nd_inplace, has_self_overlap, relu_grad_nd_inplace, relu_nd_inplace, Activation,
    ActivationFloat, Float,
};

/// A mutable view of `shape` and element `strides` over `buf`.
///
/// # Safety
///
/// Every index must land inside `buf`; the view may alias itself (that is what is tested),
/// and `buf` must not be used while it lives.
unsafe fn view<'a>(
    buf: &'a mut [f64],
    shape: &[usize],
    strides: &[usize],
) -> ArrayViewMutD<'a, f64> {
    // SAFETY: the caller keeps every index inside buf; aliasing elements is the input under
    // test, as the binding builds it from a NumPy array.
    unsafe { ArrayViewMutD::from_shape_ptr(IxDyn(shape).strides(IxDyn(strides)), buf.as_mut_ptr()) }
}

fn run_all(name: &str, f: &dyn Fn(f64) -> f64, apply: &dyn Fn(ArrayViewMutD<'_, f64>)) {
    let cases: [(&[usize], &[usize], usize); 4] = [
        (&[1000], &[0], 1),      // one element seen 1000 times
        (&[4, 250], &[1, 0], 4), // a broadcast column
        (&[3, 4], &[1, 1], 6),   // (i, j) -> i + j
        (&[5, 3], &[2, 1], 11),  // rows overlap by one
    ];
    for (shape, strides, len) in cases {
        let orig: Vec<f64> = (0..len).map(|i| -2.0 + 0.75 * i as f64).collect();
        let mut buf = orig.clone();
        let s: Vec<isize> = strides.iter().map(|&v| 8 * v as isize).collect();
        assert!(has_self_overlap(shape, &s, 8), "{shape:?} {strides:?}");
        // SAFETY: every index of these shapes and strides lies inside buf (len elements).
        apply(unsafe { view(&mut buf, shape, strides) });
        for (k, (&g, &o)) in buf.iter().zip(&orig).enumerate() {
            assert_eq!(
                g.to_bits(),
                f(o).to_bits(),
                "{name} {shape:?} {strides:?}: element {k} of {o} is {g}"
            );
        }
    }
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "ndarray's debug assertions refuse a self-overlapping mutable view; run with --release"
)]
fn self_overlapping_views_get_the_op_once_per_address() {
    let mut paths = vec![false];
    if avx2_available() {
        paths.push(true);
    }
    for simd in paths {
        set_simd(simd);
        run_all("relu", &f64::relu, &|v| relu_nd_inplace(v));
        run_all("relu_grad", &f64::relu_grad, &|v| relu_grad_nd_inplace(v));
        for op in [
            Activation::LeakyRelu(0.1),
            Activation::Sigmoid,
            Activation::Elu(1.0),
            Activation::Gelu,
            Activation::Hardtanh(-1.0, 1.0),
        ] {
            run_all(
                &format!("{op:?} simd={simd}"),
                &|x| f64::apply(op, x),
                &|v| activation_nd_inplace(op, v),
            );
        }
    }
}
