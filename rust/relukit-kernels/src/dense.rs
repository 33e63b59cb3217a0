//! Dense layer forward pass: `y = relu(x @ w + b)`.

use core::ops::{Add, Mul};

use crate::relu::relu_inplace;
use crate::{Float, ShapeError};

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
/// `x` is `(batch, inp)`, `w` is `(inp, out)`, `b` is `(out)`, `y` is `(batch, out)`.
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
    check_len("x", x.len(), checked_len(batch, inp, "x")?)?;
    check_len("w", w.len(), checked_len(inp, out, "w")?)?;
    check_len("b", b.len(), out)?;
    check_len("y", y.len(), checked_len(batch, out, "y")?)?;

    for r in 0..batch {
        let x_row = &x[r * inp..(r + 1) * inp];
        let y_row = &mut y[r * out..(r + 1) * out];
        y_row.copy_from_slice(b);
        for (k, &xv) in x_row.iter().enumerate() {
            let w_row = &w[k * out..(k + 1) * out];
            for (acc, &wv) in y_row.iter_mut().zip(w_row) {
                *acc = *acc + xv * wv;
            }
        }
        relu_inplace(y_row);
    }
    Ok(())
}
