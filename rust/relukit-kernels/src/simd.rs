//! Run-time choice between the portable slice kernels and the explicit AVX2 ones.
//!
//! Not part of the public API (hidden from the docs): the public slice and n-d functions go
//! through [`map`] and [`map_inplace`], which use the path chosen once per process — AVX2 when
//! the CPU has it (`is_x86_feature_detected!`) unless `RELUKIT_FORCE_PORTABLE=1` is set, else
//! the portable loops. [`set_simd`] overrides that choice globally; tests and benchmarks call
//! [`map_with`] / [`map_inplace_with`] to pick a path per call without touching global state.

use std::sync::atomic::{AtomicU8, Ordering};

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
        unsafe fn avx2_map(op: Op, x: &[Self], y: &mut [Self], nt_min_bytes: usize);

        /// # Safety
        ///
        /// The CPU must support AVX2.
        #[cfg(target_arch = "x86_64")]
        unsafe fn avx2_map_inplace(op: Op, y: &mut [Self]);
    }

    macro_rules! impl_simd_float {
        ($t:ty, $map:ident, $map_inplace:ident) => {
            impl SimdFloat for $t {
                #[cfg(target_arch = "x86_64")]
                unsafe fn avx2_map(op: Op, x: &[Self], y: &mut [Self], nt_min_bytes: usize) {
                    // SAFETY: AVX2 support is this function's own precondition.
                    unsafe { crate::avx2::$map(op, x, y, nt_min_bytes) }
                }

                #[cfg(target_arch = "x86_64")]
                unsafe fn avx2_map_inplace(op: Op, y: &mut [Self]) {
                    // SAFETY: AVX2 support is this function's own precondition.
                    unsafe { crate::avx2::$map_inplace(op, y) }
                }
            }
        };
    }

    impl_simd_float!(f32, map_f32, map_inplace_f32);
    impl_simd_float!(f64, map_f64, map_inplace_f64);
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
fn require_avx2() {
    assert!(
        avx2_available(),
        "relukit: the AVX2 kernel path was requested but this CPU does not support AVX2"
    );
}

/// `y = op(x)` on the given path, streaming stores above `nt_min_bytes` (AVX2 only);
/// `Err` (touching nothing) if the lengths differ. Panics if `path` is `Avx2` and the CPU
/// lacks AVX2.
pub fn map_with<T: Float>(
    path: Path,
    op: Op,
    x: &[T],
    y: &mut [T],
    nt_min_bytes: usize,
) -> Result<(), ShapeError> {
    check_lengths(x, y)?;
    match path {
        Path::Portable => portable_map(op, x, y),
        Path::Avx2 => {
            require_avx2();
            #[cfg(target_arch = "x86_64")]
            // SAFETY: require_avx2 just checked that the CPU supports AVX2.
            unsafe {
                T::avx2_map(op, x, y, nt_min_bytes)
            };
            #[cfg(not(target_arch = "x86_64"))]
            let _ = nt_min_bytes;
        }
    }
    Ok(())
}

/// `y = op(y)` on the given path. Panics if `path` is `Avx2` and the CPU lacks AVX2.
pub fn map_inplace_with<T: Float>(path: Path, op: Op, y: &mut [T]) {
    match path {
        Path::Portable => portable_map_inplace(op, y),
        Path::Avx2 => {
            require_avx2();
            #[cfg(target_arch = "x86_64")]
            // SAFETY: require_avx2 just checked that the CPU supports AVX2.
            unsafe {
                T::avx2_map_inplace(op, y)
            };
        }
    }
}

/// `y = op(x)` on the process-wide path with the default streaming threshold.
pub(crate) fn map<T: Float>(op: Op, x: &[T], y: &mut [T]) -> Result<(), ShapeError> {
    check_lengths(x, y)?;
    match active_path() {
        Path::Portable => portable_map(op, x, y),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: active_path() is Avx2 only if avx2_available() said so (initial_choice,
        // set_simd).
        Path::Avx2 => unsafe { T::avx2_map(op, x, y, NT_MIN_BYTES) },
        #[cfg(not(target_arch = "x86_64"))]
        Path::Avx2 => portable_map(op, x, y),
    }
    Ok(())
}

/// `y = op(y)` on the process-wide path.
pub(crate) fn map_inplace<T: Float>(op: Op, y: &mut [T]) {
    match active_path() {
        Path::Portable => portable_map_inplace(op, y),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: active_path() is Avx2 only if avx2_available() said so.
        Path::Avx2 => unsafe { T::avx2_map_inplace(op, y) },
        #[cfg(not(target_arch = "x86_64"))]
        Path::Avx2 => portable_map_inplace(op, y),
    }
}
