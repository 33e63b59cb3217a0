//! n-dimensional ReLU kernels on every memory layout, against the scalar op elementwise.

mod common;

use common::{assert_bits_eq, Rng, TestFloat};
use ndarray::{s, ArrayD, ArrayViewD, ArrayViewMutD, Axis, Dimension, IxDyn, Slice};
use relukit_kernels::{relu_grad_nd, relu_grad_nd_inplace, relu_nd, relu_nd_inplace, Float};

/// How a logical array of a given shape sits in its backing buffer.
#[derive(Debug, Clone, Copy)]
enum Layout {
    /// Row-major, contiguous.
    C,
    /// Column-major, contiguous: a C array of the reversed shape with its axes reversed.
    Fortran,
    /// Contiguous, every axis reversed (all strides negative).
    NegAll,
    /// Contiguous, only axis 0 reversed.
    NegFirst,
    /// Every other element along each axis (non-contiguous).
    Step,
    /// Every other element, walked backwards along each axis.
    StepNeg,
    /// A transposed view of a sub-block (non-contiguous, mixed strides).
    SubTransposed,
}

const LAYOUTS: [Layout; 7] = [
    Layout::C,
    Layout::Fortran,
    Layout::NegAll,
    Layout::NegFirst,
    Layout::Step,
    Layout::StepNeg,
    Layout::SubTransposed,
];

const SHAPES: [&[usize]; 6] = [&[6, 7], &[4, 5, 6], &[1, 9], &[3, 1, 17], &[0, 3], &[]];

impl Layout {
    /// Shape of the backing buffer for a view of `shape`.
    fn backing_shape(self, shape: &[usize]) -> Vec<usize> {
        match self {
            Layout::C | Layout::NegAll | Layout::NegFirst => shape.to_vec(),
            Layout::Fortran => shape.iter().rev().copied().collect(),
            Layout::Step | Layout::StepNeg => shape.iter().map(|&n| 2 * n + 1).collect(),
            Layout::SubTransposed => shape.iter().rev().map(|&n| n + 2).collect(),
        }
    }

    fn backing<T: TestFloat>(self, shape: &[usize], rng: &mut Rng) -> ArrayD<T> {
        let bshape = self.backing_shape(shape);
        let n = bshape.iter().product();
        ArrayD::from_shape_vec(IxDyn(&bshape), rng.values(n)).unwrap()
    }

    fn view<'a, T>(self, b: &'a ArrayD<T>) -> ArrayViewD<'a, T> {
        let mut v = b.view();
        self.transform(&mut v);
        if let Layout::Fortran | Layout::SubTransposed = self {
            v = v.reversed_axes();
        }
        v
    }

    fn view_mut<'a, T>(self, b: &'a mut ArrayD<T>) -> ArrayViewMutD<'a, T> {
        let mut v = b.view_mut();
        self.transform(&mut v);
        if let Layout::Fortran | Layout::SubTransposed = self {
            v = v.reversed_axes();
        }
        v
    }

    fn transform<S: ndarray::RawData>(self, v: &mut ndarray::ArrayBase<S, IxDyn>) {
        match self {
            Layout::C | Layout::Fortran => {}
            Layout::NegAll => v.slice_each_axis_inplace(|_| Slice::new(0, None, -1)),
            Layout::NegFirst => {
                if v.ndim() > 0 {
                    v.invert_axis(Axis(0));
                }
            }
            Layout::Step => v.slice_each_axis_inplace(|_| Slice::new(1, None, 2)),
            Layout::StepNeg => v.slice_each_axis_inplace(|_| Slice::new(1, None, -2)),
            Layout::SubTransposed => v.slice_each_axis_inplace(|_| Slice::new(1, Some(-1), 1)),
        }
    }
}

fn flat<T: Copy>(a: &ArrayD<T>) -> Vec<T> {
    a.iter().copied().collect()
}

/// `y = op(x)` through `kernel` for every pair of layouts and every shape; the whole backing
/// buffer of y must equal the sentinel-filled buffer with exactly the view's elements replaced.
fn check_nd<T: TestFloat>(
    kernel: fn(ArrayViewD<'_, T>, ArrayViewMutD<'_, T>) -> Result<(), relukit_kernels::ShapeError>,
    op: fn(T) -> T,
    name: &str,
) {
    let mut rng = Rng::new(10);
    for shape in SHAPES {
        for xl in LAYOUTS {
            for yl in LAYOUTS {
                let xb = xl.backing::<T>(shape, &mut rng);
                let x = xl.view(&xb);
                assert_eq!(x.shape(), shape, "{xl:?}");

                let mut yb = yl.backing::<T>(shape, &mut rng);
                let mut want = yb.clone();
                {
                    let mut wv = yl.view_mut(&mut want);
                    for (idx, &v) in x.indexed_iter() {
                        wv[idx.slice()] = op(v);
                    }
                }
                kernel(x.view(), yl.view_mut(&mut yb)).unwrap();
                let what = format!("{name} shape {shape:?} x {xl:?} y {yl:?}");
                assert_bits_eq(&flat(&yb), &flat(&want), &what);
            }
        }
    }
}

/// In-place kernel on every layout and shape; elements outside the view stay untouched.
fn check_nd_inplace<T: TestFloat>(kernel: fn(ArrayViewMutD<'_, T>), op: fn(T) -> T, name: &str) {
    let mut rng = Rng::new(11);
    for shape in SHAPES {
        for yl in LAYOUTS {
            let mut yb = yl.backing::<T>(shape, &mut rng);
            let mut want = yb.clone();
            yl.view_mut(&mut want).map_inplace(|v| *v = op(*v));
            kernel(yl.view_mut(&mut yb));
            let what = format!("{name} shape {shape:?} y {yl:?}");
            assert_bits_eq(&flat(&yb), &flat(&want), &what);
        }
    }
}

fn all_nd<T: TestFloat>() {
    check_nd::<T>(relu_nd, T::relu, "relu_nd");
    check_nd::<T>(relu_grad_nd, T::relu_grad, "relu_grad_nd");
    check_nd_inplace::<T>(relu_nd_inplace, T::relu, "relu_nd_inplace");
    check_nd_inplace::<T>(relu_grad_nd_inplace, T::relu_grad, "relu_grad_nd_inplace");
}

#[test]
fn nd_all_layouts_f32() {
    all_nd::<f32>();
}

#[test]
fn nd_all_layouts_f64() {
    all_nd::<f64>();
}

#[test]
fn nd_edges_2d_reversed() {
    // Every edge value in a 2-D array read through s![..;-1, ..] into a Fortran-order output.
    let edges: Vec<f32> = f32::edges().into_iter().map(|(v, _)| v).collect();
    let x = ArrayD::from_shape_vec(IxDyn(&[2, edges.len() / 2]), edges.clone()).unwrap();
    let xv = x.slice(s![..;-1, ..]);
    let mut y = ArrayD::from_elem(IxDyn(&[edges.len() / 2, 2]), 9.0f32);
    relu_nd(xv.view().into_dyn(), y.view_mut().reversed_axes()).unwrap();
    let yt = y.view().reversed_axes();
    for (idx, &v) in xv.indexed_iter() {
        assert_eq!(yt[[idx.0, idx.1]].to_bits(), v.relu().to_bits(), "{idx:?}");
    }
}

fn shape_mismatch<T: TestFloat>() {
    let mut rng = Rng::new(12);
    let cases: [(&[usize], &[usize]); 5] = [
        (&[2, 3], &[3, 2]),
        (&[6], &[2, 3]),
        (&[2, 3], &[2, 3, 1]),
        (&[0, 3], &[3, 0]),
        (&[], &[1]),
    ];
    for (xs, ys) in cases {
        let x = ArrayD::from_shape_vec(IxDyn(xs), rng.values::<T>(xs.iter().product())).unwrap();
        let original =
            ArrayD::from_shape_vec(IxDyn(ys), rng.values::<T>(ys.iter().product())).unwrap();

        let mut y = original.clone();
        let err = relu_nd(x.view(), y.view_mut()).unwrap_err();
        assert!(err.0.contains("shape"), "{err}");
        assert_bits_eq(&flat(&y), &flat(&original), "relu_nd mismatch");

        let mut y = original.clone();
        relu_grad_nd(x.view(), y.view_mut()).unwrap_err();
        assert_bits_eq(&flat(&y), &flat(&original), "relu_grad_nd mismatch");
    }
}

#[test]
fn shape_mismatch_f32() {
    shape_mismatch::<f32>();
}

#[test]
fn shape_mismatch_f64() {
    shape_mismatch::<f64>();
}
