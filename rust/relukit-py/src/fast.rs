//! The fast paths: the whole facade call in one native call for the inputs that need no
//! conversion, checked here on the raw NumPy fields ([`crate::ffi::numpy`]); anything else
//! gives `NotImplemented` without raising, and the facade takes the validated path, so every
//! error message still comes from `relukit/_validate.py`.
//!
//! What `relu_fast(x, out)` / `relu_grad_fast(x, out)` take (the acceptance spec every fast
//! path shares): `x` an exact `numpy.ndarray` (no subclass) of native float32/float64,
//! aligned, C- or Fortran-contiguous (any ndim, 0-d and empty too); `out` either `None` (the
//! result is allocated like `np.empty_like(x)`) or an exact, aligned, writeable ndarray of x's
//! dtype and shape, contiguous in the same order as `x`, which is `x` itself / starts at x's
//! data pointer (in place) or shares no byte with it. A Python `float`, or an `int` in int64,
//! with `out=None` goes to the scalar kernel. What they take gives the validated path's bits.
//!
//! `dense_fast(x, w, b)`: `relu(x @ w + b)` as a new array for exact, aligned, C-contiguous
//! ndarrays of one dtype, x (in,) or (batch, in), w (in, out), b (out,).

use numpy::npyffi::npy_intp;
use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyInt};
use relukit_kernels as k;

use crate::arrays::shape_error;
use crate::detach::{dense_bytes, elementwise_bytes, run};
use crate::ffi::numpy::{self as ffi, Element, Kind, Raw};

/// `Some` if `ob` is an exact, aligned ndarray of native float32/float64.
fn aligned<'a>(ob: &'a Bound<'_, PyAny>) -> Option<Raw<'a>> {
    ffi::exact(ob).filter(|r| r.aligned())
}

/// `y = op(x)` (or in place) on flat slices of equal length.
fn apply<T: k::Float>(op: k::elementwise::relu::Op, x: Option<&[T]>, y: &mut [T]) {
    match (op, x) {
        // The lengths are equal by construction, so the kernels cannot fail.
        (k::elementwise::relu::Op::Relu, Some(x)) => k::relu_slice(x, y).unwrap_or(()),
        (k::elementwise::relu::Op::Grad, Some(x)) => k::relu_grad_slice(x, y).unwrap_or(()),
        (k::elementwise::relu::Op::Relu, None) => k::relu_inplace(y),
        (k::elementwise::relu::Op::Grad, None) => k::relu_grad_inplace(y),
    }
}

/// `apply` on the raw arrays: out of place into `ya`, or in place on it.
///
/// # Safety
///
/// Both arrays hold T, are alive, aligned and contiguous in the same order with `len`
/// elements; `ya` is writeable; out of place they share no byte.
unsafe fn apply_raw<T: Element + k::Float>(
    py: Python<'_>,
    op: k::elementwise::relu::Op,
    xa: &Raw<'_>,
    ya: &Raw<'_>,
    inplace: bool,
) {
    let bytes = elementwise_bytes::<T>(xa.len);
    // SAFETY: per this function's contract; in place only the mutable slice is made.
    unsafe {
        let ys = ya.slice_mut::<T>();
        if inplace {
            run(py, bytes, || apply(op, None, ys));
        } else {
            let xs = xa.slice::<T>();
            run(py, bytes, || apply(op, Some(xs), ys));
        }
    }
}

/// The shared body of `relu_fast` and `relu_grad_fast`.
fn elementwise<'py>(
    py: Python<'py>,
    op: k::elementwise::relu::Op,
    x: &Bound<'py, PyAny>,
    out: &Bound<'py, PyAny>,
) -> PyResult<Py<PyAny>> {
    let Some(xa) = aligned(x) else {
        return Ok(scalar(py, op, x, out).unwrap_or_else(|| py.NotImplemented()));
    };
    let x_c = xa.c_contiguous();
    if !x_c && !xa.f_contiguous() {
        return Ok(py.NotImplemented());
    }
    let (result, inplace) = if out.is_none() {
        (ffi::empty_like(py, &xa)?, false)
    } else {
        let Some(ya) = aligned(out) else {
            return Ok(py.NotImplemented());
        };
        // Same dtype and shape, writeable, and the same flat order as x (both C- or both
        // F-contiguous: then element i of either sits i elements after its start).
        let same_order = if x_c {
            ya.c_contiguous()
        } else {
            ya.f_contiguous()
        };
        if ya.kind != xa.kind || ya.dims != xa.dims || !ya.writeable() || !same_order {
            return Ok(py.NotImplemented());
        }
        let inplace = ya.data == xa.data;
        if !inplace && xa.may_share(&ya) {
            return Ok(py.NotImplemented()); // partial overlap: the facade copies x first
        }
        (out.clone(), inplace)
    };
    if xa.len > 0 {
        let ya = ffi::exact(&result).expect("out or a fresh ndarray of x's dtype");
        // SAFETY: both arrays are alive (we hold references), aligned, contiguous in the same
        // order with `len` elements of the type `kind` says; out was checked writeable (a
        // fresh array is); out of place they share no byte.
        unsafe {
            match xa.kind {
                Kind::F32 => apply_raw::<f32>(py, op, &xa, &ya, inplace),
                Kind::F64 => apply_raw::<f64>(py, op, &xa, &ya, inplace),
            }
        }
    }
    Ok(result.unbind())
}

/// A Python `float`, or an `int` in int64, with `out=None`: the scalar kernel. `None` for
/// anything else (including bool, ints beyond int64 and NumPy scalars).
fn scalar<'py>(
    py: Python<'py>,
    op: k::elementwise::relu::Op,
    x: &Bound<'py, PyAny>,
    out: &Bound<'py, PyAny>,
) -> Option<Py<PyAny>> {
    if !out.is_none() {
        return None;
    }
    if let Ok(f) = x.cast_exact::<PyFloat>() {
        let v = f.value();
        let r = match op {
            k::elementwise::relu::Op::Relu => k::Float::relu(v),
            k::elementwise::relu::Op::Grad => k::Float::relu_grad(v),
        };
        return Some(PyFloat::new(py, r).into_any().unbind());
    }
    if x.is_exact_instance_of::<PyInt>() {
        let v: i64 = x.extract().ok()?; // beyond int64: the validated path raises
        let r = match op {
            k::elementwise::relu::Op::Relu => k::relu_i64(v),
            k::elementwise::relu::Op::Grad => k::relu_grad_i64(v),
        };
        return Some(r.into_pyobject(py).ok()?.into_any().unbind());
    }
    None
}

/// `relu_fast(x, out)`: the facade's `relu` in one call, or `NotImplemented`.
#[pyfunction]
fn relu_fast<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    out: &Bound<'py, PyAny>,
) -> PyResult<Py<PyAny>> {
    elementwise(py, k::elementwise::relu::Op::Relu, x, out)
}

/// `relu_grad_fast(x, out)`: the facade's `relu_grad` in one call, or `NotImplemented`.
#[pyfunction]
fn relu_grad_fast<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    out: &Bound<'py, PyAny>,
) -> PyResult<Py<PyAny>> {
    elementwise(py, k::elementwise::relu::Op::Grad, x, out)
}

/// `relu(x @ w + b)` for the checked raw arrays of one element type, as a new array of shape
/// `(out,)` or `(batch, out)`.
fn dense_typed<T>(py: Python<'_>, xa: &Raw<'_>, wa: &Raw<'_>, ba: &Raw<'_>) -> PyResult<Py<PyAny>>
where
    T: Element + k::MatFloat,
{
    let (inp, n_out) = (wa.dims[0] as usize, wa.dims[1] as usize);
    let batch = if xa.dims.len() == 1 {
        1
    } else {
        xa.dims[0] as usize
    };
    let shape: &[_] = if xa.dims.len() == 1 {
        &wa.dims[1..]
    } else {
        &[xa.dims[0], wa.dims[1]]
    };
    let y = ffi::empty(py, T::KIND, shape, false)?;
    let ya = ffi::exact(&y).expect("a fresh ndarray");
    // SAFETY: the inputs are alive, aligned, C-contiguous arrays of T (checked by the caller);
    // the output is our own fresh array, which nothing else can reach; the kernel checks the
    // lengths against the shapes.
    let (xs, ws, bs, ys) = unsafe {
        (
            xa.slice::<T>(),
            wa.slice::<T>(),
            ba.slice::<T>(),
            ya.slice_mut::<T>(),
        )
    };
    run(py, dense_bytes::<T>(batch, inp, n_out), || {
        k::dense_forward(xs, ws, bs, ys, batch, inp, n_out)
    })
    .map_err(shape_error)?;
    Ok(y.unbind())
}

/// `dense_fast(x, w, b, shape=None)`: `relu(x @ w + b)` as a new array, or `NotImplemented`
/// unless x is an exact ndarray of w's dtype, shape (in,) or (batch, in), and all three are
/// aligned, C-contiguous exact ndarrays with w (in, out) and b (out,) -- and w of `shape`
/// when given: a layer passes its own, so an array reshaped in place since it was assigned is
/// declined here and refused by the layer's checks on the validated path.
#[pyfunction]
#[pyo3(signature = (x, w, b, shape=None))]
fn dense_fast<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    w: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    shape: Option<(npy_intp, npy_intp)>,
) -> PyResult<Py<PyAny>> {
    let (Some(xa), Some(wa), Some(ba)) = (aligned(x), aligned(w), aligned(b)) else {
        return Ok(py.NotImplemented());
    };
    let fits = xa.kind == wa.kind
        && ba.kind == wa.kind
        && xa.c_contiguous()
        && wa.c_contiguous()
        && ba.c_contiguous()
        && wa.dims.len() == 2
        && shape.is_none_or(|s| (wa.dims[0], wa.dims[1]) == s)
        && ba.dims.len() == 1
        && ba.dims[0] == wa.dims[1]
        && matches!(xa.dims.len(), 1 | 2)
        && xa.dims[xa.dims.len() - 1] == wa.dims[0];
    if !fits {
        return Ok(py.NotImplemented());
    }
    match wa.kind {
        Kind::F32 => dense_typed::<f32>(py, &xa, &wa, &ba),
        Kind::F64 => dense_typed::<f64>(py, &xa, &wa, &ba),
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(relu_fast, m)?)?;
    m.add_function(wrap_pyfunction!(relu_grad_fast, m)?)?;
    m.add_function(wrap_pyfunction!(dense_fast, m)?)?;
    Ok(())
}
