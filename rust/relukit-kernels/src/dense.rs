//! Dense layer forward pass: `y = relu(x @ w + b)`.
//!
//! The output is computed in tiles (a range of rows times a range of columns); on the AVX2
//! path with register blocking (`avx2_dense.rs`), else with the portable row loop. Large
//! calls are split over the pool's threads by column blocks (each thread then reads only its
//! own columns of `w`: for the 784 -> 256 float32 layer, half of an 800 KB matrix each, which
//! stays in that core's L2 from one call to the next), or by row groups when `out` is too
//! narrow to share. Every output element is the same sequence of operations on every path,
//! tiling and thread count, so the bits never change with them.

use core::ops::{Add, Mul};

use crate::pool;
use crate::simd::{self, Config, Path};

use crate::{Float, ShapeError};

/// Calls with at least this many multiply-adds (`batch * inp * out`) are split over threads.
///
/// Chosen by measurement: `cargo run --release --example bench -- dense` (f32, AVX2, time
/// with 1 thread / time with 2, best of 200 interleaved 1 ms runs, two runs with the second
/// core mostly free; us per call with 1 thread):
///
/// | batch x in -> out | MACs  | 1 thread | 2 vs 1        |
/// |-------------------|-------|----------|---------------|
/// | 1 x 128 -> 128    | 16 K  | 0.96 us  | 0.85x, 0.91x  |
/// | 1 x 256 -> 128    | 32 K  | 1.9 us   | 0.89x, 1.03x  |
/// | 1 x 256 -> 256    | 64 K  | 3.9 us   | 0.93x, 0.96x  |
/// | 1 x 512 -> 256    | 128 K | 9.3 us   | 0.95x, 1.59x  |
/// | 1 x 784 -> 256    | 196 K | 15 us    | 1.76x, 1.54x  |
/// | 4 x 784 -> 256    | 784 K | 32 us    | 1.95x         |
/// | 64 x 784 -> 256   | 12 M  | 454 us   | 1.79x, 1.84x  |
///
/// so the split starts at 128 Ki multiply-adds.
pub const DENSE_SPLIT_MIN_MACS: usize = 1 << 17;

/// `rows * cols`, or an error naming `what` if the product overflows `usize`.
fn checked_len(rows: usize, cols: usize, what: &str) -> Result<usize, ShapeError> {
    rows.checked_mul(cols).ok_or_else(|| {
        ShapeError(format!(
            "{what} shape ({rows}, {cols}) overflows the address space"
        ))
    })
}

/// `Err` unless buffer `name` holds exactly `want` elements.
fn check_len(name: &str, got: usize, want: usize) -> Result<(), ShapeError> {
    if got == want {
        Ok(())
    } else {
        Err(ShapeError(format!(
            "{name} has {got} elements, expected {want}"
        )))
    }
}

/// Dense layer forward pass, `y = relu(x @ w + b)`, all buffers row-major and contiguous:
/// `x` is `(batch, inp)`, `w` is `(inp, out)`, `b` is `(out)`, `y` is `(batch, out)`, with the
/// process-wide path and thread count ([`Config::current`]).
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
    dense_forward_cfg(&Config::current(), x, w, b, y, batch, inp, out)
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

/// [`dense_forward`] with explicit settings: `cfg.path`, and `cfg.threads` threads when the
/// call has at least `cfg.dense_split_min_macs` multiply-adds. Panics if `cfg.path` is `Avx2`
/// and the CPU lacks AVX2.
#[allow(clippy::too_many_arguments)]
pub fn dense_forward_cfg<T>(
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
    check_len("x", x.len(), checked_len(batch, inp, "x")?)?;
    check_len("w", w.len(), checked_len(inp, out, "w")?)?;
    check_len("b", b.len(), out)?;
    check_len("y", y.len(), checked_len(batch, out, "y")?)?;
    if cfg.path == Path::Avx2 {
        simd::require_avx2();
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

/// Raw views of the buffers of one dense call: `x` (batch, inp), `w` (inp, out), `b` (out),
/// `y` (batch, out), row-major, valid for the whole call; `y` does not overlap the others.
/// Tiles of `y` are handed to different threads, which is why these are raw pointers.
/// (Public only because a sealed trait method takes it; nothing outside can build one.)
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct Bufs<T> {
    pub(crate) x: *const T,
    pub(crate) w: *const T,
    pub(crate) b: *const T,
    pub(crate) y: *mut T,
    pub(crate) inp: usize,
    pub(crate) out: usize,
}

// SAFETY: the pointers come from slices borrowed for the whole call (shared for x, w, b,
// exclusive for y); threads only read the inputs and write disjoint tiles of y.
unsafe impl<T: Send> Send for Bufs<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Bufs<T> {}

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
            T::avx2_dense_tile(p, rows, cols)
        },
        // SAFETY: forwarded contract.
        _ => unsafe { tile_portable(p, rows, cols) },
    }
}

/// The portable tile: per row, `y[r, cols] = b[cols]`, then `+= x[r, k] * w[k, cols]` for
/// increasing `k` (the compiler vectorizes the inner loop for the baseline target), then ReLU.
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
        for v in y_row.iter_mut() {
            *v = v.relu();
        }
    }
}
