//! The validated path: what `relukit/backends/rust.py` registers as the backend protocol's
//! `<kernel>_float`, `<kernel>_array`, `relu_int`, `relu_grad_int`, `prelu_array`,
//! `prelu_grad_array` and `dense_forward` (the facade has checked the arguments with
//! `relukit._validate`; the checks here keep a direct call safe and say what is wrong).
//!
//! The elementwise kernels are taken by name: `ElementwiseKernel(name, n_params)` resolves
//! one of [`kernel_names`] once (`ValueError` for any other name), and its bound methods
//! `scalar(x, *params)` and `array(x, out, *params)` are the backend's functions. The arrays
//! are read through [`crate::ffi::numpy`] (no borrow tracking; see there why that is sound),
//! in any layout, by the rules of [`crate::arrays`].

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use relukit_kernels as k;
use relukit_kernels::{Activation, ActivationFloat};

use crate::arrays::{elementwise_args, map_into, operand, CInput};
use crate::ffi::numpy::{Element, Kind, Raw};

/// The elementwise kernels of the Rust backend: relu's two, then the activation table's.
fn names() -> impl Iterator<Item = &'static str> {
    ["relu", "relu_grad"]
        .into_iter()
        .chain(Activation::<f64>::NAMES.iter().copied())
}

/// `kernel_names()`: every name `ElementwiseKernel` takes.
#[pyfunction]
fn kernel_names() -> Vec<&'static str> {
    names().collect()
}

/// Which kernel an `ElementwiseKernel` runs.
#[derive(Clone, Copy)]
enum Op {
    Relu,
    ReluGrad,
    /// One of `Activation::NAMES`.
    Activation(&'static str),
}

/// One elementwise kernel, resolved by name once: `ElementwiseKernel("leaky_relu", 1)`.
/// `n_params` is how many float parameters the backend protocol passes after `x` (and `out`).
#[pyclass(frozen, module = "relukit._native")]
struct ElementwiseKernel {
    op: Op,
    name: &'static str,
    n_params: usize,
}

impl ElementwiseKernel {
    /// The parameters as two floats (missing ones 0.0; kernels ignore what they do not use).
    fn params(&self, params: &Bound<'_, PyTuple>, form: &str) -> PyResult<(f64, f64)> {
        if params.len() != self.n_params {
            return Err(PyTypeError::new_err(format!(
                "relukit: {}_{form} takes {} parameter(s), got {}",
                self.name,
                self.n_params,
                params.len()
            )));
        }
        let get = |i: usize| -> PyResult<f64> {
            if i < params.len() {
                params.get_item(i)?.extract()
            } else {
                Ok(0.0)
            }
        };
        Ok((get(0)?, get(1)?))
    }

    fn activation<T: Copy>(name: &'static str, p0: T, p1: T) -> PyResult<Activation<T>> {
        Activation::from_name(name, p0, p1).ok_or_else(|| unknown(name))
    }

    fn array_typed<T: Element + ActivationFloat>(
        &self,
        py: Python<'_>,
        xa: &Raw<'_>,
        ya: &Raw<'_>,
        (p0, p1): (f64, f64),
    ) -> PyResult<()> {
        match self.op {
            Op::Relu => map_into::<T>(
                py,
                xa,
                ya,
                |x, y| k::relu_nd(x, y),
                |y| {
                    k::relu_nd_inplace(y);
                    Ok(())
                },
            ),
            Op::ReluGrad => map_into::<T>(
                py,
                xa,
                ya,
                |x, y| k::relu_grad_nd(x, y),
                |y| {
                    k::relu_grad_nd_inplace(y);
                    Ok(())
                },
            ),
            Op::Activation(name) => {
                let op = Self::activation(name, T::from_param(p0), T::from_param(p1))?;
                map_into::<T>(
                    py,
                    xa,
                    ya,
                    |x, y| k::activation_nd(op, x, y),
                    |y| {
                        k::activation_nd_inplace(op, y);
                        Ok(())
                    },
                )
            }
        }
    }
}

fn unknown(name: &str) -> PyErr {
    let known: Vec<&str> = names().collect();
    PyValueError::new_err(format!(
        "relukit: the Rust backend has no elementwise kernel named {name:?} (it has: {})",
        known.join(", ")
    ))
}

#[pymethods]
impl ElementwiseKernel {
    #[new]
    fn new(name: &str, n_params: usize) -> PyResult<Self> {
        let Some(found) = names().find(|&n| n == name) else {
            return Err(unknown(name));
        };
        if n_params > 2 {
            return Err(PyValueError::new_err(format!(
                "relukit: the Rust kernels take at most 2 parameters, {name:?} was given \
                 {n_params}"
            )));
        }
        let op = match found {
            "relu" => Op::Relu,
            "relu_grad" => Op::ReluGrad,
            other => Op::Activation(other),
        };
        Ok(ElementwiseKernel {
            op,
            name: found,
            n_params,
        })
    }

    /// The kernel's name.
    #[getter]
    fn name(&self) -> &'static str {
        self.name
    }

    /// How many parameters it takes after `x` (and `out`).
    #[getter]
    fn n_params(&self) -> usize {
        self.n_params
    }

    /// `scalar(x, *params)`: the kernel on one Python float.
    #[pyo3(signature = (x, *params))]
    fn scalar(&self, x: f64, params: &Bound<'_, PyTuple>) -> PyResult<f64> {
        let (p0, p1) = self.params(params, "float")?;
        Ok(match self.op {
            Op::Relu => k::Float::relu(x),
            Op::ReluGrad => k::Float::relu_grad(x),
            Op::Activation(name) => f64::apply(Self::activation(name, p0, p1)?, x),
        })
    }

    /// `array(x, out, *params)`: `out = kernel(x)` for float arrays of one dtype and shape,
    /// any layout, `out` writeable; in place when `out` names x's elements; any other overlap
    /// as NumPy's ufuncs (the result as if x were read first).
    #[pyo3(signature = (x, out, *params))]
    fn array(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        out: &Bound<'_, PyAny>,
        params: &Bound<'_, PyTuple>,
    ) -> PyResult<()> {
        let p = self.params(params, "array")?;
        let (xa, ya) = elementwise_args(x, out)?;
        if xa.len == 0 {
            return Ok(());
        }
        match xa.kind {
            Kind::F32 => self.array_typed::<f32>(py, &xa, &ya, p),
            Kind::F64 => self.array_typed::<f64>(py, &xa, &ya, p),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "ElementwiseKernel({:?}, n_params={})",
            self.name, self.n_params
        )
    }
}

#[pyfunction]
fn relu_int(x: i64) -> i64 {
    k::relu_i64(x)
}

#[pyfunction]
fn relu_grad_int(x: i64) -> i64 {
    k::relu_grad_i64(x)
}

/// PReLU (or its derivative with `grad`), channels on axis 1 of `x` (ndim >= 2).
fn prelu(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    out: &Bound<'_, PyAny>,
    weight: &Bound<'_, PyAny>,
    grad: bool,
) -> PyResult<()> {
    let (xa, ya) = elementwise_args(x, out)?;
    let wa = operand(weight, "weight", Some(xa.kind), 1)?;
    if xa.dims.len() < 2 || xa.dims[1] != wa.dims[0] {
        return Err(PyValueError::new_err(format!(
            "relukit: prelu needs x of ndim >= 2 with x.shape[1] == the weight's length; got \
             shape {} and {} weights",
            crate::arrays::fmt_shape(xa.dims),
            wa.dims[0]
        )));
    }
    if xa.len == 0 {
        return Ok(());
    }
    let w = CInput::new(py, &wa, &[&ya])?;
    match xa.kind {
        Kind::F32 => prelu_typed::<f32>(py, &xa, &ya, &w, grad),
        Kind::F64 => prelu_typed::<f64>(py, &xa, &ya, &w, grad),
    }
}

fn prelu_typed<T: Element + ActivationFloat>(
    py: Python<'_>,
    xa: &Raw<'_>,
    ya: &Raw<'_>,
    w: &CInput<'_>,
    grad: bool,
) -> PyResult<()> {
    // SAFETY: the weight holds T (checked by `operand`), stays alive (the caller's reference
    // or w's copy) and shares no byte with out, the only array written.
    let w: &[T] = unsafe { w.slice() };
    map_into::<T>(
        py,
        xa,
        ya,
        |x, y| k::prelu_nd(x, w, y, grad),
        |y| k::prelu_nd_inplace(y, w, grad),
    )
}

/// `prelu_array(x, out, weight)`: `out = prelu(x, weight)`, `weight[c]` the slope of channel
/// `c` (axis 1).
#[pyfunction]
fn prelu_array(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    out: &Bound<'_, PyAny>,
    weight: &Bound<'_, PyAny>,
) -> PyResult<()> {
    prelu(py, x, out, weight, false)
}

/// `prelu_grad_array(x, out, weight)`: its derivative with respect to x.
#[pyfunction]
fn prelu_grad_array(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    out: &Bound<'_, PyAny>,
    weight: &Bound<'_, PyAny>,
) -> PyResult<()> {
    prelu(py, x, out, weight, true)
}

/// `dense_forward(x, w, b, out)`: `out = relu(x @ w + b)` for float arrays of one dtype,
/// x (batch, in), w (in, out), b (out,), out (batch, out), any layout (see
/// [`crate::arrays`]); `ValueError` for shapes that do not fit. The same binding as
/// `linear_forward` and `affine_forward` ([`crate::nn::forward`]) with relu fused.
#[pyfunction]
fn dense_forward(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    w: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    out: &Bound<'_, PyAny>,
) -> PyResult<()> {
    crate::nn::forward(py, [x, w, b, out], crate::nn::Act::Relu)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ElementwiseKernel>()?;
    m.add_function(wrap_pyfunction!(kernel_names, m)?)?;
    m.add_function(wrap_pyfunction!(relu_int, m)?)?;
    m.add_function(wrap_pyfunction!(relu_grad_int, m)?)?;
    m.add_function(wrap_pyfunction!(prelu_array, m)?)?;
    m.add_function(wrap_pyfunction!(prelu_grad_array, m)?)?;
    m.add_function(wrap_pyfunction!(dense_forward, m)?)?;
    Ok(())
}
