//! The bindings' argument rules, on top of [`crate::ffi::numpy`]: which arrays a validated
//! call takes (with the exception that names the problem otherwise), and how each is read or
//! written so that no kernel ever reads the wrong bytes:
//!
//! * elementwise calls ([`map_into`]) take any layout and follow NumPy's ufunc overlap rules:
//!   the result is as if each element were computed once from the input as it was before the
//!   call, whatever the views (in place, a reversed view, a zero-stride or otherwise
//!   self-overlapping `out`, unaligned data);
//! * matrix calls take one aligned C-ordered run per argument: an input laid out otherwise
//!   (Fortran order, a transposed view, strided, unaligned) is read from a C-ordered copy
//!   ([`CInput`]), an output laid out otherwise, or sharing bytes with an input, is computed
//!   into a fresh array and assigned to it after ([`COutput`]).

use numpy::ndarray::{ArrayViewD, ArrayViewMutD};
use numpy::npyffi::{self, npy_intp};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use relukit_kernels::ShapeError;

use crate::detach::{elementwise_bytes, run};
use crate::ffi::numpy::{self as ffi, Element, Kind, Raw, Refused};

/// A kernel's shape error as a Python `ValueError`.
pub(crate) fn shape_error(e: ShapeError) -> PyErr {
    PyValueError::new_err(e.0)
}

/// A shape as Python prints a tuple: `()`, `(3,)`, `(2, 3)`.
pub(crate) fn fmt_shape(dims: &[npy_intp]) -> String {
    match dims {
        [d] => format!("({d},)"),
        _ => {
            let parts: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
            format!("({})", parts.join(", "))
        }
    }
}

/// `ob` as an ndarray of native float32/float64 (any layout); `TypeError` otherwise.
pub(crate) fn float_array<'a>(ob: &'a Bound<'_, PyAny>, what: &str) -> PyResult<Raw<'a>> {
    match ffi::array(ob) {
        Ok(raw) => Ok(raw),
        Err(Refused::NotArray) => Err(PyTypeError::new_err(format!(
            "relukit: {what} must be a NumPy array, got {}",
            ob.get_type().name()?
        ))),
        Err(Refused::Dtype) => Err(PyTypeError::new_err(format!(
            "relukit: {what} has dtype {}; the Rust kernels take native float32 or float64",
            ob.getattr("dtype")?.str()?
        ))),
    }
}

/// A matrix call's argument: a float array of `ndim` dimensions and, if given, `kind`.
pub(crate) fn operand<'a>(
    ob: &'a Bound<'_, PyAny>,
    what: &str,
    kind: Option<Kind>,
    ndim: usize,
) -> PyResult<Raw<'a>> {
    let raw = float_array(ob, what)?;
    if let Some(kind) = kind {
        same_kind(&raw, what, kind)?;
    }
    if raw.dims.len() != ndim {
        return Err(PyValueError::new_err(format!(
            "relukit: {what} must be {ndim}-D, got shape {}",
            fmt_shape(raw.dims)
        )));
    }
    Ok(raw)
}

/// `TypeError` unless `raw` holds `kind`.
pub(crate) fn same_kind(raw: &Raw<'_>, what: &str, kind: Kind) -> PyResult<()> {
    if raw.kind == kind {
        return Ok(());
    }
    Err(PyTypeError::new_err(format!(
        "relukit: {what} has dtype {}, the input has {}",
        raw.kind.name(),
        kind.name()
    )))
}

/// `ValueError` unless `raw` has shape `want`.
pub(crate) fn check_shape(raw: &Raw<'_>, what: &str, want: &[npy_intp]) -> PyResult<()> {
    if raw.dims == want {
        return Ok(());
    }
    Err(PyValueError::new_err(format!(
        "relukit: {what} has shape {}, expected {}",
        fmt_shape(raw.dims),
        fmt_shape(want)
    )))
}

/// `ValueError` unless `raw` is writeable.
pub(crate) fn check_writeable(raw: &Raw<'_>, what: &str) -> PyResult<()> {
    if raw.writeable() {
        return Ok(());
    }
    Err(PyValueError::new_err(format!(
        "relukit: {what} is read-only (not writeable)"
    )))
}

/// The arguments of an elementwise call: `x` and `out` float arrays of one dtype and shape,
/// `out` writeable.
pub(crate) fn elementwise_args<'a>(
    x: &'a Bound<'_, PyAny>,
    out: &'a Bound<'_, PyAny>,
) -> PyResult<(Raw<'a>, Raw<'a>)> {
    let xa = float_array(x, "x")?;
    let ya = float_array(out, "out")?;
    same_kind(&ya, "out", xa.kind)?;
    if ya.dims != xa.dims {
        return Err(PyValueError::new_err(format!(
            "relukit: out has shape {}, the input has {}",
            fmt_shape(ya.dims),
            fmt_shape(xa.dims)
        )));
    }
    check_writeable(&ya, "out")?;
    Ok((xa, ya))
}

/// `out = f(x)` elementwise for the checked arguments of [`elementwise_args`] holding `T`,
/// `len > 0`: `map` computes into a distinct array, `map_inplace` overwrites one.
///
/// * `out` names the same elements as `x` (same start and strides) and no two of them
///   overlap: in place, one mutable view.
/// * `out` can be written through a view (aligned, no self-overlap): `x` is read from a
///   C-ordered copy if it shares bytes with `out` or is unaligned, else as it is.
/// * otherwise (`out` self-overlapping, e.g. a zero stride, or unaligned): the result goes
///   to a fresh array that NumPy then assigns to `out` (as `np.copyto`), so every element is
///   computed once from the input as it was.
pub(crate) fn map_into<T: Element>(
    py: Python<'_>,
    xa: &Raw<'_>,
    ya: &Raw<'_>,
    map: impl Fn(ArrayViewD<'_, T>, ArrayViewMutD<'_, T>) -> Result<(), ShapeError> + Sync,
    map_inplace: impl Fn(ArrayViewMutD<'_, T>) -> Result<(), ShapeError> + Sync,
) -> PyResult<()> {
    debug_assert!(xa.kind == T::KIND && ya.kind == T::KIND && xa.len > 0);
    let bytes = elementwise_bytes::<T>(xa.len);
    let direct = ya.viewable() && !ya.self_overlaps();
    if direct && xa.data == ya.data && xa.strides == ya.strides {
        // SAFETY: out is viewable, writeable (checked by elementwise_args), of T, and no two
        // of its indices overlap; x names the same elements and is read through this view
        // only. The caller holds references to both arrays for the call.
        let y = unsafe { ya.view_mut::<T>() };
        return run(py, bytes, || map_inplace(y)).map_err(shape_error);
    }
    let copy = if !xa.viewable() || (direct && xa.may_share(ya)) {
        Some(ffi::copy_c(py, xa)?)
    } else {
        None
    };
    let copy_raw = copy
        .as_ref()
        .map(|c| ffi::exact(c).expect("a fresh float ndarray"));
    let xr = copy_raw.as_ref().unwrap_or(xa);
    // SAFETY: xr is viewable (x itself only if it is; a copy always is) and holds T; it stays
    // alive (the caller's reference, or `copy` here) and nothing writes it during the call:
    // out is written directly only when it shares no byte with x, otherwise only `tmp` is
    // written until the kernel has returned.
    let xv = unsafe { xr.view::<T>() };
    if direct {
        // SAFETY: as for the in-place view; out shares no byte with the x being read.
        let yv = unsafe { ya.view_mut::<T>() };
        return run(py, bytes, || map(xv, yv)).map_err(shape_error);
    }
    let tmp = ffi::empty(py, T::KIND, xa.dims, false)?;
    let ta = ffi::exact(&tmp).expect("a fresh float ndarray");
    // SAFETY: a fresh aligned C-ordered array of T that only this call can reach.
    let tv = unsafe { ta.view_mut::<T>() };
    run(py, bytes, || map(xv, tv)).map_err(shape_error)?;
    // SAFETY: both are live ndarrays of one shape and dtype.
    unsafe { ffi::copy_into(py, ya.ptr, ta.ptr) }
}

/// A matrix input as one aligned C-ordered run of elements: the array's own memory when it is
/// laid out so, else a C-ordered copy made here (kept alive by this value).
pub(crate) struct CInput<'py> {
    _copy: Option<Bound<'py, PyAny>>,
    data: *const u8,
    len: usize,
}

impl<'py> CInput<'py> {
    /// `raw` as it is, or a copy if it is not an aligned C-ordered run or may share bytes with
    /// one of `outputs` (which the call writes).
    pub(crate) fn new(py: Python<'py>, raw: &Raw<'_>, outputs: &[&Raw<'_>]) -> PyResult<Self> {
        if raw.c_slice_ok() && !outputs.iter().any(|o| raw.may_share(o)) {
            return Ok(CInput {
                _copy: None,
                data: raw.data,
                len: raw.len,
            });
        }
        let copy = ffi::copy_c(py, raw)?;
        let cr = ffi::exact(&copy).expect("a fresh float ndarray");
        let (data, len) = (cr.data.cast_const(), cr.len);
        Ok(CInput {
            _copy: Some(copy),
            data,
            len,
        })
    }

    /// The elements.
    ///
    /// # Safety
    ///
    /// `T` is the array's element type; the caller holds the original array for `'s` and
    /// nothing writes it meanwhile.
    pub(crate) unsafe fn slice<'s, T: Element>(&self) -> &'s [T] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: per the contract and `new`: `len` aligned C-ordered elements of T.
        unsafe { std::slice::from_raw_parts(self.data.cast::<T>(), self.len) }
    }
}

/// A matrix output as one aligned C-ordered run the kernel writes: the array's own memory
/// when it is laid out so and shares no byte with an input, else a fresh array assigned to it
/// by [`COutput::finish`].
pub(crate) struct COutput<'py> {
    dst: *mut npyffi::PyArrayObject,
    tmp: Option<Bound<'py, PyAny>>,
    data: *mut u8,
    len: usize,
}

impl<'py> COutput<'py> {
    /// `raw` (checked writeable, `ValueError` otherwise), written directly if it is an aligned
    /// C-ordered run sharing no byte with any of `others` (the call's inputs and other outputs).
    pub(crate) fn new(
        py: Python<'py>,
        raw: &Raw<'_>,
        what: &str,
        others: &[&Raw<'_>],
    ) -> PyResult<Self> {
        check_writeable(raw, what)?;
        if raw.c_slice_ok() && !others.iter().any(|o| raw.may_share(o)) {
            return Ok(COutput {
                dst: raw.ptr,
                tmp: None,
                data: raw.data,
                len: raw.len,
            });
        }
        let tmp = ffi::empty(py, raw.kind, raw.dims, false)?;
        let tr = ffi::exact(&tmp).expect("a fresh float ndarray");
        let (data, len) = (tr.data, tr.len);
        Ok(COutput {
            dst: raw.ptr,
            tmp: Some(tmp),
            data,
            len,
        })
    }

    /// The elements to write.
    ///
    /// # Safety
    ///
    /// `T` is the array's element type; the caller holds the original array for `'s`, makes
    /// one such slice per output and nothing else reads or writes it meanwhile.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn slice_mut<'s, T: Element>(&self) -> &'s mut [T] {
        if self.len == 0 {
            return &mut [];
        }
        // SAFETY: per the contract and `new`: `len` aligned C-ordered writeable elements.
        unsafe { std::slice::from_raw_parts_mut(self.data.cast::<T>(), self.len) }
    }

    /// After the kernel: assigns the fresh array to the output if one was used.
    pub(crate) fn finish(self, py: Python<'_>) -> PyResult<()> {
        match &self.tmp {
            None => Ok(()),
            Some(tmp) => {
                let tr = ffi::exact(tmp).expect("a fresh float ndarray");
                // SAFETY: `dst` is the live output ndarray (the caller holds it), `tmp` a
                // fresh one of its shape and dtype.
                unsafe { ffi::copy_into(py, self.dst, tr.ptr) }
            }
        }
    }
}
