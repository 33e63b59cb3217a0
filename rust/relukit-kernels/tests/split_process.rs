//! The process-wide thread setting and the split thresholds of the public kernels. This file
//! is its own test binary with a single test, so nothing else uses the pool or changes the
//! setting meanwhile and the pool's job counter tells exactly which calls were split.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use relukit_kernels::runtime::Thresholds;
use relukit_kernels::{
    dense_forward, num_threads, pool, relu_grad_inplace, relu_grad_slice, relu_inplace, relu_slice,
    set_num_threads, Float,
};

/// Runs `f` and says whether it asked the pool for more than one thread.
fn split(f: impl FnOnce()) -> bool {
    let before = pool::split_calls();
    f();
    pool::split_calls() != before
}

#[test]
fn thread_setting_and_split_thresholds() {
    // The default is the CPUs available to the process; the setting is clamped.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(num_threads(), cpus.min(pool::MAX_THREADS));
    set_num_threads(0);
    assert_eq!(num_threads(), 1);
    set_num_threads(10_000);
    assert_eq!(num_threads(), pool::MAX_THREADS);

    let Thresholds {
        split_min_bytes,
        dense_split_min_macs,
        ..
    } = *Thresholds::detected();
    // Elementwise: split from split_min_bytes moved (read + written) on, with 2 threads.
    set_num_threads(2);
    let at = split_min_bytes.div_ceil(8); // f32 elements
    let x: Vec<f32> = (0..at + 1)
        .map(|i| if i % 3 == 0 { -(i as f32) } else { i as f32 })
        .collect();
    let want: Vec<u32> = x.iter().map(|v| v.relu().to_bits()).collect();
    let mut y = vec![0.0f32; at + 1];
    assert!(!split(
        || relu_slice(&x[..at - 1], &mut y[..at - 1]).unwrap()
    ));
    assert!(split(|| relu_slice(&x[..at], &mut y[..at]).unwrap()));
    assert!(y[..at]
        .iter()
        .map(|v| v.to_bits())
        .eq(want[..at].iter().copied()));
    assert!(split(|| relu_grad_slice(&x, &mut y).unwrap()));
    let mut z = x.clone();
    assert!(split(|| relu_inplace(&mut z)));
    assert!(z.iter().map(|v| v.to_bits()).eq(want.iter().copied()));
    assert!(!split(|| relu_grad_inplace(&mut z[..at - 1])));
    let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    let mut y64 = vec![0.0f64; at];
    assert!(!split(|| relu_slice(
        &x64[..at / 2 - 1],
        &mut y64[..at / 2 - 1]
    )
    .unwrap()));
    assert!(split(
        || relu_slice(&x64[..at / 2], &mut y64[..at / 2]).unwrap()
    ));

    // One thread: never split.
    set_num_threads(1);
    assert!(!split(|| relu_slice(&x, &mut y).unwrap()));
    set_num_threads(2);

    // Dense: split from dense_split_min_macs multiply-adds on.
    let (inp, out) = (64usize, dense_split_min_macs.div_ceil(64));
    let xd = vec![0.5f32; inp];
    let w = vec![0.25f32; inp * out];
    let b = vec![-1.0f32; out];
    let mut yd = vec![0.0f32; out];
    assert!(split(
        || dense_forward(&xd, &w, &b, &mut yd, 1, inp, out).unwrap()
    ));
    assert!(yd.iter().all(|&v| v == 7.0)); // 64 * 0.125 - 1
    assert!(!split(|| dense_forward(
        &xd[..inp - 1],
        &w[..(inp - 1) * out],
        &b,
        &mut yd,
        1,
        inp - 1,
        out
    )
    .unwrap()));

    // The workers really take chunks: with chunks that sleep, a worker gets some of them
    // (with the co-location back-off off: the sleeping caller leaves its core free, and the
    // scheduler may well wake the worker there).
    assert!(pool::workers_started() >= 1);
    pool::set_colocation_check(false);
    let jobs = pool::jobs_started();
    let on_workers = AtomicUsize::new(0);
    let caller = std::thread::current().id();
    for _ in 0..50 {
        pool::run(2, 8, |_| {
            if std::thread::current().id() != caller {
                on_workers.fetch_add(1, Ordering::Relaxed);
            }
            std::thread::sleep(Duration::from_millis(1));
        });
        if on_workers.load(Ordering::Relaxed) > 0 {
            break;
        }
    }
    assert!(
        on_workers.load(Ordering::Relaxed) > 0,
        "no chunk ran on a worker"
    );
    assert!(pool::jobs_started() > jobs);
    pool::set_colocation_check(true);
}
