//! Raw NumPy access: the fields of a `PyArrayObject` and the few C-API calls this crate makes
//! (new arrays, NumPy's own assignment), kept in one place as orjson keeps its in `ffi/`.
//!
//! Why not rust-numpy's `PyReadonlyArray` / `PyReadwriteArray`: their borrow tracking refuses
//! two calls on disjoint parts of one buffer at once (interleaved column halves, say), costs
//! ~150 ns an array, and their slices take a Fortran-ordered array as if it were C-ordered.
//! Reading the fields here is sound for the reason NumPy's own loops are: the caller holds a
//! reference to every array for the whole call (so its memory stays allocated), and the checks
//! (dtype, alignment, layout, writeability, overlap) are made while holding the GIL. Another
//! thread writing the same memory while a call runs with the GIL released is a data race the
//! caller must not start, exactly as with a NumPy ufunc; rust-numpy's flags cannot prevent that
//! either (Python code ignores them).
//!
//! A [`Raw`] borrows the array's shape and strides: use it only while the GIL is held since it
//! was read (a thread may reshape the array in place while the GIL is released), and build the
//! views and slices the kernels need before releasing it.

use std::ffi::c_int;

use numpy::ndarray::{ArrayViewD, ArrayViewMutD, Axis, IxDyn, ShapeBuilder};
use numpy::npyffi::{self, flags, npy_intp, NPY_TYPES, PY_ARRAY_API};
use pyo3::prelude::*;

/// The element type of a float array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    F32,
    F64,
}

impl Kind {
    /// Bytes per element (also the alignment the views require).
    pub(crate) fn size(self) -> usize {
        match self {
            Kind::F32 => 4,
            Kind::F64 => 8,
        }
    }

    /// NumPy's name of the dtype.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::F32 => "float32",
            Kind::F64 => "float64",
        }
    }

    fn type_num(self) -> c_int {
        match self {
            Kind::F32 => NPY_TYPES::NPY_FLOAT as c_int,
            Kind::F64 => NPY_TYPES::NPY_DOUBLE as c_int,
        }
    }
}

/// A float type the bindings compute on: `f32` or `f64`.
pub(crate) trait Element: Copy + Send + Sync + 'static {
    /// The array dtype holding it.
    const KIND: Kind;
    /// A parameter given as a Python float (the facade has rounded it to this type already).
    fn from_param(v: f64) -> Self;
}

impl Element for f32 {
    const KIND: Kind = Kind::F32;
    fn from_param(v: f64) -> Self {
        v as f32
    }
}

impl Element for f64 {
    const KIND: Kind = Kind::F64;
    fn from_param(v: f64) -> Self {
        v
    }
}

/// Why an object is not read as a float array.
pub(crate) enum Refused {
    /// Not an ndarray (or, when an exact one is asked for, a subclass).
    NotArray,
    /// An ndarray of another dtype, or of float32/float64 in non-native byte order.
    Dtype,
}

/// What the bindings need to know about one ndarray of native float32/float64, read from its
/// struct. See the module docs for how long it may be used.
pub(crate) struct Raw<'a> {
    pub(crate) ptr: *mut npyffi::PyArrayObject,
    pub(crate) kind: Kind,
    pub(crate) data: *mut u8,
    pub(crate) dims: &'a [npy_intp],
    pub(crate) strides: &'a [npy_intp],
    pub(crate) flags: c_int,
    /// Number of elements.
    pub(crate) len: usize,
}

/// `ob` as an exact `numpy.ndarray` (no subclass) of native float32/float64; `None` otherwise.
pub(crate) fn exact<'a>(ob: &'a Bound<'_, PyAny>) -> Option<Raw<'a>> {
    read(ob, true).ok()
}

/// `ob` as an ndarray (subclasses too) of native float32/float64, any layout.
pub(crate) fn array<'a>(ob: &'a Bound<'_, PyAny>) -> Result<Raw<'a>, Refused> {
    read(ob, false)
}

fn read<'a>(ob: &'a Bound<'_, PyAny>, exact: bool) -> Result<Raw<'a>, Refused> {
    let (py, p) = (ob.py(), ob.as_ptr());
    // SAFETY: `p` is a live object (borrowed from `ob`); the checks only read its type.
    let is_array = unsafe {
        if exact {
            npyffi::PyArray_CheckExact(py, p)
        } else {
            npyffi::PyArray_Check(py, p)
        }
    };
    if is_array == 0 {
        return Err(Refused::NotArray);
    }
    let ptr = p.cast::<npyffi::PyArrayObject>();
    // SAFETY: `ob` is an ndarray, so it has the PyArrayObject layout, and its fields stay valid
    // while `ob` is borrowed (`'a`) and we hold the GIL. The descr of an ndarray is never NULL.
    let (fields, descr) = unsafe {
        let f = &*npyffi::_PyArray_GET_ITEM_DATA(ptr);
        (f, &*npyffi::_PyDataType_GET_ITEM_DATA(f.descr))
    };
    let kind = match descr.type_num {
        n if n == NPY_TYPES::NPY_FLOAT as c_int => Kind::F32,
        n if n == NPY_TYPES::NPY_DOUBLE as c_int => Kind::F64,
        _ => return Err(Refused::Dtype),
    };
    // Native byte order: '=' or this machine's own ('<' on little-endian).
    let native = if cfg!(target_endian = "little") {
        b'<'
    } else {
        b'>'
    };
    let order = descr.byteorder as u8;
    if order != b'=' && order != native {
        return Err(Refused::Dtype);
    }
    let nd = usize::try_from(fields.nd).map_err(|_| Refused::NotArray)?;
    let (dims, strides): (&[npy_intp], &[npy_intp]) = if nd == 0 {
        (&[], &[])
    } else {
        // SAFETY: an ndarray's `dimensions` and `strides` hold `nd` entries each while it is
        // alive and not reshaped (see the module docs).
        unsafe {
            (
                std::slice::from_raw_parts(fields.dimensions, nd),
                std::slice::from_raw_parts(fields.strides, nd),
            )
        }
    };
    let mut len = 1usize;
    for &d in dims {
        len = usize::try_from(d)
            .ok()
            .and_then(|d| len.checked_mul(d))
            .ok_or(Refused::NotArray)?;
    }
    Ok(Raw {
        ptr,
        kind,
        data: fields.data.cast(),
        dims,
        strides,
        flags: fields.flags,
        len,
    })
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

    /// NumPy's ALIGNED flag: the data pointer and strides suit the dtype's alignment.
    pub(crate) fn aligned(&self) -> bool {
        self.flags & flags::NPY_ARRAY_ALIGNED != 0
    }

    /// The shape as `usize`s.
    pub(crate) fn shape(&self) -> Vec<usize> {
        self.dims.iter().map(|&d| d as usize).collect()
    }

    /// Whether [`Raw::view`] may be made: empty, or aligned with every stride (of an axis
    /// longer than 1) a whole number of elements.
    pub(crate) fn viewable(&self) -> bool {
        let size = self.kind.size() as isize;
        self.len == 0
            || (self.aligned()
                && self.data as usize % self.kind.size() == 0
                && self
                    .dims
                    .iter()
                    .zip(self.strides)
                    .all(|(&d, &s)| d <= 1 || s % size == 0))
    }

    /// Whether the elements are one aligned C-ordered run ([`Raw::slice`] may be made).
    pub(crate) fn c_slice_ok(&self) -> bool {
        self.len == 0
            || (self.c_contiguous() && self.aligned() && self.data as usize % self.kind.size() == 0)
    }

    /// The lowest byte and one past the highest byte the elements occupy; `None` if empty.
    fn extent(&self) -> Option<(usize, usize)> {
        if self.len == 0 {
            return None;
        }
        let (mut lo, mut hi) = (self.data as isize, self.data as isize);
        for (&d, &s) in self.dims.iter().zip(self.strides) {
            let reach = s.wrapping_mul(d - 1);
            if reach < 0 {
                lo = lo.wrapping_add(reach);
            } else {
                hi = hi.wrapping_add(reach);
            }
        }
        Some((lo as usize, (hi as usize).wrapping_add(self.kind.size())))
    }

    /// Whether the two arrays' byte ranges intersect (conservative: interleaved views of one
    /// buffer that share no element count as overlapping).
    pub(crate) fn may_share(&self, other: &Raw<'_>) -> bool {
        match (self.extent(), other.extent()) {
            (Some((a0, a1)), Some((b0, b1))) => a0 < b1 && b0 < a1,
            _ => false,
        }
    }

    /// Whether two different indices may reach overlapping bytes (a zero stride on an axis
    /// longer than 1, or strides whose ranges interleave). Conservative: `false` only when the
    /// axes, sorted by stride, each step over everything the shorter-stride axes span.
    pub(crate) fn self_overlaps(&self) -> bool {
        if self.len <= 1 {
            return false;
        }
        let mut axes: Vec<(usize, usize)> = self
            .dims
            .iter()
            .zip(self.strides)
            .filter(|(&d, _)| d > 1)
            .map(|(&d, &s)| (s.unsigned_abs(), d as usize))
            .collect();
        axes.sort_unstable();
        let mut span = self.kind.size(); // bytes covered by the axes so far
        for (stride, dim) in axes {
            if stride < span {
                return true;
            }
            match stride
                .checked_mul(dim - 1)
                .and_then(|r| r.checked_add(span))
            {
                Some(s) => span = s,
                None => return true,
            }
        }
        false
    }

    /// Shape, non-negative element strides and the lowest-address element, plus the axes to
    /// invert afterwards (ndarray views take non-negative strides only).
    fn nonneg_layout(&self) -> (Vec<usize>, Vec<usize>, *mut u8, Vec<usize>) {
        let size = self.kind.size();
        let mut first = self.data;
        let mut strides = Vec::with_capacity(self.dims.len());
        let mut inverted = Vec::new();
        for (axis, (&d, &s)) in self.dims.iter().zip(self.strides).enumerate() {
            if s < 0 && d > 1 {
                first = first.wrapping_offset(s * (d - 1));
                inverted.push(axis);
            }
            strides.push(if d > 1 { s.unsigned_abs() / size } else { 0 });
        }
        (self.shape(), strides, first, inverted)
    }

    /// The array as an ndarray view.
    ///
    /// # Safety
    ///
    /// [`Raw::viewable`], `T::KIND == self.kind`, `len > 0`; the memory stays allocated and is
    /// not written through any other path for `'s`.
    pub(crate) unsafe fn view<'s, T: Element>(&self) -> ArrayViewD<'s, T> {
        let (shape, strides, first, inverted) = self.nonneg_layout();
        // SAFETY: per this function's contract every element lies inside the array's buffer,
        // aligned for T; strides were made non-negative from the lowest-address element.
        let mut v = unsafe {
            ArrayViewD::from_shape_ptr(IxDyn(&shape).strides(IxDyn(&strides)), first.cast::<T>())
        };
        for axis in inverted {
            v.invert_axis(Axis(axis));
        }
        v
    }

    /// As [`Raw::view`], writable.
    ///
    /// # Safety
    ///
    /// As [`Raw::view`], plus writeable, `!self.self_overlaps()`, and not read or written
    /// through any other path for `'s`.
    pub(crate) unsafe fn view_mut<'s, T: Element>(&self) -> ArrayViewMutD<'s, T> {
        let (shape, strides, first, inverted) = self.nonneg_layout();
        // SAFETY: as in `view`; no two indices reach the same element (no self-overlap).
        let mut v = unsafe {
            ArrayViewMutD::from_shape_ptr(IxDyn(&shape).strides(IxDyn(&strides)), first.cast::<T>())
        };
        for axis in inverted {
            v.invert_axis(Axis(axis));
        }
        v
    }

    /// The elements as one flat slice in memory order (empty for an empty array).
    ///
    /// # Safety
    ///
    /// `len == 0`, or: C- or F-contiguous, aligned, `T::KIND == self.kind`, kept alive and not
    /// written through any other path for `'s`.
    pub(crate) unsafe fn slice<'s, T: Element>(&self) -> &'s [T] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: per this function's contract: `len` contiguous aligned elements.
        unsafe { std::slice::from_raw_parts(self.data.cast::<T>(), self.len) }
    }

    /// As [`Raw::slice`], writable.
    ///
    /// # Safety
    ///
    /// As [`Raw::slice`], plus writeable and not read or written through any other path for
    /// `'s`.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn slice_mut<'s, T: Element>(&self) -> &'s mut [T] {
        if self.len == 0 {
            return &mut [];
        }
        // SAFETY: per this function's contract.
        unsafe { std::slice::from_raw_parts_mut(self.data.cast::<T>(), self.len) }
    }
}

/// A new uninitialised base-class ndarray of `kind` and shape `dims`, C order (Fortran order
/// with `fortran`); `MemoryError` (NumPy's) if it cannot be allocated.
pub(crate) fn empty<'py>(
    py: Python<'py>,
    kind: Kind,
    dims: &[npy_intp],
    fortran: bool,
) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: DescrFromType returns a new reference (or NULL with an exception set), which
    // NewFromDescr steals. `dims` holds nd entries (NumPy copies them); NULL strides and data
    // ask for a fresh contiguous buffer. The result is a new reference or NULL with an
    // exception set, which from_owned_ptr_or_err turns into Err.
    unsafe {
        let descr = PY_ARRAY_API.PyArray_DescrFromType(py, kind.type_num());
        if descr.is_null() {
            return Err(PyErr::fetch(py));
        }
        new_from_descr(py, descr, dims, fortran)
    }
}

/// `np.empty_like(x)` for a contiguous `x`: same shape and dtype object, C order if `x` is
/// C-contiguous, else Fortran order; a base-class ndarray. (`PyArray_NewFromDescr` with the
/// order given directly: `PyArray_NewLikeArray` spends ~250 ns working out a stride
/// permutation not needed here.)
pub(crate) fn empty_like<'py>(py: Python<'py>, x: &Raw<'_>) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: `x.ptr` is a live ndarray, so its descr is a valid dtype; NewFromDescr steals a
    // reference to it, hence the incref.
    unsafe {
        let descr = (*npyffi::_PyArray_GET_ITEM_DATA(x.ptr)).descr;
        pyo3::ffi::Py_INCREF(descr.cast());
        new_from_descr(py, descr, x.dims, !x.c_contiguous())
    }
}

/// # Safety
///
/// `descr` is a valid dtype reference this call may steal.
unsafe fn new_from_descr<'py>(
    py: Python<'py>,
    descr: *mut npyffi::PyArray_Descr,
    dims: &[npy_intp],
    fortran: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let order = if fortran {
        flags::NPY_ARRAY_F_CONTIGUOUS
    } else {
        0
    };
    // SAFETY: see `empty`; `descr` is stolen per this function's contract.
    unsafe {
        let p = PY_ARRAY_API.PyArray_NewFromDescr(
            py,
            npyffi::get_type_object(py, npyffi::NpyTypes::PyArray_Type),
            descr,
            dims.len() as c_int,
            dims.as_ptr().cast_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            order,
            std::ptr::null_mut(),
        );
        Bound::from_owned_ptr_or_err(py, p)
    }
}

/// `np.copyto(dst, src)` for arrays of one shape and dtype: NumPy's own assignment (any
/// layout, alignment or overlap; NumPy copies `src` first when the two overlap).
///
/// # Safety
///
/// `dst` and `src` are live ndarrays (the caller holds references to them).
pub(crate) unsafe fn copy_into(
    py: Python<'_>,
    dst: *mut npyffi::PyArrayObject,
    src: *mut npyffi::PyArrayObject,
) -> PyResult<()> {
    // SAFETY: per this function's contract; CopyInto returns 0, or -1 with an exception set.
    if unsafe { PY_ARRAY_API.PyArray_CopyInto(py, dst, src) } < 0 {
        return Err(PyErr::fetch(py));
    }
    Ok(())
}

/// A C-ordered, aligned copy of `x` (a new base-class ndarray).
pub(crate) fn copy_c<'py>(py: Python<'py>, x: &Raw<'_>) -> PyResult<Bound<'py, PyAny>> {
    let c = empty(py, x.kind, x.dims, false)?;
    let cr = exact(&c).expect("a fresh float ndarray");
    // SAFETY: `x` is a live ndarray (its Raw borrows the caller's reference), `c` ours.
    unsafe { copy_into(py, cr.ptr, x.ptr) }?;
    Ok(c)
}
