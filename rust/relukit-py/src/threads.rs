//! The thread count of the kernels (`relukit.set_num_threads` reaches here) and the
//! thresholds that decide when a call is split, for tests and benchmarks.

use pyo3::prelude::*;
use pyo3::types::PyDict;
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
fn thresholds(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("split_min_bytes", k::simd::SPLIT_MIN_BYTES)?;
    d.set_item("dense_split_min_macs", k::dense::DENSE_SPLIT_MIN_MACS)?;
    d.set_item("nt_min_bytes", k::simd::NT_MIN_BYTES)?;
    d.set_item("detach_min_bytes", crate::detach::DETACH_MIN_BYTES)?;
    d.set_item("max_threads", k::pool::MAX_THREADS)?;
    let simd = match k::simd::active_path() {
        k::simd::Path::Avx2 => "avx2",
        k::simd::Path::Portable => "portable",
    };
    d.set_item("simd", simd)?;
    Ok(d)
}

/// How many kernel calls of this process asked for more than one thread (a test sees a call
/// was split, whether or not a worker was free to help).
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
