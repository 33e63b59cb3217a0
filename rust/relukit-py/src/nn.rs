//! Bindings for `relukit.nn`: the affine layer forward pass and the dense backward pass
//! (`relukit_kernels::dense`).
//!
//! `linear_forward(x, w, b, out)`: out = x @ w + b.
//! `dense_backward(x, w, dy, dx, dw, db)`: dx = dy @ w.T, dw = x.T @ dy, db = dy.sum(0); any
//! of dx, dw, db may be None (not computed).
//! Float arrays of one dtype, x (batch, in), w (in, out), b (out,), dy and out (batch, out);
//! a shape that does not fit is a ValueError. Any layout: an input that is not one aligned
//! C-ordered run (a transposed weight, say) is read from a C-ordered copy, and an output laid
//! out otherwise is computed into a fresh array assigned to it after (see
//! [`crate::arrays`]). Large problems release the GIL.

use pyo3::prelude::*;
use relukit_kernels::{self as k, MatFloat};

use crate::arrays::{check_shape, operand, shape_error, CInput, COutput};
use crate::detach::{matmul_bytes, run};
use crate::ffi::numpy::{Element, Kind, Raw};

/// `linear_forward(x, w, b, out)`: `out = x @ w + b`.
#[pyfunction]
fn linear_forward(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    w: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    out: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let xa = operand(x, "x", None, 2)?;
    let wa = operand(w, "w", Some(xa.kind), 2)?;
    let ba = operand(b, "b", Some(xa.kind), 1)?;
    let ya = operand(out, "out", Some(xa.kind), 2)?;
    let (batch, inp, n_out) = (xa.dims[0], xa.dims[1], wa.dims[1]);
    check_shape(&wa, "w", &[inp, n_out])?;
    check_shape(&ba, "b", &[n_out])?;
    check_shape(&ya, "out", &[batch, n_out])?;
    let dims = (batch as usize, inp as usize, n_out as usize);
    match xa.kind {
        Kind::F32 => linear_typed::<f32>(py, [&xa, &wa, &ba], &ya, dims),
        Kind::F64 => linear_typed::<f64>(py, [&xa, &wa, &ba], &ya, dims),
    }
}

fn linear_typed<T: Element + MatFloat>(
    py: Python<'_>,
    [xa, wa, ba]: [&Raw<'_>; 3],
    ya: &Raw<'_>,
    (batch, inp, n_out): (usize, usize, usize),
) -> PyResult<()> {
    let (x, w, b) = (
        CInput::new(py, xa, &[])?,
        CInput::new(py, wa, &[])?,
        CInput::new(py, ba, &[])?,
    );
    let y = COutput::new(py, ya, "out", &[xa, wa, ba])?;
    // SAFETY: every argument holds T (checked by `operand`) and stays alive for the call; the
    // output shares no byte with the inputs (COutput::new) and is the only slice written.
    let (xs, ws, bs, ys) = unsafe {
        (
            x.slice::<T>(),
            w.slice::<T>(),
            b.slice::<T>(),
            y.slice_mut::<T>(),
        )
    };
    run(py, matmul_bytes::<T>(batch, inp, n_out), || {
        k::linear_forward(xs, ws, bs, ys, batch, inp, n_out)
    })
    .map_err(shape_error)?;
    y.finish(py)
}

/// `dense_backward(x, w, dy, dx, dw, db)`: the gradients of `x @ w + b` given `dy`, each
/// written over its array (`None`: not computed).
#[pyfunction]
#[pyo3(signature = (x, w, dy, dx, dw, db))]
fn dense_backward(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    w: &Bound<'_, PyAny>,
    dy: &Bound<'_, PyAny>,
    dx: Option<&Bound<'_, PyAny>>,
    dw: Option<&Bound<'_, PyAny>>,
    db: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let xa = operand(x, "x", None, 2)?;
    let kind = Some(xa.kind);
    let wa = operand(w, "w", kind, 2)?;
    let dya = operand(dy, "dy", kind, 2)?;
    let (batch, inp, n_out) = (xa.dims[0], xa.dims[1], wa.dims[1]);
    check_shape(&wa, "w", &[inp, n_out])?;
    check_shape(&dya, "dy", &[batch, n_out])?;
    let dxa = dx.map(|a| operand(a, "dx", kind, 2)).transpose()?;
    let dwa = dw.map(|a| operand(a, "dw", kind, 2)).transpose()?;
    let dba = db.map(|a| operand(a, "db", kind, 1)).transpose()?;
    if let Some(a) = &dxa {
        check_shape(a, "dx", &[batch, inp])?;
    }
    if let Some(a) = &dwa {
        check_shape(a, "dw", &[inp, n_out])?;
    }
    if let Some(a) = &dba {
        check_shape(a, "db", &[n_out])?;
    }
    let args = Backward {
        inputs: [&xa, &wa, &dya],
        outputs: [dxa.as_ref(), dwa.as_ref(), dba.as_ref()],
        dims: (batch as usize, inp as usize, n_out as usize),
    };
    match xa.kind {
        Kind::F32 => backward_typed::<f32>(py, &args),
        Kind::F64 => backward_typed::<f64>(py, &args),
    }
}

/// The checked arguments of `dense_backward`.
struct Backward<'r, 'a> {
    inputs: [&'r Raw<'a>; 3],
    outputs: [Option<&'r Raw<'a>>; 3],
    dims: (usize, usize, usize),
}

fn backward_typed<T: Element + MatFloat>(py: Python<'_>, args: &Backward<'_, '_>) -> PyResult<()> {
    let [xa, wa, dya] = args.inputs;
    let (batch, inp, n_out) = args.dims;
    let (x, w, dy) = (
        CInput::new(py, xa, &[])?,
        CInput::new(py, wa, &[])?,
        CInput::new(py, dya, &[])?,
    );
    // Each output avoids the inputs and the other outputs.
    let mut all: Vec<&Raw<'_>> = args.inputs.to_vec();
    all.extend(args.outputs.iter().flatten().copied());
    let output = |i: usize, what: &str| -> PyResult<Option<COutput<'_>>> {
        let Some(raw) = args.outputs[i] else {
            return Ok(None);
        };
        let others: Vec<&Raw<'_>> = all
            .iter()
            .copied()
            .filter(|o| !std::ptr::eq(*o, raw))
            .collect();
        COutput::new(py, raw, what, &others).map(Some)
    };
    let (dx, dw, db) = (output(0, "dx")?, output(1, "dw")?, output(2, "db")?);
    // SAFETY: every argument holds T (checked by `operand`) and stays alive for the call; each
    // output shares no byte with the inputs or the other outputs (COutput::new), and one
    // slice is made per output.
    let (xs, ws, dys, dxs, dws, dbs) = unsafe {
        (
            x.slice::<T>(),
            w.slice::<T>(),
            dy.slice::<T>(),
            dx.as_ref().map(|o| o.slice_mut::<T>()),
            dw.as_ref().map(|o| o.slice_mut::<T>()),
            db.as_ref().map(|o| o.slice_mut::<T>()),
        )
    };
    run(py, matmul_bytes::<T>(batch, inp, n_out), || {
        k::dense_backward(xs, ws, dys, dxs, dws, dbs, batch, inp, n_out)
    })
    .map_err(shape_error)?;
    for o in [dx, dw, db].into_iter().flatten() {
        o.finish(py)?;
    }
    Ok(())
}

/// Adds this module's functions to `relukit._native`.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(linear_forward, m)?)?;
    m.add_function(wrap_pyfunction!(dense_backward, m)?)?;
    Ok(())
}
