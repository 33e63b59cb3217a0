//! Bindings for `relukit.nn`: the affine layer forward pass and the dense backward pass
//! (`relukit_kernels::dense_backward`).
//!
//! `linear_forward_<dtype>(x, w, b, out)`: out = x @ w + b.
//! `dense_backward_<dtype>(x, w, dy, dx, dw, db)`: dx = dy @ w.T, dw = x.T @ dy,
//! db = dy.sum(0); any of dx, dw, db may be None (not computed).
//! All arrays C-contiguous, of one dtype; the 2-D shapes are checked here (the kernel checks
//! the buffer lengths again), a mismatch raises ValueError. Large problems release the GIL.

use numpy::{
    PyReadonlyArray1, PyReadonlyArray2, PyReadwriteArray1, PyReadwriteArray2, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use relukit_kernels::dense_backward as k;

/// `Err(ValueError)` unless `got == want`.
fn check_shape(name: &str, got: &[usize], want: &[usize]) -> PyResult<()> {
    if got == want {
        Ok(())
    } else {
        Err(PyValueError::new_err(format!(
            "{name} has shape {got:?}, expected {want:?}"
        )))
    }
}

macro_rules! linear_forward {
    ($name:ident, $t:ty) => {
        #[pyfunction]
        fn $name(
            py: Python<'_>,
            x: PyReadonlyArray2<'_, $t>,
            w: PyReadonlyArray2<'_, $t>,
            b: PyReadonlyArray1<'_, $t>,
            mut out: PyReadwriteArray2<'_, $t>,
        ) -> PyResult<()> {
            let (batch, inp) = x.as_array().dim();
            let n_out = w.as_array().dim().1;
            check_shape("w", w.shape(), &[inp, n_out])?;
            check_shape("b", b.shape(), &[n_out])?;
            check_shape("out", out.shape(), &[batch, n_out])?;
            let (xs, ws, bs) = (x.as_slice()?, w.as_slice()?, b.as_slice()?);
            let ys = out.as_slice_mut()?;
            let work = batch.saturating_mul(n_out).saturating_mul(inp.max(1));
            crate::run(py, work.saturating_mul(std::mem::size_of::<$t>()), || {
                k::linear_forward(xs, ws, bs, ys, batch, inp, n_out)
            })
            .map_err(crate::shape_error)
        }
    };
}

macro_rules! dense_backward {
    ($name:ident, $t:ty) => {
        #[pyfunction]
        #[pyo3(signature = (x, w, dy, dx, dw, db))]
        fn $name(
            py: Python<'_>,
            x: PyReadonlyArray2<'_, $t>,
            w: PyReadonlyArray2<'_, $t>,
            dy: PyReadonlyArray2<'_, $t>,
            mut dx: Option<PyReadwriteArray2<'_, $t>>,
            mut dw: Option<PyReadwriteArray2<'_, $t>>,
            mut db: Option<PyReadwriteArray1<'_, $t>>,
        ) -> PyResult<()> {
            let (batch, inp) = x.as_array().dim();
            let n_out = w.as_array().dim().1;
            check_shape("w", w.shape(), &[inp, n_out])?;
            check_shape("dy", dy.shape(), &[batch, n_out])?;
            if let Some(a) = &dx {
                check_shape("dx", a.shape(), &[batch, inp])?;
            }
            if let Some(a) = &dw {
                check_shape("dw", a.shape(), &[inp, n_out])?;
            }
            if let Some(a) = &db {
                check_shape("db", a.shape(), &[n_out])?;
            }
            let (xs, ws, dys) = (x.as_slice()?, w.as_slice()?, dy.as_slice()?);
            let dxs = dx.as_mut().map(|a| a.as_slice_mut()).transpose()?;
            let dws = dw.as_mut().map(|a| a.as_slice_mut()).transpose()?;
            let dbs = db.as_mut().map(|a| a.as_slice_mut()).transpose()?;
            let work = batch.saturating_mul(n_out).saturating_mul(inp.max(1));
            crate::run(py, work.saturating_mul(std::mem::size_of::<$t>()), || {
                k::dense_backward(xs, ws, dys, dxs, dws, dbs, batch, inp, n_out)
            })
            .map_err(crate::shape_error)
        }
    };
}

linear_forward!(linear_forward_f32, f32);
linear_forward!(linear_forward_f64, f64);
dense_backward!(dense_backward_f32, f32);
dense_backward!(dense_backward_f64, f64);

/// Add this module's functions to `relukit._native`.
pub fn register(m: &Bound<PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(linear_forward_f32, m)?)?;
    m.add_function(wrap_pyfunction!(linear_forward_f64, m)?)?;
    m.add_function(wrap_pyfunction!(dense_backward_f32, m)?)?;
    m.add_function(wrap_pyfunction!(dense_backward_f64, m)?)?;
    Ok(())
}
