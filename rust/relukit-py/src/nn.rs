//! Bindings for `relukit.nn`: the affine layer forward pass and the dense backward pass
//! (`relukit_kernels::dense`).
//!
//! `linear_forward(x, w, b, out)`: out = x @ w + b.
//! `affine_forward(x, w, b, out, activation, params)`: out = act(x @ w + b), act fused into
//! the product (`None`, `"relu"` or a kernel name of `relukit.ops.KERNELS`).
//! `dense_backward(x, w, dy, dx, dw, db)`: dx = dy @ w.T, dw = x.T @ dy, db = dy.sum(0); any
//! of dx, dw, db may be None (not computed).
//! Float arrays of one dtype, x (batch, in), w (in, out), b (out,), dy and out (batch, out);
//! a shape that does not fit is a ValueError. Any layout: an input that is not one aligned
//! C-ordered run (a transposed weight, say) is read from a C-ordered copy, and an output laid
//! out otherwise is computed into a fresh array assigned to it after (see
//! [`crate::arrays`]). Large problems release the GIL.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use relukit_kernels::{self as k, Activation, MatFloat};

use crate::arrays::{check_shape, operand, shape_error, CInput, COutput};
use crate::detach::{dense_bytes, matmul_bytes, run};
use crate::ffi::numpy::{Element, Kind, Raw};

/// What a forward pass applies to `x @ w + b`.
#[derive(Clone, Copy)]
pub(crate) enum Act<'n> {
    /// Nothing (`linear_forward`).
    Identity,
    /// relu (`dense_forward`, `affine_forward(..., "relu", ())`).
    Relu,
    /// relu's derivative, applied to the finished product (it has no fused form).
    ReluGrad,
    /// An op of the activation table by name, with its two parameters.
    Op(&'n str, f64, f64),
}

/// The forward passes' shared binding: checks `x` (batch, in), `w` (in, out), `b` (out,) and
/// `out` (batch, out) of one float dtype, then computes `out = act(x @ w + b)` in the GEMM's
/// epilogue.
pub(crate) fn forward(
    py: Python<'_>,
    [x, w, b, out]: [&Bound<'_, PyAny>; 4],
    act: Act<'_>,
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
        Kind::F32 => forward_typed::<f32>(py, [&xa, &wa, &ba], &ya, dims, act),
        Kind::F64 => forward_typed::<f64>(py, [&xa, &wa, &ba], &ya, dims, act),
    }
}

/// `name` resolved to an op of the activation table, or a ValueError naming it.
fn resolve<T: Copy>(name: &str, p0: T, p1: T) -> PyResult<Activation<T>> {
    Activation::from_name(name, p0, p1).ok_or_else(|| {
        let mut known = vec!["relu", "relu_grad"];
        known.extend(Activation::<f64>::NAMES.iter().copied());
        PyValueError::new_err(format!(
            "relukit: the Rust backend has no activation named {name:?} (it has: {})",
            known.join(", ")
        ))
    })
}

fn forward_typed<T: Element + MatFloat>(
    py: Python<'_>,
    [xa, wa, ba]: [&Raw<'_>; 3],
    ya: &Raw<'_>,
    (batch, inp, n_out): (usize, usize, usize),
    act: Act<'_>,
) -> PyResult<()> {
    // resolve the op before touching anything
    let op = match act {
        Act::Op(name, p0, p1) => Some(resolve(name, T::from_param(p0), T::from_param(p1))?),
        _ => None,
    };
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
    run(py, dense_bytes::<T>(batch, inp, n_out), || match act {
        Act::Relu => k::dense_forward(xs, ws, bs, ys, batch, inp, n_out),
        Act::ReluGrad => k::linear_forward(xs, ws, bs, ys, batch, inp, n_out).map(|()| {
            k::relu_grad_inplace(ys);
        }),
        _ => k::dense::affine_forward(xs, ws, bs, ys, batch, inp, n_out, op),
    })
    .map_err(shape_error)?;
    y.finish(py)
}

/// `linear_forward(x, w, b, out)`: `out = x @ w + b`.
#[pyfunction]
fn linear_forward(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    w: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    out: &Bound<'_, PyAny>,
) -> PyResult<()> {
    forward(py, [x, w, b, out], Act::Identity)
}

/// `affine_forward(x, w, b, out, activation, params)`: `out = act(x @ w + b)`, the activation
/// applied to each finished tile of the product (the same bits as applying it after).
/// `activation` is `None` (the identity), `"relu"` or a kernel name of `relukit.ops.KERNELS`
/// (`ValueError` naming any other; `"relu_grad"` is applied after the product, not fused);
/// `params` its float parameters in the op table's order.
#[pyfunction]
#[pyo3(signature = (x, w, b, out, activation, params))]
fn affine_forward(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    w: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    out: &Bound<'_, PyAny>,
    activation: Option<&str>,
    params: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let params: Vec<f64> = params.extract()?;
    if params.len() > 2 {
        return Err(PyTypeError::new_err(format!(
            "relukit: affine_forward takes at most 2 activation parameters, got {}",
            params.len()
        )));
    }
    let get = |i: usize| params.get(i).copied().unwrap_or(0.0);
    let act = match activation {
        None => Act::Identity,
        Some("relu") => Act::Relu,
        Some("relu_grad") => Act::ReluGrad,
        Some(name) => {
            // unknown names are a ValueError whatever the dtype
            resolve(name, 0.0f64, 0.0)?;
            Act::Op(name, get(0), get(1))
        }
    };
    forward(py, [x, w, b, out], act)
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
    m.add_function(wrap_pyfunction!(affine_forward, m)?)?;
    m.add_function(wrap_pyfunction!(dense_backward, m)?)?;
    Ok(())
}
