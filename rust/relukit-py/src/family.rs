//! Bindings of `relukit-kernels`' ReLU family (`relukit/backends/rust.py` calls them).
//!
//! One function per dtype and form takes an op code (the table in `activation` below, mirrored
//! in rust.py) and two parameters already rounded to the dtype by the facade; arrays of any
//! layout are borrowed without copying, and the GIL is released for large ones, as for relu.

use numpy::{PyReadonlyArray1, PyReadonlyArrayDyn, PyReadwriteArrayDyn};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use relukit_kernels as k;
use relukit_kernels::{Activation, FamilyFloat};

use crate::{run, shape_error};

/// The op with code `kind` and its parameters (unused ones ignored).
fn activation<T: Copy>(kind: u8, p0: T, p1: T) -> PyResult<Activation<T>> {
    Ok(match kind {
        0 => Activation::LeakyRelu(p0),
        1 => Activation::LeakyReluGrad(p0),
        2 => Activation::Hardtanh(p0, p1),
        3 => Activation::HardtanhGrad(p0, p1),
        4 => Activation::Threshold(p0, p1),
        5 => Activation::ThresholdGrad(p0),
        6 => Activation::Elu(p0),
        7 => Activation::EluGrad(p0),
        8 => Activation::Gelu,
        9 => Activation::GeluGrad,
        10 => Activation::GeluTanh,
        11 => Activation::GeluTanhGrad,
        12 => Activation::Sigmoid,
        13 => Activation::SigmoidGrad,
        14 => Activation::Tanh,
        15 => Activation::TanhGrad,
        _ => {
            return Err(PyValueError::new_err(format!(
                "unknown family op code {kind}"
            )))
        }
    })
}

/// `family_float(kind, x, p0, p1)`: the op on one Python float.
#[pyfunction]
fn family_float(kind: u8, x: f64, p0: f64, p1: f64) -> PyResult<f64> {
    Ok(f64::apply(activation(kind, p0, p1)?, x))
}

macro_rules! family_arrays {
    ($name:ident, $inplace:ident, $prelu:ident, $prelu_inplace:ident, $t:ty) => {
        /// `out = op(x)` for a distinct `out` of the same shape.
        #[pyfunction]
        fn $name(
            py: Python<'_>,
            kind: u8,
            p0: f64,
            p1: f64,
            x: PyReadonlyArrayDyn<'_, $t>,
            mut out: PyReadwriteArrayDyn<'_, $t>,
        ) -> PyResult<()> {
            let op = activation(kind, p0 as $t, p1 as $t)?;
            let (x, y) = (x.as_array(), out.as_array_mut());
            run(py, 2 * x.len() * std::mem::size_of::<$t>(), || {
                k::activation_nd(op, x, y)
            })
            .map_err(shape_error)
        }

        /// `a = op(a)`.
        #[pyfunction]
        fn $inplace(
            py: Python<'_>,
            kind: u8,
            p0: f64,
            p1: f64,
            mut a: PyReadwriteArrayDyn<'_, $t>,
        ) -> PyResult<()> {
            let op = activation(kind, p0 as $t, p1 as $t)?;
            let y = a.as_array_mut();
            run(py, 2 * y.len() * std::mem::size_of::<$t>(), || {
                k::activation_nd_inplace(op, y)
            });
            Ok(())
        }

        /// `out = prelu(x, w)` (or its derivative with `grad`), channels on axis 1.
        #[pyfunction]
        fn $prelu(
            py: Python<'_>,
            x: PyReadonlyArrayDyn<'_, $t>,
            w: PyReadonlyArray1<'_, $t>,
            mut out: PyReadwriteArrayDyn<'_, $t>,
            grad: bool,
        ) -> PyResult<()> {
            let w = w.as_slice()?;
            let (x, y) = (x.as_array(), out.as_array_mut());
            run(py, 2 * x.len() * std::mem::size_of::<$t>(), || {
                k::prelu_nd(x, w, y, grad)
            })
            .map_err(shape_error)
        }

        /// `a = prelu(a, w)` (or its derivative) in place.
        #[pyfunction]
        fn $prelu_inplace(
            py: Python<'_>,
            mut a: PyReadwriteArrayDyn<'_, $t>,
            w: PyReadonlyArray1<'_, $t>,
            grad: bool,
        ) -> PyResult<()> {
            let w = w.as_slice()?;
            let y = a.as_array_mut();
            run(py, 2 * y.len() * std::mem::size_of::<$t>(), || {
                k::prelu_nd_inplace(y, w, grad)
            })
            .map_err(shape_error)
        }
    };
}

family_arrays!(
    family_f32,
    family_inplace_f32,
    prelu_f32,
    prelu_inplace_f32,
    f32
);
family_arrays!(
    family_f64,
    family_inplace_f64,
    prelu_f64,
    prelu_inplace_f64,
    f64
);

/// Adds the family's functions to the `relukit._native` module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(family_float, m)?)?;
    m.add_function(wrap_pyfunction!(family_f32, m)?)?;
    m.add_function(wrap_pyfunction!(family_f64, m)?)?;
    m.add_function(wrap_pyfunction!(family_inplace_f32, m)?)?;
    m.add_function(wrap_pyfunction!(family_inplace_f64, m)?)?;
    m.add_function(wrap_pyfunction!(prelu_f32, m)?)?;
    m.add_function(wrap_pyfunction!(prelu_f64, m)?)?;
    m.add_function(wrap_pyfunction!(prelu_inplace_f32, m)?)?;
    m.add_function(wrap_pyfunction!(prelu_inplace_f64, m)?)?;
    Ok(())
}
