//! Cost of handing one call to the pool: `pool::run` with empty chunks on 1 and 2 threads
//! (best and mean of 20 000 back-to-back calls), and the share of 2 us chunks the worker
//! takes. Run with `cargo run --release --example pool_overhead`.

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use relukit_kernels::pool;

fn main() {
    for parts in [1usize, 2] {
        let (mut best, mut total) = (f64::INFINITY, 0.0);
        let reps = 20_000;
        for _ in 0..reps {
            let t = Instant::now();
            pool::run(parts, 8, |c| {
                black_box(c);
            });
            let e = t.elapsed().as_secs_f64();
            best = best.min(e);
            total += e;
        }
        println!(
            "parts {parts}: best {:.3} us, mean {:.3} us per call",
            best * 1e6,
            total / reps as f64 * 1e6
        );
    }
    let on_worker = AtomicUsize::new(0);
    let caller = std::thread::current().id();
    for _ in 0..1000 {
        pool::run(2, 8, |_| {
            if std::thread::current().id() != caller {
                on_worker.fetch_add(1, Ordering::Relaxed);
            }
            let t = Instant::now();
            while t.elapsed().as_nanos() < 2000 {}
        });
    }
    println!(
        "chunks of 2 us run by the worker: {} of 8000",
        on_worker.load(Ordering::Relaxed)
    );
}
