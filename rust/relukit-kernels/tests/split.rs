//! Splitting calls over threads: the pool runs every chunk exactly once, chunk boundaries are
//! 64-byte aligned, and split elementwise and dense calls give the same bits as one thread on
//! every path, thread count, length (around the split threshold and the chunk edges), offset,
//! in place and out of place, with streaming stores on and off.
//!
//! Calls here may find the pool busy with another test's call and then run on their own
//! thread; the results must be the same either way. `split_process.rs` (a binary with one test)
//! checks that calls really go through the pool.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::{assert_bits_eq, Rng, TestFloat};
use relukit_kernels::dense_forward_with;
use relukit_kernels::elementwise::relu::{map_inplace_with, map_with, Op};
use relukit_kernels::runtime::{
    avx2_available, chunk_start, pool, Config, Path, Thresholds, CHUNKS_PER_THREAD,
};

/// A split threshold for the tests around it (bytes read + written).
const SPLIT_AT: usize = 1 << 20;
/// A streaming threshold for the tests around it.
const NT_AT: usize = 3 << 20;
use relukit_kernels::Float;

fn paths() -> Vec<Path> {
    if avx2_available() {
        vec![Path::Portable, Path::Avx2]
    } else {
        vec![Path::Portable]
    }
}

fn scalar<T: Float>(op: Op) -> fn(T) -> T {
    match op {
        Op::Relu => T::relu,
        Op::Grad => T::relu_grad,
    }
}

/// Settings that split every call (`split_min_bytes: 0`) over `threads` threads.
fn forced(path: Path, threads: usize, nt_min_bytes: usize) -> Config {
    Config {
        path,
        nt_min_bytes,
        threads,
        split_min_bytes: 0,
        dense_split_min_macs: 0,
    }
}

#[test]
fn pool_runs_every_chunk_exactly_once() {
    for parts in 0..6 {
        for n in [0usize, 1, 2, 3, 5, 8, 17, 40, pool::MAX_CHUNKS] {
            let counts: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
            pool::run(parts, n, |c| {
                counts[c].fetch_add(1, Ordering::Relaxed);
            });
            for (c, k) in counts.iter().enumerate() {
                assert_eq!(
                    k.load(Ordering::Relaxed),
                    1,
                    "parts={parts} n={n} chunk {c}"
                );
            }
        }
    }
}

#[test]
fn pool_serves_concurrent_callers() {
    // Four threads call at once: one gets the pool, the others run on their own thread.
    std::thread::scope(|s| {
        for t in 0..4 {
            s.spawn(move || {
                for round in 0..50 {
                    let n = 3 + (t + round) % 20;
                    let counts: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
                    pool::run(2, n, |c| {
                        counts[c].fetch_add(1, Ordering::Relaxed);
                    });
                    assert!(counts.iter().all(|k| k.load(Ordering::Relaxed) == 1));
                }
            });
        }
    });
}

#[test]
fn pool_reraises_a_panicking_chunk_and_stays_usable() {
    for bad in [0usize, 5, 7] {
        let r = std::panic::catch_unwind(|| {
            pool::run(2, 8, |c| {
                if c == bad {
                    panic!("chunk {c} fails");
                }
            })
        });
        assert!(r.is_err(), "chunk {bad}: the panic must reach the caller");
    }
    let done = AtomicUsize::new(0);
    pool::run(2, 8, |_| {
        done.fetch_add(1, Ordering::Relaxed);
    });
    assert_eq!(done.load(Ordering::Relaxed), 8);
}

#[test]
#[should_panic(expected = "too many chunks")]
fn pool_refuses_more_chunks_than_it_tracks() {
    pool::run(2, pool::MAX_CHUNKS + 1, |_| {});
}

#[test]
fn chunk_starts_are_monotonic_aligned_and_cover_everything() {
    for size in [4usize, 8] {
        for y_off in 0..(64 / size) {
            let y_addr = 4096 + y_off * size;
            for n in [0usize, 1, 2, 15, 16, 17, 100, 1000, 4097, 1 << 20] {
                for n_chunks in [1usize, 2, 3, 4, 8, 9, 64] {
                    let starts: Vec<usize> = (0..=n_chunks)
                        .map(|c| chunk_start(c, n_chunks, n, y_addr, size))
                        .collect();
                    let what = format!("size={size} y_off={y_off} n={n} chunks={n_chunks}");
                    assert_eq!(starts[0], 0, "{what}");
                    assert_eq!(starts[n_chunks], n, "{what}");
                    assert!(
                        starts.windows(2).all(|w| w[0] <= w[1]),
                        "{what}: {starts:?}"
                    );
                    for &s in &starts[1..n_chunks] {
                        assert!(s == n || (y_addr + s * size) % 64 == 0, "{what}: start {s}");
                    }
                    // No chunk much longer than its share (at most one cache line more).
                    let share = n.div_ceil(n_chunks) + 64 / size;
                    assert!(starts.windows(2).all(|w| w[1] - w[0] <= share), "{what}");
                }
            }
        }
    }
}

/// Split and single-thread results against the scalar op, out of place (into an offset
/// window of a sentinel-filled buffer) and in place, for `threads` threads.
fn check_split<T: TestFloat>(x: &[T], y_off: usize, threads: usize, what: &str) {
    let n = x.len();
    let sentinel = T::from_f64(-7.5);
    for path in paths() {
        for op in [Op::Relu, Op::Grad] {
            let want: Vec<T> = x.iter().map(|&v| scalar::<T>(op)(v)).collect();
            for nt in [usize::MAX, 0] {
                let cfg = forced(path, threads, nt);
                let mut ybuf = vec![sentinel; n + y_off + 9];
                map_with(&cfg, op, x, &mut ybuf[y_off..y_off + n]).unwrap();
                let w = format!("{path:?} {op:?} threads={threads} nt>{nt} {what} y_off={y_off}");
                assert_bits_eq(&ybuf[y_off..y_off + n], &want, &w);
                assert!(
                    ybuf[..y_off]
                        .iter()
                        .chain(&ybuf[y_off + n..])
                        .all(|v| v.bits() == sentinel.bits()),
                    "{w}: wrote outside the window"
                );
            }
            let mut ybuf = vec![sentinel; n + y_off + 9];
            ybuf[y_off..y_off + n].copy_from_slice(x);
            map_inplace_with(&forced(path, threads, 0), op, &mut ybuf[y_off..y_off + n]);
            let w = format!("{path:?} {op:?} threads={threads} in place {what} y_off={y_off}");
            assert_bits_eq(&ybuf[y_off..y_off + n], &want, &w);
            assert!(
                ybuf[..y_off]
                    .iter()
                    .chain(&ybuf[y_off + n..])
                    .all(|v| v.bits() == sentinel.bits()),
                "{w}: wrote outside the window"
            );
        }
    }
}

/// Short lengths (chunks of a few elements, empty chunks, chunk edges inside the scalar head
/// and tail of the vector loop) and a few long ones, with unaligned offsets.
fn split_lengths_and_offsets<T: TestFloat>() {
    let mut rng = Rng::new(31);
    let buf: Vec<T> = rng.values(70_000);
    let lines = 64 / std::mem::size_of::<T>();
    let mut lengths: Vec<usize> = (0..40).collect();
    for k in [1usize, 2, 3, 8, 9] {
        let edge = k * lines * CHUNKS_PER_THREAD;
        lengths.extend([edge - 1, edge, edge + 1]);
    }
    lengths.extend([1000, 4099, 65_537]);
    for threads in [1usize, 2, 3, 4] {
        for &n in &lengths {
            for (x_off, y_off) in [(0usize, 0usize), (1, 0), (0, 3), (5, 2)] {
                let x = &buf[x_off..x_off + n];
                check_split(x, y_off, threads, &format!("n={n} x_off={x_off}"));
            }
        }
    }
}

#[test]
fn split_lengths_and_offsets_f32() {
    split_lengths_and_offsets::<f32>();
}

#[test]
fn split_lengths_and_offsets_f64() {
    split_lengths_and_offsets::<f64>();
}

/// Every edge value in every position of a split call.
#[test]
fn split_edges_every_position() {
    let edges: Vec<f32> = f32::edges().into_iter().map(|(v, _)| v).collect();
    let x: Vec<f32> = (0..5000).map(|i| edges[i % edges.len()]).collect();
    check_split(&x, 1, 2, "edges");
    let edges: Vec<f64> = f64::edges().into_iter().map(|(v, _)| v).collect();
    let x: Vec<f64> = (0..5000).map(|i| edges[(i * 7) % edges.len()]).collect();
    check_split(&x, 0, 2, "edges");
}

/// Around a split threshold: lengths just below, at and above it give the same bits
/// with 1 and 2 threads, in place and out of place, and around the streaming threshold too.
fn around_split_threshold<T: TestFloat>() {
    let per = 2 * std::mem::size_of::<T>();
    let at = SPLIT_AT / per;
    let mut rng = Rng::new(32);
    let x: Vec<T> = rng.values(at + 64);
    for path in paths() {
        for op in [Op::Relu, Op::Grad] {
            for n in [at - 1, at, at + 1, at + 61] {
                let xs = &x[1..1 + n];
                let want: Vec<T> = xs.iter().map(|&v| scalar::<T>(op)(v)).collect();
                for threads in [1usize, 2] {
                    let cfg = Config {
                        path,
                        threads,
                        split_min_bytes: SPLIT_AT,
                        ..Config::current()
                    };
                    let what = format!("{path:?} {op:?} n={n} threads={threads} (split at {at})");
                    let mut y = vec![T::from_f64(3.0); n];
                    map_with(&cfg, op, xs, &mut y).unwrap();
                    assert_bits_eq(&y, &want, &what);
                    let mut y = xs.to_vec();
                    map_inplace_with(&cfg, op, &mut y);
                    assert_bits_eq(&y, &want, &format!("{what} in place"));
                }
            }
        }
    }
}

#[test]
fn around_split_threshold_f32() {
    around_split_threshold::<f32>();
}

#[test]
fn around_split_threshold_f64() {
    around_split_threshold::<f64>();
}

/// A split call that is big enough to stream (out of place) and one that is not give the
/// same bits as one thread; streaming is decided for the whole call.
#[test]
fn split_with_streaming_stores_around_nt_threshold() {
    let at = NT_AT / 8; // f32: 8 bytes read + written per element
    let mut rng = Rng::new(33);
    let x: Vec<f32> = rng.values(at + 40);
    for path in paths() {
        for n in [at - 1, at + 1, at + 37] {
            let xs = &x[3..3 + n];
            let want: Vec<f32> = xs.iter().map(|v| v.relu()).collect();
            let cfg = Config {
                path,
                threads: 2,
                split_min_bytes: 0,
                nt_min_bytes: NT_AT,
                ..Config::current()
            };
            let mut y = vec![0.5f32; n + 1];
            map_with(&cfg, Op::Relu, xs, &mut y[1..]).unwrap();
            assert_bits_eq(&y[1..], &want, &format!("{path:?} n={n}"));
            assert_eq!(y[0], 0.5);
        }
    }
}

#[test]
fn split_mismatched_lengths_touch_nothing() {
    let x = vec![1.0f32; 10_000];
    let mut y = vec![-2.0f32; 9_999];
    for path in paths() {
        assert!(map_with(&forced(path, 2, 0), Op::Relu, &x, &mut y).is_err());
    }
    assert!(y.iter().all(|v| *v == -2.0));
}

/// y_row = b, then += x[r, k] * w[k, :] for increasing k, relu: the exact order every path
/// must follow.
fn naive_dense<T: TestFloat + relukit_kernels::MatFloat>(
    x: &[T],
    w: &[T],
    b: &[T],
    batch: usize,
    inp: usize,
    out: usize,
) -> Vec<T> {
    let mut y = Vec::with_capacity(batch * out);
    for r in 0..batch {
        for j in 0..out {
            let mut acc = b[j];
            for k in 0..inp {
                // the dense definition: one fused multiply-add per k, in increasing order
                acc = x[r * inp + k].fma(w[k * out + j], acc);
            }
            y.push(acc.relu());
        }
    }
    y
}

/// Dense layers split by columns (narrow batches) and by rows (narrow outputs), with row
/// counts around the 4-row tiles and column counts around every vector block width, on 1-4
/// threads and both paths: bit for bit the naive same-order result.
fn dense_split<T: TestFloat + relukit_kernels::MatFloat>() {
    let mut rng = Rng::new(34);
    let shapes = [
        (1usize, 3usize, 2usize),
        (1, 17, 8),
        (1, 5, 64),
        (1, 9, 65),
        (1, 33, 127),
        (1, 40, 256),
        (2, 7, 129),
        (3, 11, 200),
        (4, 6, 16),
        (5, 13, 47),
        (7, 3, 96),
        (9, 25, 130),
        (37, 5, 5),
        (64, 20, 3),
        (33, 0, 40),
        (6, 31, 1),
    ];
    for (batch, inp, out) in shapes {
        let x: Vec<T> = (0..batch * inp)
            .map(|_| T::from_f64(rng.unit() * 3.0))
            .collect();
        let w: Vec<T> = (0..inp * out)
            .map(|_| T::from_f64(rng.unit() * 3.0))
            .collect();
        let b: Vec<T> = (0..out).map(|_| T::from_f64(rng.unit())).collect();
        let want = naive_dense(&x, &w, &b, batch, inp, out);
        for path in paths() {
            for threads in [1usize, 2, 3, 4] {
                let mut y = vec![T::from_f64(-9.0); batch * out];
                dense_forward_with(
                    &forced(path, threads, 0),
                    &x,
                    &w,
                    &b,
                    &mut y,
                    batch,
                    inp,
                    out,
                )
                .unwrap();
                let what = format!(
                    "{} {path:?} threads={threads} dense {batch}x{inp}->{out}",
                    T::NAME
                );
                assert_bits_eq(&y, &want, &what);
            }
        }
    }
}

#[test]
fn dense_split_f32() {
    dense_split::<f32>();
}

#[test]
fn dense_split_f64() {
    dense_split::<f64>();
}

#[test]
fn dense_split_edge_values() {
    // NaN, infinities and signed zeros through the split AVX2 tiles: NaN rows stay NaN,
    // a -0.0 sum comes out +0.0.
    let (batch, inp, out) = (6usize, 3usize, 70usize);
    let mut x = vec![1.0f32; batch * inp];
    x[0] = f32::NAN;
    x[inp] = f32::INFINITY;
    x[2 * inp] = -0.0;
    let w = vec![-0.0f32; inp * out];
    let b = vec![-0.0f32; out];
    let want = naive_dense(&x, &w, &b, batch, inp, out);
    for path in paths() {
        let mut y = vec![5.0f32; batch * out];
        dense_forward_with(&forced(path, 2, 0), &x, &w, &b, &mut y, batch, inp, out).unwrap();
        assert_bits_eq(&y, &want, &format!("{path:?} dense edges"));
        assert!(y[..out].iter().all(|v| v.is_nan()));
        assert!(y[2 * out..].iter().all(|v| v.to_bits() == 0));
    }
}

#[test]
fn dense_split_shape_errors_touch_nothing() {
    let x = vec![1.0f32; 8];
    let w = vec![1.0f32; 4 * 64];
    let b = vec![1.0f32; 64];
    let mut y = vec![-3.0f32; 2 * 64 - 1];
    let cfg = forced(Path::Portable, 2, 0);
    assert!(dense_forward_with(&cfg, &x, &w, &b, &mut y, 2, 4, 64).is_err());
    assert!(y.iter().all(|v| *v == -3.0));
}

/// The settings every threshold test runs: each path, 1 and 2 threads, and the thresholds
/// forced low (every call split and streamed), forced high (never), and the derived ones.
fn every_setting() -> Vec<Config> {
    let derived = *Thresholds::detected();
    let low = Thresholds {
        nt_min_bytes: 0,
        split_min_bytes: 0,
        dense_split_min_macs: 0,
    };
    let high = Thresholds {
        nt_min_bytes: usize::MAX,
        split_min_bytes: usize::MAX,
        dense_split_min_macs: usize::MAX,
    };
    let mut v = Vec::new();
    for path in paths() {
        for threads in [1usize, 2] {
            for t in [&low, &high, &derived] {
                v.push(Config::new(path, threads, t));
            }
        }
    }
    v
}

/// Every op (relu, piecewise, smooth), in place and out of place, gives the same bits
/// whatever the thresholds, on lengths around the vector width and chunk edges and
/// unaligned outputs.
#[test]
fn every_threshold_gives_the_same_bits_elementwise() {
    use relukit_kernels::{activation_inplace_with, activation_slice_with, Activation as A};
    let ops: [A<f32>; 8] = [
        A::LeakyRelu(0.01),
        A::Hardtanh(-1.0, 1.0),
        A::ThresholdGrad(0.5),
        A::Sigmoid,
        A::TanhGrad,
        A::Elu(1.0),
        A::Gelu,
        A::GeluTanh,
    ];
    let mut rng = Rng::new(77);
    let x: Vec<f32> = rng.values(5000);
    let reference = Config::single(Path::Portable, usize::MAX);
    for n in [0usize, 1, 7, 8, 9, 31, 33, 257, 4099] {
        for off in [0usize, 1, 3] {
            let xs = &x[off..off + n];
            for op in [Op::Relu, Op::Grad] {
                let mut want = vec![0.0f32; n];
                map_with(&reference, op, xs, &mut want).unwrap();
                for cfg in every_setting() {
                    let what = format!("{op:?} n={n} off={off} {cfg:?}");
                    let mut y = vec![9.0f32; n + off];
                    map_with(&cfg, op, xs, &mut y[off..]).unwrap();
                    assert_bits_eq(&y[off..], &want, &what);
                    let mut z = xs.to_vec();
                    map_inplace_with(&cfg, op, &mut z);
                    assert_bits_eq(&z, &want, &format!("{what} in place"));
                }
            }
            for op in ops {
                let mut want = vec![0.0f32; n];
                activation_slice_with(&reference, op, xs, &mut want).unwrap();
                for cfg in every_setting() {
                    let what = format!("{op:?} n={n} off={off} {cfg:?}");
                    let mut y = vec![9.0f32; n + off];
                    activation_slice_with(&cfg, op, xs, &mut y[off..]).unwrap();
                    assert_bits_eq(&y[off..], &want, &what);
                    let mut z = xs.to_vec();
                    activation_inplace_with(&cfg, op, &mut z);
                    assert_bits_eq(&z, &want, &format!("{what} in place"));
                }
            }
        }
    }
}

/// Dense and affine forward passes give the same bits whatever the thresholds.
#[test]
fn every_threshold_gives_the_same_bits_dense() {
    use relukit_kernels::linear_forward_with;
    let mut rng = Rng::new(78);
    let mut saw_negative = false;
    for (batch, inp, out) in [
        (1usize, 3usize, 2usize),
        (5, 17, 70),
        (9, 64, 130),
        (1, 40, 9),
    ] {
        let x: Vec<f64> = (0..batch * inp).map(|_| rng.unit()).collect();
        let w: Vec<f64> = (0..inp * out).map(|_| rng.unit()).collect();
        let b: Vec<f64> = (0..out).map(|_| rng.unit()).collect();
        let reference = Config::single(Path::Portable, usize::MAX);
        let mut want_d = vec![0.0; batch * out];
        dense_forward_with(&reference, &x, &w, &b, &mut want_d, batch, inp, out).unwrap();
        let mut want_l = vec![0.0; batch * out];
        linear_forward_with(&reference, &x, &w, &b, &mut want_l, batch, inp, out).unwrap();
        saw_negative |= want_l.iter().any(|v| *v < 0.0);
        for cfg in every_setting() {
            let what = format!("{batch}x{inp}->{out} {cfg:?}");
            let mut y = vec![7.0; batch * out];
            dense_forward_with(&cfg, &x, &w, &b, &mut y, batch, inp, out).unwrap();
            assert_bits_eq(&y, &want_d, &format!("dense {what}"));
            linear_forward_with(&cfg, &x, &w, &b, &mut y, batch, inp, out).unwrap();
            assert_bits_eq(&y, &want_l, &format!("linear {what}"));
        }
    }
    assert!(saw_negative, "the affine check needs negative sums");
}
