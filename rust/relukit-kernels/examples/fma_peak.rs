//! The FMA peak of one core and the matrix product against it.
//!
//! `cargo run --release --example fma_peak`: twelve independent chains of vector fused
//! multiply-adds (AVX2 and, where the CPU has it, AVX-512), the best of several runs, in
//! GFLOP/s (2 flops per lane and FMA); then `relu(x @ w + b)` of a 1024 -> 1024 layer at
//! batch 256 on one thread with each micro-kernel, as GFLOP/s and % of the matching peak.
//! `-- sweep` also times the depth blocks (kc) of each kernel; `-- threads` times the layer
//! shapes of `relukit bench` on 1 and 2 threads.

use std::time::Instant;

use relukit_kernels::dense::forward::{affine_forward_tuned, Tuning};
use relukit_kernels::runtime::{GemmBlocks, GemmKernel};

#[cfg(target_arch = "x86_64")]
#[allow(clippy::incompatible_msrv)] // AVX-512 intrinsics: Rust 1.89
mod peak {
    use core::arch::x86_64::*;

    macro_rules! chains {
        ($name:ident, $feat:literal, $v:ty, $set1:ident, $fma:ident, $add:ident, $red:expr) => {
            /// `iters` rounds of 12 independent FMAs; returns a value so nothing is elided.
            #[target_feature(enable = $feat)]
            pub unsafe fn $name(iters: usize) -> f32 {
                let m = $set1(std::hint::black_box(0.999_999));
                let d = $set1(std::hint::black_box(1e-7));
                let mut a: [$v; 12] = [$set1(1.0); 12];
                for (i, v) in a.iter_mut().enumerate() {
                    *v = $set1(1.0 + i as f32 * 1e-3);
                }
                for _ in 0..std::hint::black_box(iters) {
                    for v in a.iter_mut() {
                        *v = $fma(*v, m, d);
                    }
                }
                let mut s = a[0];
                for v in &a[1..] {
                    s = $add(s, *v);
                }
                $red(s)
            }
        };
    }
    chains!(
        avx2,
        "avx2,fma",
        __m256,
        _mm256_set1_ps,
        _mm256_fmadd_ps,
        _mm256_add_ps,
        |s: __m256| _mm256_cvtss_f32(s)
    );
    chains!(
        avx512,
        "avx512f",
        __m512,
        _mm512_set1_ps,
        _mm512_fmadd_ps,
        _mm512_add_ps,
        |s: __m512| _mm512_reduce_add_ps(s)
    );
}

/// Best GFLOP/s of `f` doing `flops` per call.
fn best(flops: f64, rounds: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t = f64::INFINITY;
    for _ in 0..rounds {
        let s = Instant::now();
        f();
        t = t.min(s.elapsed().as_secs_f64());
    }
    flops / t / 1e9
}

/// `relu(x @ w + b)` at the bench's shapes, 1 and 2 threads, both types, best of 25.
fn threads() {
    let kernel = GemmKernel::for_path(relukit_kernels::runtime::active_path());
    for (m, k, n) in [
        (1, 784, 256),
        (32, 784, 256),
        (256, 784, 256),
        (256, 1024, 1024),
    ] {
        let x: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.1)
            .collect();
        let w: Vec<f32> = (0..k * n)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) * 0.01)
            .collect();
        let b = vec![0.1f32; n];
        let mut y = vec![0.0f32; m * n];
        let xd: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let wd: Vec<f64> = w.iter().map(|&v| v as f64).collect();
        let bd = vec![0.1f64; n];
        let mut yd = vec![0.0f64; m * n];
        let flops = (2 * m * k * n) as f64;
        let mut line = format!("{m}x{k}->{n}:");
        for parts in [1, 2] {
            let t4 = Tuning {
                kernel,
                blocks: GemmBlocks::detected(kernel, 4),
                parts,
            };
            let t8 = Tuning {
                kernel,
                blocks: GemmBlocks::detected(kernel, 8),
                parts,
            };
            let g = best(flops, 25, || {
                affine_forward_tuned(&t4, true, None, &x, &w, &b, &mut y, m, k, n).unwrap()
            });
            let gd = best(flops, 25, || {
                affine_forward_tuned(&t8, true, None, &xd, &wd, &bd, &mut yd, m, k, n).unwrap()
            });
            line += &format!("  {parts} thread(s) f32 {g:.1} f64 {gd:.1} GFLOP/s");
        }
        println!("{line}");
    }
}

fn main() {
    if std::env::args().any(|a| a == "threads") {
        threads();
        return;
    }
    let sweep = std::env::args().any(|a| a == "sweep");
    let iters = 1_000_000usize;
    let mut peaks = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if relukit_kernels::runtime::fma_available() {
            // SAFETY: AVX2 and FMA checked just above.
            let g = best((iters * 12 * 8 * 2) as f64, 60, || {
                std::hint::black_box(unsafe { peak::avx2(iters) });
            });
            println!("FMA peak, one core, AVX2 (12 chains of 8 f32): {g:.1} GFLOP/s");
            peaks.push((GemmKernel::Avx2Fma, g));
        }
        if relukit_kernels::runtime::avx512_available() {
            // SAFETY: AVX-512F checked just above.
            let g = best((iters * 12 * 16 * 2) as f64, 60, || {
                std::hint::black_box(unsafe { peak::avx512(iters) });
            });
            println!("FMA peak, one core, AVX-512 (12 chains of 16 f32): {g:.1} GFLOP/s");
            peaks.push((GemmKernel::Avx512, g));
        }
    }
    let (m, k, n) = (256usize, 1024usize, 1024usize);
    let x: Vec<f32> = (0..m * k)
        .map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.1)
        .collect();
    let w: Vec<f32> = (0..k * n)
        .map(|i| ((i * 5 % 11) as f32 - 5.0) * 0.01)
        .collect();
    let b = vec![0.1f32; n];
    let mut y = vec![0.0f32; m * n];
    let flops = (2 * m * k * n) as f64;
    let xd: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let wd: Vec<f64> = w.iter().map(|&v| v as f64).collect();
    let bd = vec![0.1f64; n];
    let mut yd = vec![0.0f64; m * n];
    for (kernel, peak) in peaks {
        let detected = GemmBlocks::detected(kernel, 4);
        let mut kcs = vec![detected.kc];
        if sweep {
            kcs.extend([64, 96, 128, 192, 256, 384, 512]);
        }
        for kc in kcs {
            let t = Tuning {
                kernel,
                blocks: GemmBlocks { kc, ..detected },
                parts: 1,
            };
            let g = best(flops, 15, || {
                affine_forward_tuned(&t, true, None, &x, &w, &b, &mut y, m, k, n).unwrap()
            });
            let gd = best(flops, 7, || {
                affine_forward_tuned(&t, true, None, &xd, &wd, &bd, &mut yd, m, k, n).unwrap()
            });
            println!(
                "dense 1024->1024 batch 256, 1 thread, {} kc={kc} (mc={} nc={}): f32 {g:.1} GFLOP/s = {:.0}% of its peak; f64 {gd:.1} GFLOP/s = {:.0}% of half its peak",
                kernel.name(),
                detected.mc,
                detected.nc,
                100.0 * g / peak,
                200.0 * gd / peak
            );
        }
    }
}
