//! `relukit._native`: thin pyo3 bindings of `relukit-kernels`, plus the cffi module of the C
//! kernels (compiled by build.rs) attached as `relukit._native.c_kernels`.
//!
//! Two kinds of entry points:
//!
//! * the validated path (`relu_f32(x, out)`, `dense_forward_f32(x, w, b, out)`, ...): the
//!   Python side (`relukit/backends/rust.py`) has checked the arguments and picked the
//!   function by dtype; these borrow the arrays through rust-numpy (any layout: ndarray views
//!   carry the strides), release the GIL for large ones and call the kernel;
//! * the fast paths (`relu_fast(x, out)`, `relu_grad_fast(x, out)`, `dense_fast(x, w, b)`):
//!   the whole facade call in one native call for the inputs that need no conversion, checked
//!   here by hand on the raw NumPy objects (see [`fast`]); for anything else they return
//!   `NotImplemented` without raising, and the facade takes the validated path, so every
//!   error message still comes from `relukit/_validate.py`.
//!
//! The module init is one `register(m)` call per group of functions.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use relukit_kernels as k;

mod family;
mod nn;

/// Calls moving at least this many bytes (read + written) run with the GIL released; below,
/// releasing and re-taking it costs more than it lets other threads gain.
pub(crate) const DETACH_MIN_BYTES: usize = 256 << 10;

pub(crate) fn shape_error(e: k::ShapeError) -> PyErr {
    PyValueError::new_err(e.0)
}

/// Runs `f`, detached from the interpreter when `bytes` is large enough to be worth it.
pub(crate) fn run<R: Send>(py: Python<'_>, bytes: usize, f: impl FnOnce() -> R + Send) -> R {
    if bytes >= DETACH_MIN_BYTES {
        py.detach(f)
    } else {
        f()
    }
}

/// Scalars and the validated-path array functions.
mod validated {
    use numpy::{
        PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArrayDyn, PyReadwriteArray2,
        PyReadwriteArrayDyn,
    };
    use pyo3::prelude::*;
    use relukit_kernels as k;

    use crate::{run, shape_error};

    #[pyfunction]
    fn relu_float(x: f64) -> f64 {
        k::Float::relu(x)
    }

    #[pyfunction]
    fn relu_int(x: i64) -> i64 {
        k::relu_i64(x)
    }

    #[pyfunction]
    fn relu_grad_float(x: f64) -> f64 {
        k::Float::relu_grad(x)
    }

    #[pyfunction]
    fn relu_grad_int(x: i64) -> i64 {
        k::relu_grad_i64(x)
    }

    /// One elementwise op for one dtype: `name(x, out)` writes op(x) into a distinct `out`;
    /// `inplace(a)` overwrites `a`.
    macro_rules! elementwise {
        ($name:ident, $inplace:ident, $t:ty, $nd:path, $nd_inplace:path) => {
            #[pyfunction]
            fn $name(
                py: Python<'_>,
                x: PyReadonlyArrayDyn<'_, $t>,
                mut out: PyReadwriteArrayDyn<'_, $t>,
            ) -> PyResult<()> {
                let (x, y) = (x.as_array(), out.as_array_mut());
                let bytes = 2 * x.len() * size_of::<$t>();
                run(py, bytes, || $nd(x, y)).map_err(shape_error)
            }

            #[pyfunction]
            fn $inplace(py: Python<'_>, mut a: PyReadwriteArrayDyn<'_, $t>) {
                let y = a.as_array_mut();
                let bytes = 2 * y.len() * size_of::<$t>();
                run(py, bytes, || $nd_inplace(y))
            }
        };
    }

    elementwise!(
        relu_f32,
        relu_inplace_f32,
        f32,
        k::relu_nd,
        k::relu_nd_inplace
    );
    elementwise!(
        relu_f64,
        relu_inplace_f64,
        f64,
        k::relu_nd,
        k::relu_nd_inplace
    );
    elementwise!(
        relu_grad_f32,
        relu_grad_inplace_f32,
        f32,
        k::relu_grad_nd,
        k::relu_grad_nd_inplace
    );
    elementwise!(
        relu_grad_f64,
        relu_grad_inplace_f64,
        f64,
        k::relu_grad_nd,
        k::relu_grad_nd_inplace
    );

    /// `dense_forward_<dtype>(x, w, b, out)`: out = relu(x @ w + b) for C-contiguous
    /// x (batch, in), w (in, out), b (out,), out (batch, out).
    macro_rules! dense {
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
                let (xs, ws, bs) = (x.as_slice()?, w.as_slice()?, b.as_slice()?);
                let ys = out.as_slice_mut()?;
                let work = crate::fast::dense_work_bytes::<$t>(batch, inp, n_out);
                run(py, work, || {
                    k::dense_forward(xs, ws, bs, ys, batch, inp, n_out)
                })
                .map_err(shape_error)
            }
        };
    }

    dense!(dense_forward_f32, f32);
    dense!(dense_forward_f64, f64);

    pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_function(wrap_pyfunction!(relu_float, m)?)?;
        m.add_function(wrap_pyfunction!(relu_int, m)?)?;
        m.add_function(wrap_pyfunction!(relu_grad_float, m)?)?;
        m.add_function(wrap_pyfunction!(relu_grad_int, m)?)?;
        m.add_function(wrap_pyfunction!(relu_f32, m)?)?;
        m.add_function(wrap_pyfunction!(relu_f64, m)?)?;
        m.add_function(wrap_pyfunction!(relu_inplace_f32, m)?)?;
        m.add_function(wrap_pyfunction!(relu_inplace_f64, m)?)?;
        m.add_function(wrap_pyfunction!(relu_grad_f32, m)?)?;
        m.add_function(wrap_pyfunction!(relu_grad_f64, m)?)?;
        m.add_function(wrap_pyfunction!(relu_grad_inplace_f32, m)?)?;
        m.add_function(wrap_pyfunction!(relu_grad_inplace_f64, m)?)?;
        m.add_function(wrap_pyfunction!(dense_forward_f32, m)?)?;
        m.add_function(wrap_pyfunction!(dense_forward_f64, m)?)?;
        Ok(())
    }
}

/// The fast paths: raw checks on exact NumPy arrays, one native call per facade call.
///
/// What they take (anything else gives `NotImplemented`): `x` an exact `numpy.ndarray` (no
/// subclass) of native float32/float64, aligned, C- or Fortran-contiguous; `out` either `None`
/// (the result is allocated here like `np.empty_like(x)`) or an exact, aligned, writeable
/// ndarray of the same dtype and shape laid out in the same order as `x`, which is `x` itself
/// / has the same data pointer (in place) or shares no byte with it. A Python `float` or `int`
/// (int64 range) with `out=None` goes straight to the scalar kernel.
///
/// Reading NumPy's fields by hand instead of rust-numpy's borrow checker (`PyReadonlyArray`
/// and friends, ~150 ns an array) is sound for the same reason NumPy's own C loops are: we
/// hold references to both arrays (so their memory stays allocated) and check dtype,
/// alignment, shape, writeability and overlap ourselves while holding the GIL. As with any
/// NumPy ufunc that releases the GIL, another thread mutating the same memory at the same
/// time is a data race the caller must not start; rust-numpy's flags cannot prevent that either
/// (Python code ignores them).
pub(crate) mod fast {
    use std::ffi::c_int;

    use numpy::npyffi::{self, flags, npy_intp, NPY_TYPES, PY_ARRAY_API};
    use numpy::PyArray;
    use pyo3::prelude::*;
    use pyo3::types::{PyFloat, PyInt};
    use relukit_kernels as k;

    use crate::run;

    /// Which element type a float array holds.
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Kind {
        F32,
        F64,
    }

    impl Kind {
        pub(crate) fn size(self) -> usize {
            match self {
                Kind::F32 => 4,
                Kind::F64 => 8,
            }
        }
    }

    /// What the fast paths need to know about one exact ndarray, read from its struct.
    pub(crate) struct Raw<'a> {
        pub(crate) ptr: *mut npyffi::PyArrayObject,
        pub(crate) kind: Kind,
        pub(crate) data: *mut u8,
        pub(crate) dims: &'a [npy_intp],
        pub(crate) flags: c_int,
        /// Number of elements.
        pub(crate) len: usize,
    }

    impl Raw<'_> {
        pub(crate) fn c_contiguous(&self) -> bool {
            self.flags & flags::NPY_ARRAY_C_CONTIGUOUS != 0
        }

        pub(crate) fn f_contiguous(&self) -> bool {
            self.flags & flags::NPY_ARRAY_F_CONTIGUOUS != 0
        }

        pub(crate) fn writeable(&self) -> bool {
            self.flags & flags::NPY_ARRAY_WRITEABLE != 0
        }

        /// The elements as one flat slice in memory order.
        ///
        /// # Safety
        ///
        /// The array is C- or F-contiguous, aligned, of element type `T`, kept alive and not
        /// written by anyone else for `'s`; `len > 0`.
        pub(crate) unsafe fn slice<'s, T>(&self) -> &'s [T] {
            // SAFETY: per this function's contract: `len` contiguous aligned elements.
            unsafe { std::slice::from_raw_parts(self.data.cast::<T>(), self.len) }
        }

        /// As [`Raw::slice`], writable.
        ///
        /// # Safety
        ///
        /// As [`Raw::slice`], plus writeable and not read or written by anyone else for `'s`.
        #[allow(clippy::mut_from_ref)]
        pub(crate) unsafe fn slice_mut<'s, T>(&self) -> &'s mut [T] {
            // SAFETY: per this function's contract.
            unsafe { std::slice::from_raw_parts_mut(self.data.cast::<T>(), self.len) }
        }
    }

    /// `Some` if `ob` is an exact `numpy.ndarray` of native float32/float64 with aligned data.
    pub(crate) fn raw<'a>(ob: &'a Bound<'_, PyAny>) -> Option<Raw<'a>> {
        let p = ob.as_ptr();
        // SAFETY: `p` is a live object (borrowed from `ob`); the check only reads its type.
        if unsafe { npyffi::PyArray_CheckExact(ob.py(), p) } == 0 {
            return None;
        }
        let ptr = p.cast::<npyffi::PyArrayObject>();
        // SAFETY: `ob` is exactly an ndarray, so it has the PyArrayObject layout, and the
        // fields stay valid while `ob` is borrowed (`'a`) and we hold the GIL. The descr of
        // an ndarray is never NULL.
        let (fields, descr) = unsafe {
            let f = &*npyffi::_PyArray_GET_ITEM_DATA(ptr);
            (f, &*npyffi::_PyDataType_GET_ITEM_DATA(f.descr))
        };
        let kind = match descr.type_num {
            n if n == NPY_TYPES::NPY_FLOAT as c_int => Kind::F32,
            n if n == NPY_TYPES::NPY_DOUBLE as c_int => Kind::F64,
            _ => return None,
        };
        // Native byte order: '=' or this machine's own ('<' on little-endian).
        let native = if cfg!(target_endian = "little") {
            b'<'
        } else {
            b'>'
        };
        let order = descr.byteorder as u8;
        if order != b'=' && order != native {
            return None;
        }
        if fields.flags & flags::NPY_ARRAY_ALIGNED == 0 {
            return None;
        }
        let nd = usize::try_from(fields.nd).ok()?;
        let dims: &[npy_intp] = if nd == 0 {
            &[]
        } else {
            // SAFETY: an ndarray's `dimensions` holds `nd` entries while it is alive.
            unsafe { std::slice::from_raw_parts(fields.dimensions, nd) }
        };
        let mut len = 1usize;
        for &d in dims {
            len = len.checked_mul(usize::try_from(d).ok()?)?;
        }
        Some(Raw {
            ptr,
            kind,
            data: fields.data.cast(),
            dims,
            flags: fields.flags,
            len,
        })
    }

    /// Whether two arrays' byte ranges intersect (both contiguous, `len` elements each).
    fn overlap(a: &Raw<'_>, b: &Raw<'_>) -> bool {
        let (a0, b0) = (a.data as usize, b.data as usize);
        let (a1, b1) = (a0 + a.len * a.kind.size(), b0 + b.len * b.kind.size());
        a0 < b1 && b0 < a1
    }

    /// `np.empty_like(x)` for a contiguous `x`: same shape and dtype, C order if `x` is
    /// C-contiguous, else Fortran order; a base-class ndarray. (`PyArray_NewFromDescr` with
    /// the order given directly: `PyArray_NewLikeArray` spends ~250 ns working out a stride
    /// permutation we do not need.)
    fn empty_like<'py>(py: Python<'py>, x: &Raw<'_>) -> PyResult<Bound<'py, PyAny>> {
        let fortran = if x.c_contiguous() {
            0
        } else {
            flags::NPY_ARRAY_F_CONTIGUOUS
        };
        // SAFETY: `x.ptr` is a live ndarray, so its descr is a valid dtype; NewFromDescr steals
        // a reference to it, hence the incref. `dims` holds nd entries (copied by NumPy); NULL
        // strides and data ask for a fresh contiguous buffer in the given order. The result is
        // a new reference or NULL with an exception set.
        unsafe {
            let descr = (*npyffi::_PyArray_GET_ITEM_DATA(x.ptr)).descr;
            pyo3::ffi::Py_INCREF(descr.cast());
            let p = PY_ARRAY_API.PyArray_NewFromDescr(
                py,
                npyffi::get_type_object(py, npyffi::NpyTypes::PyArray_Type),
                descr,
                x.dims.len() as c_int,
                x.dims.as_ptr().cast_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                fortran,
                std::ptr::null_mut(),
            );
            Bound::from_owned_ptr_or_err(py, p)
        }
    }

    /// `y = op(x)` (or in place) on flat slices of `len > 0` elements.
    fn apply<T: k::Float>(op: k::simd::Op, x: Option<&[T]>, y: &mut [T]) {
        match (op, x) {
            // The lengths are equal by construction, so the kernels cannot fail.
            (k::simd::Op::Relu, Some(x)) => k::relu_slice(x, y).unwrap_or(()),
            (k::simd::Op::Grad, Some(x)) => k::relu_grad_slice(x, y).unwrap_or(()),
            (k::simd::Op::Relu, None) => k::relu_inplace(y),
            (k::simd::Op::Grad, None) => k::relu_grad_inplace(y),
        }
    }

    /// The shared body of `relu_fast` and `relu_grad_fast`.
    fn elementwise<'py>(
        py: Python<'py>,
        op: k::simd::Op,
        x: &Bound<'py, PyAny>,
        out: &Bound<'py, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let Some(xa) = raw(x) else {
            return Ok(scalar(py, op, x, out).unwrap_or_else(|| py.NotImplemented()));
        };
        let x_c = xa.c_contiguous();
        if !x_c && !xa.f_contiguous() {
            return Ok(py.NotImplemented());
        }
        let (result, inplace) = if out.is_none() {
            let y = empty_like(py, &xa)?;
            (y, false)
        } else {
            let Some(ya) = raw(out) else {
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
            if !inplace && overlap(&xa, &ya) {
                return Ok(py.NotImplemented()); // partial overlap: the facade copies x first
            }
            (out.clone(), inplace)
        };
        if xa.len > 0 {
            let ya = raw(&result).expect("a fresh ndarray of x's dtype");
            let bytes = 2 * xa.len * xa.kind.size();
            // SAFETY: both arrays are alive (we hold references), aligned, contiguous in the
            // same order, of the element type `kind` says, and `len > 0`; `out` was checked
            // writeable; out of place they share no byte, in place only the mutable slice is
            // made. See the module docs on concurrent writers.
            unsafe {
                match (xa.kind, inplace) {
                    (Kind::F32, false) => {
                        let (xs, ys) = (xa.slice::<f32>(), ya.slice_mut::<f32>());
                        run(py, bytes, || apply(op, Some(xs), ys));
                    }
                    (Kind::F64, false) => {
                        let (xs, ys) = (xa.slice::<f64>(), ya.slice_mut::<f64>());
                        run(py, bytes, || apply(op, Some(xs), ys));
                    }
                    (Kind::F32, true) => {
                        let ys = ya.slice_mut::<f32>();
                        run(py, bytes, || apply(op, None, ys));
                    }
                    (Kind::F64, true) => {
                        let ys = ya.slice_mut::<f64>();
                        run(py, bytes, || apply(op, None, ys));
                    }
                }
            }
        }
        Ok(result.unbind())
    }

    /// A Python `float`, or an `int` in int64, with `out=None`: the scalar kernel. `None` for
    /// anything else (including bool, ints beyond int64 and NumPy scalars).
    fn scalar<'py>(
        py: Python<'py>,
        op: k::simd::Op,
        x: &Bound<'py, PyAny>,
        out: &Bound<'py, PyAny>,
    ) -> Option<Py<PyAny>> {
        if !out.is_none() {
            return None;
        }
        if let Ok(f) = x.cast_exact::<PyFloat>() {
            let v = f.value();
            let r = match op {
                k::simd::Op::Relu => k::Float::relu(v),
                k::simd::Op::Grad => k::Float::relu_grad(v),
            };
            return Some(PyFloat::new(py, r).into_any().unbind());
        }
        if x.is_exact_instance_of::<PyInt>() {
            let v: i64 = x.extract().ok()?; // beyond int64: the validated path raises
            let r = match op {
                k::simd::Op::Relu => k::relu_i64(v),
                k::simd::Op::Grad => k::relu_grad_i64(v),
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
        elementwise(py, k::simd::Op::Relu, x, out)
    }

    /// `relu_grad_fast(x, out)`: the facade's `relu_grad` in one call, or `NotImplemented`.
    #[pyfunction]
    fn relu_grad_fast<'py>(
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        out: &Bound<'py, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        elementwise(py, k::simd::Op::Grad, x, out)
    }

    /// Bytes a dense call touches (inputs read, output written): the GIL release measure.
    pub(crate) fn dense_work_bytes<T>(batch: usize, inp: usize, out: usize) -> usize {
        let elems = batch
            .saturating_mul(inp)
            .saturating_add(inp.saturating_mul(out))
            .saturating_add(batch.saturating_mul(out));
        // A split call always detaches: its threads need the caller's time too.
        let macs = batch.saturating_mul(inp).saturating_mul(out);
        if macs >= k::dense::DENSE_SPLIT_MIN_MACS {
            usize::MAX
        } else {
            elems.saturating_mul(size_of::<T>())
        }
    }

    /// `relu(x @ w + b)` for C-contiguous raw arrays of one element type, as a new array of
    /// shape `(out,)` or `(batch, out)`.
    fn dense_typed<
        'py,
        T: k::Float + numpy::Element + std::ops::Add<Output = T> + std::ops::Mul<Output = T>,
    >(
        py: Python<'py>,
        xa: &Raw<'_>,
        wa: &Raw<'_>,
        ba: &Raw<'_>,
    ) -> PyResult<Py<PyAny>> {
        let (inp, n_out) = (wa.dims[0] as usize, wa.dims[1] as usize);
        let (batch, y) = if xa.dims.len() == 1 {
            // SAFETY: uninitialised memory, fully written by dense_forward below before
            // anyone can read it (batch = 1 row of n_out).
            (
                1,
                unsafe { PyArray::<T, _>::new(py, [n_out], false) }.into_any(),
            )
        } else {
            let batch = xa.dims[0] as usize;
            // SAFETY: as above, batch rows of n_out.
            (
                batch,
                unsafe { PyArray::<T, _>::new(py, [batch, n_out], false) }.into_any(),
            )
        };
        if batch > 0 && n_out > 0 {
            let ya = raw(&y).expect("a fresh ndarray");
            let bytes = dense_work_bytes::<T>(batch, inp, n_out);
            // SAFETY: the inputs are alive, aligned, C-contiguous arrays of T (checked by the
            // caller) and the output is our own fresh array; lengths match the shapes
            // (dense_forward checks again). Empty inputs (inp == 0) make no slice from them.
            unsafe {
                let empty: &[T] = &[];
                let xs = if xa.len > 0 { xa.slice::<T>() } else { empty };
                let ws = if wa.len > 0 { wa.slice::<T>() } else { empty };
                let bs = ba.slice::<T>();
                let ys = ya.slice_mut::<T>();
                run(py, bytes, || {
                    k::dense_forward(xs, ws, bs, ys, batch, inp, n_out)
                })
                .map_err(crate::shape_error)?;
            }
        }
        Ok(y.unbind())
    }

    /// `dense_fast(x, w, b)`: `relu(x @ w + b)` as a new array, or `NotImplemented` unless x
    /// is an exact ndarray of w's dtype, shape (in,) or (batch, in), and all three are
    /// aligned, C-contiguous exact ndarrays with w (in, out) and b (out,).
    #[pyfunction]
    fn dense_fast<'py>(
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        w: &Bound<'py, PyAny>,
        b: &Bound<'py, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let (Some(xa), Some(wa), Some(ba)) = (raw(x), raw(w), raw(b)) else {
            return Ok(py.NotImplemented());
        };
        let fits = xa.kind == wa.kind
            && ba.kind == wa.kind
            && xa.c_contiguous()
            && wa.c_contiguous()
            && ba.c_contiguous()
            && wa.dims.len() == 2
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
}

/// The thread count of the kernels (`relukit.set_num_threads` reaches here) and the
/// thresholds that decide when a call is split, for tests and benchmarks.
mod threads {
    use pyo3::prelude::*;
    use relukit_kernels as k;

    /// Lets large calls use up to `n` threads (1 = never split; clamped to the pool's maximum).
    #[pyfunction]
    fn set_num_threads(n: usize) {
        k::set_num_threads(n);
    }

    /// The thread count the kernels use now.
    #[pyfunction]
    fn get_num_threads() -> usize {
        k::num_threads()
    }

    /// `{"split_min_bytes": ..., "dense_split_min_macs": ..., "nt_min_bytes": ...,
    /// "detach_min_bytes": ..., "max_threads": ..., "simd": "avx2" | "portable"}`.
    #[pyfunction]
    fn thresholds(py: Python<'_>) -> PyResult<Bound<'_, pyo3::types::PyDict>> {
        let d = pyo3::types::PyDict::new(py);
        d.set_item("split_min_bytes", k::simd::SPLIT_MIN_BYTES)?;
        d.set_item("dense_split_min_macs", k::dense::DENSE_SPLIT_MIN_MACS)?;
        d.set_item("nt_min_bytes", k::simd::NT_MIN_BYTES)?;
        d.set_item("detach_min_bytes", crate::DETACH_MIN_BYTES)?;
        d.set_item("max_threads", k::pool::MAX_THREADS)?;
        let simd = match k::simd::active_path() {
            k::simd::Path::Avx2 => "avx2",
            k::simd::Path::Portable => "portable",
        };
        d.set_item("simd", simd)?;
        Ok(d)
    }

    /// How many kernel calls of this process asked for more than one thread (a test sees a
    /// call was split, whether or not a worker was free to help).
    #[pyfunction]
    fn split_calls() -> u64 {
        k::pool::split_calls()
    }

    pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
        m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
        m.add_function(wrap_pyfunction!(thresholds, m)?)?;
        m.add_function(wrap_pyfunction!(split_calls, m)?)?;
        Ok(())
    }
}

extern "C" {
    /// Module init of the cffi module generated by csrc/cffi_build.py and compiled in build.rs.
    fn PyInit_c_kernels() -> *mut pyo3::ffi::PyObject;
}

#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    validated::register(m)?;
    fast::register(m)?;
    threads::register(m)?;
    nn::register(m)?;
    family::register(m)?;

    // SAFETY: FFI call to cffi's generated module init; it returns a new reference or NULL
    // with a Python exception set, which from_owned_ptr_or_err turns into Err.
    let c_kernels = unsafe { Bound::from_owned_ptr_or_err(m.py(), PyInit_c_kernels())? };
    m.add("c_kernels", c_kernels)?;
    Ok(())
}
