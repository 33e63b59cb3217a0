//! The AVX2 tile entry of the sealed kernel trait (`lib.rs`): one tile of a forward pass,
//! now computed by the matrix product of `gemm.rs` with the AVX2-path micro-kernel (the same
//! bits as every other path).

use crate::dense::gemm::{gemm, Epilogue, Init, Mat, Problem};
use crate::dense::Bufs;
use crate::runtime::{GemmBlocks, GemmKernel, Path};

macro_rules! dense_tile {
    ($modname:ident, $t:ty) => {
        pub(crate) mod $modname {
            use super::*;

            /// Rows `rows.0..rows.1` x columns `cols.0..cols.1` of the forward pass `p`.
            ///
            /// # Safety
            ///
            /// The buffers of `p` valid as [`Bufs`] documents, the tile inside the output, no
            /// other thread writing it.
            pub(crate) unsafe fn tile(p: &Bufs<$t>, rows: (usize, usize), cols: (usize, usize)) {
                let kernel = GemmKernel::for_path(Path::Avx2);
                let pr = Problem {
                    m: rows.1 - rows.0,
                    n: cols.1 - cols.0,
                    k: p.inp,
                    // SAFETY: row rows.0 and column cols.0 lie inside x, w, b and y.
                    a: Mat {
                        ptr: unsafe { p.x.add(rows.0 * p.inp) },
                        rs: p.inp,
                        cs: 1,
                    },
                    b: Mat {
                        ptr: unsafe { p.w.add(cols.0) },
                        rs: p.out,
                        cs: 1,
                    },
                    c: unsafe { p.y.add(rows.0 * p.out + cols.0) },
                    ldc: p.out,
                    init: Init::Row(unsafe { p.b.add(cols.0) }),
                    epi: if p.relu {
                        Epilogue::Relu
                    } else {
                        Epilogue::Identity
                    },
                };
                let blocks = GemmBlocks::detected(kernel, core::mem::size_of::<$t>());
                // SAFETY: the caller's contract; one thread.
                unsafe { gemm(&pr, kernel, blocks, 1) }
            }
        }
    };
}

dense_tile!(f32, f32);
dense_tile!(f64, f64);
