//! Everything that decides how one call runs ([`Config`]) and the split of an elementwise call
//! over the pool's threads: 64-byte aligned chunks of the output, so no two threads write one
//! cache line, and the streaming choice made once for the whole call, not per chunk.

use super::cpu::{active_path, Path};
use super::pool;
use super::thresholds::Thresholds;

/// A split call is cut into this many chunks per thread: enough that a thread which starts
/// late leaves little for the others to finish.
pub const CHUNKS_PER_THREAD: usize = 4;

/// Everything that decides how one call runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Portable loops or AVX2.
    pub path: Path,
    /// Out-of-place elementwise calls moving more bytes than this use streaming stores
    /// (AVX2 only).
    pub nt_min_bytes: usize,
    /// Threads a split call may use, the caller included.
    pub threads: usize,
    /// Elementwise calls moving at least this many bytes are split (if `threads > 1`).
    pub split_min_bytes: usize,
    /// Dense calls with at least this many multiply-adds are split (if `threads > 1`).
    pub dense_split_min_macs: usize,
}

impl Config {
    /// The process-wide settings: [`active_path`], [`Thresholds::detected`] and
    /// [`pool::num_threads`].
    pub fn current() -> Self {
        Config::new(active_path(), pool::num_threads(), Thresholds::detected())
    }

    /// `path` on up to `threads` threads with the thresholds `t`.
    pub fn new(path: Path, threads: usize, t: &Thresholds) -> Self {
        Config {
            path,
            nt_min_bytes: t.nt_min_bytes,
            threads,
            split_min_bytes: t.split_min_bytes,
            dense_split_min_macs: t.dense_split_min_macs,
        }
    }

    /// One thread on `path`, streaming stores above `nt_min_bytes`.
    pub fn single(path: Path, nt_min_bytes: usize) -> Self {
        Config {
            path,
            nt_min_bytes,
            threads: 1,
            split_min_bytes: usize::MAX,
            dense_split_min_macs: usize::MAX,
        }
    }

    /// How many threads an elementwise call moving `bytes` bytes uses.
    pub fn parts_for(&self, bytes: usize) -> usize {
        if self.threads > 1 && bytes >= self.split_min_bytes {
            self.threads
        } else {
            1
        }
    }

    /// How many threads a dense call of `macs` multiply-adds uses.
    pub fn dense_parts_for(&self, macs: usize) -> usize {
        if self.threads > 1 && macs >= self.dense_split_min_macs {
            self.threads
        } else {
            1
        }
    }
}

/// A raw pointer the chunk closures may share across threads (each chunk touches a disjoint
/// range; see the SAFETY notes where they are dereferenced).
pub(crate) struct SharedPtr<T>(pub(crate) *mut T);

impl<T> Clone for SharedPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for SharedPtr<T> {}

// SAFETY: only used to hand disjoint sub-slices of one borrowed buffer to pool threads while
// the borrow is held (pool::run returns after every chunk has finished).
unsafe impl<T: Send> Send for SharedPtr<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for SharedPtr<T> {}

impl<T> SharedPtr<T> {
    /// The pointer (a method, so closures capture the whole Sync wrapper, not the field).
    pub(crate) fn get(self) -> *mut T {
        self.0
    }
}

/// Start of chunk `c` of `n_chunks` over `n` elements of `size` bytes whose output starts at
/// address `y_addr`: about `c * n / n_chunks`, moved up to the next element whose output
/// address is 64-byte aligned (so no two threads write the same cache line). Non-decreasing
/// in `c`, 0 for `c == 0` and `n` for `c >= n_chunks`.
pub fn chunk_start(c: usize, n_chunks: usize, n: usize, y_addr: usize, size: usize) -> usize {
    if c == 0 {
        return 0;
    }
    if c >= n_chunks {
        return n;
    }
    let ideal = (c as u128 * n as u128 / n_chunks as u128) as usize;
    let mis = y_addr.wrapping_add(ideal.wrapping_mul(size)) % 64;
    let up = if mis == 0 { 0 } else { (64 - mis) / size };
    (ideal + up).min(n)
}

/// `kernel(x[s..e], y[s..e], stream)` over chunks covering `x` and `y` (equal lengths, checked
/// by the caller), on `cfg.threads` threads when the call moves at least
/// `cfg.split_min_bytes`; `stream` is whether the whole call moves more than
/// `cfg.nt_min_bytes`.
pub(crate) fn split_map<T: Send + Sync>(
    cfg: &Config,
    x: &[T],
    y: &mut [T],
    kernel: impl Fn(&[T], &mut [T], bool) + Sync,
) {
    debug_assert_eq!(x.len(), y.len());
    let n = x.len().min(y.len());
    let size = core::mem::size_of::<T>();
    let bytes = n.saturating_mul(2 * size);
    let stream = bytes > cfg.nt_min_bytes;
    let parts = cfg.parts_for(bytes);
    if parts <= 1 {
        kernel(x, y, stream);
        return;
    }
    let n_chunks = parts * CHUNKS_PER_THREAD;
    let xp = SharedPtr(x.as_ptr().cast_mut());
    let yp = SharedPtr(y.as_mut_ptr());
    let y_addr = yp.get() as usize;
    pool::run(parts, n_chunks, |c| {
        let s = chunk_start(c, n_chunks, n, y_addr, size);
        let e = chunk_start(c + 1, n_chunks, n, y_addr, size);
        // SAFETY: s <= e <= n (chunk_start is non-decreasing and capped at n), so both ranges
        // lie inside x and y, which stay borrowed until pool::run returns; chunks are disjoint
        // and each runs once, so no two threads touch the same element of y, and x (a shared
        // borrow) does not overlap y (an exclusive one).
        let (xs, ys) = unsafe {
            (
                core::slice::from_raw_parts(xp.get().cast_const().add(s), e - s),
                core::slice::from_raw_parts_mut(yp.get().add(s), e - s),
            )
        };
        kernel(xs, ys, stream);
    });
}

/// `kernel(y[s..e])` over chunks covering `y`, split as [`split_map`] (never streaming: the
/// result lands where the input was just read, which is already in cache).
pub(crate) fn split_inplace<T: Send>(cfg: &Config, y: &mut [T], kernel: impl Fn(&mut [T]) + Sync) {
    let n = y.len();
    let size = core::mem::size_of::<T>();
    let parts = cfg.parts_for(n.saturating_mul(2 * size));
    if parts <= 1 {
        kernel(y);
        return;
    }
    let n_chunks = parts * CHUNKS_PER_THREAD;
    let yp = SharedPtr(y.as_mut_ptr());
    let y_addr = yp.get() as usize;
    pool::run(parts, n_chunks, |c| {
        let s = chunk_start(c, n_chunks, n, y_addr, size);
        let e = chunk_start(c + 1, n_chunks, n, y_addr, size);
        // SAFETY: as in split_map: a range inside y, borrowed until pool::run returns, and
        // disjoint from every other chunk's.
        let ys = unsafe { core::slice::from_raw_parts_mut(yp.get().add(s), e - s) };
        kernel(ys);
    });
}
