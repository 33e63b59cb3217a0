//! The forward passes on the matrix product of [`super::gemm`]: `y = relu(x @ w + b)`
//! ([`dense_forward`]), `y = x @ w + b` ([`linear_forward`]) and `y = act(x @ w + b)` for any
//! op of the op table ([`affine_forward`]), the activation fused into the product's
//! epilogue (applied to each finished tile while it is in L1).

use super::gemm::{gemm, Epilogue, Init, Mat, Problem};
use super::{check_shape, MatFloat};
use crate::elementwise::activation::Activation;
use crate::runtime::cpu::require_avx2;
use crate::runtime::{Config, GemmBlocks, GemmKernel, Path};
use crate::ShapeError;

/// How one matrix product runs: the micro-kernel, its cache blocks and the threads. Any
/// values give the same bits (tests force them; the public functions derive them from the
/// machine).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// The micro-kernel (the portable one if the CPU cannot run it).
    pub kernel: GemmKernel,
    /// The cache blocks.
    pub blocks: GemmBlocks,
    /// Threads of the pool to use, the caller included.
    pub parts: usize,
}

impl Tuning {
    /// What `cfg` gives a product of `macs` multiply-adds in elements of type `T`: the
    /// path's kernel ([`GemmKernel::for_path`]), the detected blocks, and `cfg.threads`
    /// threads from `cfg.dense_split_min_macs` multiply-adds.
    pub fn for_config<T>(cfg: &Config, macs: usize) -> Tuning {
        if cfg.path == Path::Avx2 {
            require_avx2();
        }
        let kernel = GemmKernel::for_path(cfg.path);
        Tuning {
            kernel,
            blocks: GemmBlocks::detected(kernel, core::mem::size_of::<T>()),
            parts: cfg.dense_parts_for(macs),
        }
    }
}

/// Dense layer forward pass, `y = relu(x @ w + b)` (shapes in [`crate::dense`]), with the
/// process-wide path, thresholds and thread count ([`Config::current`]).
///
/// `y[i, j]` starts as `b[j]`, takes `fma(x[i, k], w[k, j], acc)` for `k = 0, 1, ...` in
/// increasing order (one rounding each), then goes through [`crate::Float::relu`];
/// `inp == 0` gives `relu(b)` in every row. Returns `Err` (touching nothing) if any buffer
/// length does not match the shape or a shape product overflows.
pub fn dense_forward<T: MatFloat>(
    x: &[T],
    w: &[T],
    b: &[T],
    y: &mut [T],
    batch: usize,
    inp: usize,
    out: usize,
) -> Result<(), ShapeError> {
    dense_forward_with(&Config::current(), x, w, b, y, batch, inp, out)
}

/// [`dense_forward`] with the settings of `cfg`. Panics if `cfg.path` is `Avx2` and the CPU
/// lacks AVX2.
#[allow(clippy::too_many_arguments)]
pub fn dense_forward_with<T: MatFloat>(
    cfg: &Config,
    x: &[T],
    w: &[T],
    b: &[T],
    y: &mut [T],
    batch: usize,
    inp: usize,
    out: usize,
) -> Result<(), ShapeError> {
    let t = Tuning::for_config::<T>(cfg, macs(batch, inp, out));
    forward_tuned(&t, Epilogue::Relu, x, w, b, y, batch, inp, out)
}

/// The affine layer, `y = x @ w + b` (no activation), summed as [`dense_forward`];
/// `inp == 0` gives `b` in every row. `Err`, touching nothing, if a length does not match
/// the shape.
pub fn linear_forward<T: MatFloat>(
    x: &[T],
    w: &[T],
    b: &[T],
    y: &mut [T],
    batch: usize,
    inp: usize,
    out: usize,
) -> Result<(), ShapeError> {
    linear_forward_with(&Config::current(), x, w, b, y, batch, inp, out)
}

/// [`linear_forward`] with the settings of `cfg`. Panics if `cfg.path` is `Avx2` and the CPU
/// lacks AVX2.
#[allow(clippy::too_many_arguments)]
pub fn linear_forward_with<T: MatFloat>(
    cfg: &Config,
    x: &[T],
    w: &[T],
    b: &[T],
    y: &mut [T],
    batch: usize,
    inp: usize,
    out: usize,
) -> Result<(), ShapeError> {
    let t = Tuning::for_config::<T>(cfg, macs(batch, inp, out));
    forward_tuned(&t, Epilogue::Identity, x, w, b, y, batch, inp, out)
}

/// `y = act(x @ w + b)`, summed as [`dense_forward`], `act` applied by its slice kernel to
/// each finished row segment of a tile (the same bits as applying the op to `y` after);
/// `None` is the identity ([`linear_forward`]). `Err`, touching nothing, if a length does
/// not match the shape.
#[allow(clippy::too_many_arguments)]
pub fn affine_forward<T: MatFloat>(
    x: &[T],
    w: &[T],
    b: &[T],
    y: &mut [T],
    batch: usize,
    inp: usize,
    out: usize,
    act: Option<Activation<T>>,
) -> Result<(), ShapeError> {
    affine_forward_with(&Config::current(), x, w, b, y, batch, inp, out, act)
}

/// [`affine_forward`] with the settings of `cfg`. Panics if `cfg.path` is `Avx2` and the CPU
/// lacks AVX2.
#[allow(clippy::too_many_arguments)]
pub fn affine_forward_with<T: MatFloat>(
    cfg: &Config,
    x: &[T],
    w: &[T],
    b: &[T],
    y: &mut [T],
    batch: usize,
    inp: usize,
    out: usize,
    act: Option<Activation<T>>,
) -> Result<(), ShapeError> {
    let t = Tuning::for_config::<T>(cfg, macs(batch, inp, out));
    let epi = match act {
        None => Epilogue::Identity,
        Some(op) => Epilogue::Op(op, cfg.path),
    };
    forward_tuned(&t, epi, x, w, b, y, batch, inp, out)
}

/// The forward pass with an explicit [`Tuning`]: `relu` (dense), else `act` (`None`: the
/// identity). For tests and benchmarks; the bits do not depend on `t`.
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub fn affine_forward_tuned<T: MatFloat>(
    t: &Tuning,
    relu: bool,
    act: Option<Activation<T>>,
    x: &[T],
    w: &[T],
    b: &[T],
    y: &mut [T],
    batch: usize,
    inp: usize,
    out: usize,
) -> Result<(), ShapeError> {
    let path = if t.kernel == GemmKernel::Portable {
        Path::Portable
    } else {
        crate::runtime::active_path()
    };
    let epi = match (relu, act) {
        (true, _) => Epilogue::Relu,
        (false, None) => Epilogue::Identity,
        (false, Some(op)) => Epilogue::Op(op, path),
    };
    forward_tuned(t, epi, x, w, b, y, batch, inp, out)
}

pub(crate) fn macs(batch: usize, inp: usize, out: usize) -> usize {
    batch.saturating_mul(inp).saturating_mul(out)
}

#[allow(clippy::too_many_arguments)]
fn forward_tuned<T: MatFloat>(
    t: &Tuning,
    epi: Epilogue<T>,
    x: &[T],
    w: &[T],
    b: &[T],
    y: &mut [T],
    batch: usize,
    inp: usize,
    out: usize,
) -> Result<(), ShapeError> {
    check_shape("x", x.len(), batch, inp)?;
    check_shape("w", w.len(), inp, out)?;
    check_shape("b", b.len(), out, 1)?;
    check_shape("y", y.len(), batch, out)?;
    let pr = Problem {
        m: batch,
        n: out,
        k: inp,
        a: Mat {
            ptr: x.as_ptr(),
            rs: inp,
            cs: 1,
        },
        b: Mat {
            ptr: w.as_ptr(),
            rs: out,
            cs: 1,
        },
        c: y.as_mut_ptr(),
        ldc: out,
        init: Init::Row(b.as_ptr()),
        epi,
    };
    // SAFETY: the lengths were checked against the shapes; y is borrowed exclusively and the
    // inputs shared for the whole call.
    unsafe { gemm(&pr, t.kernel, t.blocks, t.parts) };
    Ok(())
}
