//! The forward passes: `y = relu(x @ w + b)` ([`dense_forward`]) and `y = x @ w + b`
//! ([`linear_forward`]), one tiled kernel for both.
//!
//! The output is computed in tiles (a range of rows times a range of columns); on the AVX2
//! path with register blocking (`dense/avx2.rs`), else with the portable row loop. Large
//! calls are split over the pool's threads by column blocks (each thread then reads only its
//! own columns of `w`, which stay in that core's L2 from one call to the next), or by row
//! groups when `out` is too narrow to share.

use core::ops::{Add, Mul};

use super::{check_shape, Bufs};
use crate::runtime::cpu::require_avx2;
use crate::runtime::{pool, Config, Path};
use crate::{Float, ShapeError};

/// Dense layer forward pass, `y = relu(x @ w + b)` (shapes in [`crate::dense`]), with the
/// process-wide path, thresholds and thread count ([`Config::current`]).
///
/// Each output row starts as `b` and accumulates `x[r, k] * w[k, :]` for `k` in increasing
/// order with a plain multiply and add (no fused multiply-add), then goes through
/// [`Float::relu`]; `inp == 0` gives `relu(b)` in every row. Returns `Err` (touching nothing)
/// if any buffer length does not match the shape or a shape product overflows.
pub fn dense_forward<T>(
    x: &[T],
    w: &[T],
    b: &[T],
    y: &mut [T],
    batch: usize,
    inp: usize,
    out: usize,
) -> Result<(), ShapeError>
where
    T: Float + Add<Output = T> + Mul<Output = T>,
{
    forward_with(&Config::current(), true, x, w, b, y, batch, inp, out)
}

/// [`dense_forward`] with the settings of `cfg`. Panics if `cfg.path` is `Avx2` and the CPU
/// lacks AVX2.
#[allow(clippy::too_many_arguments)]
pub fn dense_forward_with<T>(
    cfg: &Config,
    x: &[T],
    w: &[T],
    b: &[T],
    y: &mut [T],
    batch: usize,
    inp: usize,
    out: usize,
) -> Result<(), ShapeError>
where
    T: Float + Add<Output = T> + Mul<Output = T>,
{
    forward_with(cfg, true, x, w, b, y, batch, inp, out)
}

/// The affine layer, `y = x @ w + b` (no activation), summed as [`dense_forward`];
/// `inp == 0` gives `b` in every row. `Err`, touching nothing, if a length does not match
/// the shape.
pub fn linear_forward<T>(
    x: &[T],
    w: &[T],
    b: &[T],
    y: &mut [T],
    batch: usize,
    inp: usize,
    out: usize,
) -> Result<(), ShapeError>
where
    T: Float + Add<Output = T> + Mul<Output = T>,
{
    forward_with(&Config::current(), false, x, w, b, y, batch, inp, out)
}

/// [`linear_forward`] with the settings of `cfg`. Panics if `cfg.path` is `Avx2` and the CPU
/// lacks AVX2.
#[allow(clippy::too_many_arguments)]
pub fn linear_forward_with<T>(
    cfg: &Config,
    x: &[T],
    w: &[T],
    b: &[T],
    y: &mut [T],
    batch: usize,
    inp: usize,
    out: usize,
) -> Result<(), ShapeError>
where
    T: Float + Add<Output = T> + Mul<Output = T>,
{
    forward_with(cfg, false, x, w, b, y, batch, inp, out)
}

/// How a dense call is cut into chunks for the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Split {
    /// Chunk `c` covers columns `[c * n_units / n, (c + 1) * n_units / n) * unit` (the last
    /// one up to `out`) of every row.
    Cols {
        unit: usize,
        n_units: usize,
        n: usize,
    },
    /// Chunk `c` covers rows `[c * n_groups / n, (c + 1) * n_groups / n) * 4` (the last one up
    /// to `batch`) of every column.
    Rows { n_groups: usize, n: usize },
}

/// Columns per block of the widest AVX2 tile for `T` (8 vectors: 64 f32 or 32 f64).
fn wide<T>() -> usize {
    8 * 32 / core::mem::size_of::<T>()
}

/// Picks the split of a `(batch, inp) x (inp, out)` call over `parts` threads.
fn plan<T>(parts: usize, batch: usize, out: usize) -> Option<Split> {
    // Column blocks as wide as the tile that will compute them: a single-row tile takes 8
    // vectors, a four-row one 2 (64 bytes of each row of w).
    let unit = if batch < 4 {
        wide::<T>()
    } else {
        64 / core::mem::size_of::<T>()
    };
    let n_units = out / unit;
    if n_units >= parts {
        return Some(Split::Cols {
            unit,
            n_units,
            n: n_units.min(2 * parts),
        });
    }
    let n_groups = batch / 4;
    if n_groups >= parts {
        return Some(Split::Rows {
            n_groups,
            n: n_groups.min(4 * parts),
        });
    }
    None
}

/// Both forward passes (`relu` or not) with the settings of `cfg`: `cfg.path`, and
/// `cfg.threads` threads when the call has at least `cfg.dense_split_min_macs` multiply-adds.
#[allow(clippy::too_many_arguments)]
fn forward_with<T>(
    cfg: &Config,
    relu: bool,
    x: &[T],
    w: &[T],
    b: &[T],
    y: &mut [T],
    batch: usize,
    inp: usize,
    out: usize,
) -> Result<(), ShapeError>
where
    T: Float + Add<Output = T> + Mul<Output = T>,
{
    check_shape("x", x.len(), batch, inp)?;
    check_shape("w", w.len(), inp, out)?;
    check_shape("b", b.len(), out, 1)?;
    check_shape("y", y.len(), batch, out)?;
    if cfg.path == Path::Avx2 {
        require_avx2();
    }
    if batch == 0 || out == 0 {
        return Ok(());
    }
    let macs = batch.saturating_mul(inp).saturating_mul(out);
    let parts = cfg.dense_parts_for(macs);
    let split = if parts > 1 {
        plan::<T>(parts, batch, out)
    } else {
        None
    };
    let path = cfg.path;
    let p = Bufs {
        x: x.as_ptr(),
        w: w.as_ptr(),
        b: b.as_ptr(),
        y: y.as_mut_ptr(),
        inp,
        out,
        relu,
    };
    // SAFETY (of each tile call below): the Bufs point into buffers whose lengths were checked
    // above, `y` is borrowed exclusively for this call (pool::run returns after every chunk),
    // each tile lies inside (batch, out), and distinct chunks are disjoint tiles.
    match split {
        None => unsafe { tile(path, &p, (0, batch), (0, out)) },
        Some(Split::Cols { unit, n_units, n }) => pool::run(parts, n, |c| {
            let j0 = c * n_units / n * unit;
            let j1 = if c + 1 == n {
                out
            } else {
                (c + 1) * n_units / n * unit
            };
            unsafe { tile(path, &p, (0, batch), (j0, j1)) }
        }),
        Some(Split::Rows { n_groups, n }) => pool::run(parts, n, |c| {
            let r0 = c * n_groups / n * 4;
            let r1 = if c + 1 == n {
                batch
            } else {
                (c + 1) * n_groups / n * 4
            };
            unsafe { tile(path, &p, (r0, r1), (0, out)) }
        }),
    }
    Ok(())
}

/// The tile `rows.0..rows.1` x `cols.0..cols.1` of the output on `path`.
///
/// # Safety
///
/// `p` valid as [`Bufs`] says, `rows.1 <= batch`, `cols.1 <= out`, no other thread writing
/// this tile; AVX2 available if `path` is `Avx2`.
unsafe fn tile<T>(path: Path, p: &Bufs<T>, rows: (usize, usize), cols: (usize, usize))
where
    T: Float + Add<Output = T> + Mul<Output = T>,
{
    match path {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: forwarded contract; a row narrower than one vector gains nothing from AVX2.
        Path::Avx2 if p.out * core::mem::size_of::<T>() >= 32 => unsafe {
            T::dense_tile_avx2(p, rows, cols)
        },
        // SAFETY: forwarded contract.
        _ => unsafe { tile_portable(p, rows, cols) },
    }
}

/// The portable tile: per row, `y[r, cols] = b[cols]`, then `+= x[r, k] * w[k, cols]` for
/// increasing `k` (the compiler vectorizes the inner loop for the baseline target), then ReLU
/// if `p.relu`.
///
/// # Safety
///
/// As [`tile`].
unsafe fn tile_portable<T>(p: &Bufs<T>, (r0, r1): (usize, usize), (j0, j1): (usize, usize))
where
    T: Float + Add<Output = T> + Mul<Output = T>,
{
    let (inp, out) = (p.inp, p.out);
    let width = j1 - j0;
    // SAFETY: b holds out >= j1 elements.
    let b_row = unsafe { core::slice::from_raw_parts(p.b.add(j0), width) };
    for r in r0..r1 {
        // SAFETY: row r < batch of x (inp elements) and the tile's part of row r of y, which
        // only this call writes.
        let (x_row, y_row) = unsafe {
            (
                core::slice::from_raw_parts(p.x.add(r * inp), inp),
                core::slice::from_raw_parts_mut(p.y.add(r * out + j0), width),
            )
        };
        y_row.copy_from_slice(b_row);
        for (k, &xv) in x_row.iter().enumerate() {
            // SAFETY: row k < inp of w, columns j0..j1 <= out.
            let w_row = unsafe { core::slice::from_raw_parts(p.w.add(k * out + j0), width) };
            for (acc, &wv) in y_row.iter_mut().zip(w_row) {
                *acc = *acc + xv * wv;
            }
        }
        if p.relu {
            for v in y_row.iter_mut() {
                *v = v.relu();
            }
        }
    }
}
