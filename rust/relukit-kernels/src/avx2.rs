//! Explicit AVX2 slice kernels for ReLU and its derivative (x86-64 only).
//!
//! Every kernel works on the bit pattern as signed integers, never with float compares, so NaN
//! payloads (signaling ones too) pass through and DAZ/FTZ modes cannot flush subnormals:
//!
//! * `relu`: as a signed integer, every value with the sign set that is not a NaN (`-0.0`,
//!   negative subnormals and normals, `-inf`) is `<= bits(-inf)`, and everything else (the sign
//!   clear, or a negative NaN) is `> bits(-inf)`. So `relu(x) = x & (x > bits(-inf))`, one
//!   compare and one `and` per vector.
//! * `relu_grad`: NaN is `|x| > bits(+inf)`; positive is `x > 0` as a signed integer (sign clear,
//!   nonzero; positive NaNs too, but the NaN mask wins). Result `(x & nan) | (1.0 & pos & !nan)`.
//!
//! Loops run a scalar head until the destination is 32-byte aligned, then four vectors per
//! iteration (unaligned loads), then single vectors, then a scalar tail; head and tail use the
//! [`Float`] methods (the reference the vector code must match). The streaming variants store
//! with `vmovntdq` (bypassing the caches) and finish with `sfence`.
//!
//! Safety contract shared by every `unsafe fn` here: the CPU supports AVX2 (the caller checked
//! with `is_x86_feature_detected!`), and the pointer arguments are valid for `n` elements (the
//! input may be the output itself, element for element, for the in-place forms).

use core::arch::x86_64::{
    __m256i, _mm256_and_si256, _mm256_andnot_si256, _mm256_cmpgt_epi32, _mm256_cmpgt_epi64,
    _mm256_loadu_si256, _mm256_or_si256, _mm256_set1_epi32, _mm256_set1_epi64x,
    _mm256_setzero_si256, _mm256_storeu_si256, _mm256_stream_si256, _mm_sfence,
};
use core::mem::size_of;

use crate::simd::Op;
use crate::Float;

/// ReLU of eight f32 bit patterns.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn relu_f32x8(b: __m256i) -> __m256i {
    let keep = _mm256_cmpgt_epi32(b, _mm256_set1_epi32(f32::NEG_INFINITY.to_bits() as i32));
    _mm256_and_si256(b, keep)
}

/// ReLU derivative of eight f32 bit patterns.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn grad_f32x8(b: __m256i) -> __m256i {
    let abs = _mm256_and_si256(b, _mm256_set1_epi32(i32::MAX));
    let nan = _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(f32::INFINITY.to_bits() as i32));
    let pos = _mm256_cmpgt_epi32(b, _mm256_setzero_si256());
    let one = _mm256_and_si256(pos, _mm256_set1_epi32(1.0f32.to_bits() as i32));
    _mm256_or_si256(_mm256_and_si256(nan, b), _mm256_andnot_si256(nan, one))
}

/// ReLU of four f64 bit patterns.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn relu_f64x4(b: __m256i) -> __m256i {
    let keep = _mm256_cmpgt_epi64(b, _mm256_set1_epi64x(f64::NEG_INFINITY.to_bits() as i64));
    _mm256_and_si256(b, keep)
}

/// ReLU derivative of four f64 bit patterns.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn grad_f64x4(b: __m256i) -> __m256i {
    let abs = _mm256_and_si256(b, _mm256_set1_epi64x(i64::MAX));
    let nan = _mm256_cmpgt_epi64(abs, _mm256_set1_epi64x(f64::INFINITY.to_bits() as i64));
    let pos = _mm256_cmpgt_epi64(b, _mm256_setzero_si256());
    let one = _mm256_and_si256(pos, _mm256_set1_epi64x(1.0f64.to_bits() as i64));
    _mm256_or_si256(_mm256_and_si256(nan, b), _mm256_andnot_si256(nan, one))
}

/// The body shared by both store kinds: a scalar head up to the first 32-byte aligned
/// destination element (so no vector store splits a cache line, and the streaming store's
/// alignment requirement holds), four vectors per iteration, single vectors, a scalar tail.
macro_rules! map_body {
    ($t:ty, $vop:ident, $sop:ident, $store:ident, $x:ident, $y:ident, $n:ident) => {{
        const L: usize = 32 / size_of::<$t>();
        // `y` is aligned to the element size, so the distance is a whole number of elements.
        let mis = ($y as usize) & 31;
        let head = if mis == 0 {
            0
        } else {
            (32 - mis) / size_of::<$t>()
        };
        let head = head.min($n);
        let mut i = 0;
        while i < head {
            // SAFETY: i < head <= n, inside both buffers.
            unsafe { *$y.add(i) = <$t as Float>::$sop(*$x.add(i)) };
            i += 1;
        }
        while i + 4 * L <= $n {
            // SAFETY: i + 4L <= n, so all four vectors lie inside both buffers; y.add(i) is
            // 32-byte aligned (i = head + a multiple of L), loads need no alignment, and all
            // loads come before the stores (so x == y is fine).
            unsafe {
                let a0 = _mm256_loadu_si256($x.add(i).cast());
                let a1 = _mm256_loadu_si256($x.add(i + L).cast());
                let a2 = _mm256_loadu_si256($x.add(i + 2 * L).cast());
                let a3 = _mm256_loadu_si256($x.add(i + 3 * L).cast());
                $store($y.add(i).cast(), $vop(a0));
                $store($y.add(i + L).cast(), $vop(a1));
                $store($y.add(i + 2 * L).cast(), $vop(a2));
                $store($y.add(i + 3 * L).cast(), $vop(a3));
            }
            i += 4 * L;
        }
        while i + L <= $n {
            // SAFETY: i + L <= n, inside both buffers; y.add(i) is 32-byte aligned.
            unsafe { $store($y.add(i).cast(), $vop(_mm256_loadu_si256($x.add(i).cast()))) };
            i += L;
        }
        while i < $n {
            // SAFETY: i < n, inside both buffers.
            unsafe { *$y.add(i) = <$t as Float>::$sop(*$x.add(i)) };
            i += 1;
        }
    }};
}

/// Generates, for one element type and one op, a cached-store kernel (`x` may equal `y`) and a
/// streaming-store kernel (`x` and `y` must not overlap).
macro_rules! kernels {
    ($t:ty, $vop:ident, $sop:ident, $cached:ident, $stream:ident) => {
        /// `y[i] = op(x[i])` for `i < n` with ordinary stores; `x == y` is allowed.
        #[target_feature(enable = "avx2")]
        unsafe fn $cached(x: *const $t, y: *mut $t, n: usize) {
            map_body!($t, $vop, $sop, _mm256_storeu_si256, x, y, n);
        }

        /// `y[i] = op(x[i])` for `i < n` with non-temporal stores; `x` and `y` do not overlap.
        #[target_feature(enable = "avx2")]
        unsafe fn $stream(x: *const $t, y: *mut $t, n: usize) {
            map_body!($t, $vop, $sop, _mm256_stream_si256, x, y, n);
            // Order the weakly-ordered streaming stores before anything that follows.
            _mm_sfence();
        }
    };
}

kernels!(f32, relu_f32x8, relu, relu_f32, relu_f32_nt);
kernels!(f32, grad_f32x8, relu_grad, grad_f32, grad_f32_nt);
kernels!(f64, relu_f64x4, relu, relu_f64, relu_f64_nt);
kernels!(f64, grad_f64x4, relu_grad, grad_f64, grad_f64_nt);

/// Generates the slice entry points for one element type.
macro_rules! entry_points {
    ($t:ty, $map:ident, $map_inplace:ident, $relu:ident, $relu_nt:ident, $grad:ident, $grad_nt:ident) => {
        /// `y = op(x)` over `min(x.len(), y.len())` elements, with streaming (non-temporal)
        /// stores if `stream`.
        ///
        /// # Safety
        ///
        /// The CPU must support AVX2.
        #[target_feature(enable = "avx2")]
        pub(crate) unsafe fn $map(op: Op, x: &[$t], y: &mut [$t], stream: bool) {
            let n = x.len().min(y.len());
            let (xp, yp) = (x.as_ptr(), y.as_mut_ptr());
            // SAFETY: AVX2 per this function's contract; both slices hold >= n elements and,
            // being & and &mut, do not overlap.
            unsafe {
                match (op, stream) {
                    (Op::Relu, false) => $relu(xp, yp, n),
                    (Op::Relu, true) => $relu_nt(xp, yp, n),
                    (Op::Grad, false) => $grad(xp, yp, n),
                    (Op::Grad, true) => $grad_nt(xp, yp, n),
                }
            }
        }

        /// `y = op(y)` with ordinary stores.
        ///
        /// # Safety
        ///
        /// The CPU must support AVX2.
        #[target_feature(enable = "avx2")]
        pub(crate) unsafe fn $map_inplace(op: Op, y: &mut [$t]) {
            let n = y.len();
            let p = y.as_mut_ptr();
            // Hide from LLVM that the input pointer is the output: knowing it, LLVM turns
            // load-and-store into a masked store of zeros (vpmaskmovq), about 2x slower on AMD.
            let xp: *const $t = core::hint::black_box(p);
            // SAFETY: AVX2 per this function's contract; xp == p is valid for n elements, and the
            // cached kernels allow input == output.
            unsafe {
                match op {
                    Op::Relu => $relu(xp, p, n),
                    Op::Grad => $grad(xp, p, n),
                }
            }
        }
    };
}

entry_points!(
    f32,
    map_f32,
    map_inplace_f32,
    relu_f32,
    relu_f32_nt,
    grad_f32,
    grad_f32_nt
);
entry_points!(
    f64,
    map_f64,
    map_inplace_f64,
    relu_f64,
    relu_f64_nt,
    grad_f64,
    grad_f64_nt
);
