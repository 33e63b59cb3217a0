//! Run-time choice between the portable slice kernels and the explicit AVX2 ones, and the
//! split of large calls over threads.
//!
//! Not part of the public API (hidden from the docs): the public slice and n-d functions go
//! through `map` and `map_inplace`, which use [`Config::current`]: the path chosen once
//! per process — AVX2 when the CPU has it (`is_x86_feature_detected!`) unless
//! `RELUKIT_FORCE_PORTABLE=1` is set, else the portable loops — and the thread count of
//! [`crate::pool::set_num_threads`]. [`set_simd`] overrides the path globally; tests and
//! benchmarks call [`map_cfg`] / [`map_inplace_cfg`] (or the single-thread [`map_with`] /
//! [`map_inplace_with`]) to pick everything per call without touching global state.

use std::sync::atomic::{AtomicU8, Ordering};

use crate::pool;
use crate::{Float, ShapeError};

/// Which elementwise op a kernel applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// [`Float::relu`].
    Relu,
    /// [`Float::relu_grad`].
    Grad,
}

/// Which implementation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Plain Rust loops the compiler auto-vectorizes for the build's baseline target.
    Portable,
    /// Explicit AVX2 (x86-64 with AVX2 only).
    Avx2,
}

/// Out-of-place kernels switch to non-temporal (streaming) stores when the bytes read plus
/// written exceed this: 16 MiB, half of this machine class's 32 MiB L3.
///
/// Below it the output is likely to be read again soon from cache and a cached store costs
/// the same as a streaming one (both are bound by L2/L3 bandwidth), while streaming stores
/// would evict the result and force the next consumer to DRAM. Above it the data no longer
/// fits next to everything else in L3 and each cached store costs a read-for-ownership of the
/// destination line plus a later write-back; streaming stores skip the read, cutting DRAM
/// traffic from 3 to 2 bytes per byte of output (see `examples/bench.rs` for the measurement).
pub const NT_MIN_BYTES: usize = 16 << 20;

const UNKNOWN: u8 = 0;
const PORTABLE: u8 = 1;
const AVX2: u8 = 2;

/// Calls that move at least this many bytes (read + written) are split over the pool's
/// threads; smaller ones run on the calling thread.
///
/// Chosen by measurement: `cargo run --release --example bench -- split` (f32 relu, AVX2,
/// time with 1 thread / time with 2, best of 200 interleaved 1 ms runs) on the 2-core EPYC
/// guest. With the second core free:
///
/// | moved    | 64K   | 128K  | 256K  | 512K  | 768K  | 1M    | 2M    | 4M    | 8M    | 16M   | 32M*  |
/// |----------|-------|-------|-------|-------|-------|-------|-------|-------|-------|-------|-------|
/// | out      | 0.67x | 0.97x | 1.29x | 1.72x | 2.16x | 0.96x | 1.67x | 1.79x | 1.93x | 1.41x | 1.56x |
/// | in place | 0.51x | 0.83x | 1.09x | 1.37x | 1.58x | 0.94x | 1.74x | 1.87x | 1.89x | 1.78x | 3.89x |
///
/// (* streaming stores; the 1M column is an unlucky round.) With both cores busy with other
/// jobs, 2 threads cost 5-13 % from 256 KiB to 1 MiB and ~1 % above (0.95-1.02x). So the
/// split starts at 1 MiB moved: from there it pays when a core is free and costs next to
/// nothing when none is; below it the data also fits the caller's L2 (512 KiB), where the
/// other core would have to fetch its half through L3.
pub const SPLIT_MIN_BYTES: usize = 1 << 20;

/// A split call is cut into this many chunks per thread (each 64-byte aligned in the
/// output): enough that a thread which starts late leaves little for the others to finish.
pub const CHUNKS_PER_THREAD: usize = 4;

/// Everything that decides how one elementwise call runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Portable loops or AVX2.
    pub path: Path,
    /// Out-of-place calls moving more bytes than this use streaming stores (AVX2 only).
    pub nt_min_bytes: usize,
    /// Threads a split call may use, the caller included.
    pub threads: usize,
    /// Calls moving at least this many bytes are split (if `threads > 1`).
    pub split_min_bytes: usize,
    /// Dense calls with at least this many multiply-adds are split (if `threads > 1`).
    pub dense_split_min_macs: usize,
}

impl Config {
    /// The process-wide settings: [`active_path`], [`NT_MIN_BYTES`],
    /// [`pool::num_threads`], [`SPLIT_MIN_BYTES`].
    pub fn current() -> Self {
        Config {
            path: active_path(),
            nt_min_bytes: NT_MIN_BYTES,
            threads: pool::num_threads(),
            split_min_bytes: SPLIT_MIN_BYTES,
            dense_split_min_macs: crate::dense::DENSE_SPLIT_MIN_MACS,
        }
    }

    /// One thread on `path` with streaming stores above `nt_min_bytes`.
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

/// The process-wide choice, decided lazily on first use.
static SELECTED: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Whether this CPU can run the AVX2 path (always `false` off x86-64).
pub fn avx2_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The default choice: AVX2 if available, unless `RELUKIT_FORCE_PORTABLE=1`.
fn initial_choice() -> u8 {
    let forced = std::env::var_os("RELUKIT_FORCE_PORTABLE").is_some_and(|v| v == "1");
    if !forced && avx2_available() {
        AVX2
    } else {
        PORTABLE
    }
}

/// The path the public kernels use in this process.
pub fn active_path() -> Path {
    let mut v = SELECTED.load(Ordering::Relaxed);
    if v == UNKNOWN {
        // First use: the environment is read once; a concurrent set_simd wins the race.
        let _ = SELECTED.compare_exchange(
            UNKNOWN,
            initial_choice(),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        v = SELECTED.load(Ordering::Relaxed);
    }
    if v == AVX2 {
        Path::Avx2
    } else {
        Path::Portable
    }
}

/// Turns the AVX2 path on or off for the whole process (overriding `RELUKIT_FORCE_PORTABLE`);
/// returns whether AVX2 is now in use (`false` if requested but the CPU lacks it).
pub fn set_simd(enabled: bool) -> bool {
    let avx2 = enabled && avx2_available();
    SELECTED.store(if avx2 { AVX2 } else { PORTABLE }, Ordering::Relaxed);
    avx2
}

pub(crate) mod private {
    use super::Op;

    /// Per-type entry into the AVX2 kernels; a supertrait of the sealed [`crate::Float`].
    pub trait SimdFloat: Copy + Sized {
        /// # Safety
        ///
        /// The CPU must support AVX2.
        #[cfg(target_arch = "x86_64")]
        unsafe fn avx2_map(op: Op, x: &[Self], y: &mut [Self], stream: bool);

        /// # Safety
        ///
        /// The CPU must support AVX2.
        #[cfg(target_arch = "x86_64")]
        unsafe fn avx2_map_inplace(op: Op, y: &mut [Self]);

        /// One tile of the dense forward pass (`avx2_dense.rs`).
        ///
        /// # Safety
        ///
        /// The contract of `avx2_dense.rs`.
        #[cfg(target_arch = "x86_64")]
        unsafe fn avx2_dense_tile(
            p: &crate::dense::Bufs<Self>,
            rows: (usize, usize),
            cols: (usize, usize),
        );
    }

    macro_rules! impl_simd_float {
        ($t:ty, $map:ident, $map_inplace:ident, $tiles:ident) => {
            impl SimdFloat for $t {
                #[cfg(target_arch = "x86_64")]
                unsafe fn avx2_map(op: Op, x: &[Self], y: &mut [Self], stream: bool) {
                    // SAFETY: AVX2 support is this function's own precondition.
                    unsafe { crate::avx2::$map(op, x, y, stream) }
                }

                #[cfg(target_arch = "x86_64")]
                unsafe fn avx2_map_inplace(op: Op, y: &mut [Self]) {
                    // SAFETY: AVX2 support is this function's own precondition.
                    unsafe { crate::avx2::$map_inplace(op, y) }
                }

                #[cfg(target_arch = "x86_64")]
                unsafe fn avx2_dense_tile(
                    p: &crate::dense::Bufs<Self>,
                    rows: (usize, usize),
                    cols: (usize, usize),
                ) {
                    // SAFETY: forwarded contract.
                    unsafe { crate::avx2_dense::$tiles::tile(p, rows, cols) }
                }
            }
        };
    }

    impl_simd_float!(f32, map_f32, map_inplace_f32, f32_tiles);
    impl_simd_float!(f64, map_f64, map_inplace_f64, f64_tiles);
}

/// `Err` (touching nothing) unless `x` and `y` have the same length.
fn check_lengths<T>(x: &[T], y: &[T]) -> Result<(), ShapeError> {
    if x.len() == y.len() {
        Ok(())
    } else {
        Err(ShapeError(format!(
            "x has {} elements but y has {}",
            x.len(),
            y.len()
        )))
    }
}

/// `y[i] = op(x[i])` with the portable loop.
#[inline(always)]
fn portable_map<T: Float>(op: Op, x: &[T], y: &mut [T]) {
    match op {
        Op::Relu => y.iter_mut().zip(x).for_each(|(o, &v)| *o = v.relu()),
        Op::Grad => y.iter_mut().zip(x).for_each(|(o, &v)| *o = v.relu_grad()),
    }
}

/// `y[i] = op(y[i])` with the portable loop.
#[inline(always)]
fn portable_map_inplace<T: Float>(op: Op, y: &mut [T]) {
    match op {
        Op::Relu => y.iter_mut().for_each(|v| *v = v.relu()),
        Op::Grad => y.iter_mut().for_each(|v| *v = v.relu_grad()),
    }
}

/// Panics unless the AVX2 path can run here (it was asked for explicitly).
pub(crate) fn require_avx2() {
    assert!(
        avx2_available(),
        "relukit: the AVX2 kernel path was requested but this CPU does not support AVX2"
    );
}

/// `y = op(x)` on one thread (lengths already checked equal).
#[inline]
fn kernel<T: Float>(path: Path, op: Op, x: &[T], y: &mut [T], stream: bool) {
    match path {
        Path::Portable => portable_map(op, x, y),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: callers only pass Avx2 after require_avx2() or with active_path() == Avx2
        // (which implies avx2_available()).
        Path::Avx2 => unsafe { T::avx2_map(op, x, y, stream) },
        #[cfg(not(target_arch = "x86_64"))]
        Path::Avx2 => {
            let _ = stream;
            portable_map(op, x, y)
        }
    }
}

/// `y = op(y)` on one thread.
#[inline]
fn kernel_inplace<T: Float>(path: Path, op: Op, y: &mut [T]) {
    match path {
        Path::Portable => portable_map_inplace(op, y),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `kernel`.
        Path::Avx2 => unsafe { T::avx2_map_inplace(op, y) },
        #[cfg(not(target_arch = "x86_64"))]
        Path::Avx2 => portable_map_inplace(op, y),
    }
}

/// A raw pointer the chunk closures may share across threads (each chunk touches a disjoint
/// range; see the SAFETY notes where they are dereferenced).
#[derive(Clone, Copy)]
pub(crate) struct SharedPtr<T>(pub(crate) *mut T);

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

/// `y = op(x)` with the settings of `cfg`: split over `cfg.threads` threads when the call
/// moves at least `cfg.split_min_bytes`, streaming stores when it moves more than
/// `cfg.nt_min_bytes` (decided once for the whole call, not per chunk). `Err` (touching
/// nothing) if the lengths differ. Panics if `cfg.path` is `Avx2` and the CPU lacks AVX2.
pub fn map_cfg<T: Float>(cfg: &Config, op: Op, x: &[T], y: &mut [T]) -> Result<(), ShapeError> {
    check_lengths(x, y)?;
    if cfg.path == Path::Avx2 {
        require_avx2();
    }
    let n = x.len();
    let size = core::mem::size_of::<T>();
    let bytes = n.saturating_mul(2 * size);
    let stream = bytes > cfg.nt_min_bytes;
    let parts = cfg.parts_for(bytes);
    if parts <= 1 {
        kernel(cfg.path, op, x, y, stream);
        return Ok(());
    }
    let path = cfg.path;
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
        kernel(path, op, xs, ys, stream);
    });
    Ok(())
}

/// `y = op(y)` with the settings of `cfg` (split as [`map_cfg`]; never streaming stores: the
/// result lands where the input was read, which is already in cache). Panics if `cfg.path`
/// is `Avx2` and the CPU lacks AVX2.
pub fn map_inplace_cfg<T: Float>(cfg: &Config, op: Op, y: &mut [T]) {
    if cfg.path == Path::Avx2 {
        require_avx2();
    }
    let n = y.len();
    let size = core::mem::size_of::<T>();
    let parts = cfg.parts_for(n.saturating_mul(2 * size));
    if parts <= 1 {
        kernel_inplace(cfg.path, op, y);
        return;
    }
    let path = cfg.path;
    let n_chunks = parts * CHUNKS_PER_THREAD;
    let yp = SharedPtr(y.as_mut_ptr());
    let y_addr = yp.get() as usize;
    pool::run(parts, n_chunks, |c| {
        let s = chunk_start(c, n_chunks, n, y_addr, size);
        let e = chunk_start(c + 1, n_chunks, n, y_addr, size);
        // SAFETY: as in map_cfg: a range inside y, borrowed until pool::run returns, and
        // disjoint from every other chunk's.
        let ys = unsafe { core::slice::from_raw_parts_mut(yp.get().add(s), e - s) };
        kernel_inplace(path, op, ys);
    });
}

/// `y = op(x)` on the given path and one thread, streaming stores above `nt_min_bytes`
/// (AVX2 only); `Err` (touching nothing) if the lengths differ. Panics if `path` is `Avx2`
/// and the CPU lacks AVX2.
pub fn map_with<T: Float>(
    path: Path,
    op: Op,
    x: &[T],
    y: &mut [T],
    nt_min_bytes: usize,
) -> Result<(), ShapeError> {
    map_cfg(&Config::single(path, nt_min_bytes), op, x, y)
}

/// `y = op(y)` on the given path and one thread. Panics if `path` is `Avx2` and the CPU lacks
/// AVX2.
pub fn map_inplace_with<T: Float>(path: Path, op: Op, y: &mut [T]) {
    map_inplace_cfg(&Config::single(path, usize::MAX), op, y)
}

/// `y = op(x)` with the process-wide settings ([`Config::current`]).
pub(crate) fn map<T: Float>(op: Op, x: &[T], y: &mut [T]) -> Result<(), ShapeError> {
    map_cfg(&Config::current(), op, x, y)
}

/// `y = op(y)` with the process-wide settings.
pub(crate) fn map_inplace<T: Float>(op: Op, y: &mut [T]) {
    map_inplace_cfg(&Config::current(), op, y)
}
