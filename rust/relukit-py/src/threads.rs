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

/// What the kernel crate detected and derived: `{"simd": "avx2" | "portable",
/// "portable_forced": bool, "l2_bytes", "l3_bytes", "cores", "cache_source": "sysfs" |
/// "cpuid" | "default", "nt_min_bytes", "split_min_bytes", "dense_split_min_macs",
/// "detach_min_bytes", "threads", "max_threads"}`.
#[pyfunction]
fn thresholds(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let info = k::runtime::info();
    let d = PyDict::new(py);
    let simd = match info.path {
        k::runtime::Path::Avx2 => "avx2",
        k::runtime::Path::Portable => "portable",
    };
    d.set_item("simd", simd)?;
    d.set_item("portable_forced", info.portable_forced)?;
    d.set_item("l2_bytes", info.caches.l2_bytes)?;
    d.set_item("l3_bytes", info.caches.l3_bytes)?;
    d.set_item("cores", info.caches.cores)?;
    let source = match info.caches.source {
        k::runtime::CacheSource::Sysfs => "sysfs",
        k::runtime::CacheSource::Cpuid => "cpuid",
        k::runtime::CacheSource::Default => "default",
    };
    d.set_item("cache_source", source)?;
    d.set_item("nt_min_bytes", info.thresholds.nt_min_bytes)?;
    d.set_item("split_min_bytes", info.thresholds.split_min_bytes)?;
    d.set_item("dense_split_min_macs", info.thresholds.dense_split_min_macs)?;
    d.set_item("detach_min_bytes", crate::detach::DETACH_MIN_BYTES)?;
    d.set_item("threads", info.threads)?;
    d.set_item("max_threads", info.max_threads)?;
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
