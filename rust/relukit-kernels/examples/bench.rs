//! Micro benchmark of the ReLU slice kernels: portable vs AVX2 vs `copy_from_slice` (the
//! roofline: same bytes read and written, no compute), in place and out of place.
//!
//! Run with `cargo run --release --example bench` (add `-- quick` for fewer repeats; `-- split`
//! runs only the elementwise split sweep, `-- dense` only the dense layer, `-- nt` streaming
//! vs cached stores with threads after a copy, `-- nt-repeat` the same on back-to-back calls,
//! `-- thresholds` the built-in thresholds of earlier versions
//! against the ones derived from this machine's caches, side by side). Each
//! figure is the best of several timed runs after a warm-up; every timed run repeats the
//! kernel until it takes at least `MIN_RUN` so timer granularity does not matter. Throughput
//! is bytes read + bytes written per second (2 × n × element size per call), as for NumPy.

use std::hint::black_box;
use std::time::{Duration, Instant};

use relukit_kernels::dense_forward_with;
use relukit_kernels::elementwise::relu::{map_inplace_with, map_with, Op};
use relukit_kernels::runtime::{self, active_path, avx2_available, Config, Path, Thresholds};

/// The fixed thresholds of earlier versions (tuned on one 512 KiB-L2 machine).
const OLD: Thresholds = Thresholds {
    nt_min_bytes: 16 << 20,
    split_min_bytes: 1 << 20,
    dense_split_min_macs: 1 << 17,
};

fn single(path: Path, nt_min_bytes: usize) -> Config {
    Config::single(path, nt_min_bytes)
}

const MIN_RUN: Duration = Duration::from_millis(20);
/// Timed runs of the thread sweeps: short, and many of them (`SHORT_ROUNDS`), so that on a
/// machine shared with other jobs some runs find both cores free (the best run is kept).
const SHORT_RUN: Duration = Duration::from_millis(1);
const SHORT_ROUNDS: usize = 200;

/// A kernel under test: reads `x`, writes `y` (or rewrites `y` in place).
type Kernel<'a, T> = Box<dyn FnMut(&[T], &mut [T]) + 'a>;

/// Best seconds per call of each kernel over `repeats` rounds. The kernels take turns within
/// each round, so a noisy neighbour (shared memory bandwidth) hits all of them alike.
fn best_secs<T>(repeats: usize, x: &[T], y: &mut [T], kernels: &mut [Kernel<'_, T>]) -> Vec<f64> {
    best_secs_with(MIN_RUN, repeats, x, y, kernels)
}

/// [`best_secs`] with timed runs of at least `min_run`.
fn best_secs_with<T>(
    min_run: Duration,
    repeats: usize,
    x: &[T],
    y: &mut [T],
    kernels: &mut [Kernel<'_, T>],
) -> Vec<f64> {
    let mut iters = vec![1usize; kernels.len()];
    for (k, it) in kernels.iter_mut().zip(&mut iters) {
        k(black_box(x), black_box(&mut *y)); // warm-up: page faults, caches, frequency
        loop {
            let t = Instant::now();
            for _ in 0..*it {
                k(black_box(x), black_box(&mut *y));
            }
            if t.elapsed() >= min_run {
                break;
            }
            *it *= 2;
        }
    }
    let mut best = vec![f64::INFINITY; kernels.len()];
    for _ in 0..repeats {
        for ((k, &it), b) in kernels.iter_mut().zip(&iters).zip(&mut best) {
            let t = Instant::now();
            for _ in 0..it {
                k(black_box(x), black_box(&mut *y));
            }
            *b = b.min(t.elapsed().as_secs_f64() / it as f64);
        }
    }
    best
}

/// Values with about half of them negative, so both branches of the contract are exercised.
fn data<T: Copy>(n: usize, from_f64: fn(f64) -> T) -> Vec<T> {
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            from_f64((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0)
        })
        .collect()
}

fn gbs(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / secs / 1e9
}

/// One row: copy, portable, AVX2 (default streaming threshold) out of place and in place.
fn row<T: relukit_kernels::Float>(label: &str, n: usize, x: &[T], y: &mut [T], repeats: usize) {
    let (x, y) = (&x[..n], &mut y[..n]);
    let bytes = 2 * n * std::mem::size_of::<T>();
    let avx2 = avx2_available();
    let nt = Config::current().nt_min_bytes;
    let mut kernels: Vec<Kernel<'_, T>> = vec![
        Box::new(|x: &[T], y: &mut [T]| y.copy_from_slice(x)),
        Box::new(|x: &[T], y: &mut [T]| {
            map_with(&single(Path::Portable, usize::MAX), Op::Relu, x, y).unwrap()
        }),
        Box::new(|_: &[T], y: &mut [T]| {
            map_inplace_with(&single(Path::Portable, usize::MAX), Op::Relu, y)
        }),
    ];
    if avx2 {
        kernels.push(Box::new(|x: &[T], y: &mut [T]| {
            map_with(&single(Path::Avx2, nt), Op::Relu, x, y).unwrap()
        }));
        kernels.push(Box::new(|_: &[T], y: &mut [T]| {
            map_inplace_with(&single(Path::Avx2, usize::MAX), Op::Relu, y)
        }));
    }
    let r: Vec<f64> = best_secs(repeats, x, y, &mut kernels)
        .into_iter()
        .map(|s| gbs(bytes, s))
        .chain([f64::NAN, f64::NAN])
        .collect();
    let (copy, port, port_in, avx, avx_in) = (r[0], r[1], r[2], r[3], r[4]);
    println!(
        "| {label:<9} | {copy:>8.1} | {port:>8.1} | {avx:>8.1} | {:>5.2}x | {port_in:>8.1} | {avx_in:>8.1} | {:>5.2}x |",
        avx / copy,
        avx_in / copy
    );
}

/// One thread against two at each size (bytes read + written), out of place and in place,
/// on the process's path; the streaming choice is the default one (whole call) in both.
fn split_sweep(repeats: usize) {
    println!(
        "Split sweep (f32 relu, {:?}): time 1 thread / time 2 threads\n",
        active_path()
    );
    println!("| r+w KiB | 1 thr GB/s | 2 thr GB/s | out: 2 vs 1 | in place: 2 vs 1 |");
    println!("|---------|------------|------------|-------------|------------------|");
    let one = Config {
        threads: 1,
        ..Config::current()
    };
    let two = Config {
        threads: 2,
        split_min_bytes: 0,
        ..Config::current()
    };
    let max = 64 << 20;
    let x = data(max / 8, |v| v as f32);
    let mut y = vec![0.0f32; max / 8];
    for kib in [
        64usize, 128, 256, 384, 512, 768, 1024, 1536, 2048, 4096, 8192, 16384, 32768, 65536,
    ] {
        let n = (kib << 10) / 8;
        let bytes = 2 * n * 4;
        let mut kernels: Vec<Kernel<'_, f32>> = vec![
            Box::new(|x: &[f32], y: &mut [f32]| map_with(&one, Op::Relu, x, y).unwrap()),
            Box::new(|x: &[f32], y: &mut [f32]| map_with(&two, Op::Relu, x, y).unwrap()),
            Box::new(|_: &[f32], y: &mut [f32]| map_inplace_with(&one, Op::Relu, y)),
            Box::new(|_: &[f32], y: &mut [f32]| map_inplace_with(&two, Op::Relu, y)),
        ];
        let r = best_secs_with(SHORT_RUN, repeats, &x[..n], &mut y[..n], &mut kernels);
        println!(
            "| {kib:>7} | {:>10.1} | {:>10.1} | {:>10.2}x | {:>15.2}x |",
            gbs(bytes, r[0]),
            gbs(bytes, r[1]),
            r[0] / r[1],
            r[2] / r[3]
        );
    }
}

/// Dense layer shapes: portable vs AVX2 on one thread vs AVX2 on two (split forced).
fn dense_sweep(repeats: usize) {
    println!("Dense sweep (f32): us per call; threads split forced for the 2-thread column\n");
    println!("| batch x in -> out | MACs    | portable | avx2 1 thr | avx2 2 thr | 2 vs 1 |");
    println!("|-------------------|---------|----------|------------|------------|--------|");
    let one = Config {
        threads: 1,
        ..Config::current()
    };
    let port = Config {
        path: Path::Portable,
        ..one
    };
    let two = Config {
        threads: 2,
        dense_split_min_macs: 0,
        ..Config::current()
    };
    for (batch, inp, out) in [
        (1usize, 3usize, 2usize),
        (1, 64, 64),
        (1, 128, 128),
        (1, 256, 128),
        (1, 256, 256),
        (1, 512, 256),
        (1, 784, 256),
        (4, 784, 256),
        (16, 784, 256),
        (64, 784, 256),
        (256, 256, 16),
    ] {
        let x = data(batch * inp, |v| v as f32);
        let w = data(inp * out, |v| v as f32 * 0.1);
        let b = data(out, |v| v as f32);
        let mut kernels: Vec<Kernel<'_, f32>> = vec![
            Box::new(|_: &[f32], y: &mut [f32]| {
                dense_forward_with(&port, &x, &w, &b, y, batch, inp, out).unwrap()
            }),
            Box::new(|_: &[f32], y: &mut [f32]| {
                dense_forward_with(&one, &x, &w, &b, y, batch, inp, out).unwrap()
            }),
            Box::new(|_: &[f32], y: &mut [f32]| {
                dense_forward_with(&two, &x, &w, &b, y, batch, inp, out).unwrap()
            }),
        ];
        let mut y = vec![0.0f32; batch * out];
        let r = best_secs_with(SHORT_RUN, repeats, &[], &mut y, &mut kernels);
        println!(
            "| {:<17} | {:>7} | {:>8.2} | {:>10.2} | {:>10.2} | {:>5.2}x |",
            format!("{batch} x {inp} -> {out}"),
            batch * inp * out,
            r[0] * 1e6,
            r[1] * 1e6,
            r[2] * 1e6,
            r[1] / r[2]
        );
    }
}

/// Around the streaming threshold with 1 and 2 threads: cached vs streaming stores, each
/// run after a plain copy over the same buffers (as in a benchmark that interleaves NumPy,
/// which leaves `y` dirty in the caches).
fn nt_sweep(repeats: usize) {
    println!("Streaming stores with threads (f32 relu out of place after a copy: us per pair)\n");
    println!("| r+w MiB | copy only | cached 1 | stream 1 | cached 2 | stream 2 |");
    println!("|---------|-----------|----------|----------|----------|----------|");
    let max = 64 << 20;
    let x = data(max / 8, |v| v as f32);
    let mut y = vec![0.0f32; max / 8];
    for mib in [8usize, 16, 24, 32, 48, 64] {
        let n = (mib << 20) / 8;
        let bytes = 2 * n * 4;
        let cfg = |threads: usize, nt: usize| Config {
            threads,
            nt_min_bytes: nt,
            split_min_bytes: 0,
            ..Config::current()
        };
        let (c1, s1, c2, s2) = (cfg(1, usize::MAX), cfg(1, 0), cfg(2, usize::MAX), cfg(2, 0));
        let mut kernels: Vec<Kernel<'_, f32>> = vec![
            Box::new(|x: &[f32], y: &mut [f32]| {
                y.copy_from_slice(x);
                map_with(&c1, Op::Relu, x, y).unwrap()
            }),
            Box::new(|x: &[f32], y: &mut [f32]| {
                y.copy_from_slice(x);
                map_with(&s1, Op::Relu, x, y).unwrap()
            }),
            Box::new(|x: &[f32], y: &mut [f32]| {
                y.copy_from_slice(x);
                map_with(&c2, Op::Relu, x, y).unwrap()
            }),
            Box::new(|x: &[f32], y: &mut [f32]| {
                y.copy_from_slice(x);
                map_with(&s2, Op::Relu, x, y).unwrap()
            }),
            Box::new(|x: &[f32], y: &mut [f32]| y.copy_from_slice(x)),
        ];
        let r = best_secs_with(SHORT_RUN, repeats, &x[..n], &mut y[..n], &mut kernels);
        let _ = bytes;
        let us = |i: usize| r[i] * 1e6;
        println!(
            "| {mib:>7} | {:>9.0} | {:>8.0} | {:>8.0} | {:>8.0} | {:>8.0} |",
            us(4),
            us(0),
            us(1),
            us(2),
            us(3)
        );
    }
}

/// The thresholds of earlier versions against the derived ones, relu float32 out of place
/// and in place, 1 and 2 threads, interleaved in the same rounds: us per call.
fn thresholds_sweep(repeats: usize) {
    let info = runtime::info();
    let new = info.thresholds;
    println!(
        "Machine: {} path, L2 {} KiB, L3 {} MiB ({}), {} cores",
        info.path.name(),
        info.caches.l2_bytes >> 10,
        info.caches.l3_bytes >> 20,
        info.caches.source.name(),
        info.caches.cores
    );
    println!(
        "old: nt {} MiB, split {} KiB; derived: nt {} MiB, split {} KiB\n",
        OLD.nt_min_bytes >> 20,
        OLD.split_min_bytes >> 10,
        new.nt_min_bytes >> 20,
        new.split_min_bytes >> 10
    );
    println!("| relu f32 | threads | old out us | new out us | new/old | old in us | new in us | new/old |");
    println!("|----------|---------|------------|------------|---------|-----------|-----------|---------|");
    let max = 64 << 20;
    let x = data(max, |v| v as f32);
    let mut y = vec![0.0f32; max];
    for (label, n) in [
        ("256K", 256usize << 10),
        ("1M", 1 << 20),
        ("4M", 4 << 20),
        ("8M", 8 << 20),
        ("16M", 16 << 20),
        ("64M", 64 << 20),
    ] {
        for threads in [1usize, 2] {
            let old = Config::new(active_path(), threads, &OLD);
            let new = Config::new(active_path(), threads, &new);
            let mut kernels: Vec<Kernel<'_, f32>> = vec![
                Box::new(|x: &[f32], y: &mut [f32]| map_with(&old, Op::Relu, x, y).unwrap()),
                Box::new(|x: &[f32], y: &mut [f32]| map_with(&new, Op::Relu, x, y).unwrap()),
                Box::new(|_: &[f32], y: &mut [f32]| map_inplace_with(&old, Op::Relu, y)),
                Box::new(|_: &[f32], y: &mut [f32]| map_inplace_with(&new, Op::Relu, y)),
            ];
            let run = if n >= 16 << 20 { MIN_RUN } else { SHORT_RUN };
            let reps = if n >= 16 << 20 {
                repeats.min(15)
            } else {
                repeats
            };
            let r = best_secs_with(run, reps, &x[..n], &mut y[..n], &mut kernels);
            let us = |i: usize| r[i] * 1e6;
            println!(
                "| {label:<8} | {threads:>7} | {:>10.0} | {:>10.0} | {:>6.2}x | {:>9.0} | {:>9.0} | {:>6.2}x |",
                us(0),
                us(1),
                r[1] / r[0],
                us(2),
                us(3),
                r[3] / r[2]
            );
        }
    }
}

/// Cached against streaming stores on back-to-back calls over the same buffers (as `relukit
/// bench` times them), 1 and 2 threads: us per call, best of `repeats` interleaved runs.
fn nt_repeat_sweep(repeats: usize) {
    println!("Back-to-back f32 relu out of place: cached vs streaming stores, us per call\n");
    println!("| r+w MiB | cached 1 | stream 1 | s/c 1  | cached 2 | stream 2 | s/c 2  |");
    println!("|---------|----------|----------|--------|----------|----------|--------|");
    let max = 256 << 20;
    let x = data(max / 8, |v| v as f32);
    let mut y = vec![0.0f32; max / 8];
    for mib in [4usize, 8, 16, 32, 48, 64, 128, 256] {
        let n = (mib << 20) / 8;
        let cfg = |threads: usize, nt: usize| Config {
            threads,
            nt_min_bytes: nt,
            split_min_bytes: 0,
            ..Config::current()
        };
        let (c1, s1, c2, s2) = (cfg(1, usize::MAX), cfg(1, 0), cfg(2, usize::MAX), cfg(2, 0));
        let mut kernels: Vec<Kernel<'_, f32>> = vec![
            Box::new(|x: &[f32], y: &mut [f32]| map_with(&c1, Op::Relu, x, y).unwrap()),
            Box::new(|x: &[f32], y: &mut [f32]| map_with(&s1, Op::Relu, x, y).unwrap()),
            Box::new(|x: &[f32], y: &mut [f32]| map_with(&c2, Op::Relu, x, y).unwrap()),
            Box::new(|x: &[f32], y: &mut [f32]| map_with(&s2, Op::Relu, x, y).unwrap()),
        ];
        let r = best_secs(repeats, &x[..n], &mut y[..n], &mut kernels);
        let us = |i: usize| r[i] * 1e6;
        println!(
            "| {mib:>7} | {:>8.0} | {:>8.0} | {:>5.2}x | {:>8.0} | {:>8.0} | {:>5.2}x |",
            us(0),
            us(1),
            r[1] / r[0],
            us(2),
            us(3),
            r[3] / r[2]
        );
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let repeats = if quick { 3 } else { 9 };
    if std::env::args().any(|a| a == "nt-repeat") {
        nt_repeat_sweep(if quick { 3 } else { 7 });
        return;
    }
    if std::env::args().any(|a| a == "thresholds") {
        thresholds_sweep(if quick { 10 } else { 60 });
        return;
    }
    if std::env::args().any(|a| a == "nt") {
        nt_sweep(if quick { 5 } else { 30 });
        return;
    }
    if std::env::args().any(|a| a == "dense") {
        dense_sweep(if quick { 20 } else { SHORT_ROUNDS });
        return;
    }
    if std::env::args().any(|a| a == "split") {
        split_sweep(if quick { 20 } else { SHORT_ROUNDS });
        return;
    }
    println!(
        "AVX2 available: {}; streaming stores above {} MiB read+written; GB/s = (read + written) / s\n",
        avx2_available(),
        Config::current().nt_min_bytes >> 20
    );
    println!(
        "| case      | copy     | port out | avx2 out | /copy  | port in  | avx2 in  | /copy  |"
    );
    println!(
        "|-----------|----------|----------|----------|--------|----------|----------|--------|"
    );
    let max = 64 << 20;
    let x32 = data(max, |v| v as f32);
    let mut y32 = vec![0.0f32; max];
    for (label, n) in [
        ("f32 4K", 4 << 10),
        ("f32 64K", 64 << 10),
        ("f32 1M", 1 << 20),
        ("f32 16M", 16 << 20),
        ("f32 64M", 64 << 20),
    ] {
        let reps = if n >= 16 << 20 {
            repeats.min(5)
        } else {
            repeats
        };
        row(label, n, &x32, &mut y32, reps);
    }
    let x64 = data(1 << 20, |v| v);
    let mut y64 = vec![0.0f64; 1 << 20];
    row("f64 1M", 1 << 20, &x64, &mut y64, repeats);

    if !avx2_available() {
        return;
    }
    // Where streaming stores start to pay: AVX2 out of place, cached vs streaming stores.
    println!("\nStreaming threshold sweep (f32, AVX2 relu out of place, GB/s)\n");
    println!("| r+w MiB | copy     | cached   | stream   | stream/cached |");
    println!("|---------|----------|----------|----------|---------------|");
    for mib in [4usize, 8, 12, 14, 16, 20, 24, 32, 64, 128] {
        let n = (mib << 20) / 8;
        let bytes = 2 * n * 4;
        let mut kernels: Vec<Kernel<'_, f32>> = vec![
            Box::new(|x: &[f32], y: &mut [f32]| y.copy_from_slice(x)),
            Box::new(|x: &[f32], y: &mut [f32]| {
                map_with(&single(Path::Avx2, usize::MAX), Op::Relu, x, y).unwrap()
            }),
            Box::new(|x: &[f32], y: &mut [f32]| {
                map_with(&single(Path::Avx2, 0), Op::Relu, x, y).unwrap()
            }),
        ];
        let r = best_secs(repeats, &x32[..n], &mut y32[..n], &mut kernels);
        let (copy, cached, stream) = (gbs(bytes, r[0]), gbs(bytes, r[1]), gbs(bytes, r[2]));
        println!(
            "| {mib:>7} | {copy:>8.1} | {cached:>8.1} | {stream:>8.1} | {:>12.2}x |",
            stream / cached
        );
    }
}
