//! The pool's workers compute with the caller's floating-point mode (FTZ, DAZ, rounding):
//! a split call gives the bits of an unsplit one under any mode. One test in its own binary,
//! so that no other test holds the pool.

use std::collections::HashSet;
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use relukit_kernels::linear_forward_with;
use relukit_kernels::runtime::{pool, Config, Path, Thresholds};

#[test]
fn workers_take_on_the_callers_fp_mode() {
    pool::set_colocation_check(false);
    // Start the workers in the default mode (a new thread copies its creator's mode, so
    // workers started after the change below would have it without any hand-off).
    pool::run(2, 4, |_c| thread::sleep(Duration::from_micros(200)));
    // Every chunk records the thread it ran on and the MXCSR it saw there.
    let caller = thread::current().id();
    let old = pool::flush_denormals();
    let want = {
        let m = pool::flush_denormals();
        pool::restore_fp_mode(m);
        m
    };
    let mut on_worker = false;
    for _ in 0..50 {
        let seen = Mutex::new(Vec::new());
        pool::run(2, 16, |_c| {
            thread::sleep(Duration::from_micros(200));
            let m = pool::flush_denormals();
            pool::restore_fp_mode(m);
            seen.lock().unwrap().push((thread::current().id(), m));
        });
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.len(), 16);
        for &(_, m) in &seen {
            assert_eq!(m, want, "a chunk ran with another FP mode");
        }
        let threads: HashSet<_> = seen.iter().map(|&(t, _)| t).collect();
        if threads.iter().any(|&t| t != caller) {
            on_worker = true;
            break;
        }
    }
    assert!(on_worker, "no chunk ran on a worker in 50 tries");

    // A split affine layer under FTZ+DAZ: products of 1e-20 * 1e-20 are subnormal in f32,
    // flushed to zero here; every row must be flushed alike whichever thread computed it.
    let (batch, inp, out) = (64usize, 8usize, 64usize);
    let x = vec![1e-20f32; batch * inp];
    let w = vec![1e-20f32; inp * out];
    let b = vec![0.0f32; out];
    let t = Thresholds::detected();
    let one = Config {
        threads: 1,
        ..Config::new(Path::Portable, 1, t)
    };
    let split = Config {
        split_min_bytes: 0,
        dense_split_min_macs: 0,
        ..Config::new(Path::Portable, 2, t)
    };
    let mut y1 = vec![f32::NAN; batch * out];
    let mut y2 = vec![f32::NAN; batch * out];
    linear_forward_with(&one, &x, &w, &b, &mut y1, batch, inp, out).unwrap();
    for _ in 0..20 {
        linear_forward_with(&split, &x, &w, &b, &mut y2, batch, inp, out).unwrap();
        assert!(
            y1.iter().zip(&y2).all(|(p, q)| p.to_bits() == q.to_bits()),
            "a split call differs from an unsplit one under FTZ+DAZ"
        );
    }
    assert!(
        y1.iter().all(|&v| v == 0.0),
        "FTZ did not flush the products"
    );
    pool::restore_fp_mode(old);
    let mut y3 = vec![f32::NAN; batch * out];
    linear_forward_with(&one, &x, &w, &b, &mut y3, batch, inp, out).unwrap();
    assert!(
        y3.iter().all(|&v| v > 0.0),
        "without FTZ the products are subnormal, not 0"
    );
}
