//! Elementwise kernels: [`relu`] (ReLU and its derivative), [`piecewise`] (leaky ReLU and
//! PReLU, hardtanh, threshold: one linear piece per input, chosen on the bits) and [`smooth`]
//! (ELU, GELU, sigmoid, tanh: the exp-based ops), all behind [`activation`]'s op enum except
//! relu, which keeps its own entry points.
//!
//! Every slice kernel goes through `run_slice` / `run_inplace`: one length check, one
//! split over the pool ([`crate::runtime::split`]), one streaming decision, and on the AVX2
//! path one loop shape (`avx2_loop!`). The n-dimensional kernels take any memory layout:
//! contiguous arrays in a matching order go to the slice kernels, the rest to a strided loop.
//!
//! In place, a view must not overlap itself (no two indices at one address, e.g. a zero
//! stride): safe Rust cannot build such a mutable view, code that builds one from raw
//! pointers must check [`has_self_overlap`] first. The in-place kernels still detect such a
//! view and then compute from a copy, so each address gets the op applied once.

use ndarray::{ArrayViewD, ArrayViewMutD, Zip};

use crate::runtime::cpu::require_avx2;
use crate::runtime::split::{split_inplace, split_map};
use crate::runtime::{Config, Path};
use crate::ShapeError;

/// The AVX2 loop every elementwise kernel shares: a scalar head up to the first 32-byte
/// aligned `y` (no vector store splits a cache line, and streaming stores need the
/// alignment), four vectors per iteration, single vectors, a scalar tail; non-temporal stores
/// and an `sfence` when `$stream`. `|$uv| $vop` maps one `__m256i` of bits, `|$sv| $sop` one
/// element (the reference the vector code matches). All loads of an iteration precede its
/// stores, so `x == y` is allowed. Expands inside an `unsafe fn` with AVX2 enabled, with
/// `core::arch::x86_64::*` and `core::mem::size_of` in scope; `$x`, `$y` valid for `$n`.
#[cfg(target_arch = "x86_64")]
macro_rules! avx2_loop {
    ($t:ty, $x:ident, $y:ident, $n:ident, $stream:expr, |$uv:ident| $vop:expr, |$sv:ident| $sop:expr) => {{
        let mis = ($y as usize) & 31;
        // `y` is aligned to the element size, so the distance is a whole number of elements.
        let head = if mis == 0 { 0 } else { (32 - mis) / size_of::<$t>() };
        let head = head.min($n);
        let mut i = 0;
        while i < head {
            // SAFETY: i < head <= n, inside both buffers.
            unsafe {
                let $sv = *$x.add(i);
                *$y.add(i) = $sop;
            }
            i += 1;
        }
        if $stream {
            avx2_loop!(@vectors $t, $x, $y, $n, i, _mm256_stream_si256, |$uv| $vop);
            // Order the weakly-ordered streaming stores before anything that follows.
            _mm_sfence();
        } else {
            avx2_loop!(@vectors $t, $x, $y, $n, i, _mm256_storeu_si256, |$uv| $vop);
        }
        while i < $n {
            // SAFETY: i < n, inside both buffers.
            unsafe {
                let $sv = *$x.add(i);
                *$y.add(i) = $sop;
            }
            i += 1;
        }
    }};
    (@vectors $t:ty, $x:ident, $y:ident, $n:ident, $i:ident, $store:ident, |$uv:ident| $vop:expr) => {
        let l = 32 / size_of::<$t>();
        while $i + 4 * l <= $n {
            // SAFETY: i + 4L <= n: the four vectors lie inside both buffers; loads precede
            // stores (x == y is fine); y.add(i) is 32-byte aligned after the head.
            unsafe {
                let a0 = _mm256_loadu_si256($x.add($i).cast());
                let a1 = _mm256_loadu_si256($x.add($i + l).cast());
                let a2 = _mm256_loadu_si256($x.add($i + 2 * l).cast());
                let a3 = _mm256_loadu_si256($x.add($i + 3 * l).cast());
                let $uv = a0;
                $store($y.add($i).cast(), $vop);
                let $uv = a1;
                $store($y.add($i + l).cast(), $vop);
                let $uv = a2;
                $store($y.add($i + 2 * l).cast(), $vop);
                let $uv = a3;
                $store($y.add($i + 3 * l).cast(), $vop);
            }
            $i += 4 * l;
        }
        while $i + l <= $n {
            // SAFETY: i + L <= n, inside both buffers; y.add(i) is 32-byte aligned.
            unsafe {
                let $uv = _mm256_loadu_si256($x.add($i).cast());
                $store($y.add($i).cast(), $vop);
            }
            $i += l;
        }
    };
}

pub mod activation;
pub mod piecewise;
pub mod relu;
pub mod smooth;

/// `Err` (touching nothing) unless `x` and `y` have the same length.
pub(crate) fn check_lengths<T>(x: &[T], y: &[T]) -> Result<(), ShapeError> {
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

/// `Err` (touching nothing) unless `x` and `y` have the same shape.
pub(crate) fn check_shapes(x: &[usize], y: &[usize]) -> Result<(), ShapeError> {
    if x == y {
        Ok(())
    } else {
        Err(ShapeError(format!(
            "x has shape {x:?} but y has shape {y:?}"
        )))
    }
}

/// `kernel(path, x[s..e], y[s..e], stream)` over the whole call with the settings of `cfg`
/// (split over threads, streaming decided once); `Err` (touching nothing) if the lengths
/// differ. Panics if `cfg.path` is `Avx2` and the CPU lacks AVX2.
pub(crate) fn run_slice<T: Send + Sync>(
    cfg: &Config,
    x: &[T],
    y: &mut [T],
    kernel: impl Fn(Path, &[T], &mut [T], bool) + Sync,
) -> Result<(), ShapeError> {
    check_lengths(x, y)?;
    if cfg.path == Path::Avx2 {
        require_avx2();
    }
    let path = cfg.path;
    split_map(cfg, x, y, |xs, ys, stream| kernel(path, xs, ys, stream));
    Ok(())
}

/// `kernel(path, y[s..e])` in place over the whole call with the settings of `cfg`. Panics if
/// `cfg.path` is `Avx2` and the CPU lacks AVX2.
pub(crate) fn run_inplace<T: Send>(
    cfg: &Config,
    y: &mut [T],
    kernel: impl Fn(Path, &mut [T]) + Sync,
) {
    if cfg.path == Path::Avx2 {
        require_avx2();
    }
    let path = cfg.path;
    split_inplace(cfg, y, |ys| kernel(path, ys));
}

/// `y = f(x)` elementwise over arrays of the same shape and any layout: the flat `slice`
/// kernel when both are contiguous with the same strides (element i then sits at the same
/// place in both memory orders), else `scalar` in a strided loop.
pub(crate) fn map_nd<T: Copy>(
    x: ArrayViewD<'_, T>,
    mut y: ArrayViewMutD<'_, T>,
    slice: impl FnOnce(&[T], &mut [T]) -> Result<(), ShapeError>,
    scalar: impl Fn(T) -> T,
) -> Result<(), ShapeError> {
    check_shapes(x.shape(), y.shape())?;
    if x.strides() == y.strides() {
        if let (Some(xs), Some(ys)) = (x.as_slice_memory_order(), y.as_slice_memory_order_mut()) {
            return slice(xs, ys);
        }
    }
    Zip::from(&mut y).and(&x).for_each(|o, &v| *o = scalar(v));
    Ok(())
}

/// `y = f(y)` elementwise over an array of any layout: the flat `slice` kernel when it is
/// contiguous, else `scalar` in a strided loop; a view that overlaps itself is read into a
/// copy first, so each address gets `f` of its original value, once.
pub(crate) fn map_nd_inplace<T: Copy>(
    mut y: ArrayViewMutD<'_, T>,
    slice: impl FnOnce(&mut [T]),
    scalar: impl Fn(T) -> T,
) {
    if let Some(ys) = y.as_slice_memory_order_mut() {
        slice(ys);
        return;
    }
    let size = core::mem::size_of::<T>() as isize;
    let byte_strides: Vec<isize> = y.strides().iter().map(|&s| s * size).collect();
    if has_self_overlap(y.shape(), &byte_strides, size as usize) {
        let original = y.to_owned();
        Zip::from(&mut y)
            .and(&original)
            .for_each(|o, &v| *o = scalar(v));
    } else {
        y.map_inplace(|v| *v = scalar(*v));
    }
}

/// Whether an array of `shape` with strides `strides_in_bytes`, `itemsize` bytes per element,
/// may reach one byte from two different indices (a zero stride, or steps smaller than what
/// they step over). Conservative: dimensions of length 1 are ignored; the others, sorted by
/// `|stride|`, must each step at least over the whole extent of the smaller ones; `false` for
/// an empty array.
pub fn has_self_overlap(shape: &[usize], strides_in_bytes: &[isize], itemsize: usize) -> bool {
    if shape.contains(&0) {
        return false;
    }
    let mut dims: Vec<(usize, usize)> = shape
        .iter()
        .zip(strides_in_bytes)
        .filter(|(&n, _)| n > 1)
        .map(|(&n, &s)| (s.unsigned_abs(), n))
        .collect();
    dims.sort_unstable();
    let mut extent = itemsize;
    for (stride, n) in dims {
        if stride < extent {
            return true;
        }
        extent = match stride
            .checked_mul(n - 1)
            .and_then(|e| e.checked_add(itemsize))
        {
            Some(e) => e,
            None => return true,
        };
    }
    false
}

#[cfg(test)]
mod tests {
    use super::has_self_overlap;

    #[test]
    fn self_overlap() {
        assert!(!has_self_overlap(&[], &[], 4));
        assert!(!has_self_overlap(&[5], &[4], 4));
        assert!(!has_self_overlap(&[5], &[-4], 4));
        assert!(!has_self_overlap(&[0, 3], &[0, 0], 4)); // empty
        assert!(!has_self_overlap(&[1, 3], &[0, 4], 4)); // length-1 dims do not count
        assert!(has_self_overlap(&[1000], &[0], 4));
        assert!(has_self_overlap(&[10], &[2], 4)); // 2-byte steps over 4-byte elements
        assert!(!has_self_overlap(&[3, 4], &[16, 4], 4)); // C order
        assert!(!has_self_overlap(&[3, 4], &[4, 12], 4)); // F order
        assert!(!has_self_overlap(&[3, 4], &[32, 8], 4)); // every other element
        assert!(has_self_overlap(&[3, 4], &[8, 4], 4)); // rows overlap
        assert!(has_self_overlap(&[2, 2], &[4, 4], 4)); // (0,1) and (1,0) alias
        assert!(!has_self_overlap(&[4, 2], &[8, 4], 4)); // interleaved but disjoint
        assert!(has_self_overlap(&[3, usize::MAX / 2], &[8, 4], 4)); // overflow: say yes
    }
}
