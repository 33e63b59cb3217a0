//! When a call runs with the GIL released (so other Python threads go on meanwhile).

use relukit_kernels as k;

/// Calls moving at least this many bytes (read + written) run with the GIL released; below,
/// releasing and re-taking it costs more than it lets other threads gain.
pub(crate) const DETACH_MIN_BYTES: usize = 256 << 10;

/// Runs `f`, detached from the interpreter when `bytes` is large enough to be worth it.
pub(crate) fn run<R: Send>(py: pyo3::Python<'_>, bytes: usize, f: impl FnOnce() -> R + Send) -> R {
    if bytes >= DETACH_MIN_BYTES {
        py.detach(f)
    } else {
        f()
    }
}

/// Bytes an elementwise call on `len` elements of `T` moves (read + written).
pub(crate) fn elementwise_bytes<T>(len: usize) -> usize {
    len.saturating_mul(2 * size_of::<T>())
}

/// Bytes a dense forward call touches (inputs read, output written); `usize::MAX` for a call
/// the kernels split over threads (its threads need the caller's time too, so it always
/// detaches).
pub(crate) fn dense_bytes<T>(batch: usize, inp: usize, out: usize) -> usize {
    let macs = batch.saturating_mul(inp).saturating_mul(out);
    if macs >= k::runtime::Thresholds::detected().dense_split_min_macs {
        return usize::MAX;
    }
    batch
        .saturating_mul(inp)
        .saturating_add(inp.saturating_mul(out))
        .saturating_add(batch.saturating_mul(out))
        .saturating_mul(size_of::<T>())
}

/// The work measure of the nn calls (linear forward, dense backward): multiply-adds times the
/// element size.
pub(crate) fn matmul_bytes<T>(batch: usize, inp: usize, out: usize) -> usize {
    batch
        .saturating_mul(out)
        .saturating_mul(inp.max(1))
        .saturating_mul(size_of::<T>())
}
