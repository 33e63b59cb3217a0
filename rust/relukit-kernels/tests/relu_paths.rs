//! The portable and the AVX2 slice kernels, each called directly (no global switch, so the
//! tests stay independent under parallel threads), against the scalar `Float` methods bit for
//! bit: every length 0..70 and a few longer ones, unaligned sub-slices, in place and out of
//! place, cached and streaming stores, and sizes around the streaming threshold.

mod common;

use common::{assert_bits_eq, Rng, TestFloat};
use relukit_kernels::elementwise::relu::{map_inplace_with, map_with, Op};
use relukit_kernels::runtime::{active_path, avx2_available, Config, Path};
use relukit_kernels::{relu_grad_inplace, relu_grad_slice, relu_inplace, relu_slice, Float};

/// Streaming thresholds to try for out-of-place calls: never, always, and the default.
/// A streaming threshold for the tests around it: small enough to cross quickly, large enough
/// that calls below it are many vectors long.
const NT_AT: usize = 3 << 20;
const NT_CHOICES: [usize; 3] = [usize::MAX, 0, NT_AT];

fn paths() -> Vec<Path> {
    if avx2_available() {
        vec![Path::Portable, Path::Avx2]
    } else {
        eprintln!("AVX2 not available: testing the portable path only");
        vec![Path::Portable]
    }
}

fn scalar<T: Float>(op: Op) -> fn(T) -> T {
    match op {
        Op::Relu => T::relu,
        Op::Grad => T::relu_grad,
    }
}

/// Every path, op and store kind on `x` (out of place into an offset window of a
/// sentinel-filled buffer, and in place), checking neighbours stay untouched.
fn check_all<T: TestFloat>(x: &[T], y_off: usize, what: &str) {
    let n = x.len();
    let sentinel = T::from_f64(-7.5);
    for path in paths() {
        for op in [Op::Relu, Op::Grad] {
            let want: Vec<T> = x.iter().map(|&v| scalar::<T>(op)(v)).collect();
            for nt in NT_CHOICES {
                let mut ybuf = vec![sentinel; n + y_off + 9];
                map_with(
                    &Config::single(path, nt),
                    op,
                    x,
                    &mut ybuf[y_off..y_off + n],
                )
                .unwrap();
                let w = format!("{path:?} {op:?} nt>{nt} {what} y_off={y_off}");
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
            map_inplace_with(
                &Config::single(path, usize::MAX),
                op,
                &mut ybuf[y_off..y_off + n],
            );
            let w = format!("{path:?} {op:?} in place {what} y_off={y_off}");
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

fn all_lengths_and_offsets<T: TestFloat>() {
    let mut rng = Rng::new(11);
    let buf: Vec<T> = rng.values(4099 + 8);
    let lengths = (0..70).chain([1000, 4099]);
    for n in lengths {
        for x_off in 0..8 {
            let x = &buf[x_off..x_off + n];
            // Output offsets 0..7 against input offset 0, and a mismatched pair otherwise.
            let y_offs: Vec<usize> = if x_off == 0 {
                (0..8).collect()
            } else {
                vec![x_off, (x_off + 3) % 8]
            };
            for y_off in y_offs {
                check_all(x, y_off, &format!("n={n} x_off={x_off}"));
            }
        }
    }
}

#[test]
fn all_lengths_and_offsets_f32() {
    all_lengths_and_offsets::<f32>();
}

#[test]
fn all_lengths_and_offsets_f64() {
    all_lengths_and_offsets::<f64>();
}

/// Every edge value in every lane position of the vector body (and in the tails).
fn edges_every_lane<T: TestFloat>() {
    let edges: Vec<T> = T::edges().into_iter().map(|(v, _)| v).collect();
    for rot in 0..edges.len() {
        let x: Vec<T> = edges
            .iter()
            .cycle()
            .skip(rot)
            .take(edges.len() * 3 + 5)
            .copied()
            .collect();
        for y_off in [0, 1, 5] {
            check_all(&x, y_off, &format!("edges rot={rot}"));
        }
    }
}

#[test]
fn edges_every_lane_f32() {
    edges_every_lane::<f32>();
}

#[test]
fn edges_every_lane_f64() {
    edges_every_lane::<f64>();
}

/// Lengths just below and just above a streaming threshold (bytes read + written),
/// with an unaligned output so the streaming head and tail both run.
fn around_nt_threshold<T: TestFloat>() {
    let per = 2 * std::mem::size_of::<T>();
    let at = NT_AT / per;
    let mut rng = Rng::new(12);
    let x: Vec<T> = rng.values(at + 40);
    let sentinel = T::from_f64(-7.5);
    for path in paths() {
        for op in [Op::Relu, Op::Grad] {
            for n in [at - 1, at, at + 1, at + 37] {
                let xs = &x[3..3 + n];
                let want: Vec<T> = xs.iter().map(|&v| scalar::<T>(op)(v)).collect();
                let mut ybuf = vec![sentinel; n + 2];
                map_with(&Config::single(path, NT_AT), op, xs, &mut ybuf[1..n + 1]).unwrap();
                let w = format!("{path:?} {op:?} n={n} (threshold at {at})");
                assert_bits_eq(&ybuf[1..n + 1], &want, &w);
                assert_eq!(ybuf[0].bits(), sentinel.bits(), "{w}: head sentinel");
                assert_eq!(ybuf[n + 1].bits(), sentinel.bits(), "{w}: tail sentinel");
            }
        }
    }
}

#[test]
fn around_nt_threshold_f32() {
    around_nt_threshold::<f32>();
}

#[test]
fn around_nt_threshold_f64() {
    around_nt_threshold::<f64>();
}

/// The public kernels (on whichever path this process picked) agree with the scalar op.
fn public_kernels_on_active_path<T: TestFloat>() {
    let mut rng = Rng::new(13);
    for n in [0, 5, 63, 64, 65, 4099] {
        let x: Vec<T> = rng.values(n);
        let want_r: Vec<T> = x.iter().map(|v| v.relu()).collect();
        let want_g: Vec<T> = x.iter().map(|v| v.relu_grad()).collect();
        let what = format!("{:?} n={n}", active_path());
        let mut y = vec![T::from_f64(1.0); n];
        relu_slice(&x, &mut y).unwrap();
        assert_bits_eq(&y, &want_r, &what);
        relu_grad_slice(&x, &mut y).unwrap();
        assert_bits_eq(&y, &want_g, &what);
        let mut y = x.clone();
        relu_inplace(&mut y);
        assert_bits_eq(&y, &want_r, &what);
        let mut y = x.clone();
        relu_grad_inplace(&mut y);
        assert_bits_eq(&y, &want_g, &what);
    }
}

#[test]
fn public_kernels_on_active_path_f32() {
    public_kernels_on_active_path::<f32>();
}

#[test]
fn public_kernels_on_active_path_f64() {
    public_kernels_on_active_path::<f64>();
}

#[test]
fn mismatched_lengths_touch_nothing() {
    for path in paths() {
        let x = [1.0f32; 9];
        let mut y = [-2.0f32; 8];
        assert!(map_with(&Config::single(path, 0), Op::Relu, &x, &mut y).is_err());
        assert!(y.iter().all(|v| *v == -2.0));
    }
}
