//! The process-wide switch (`set_simd`). This file is its own test binary with a single test,
//! so flipping the global path cannot race with other tests.

use relukit_kernels::runtime::{active_path, avx2_available, set_simd, Path};
use relukit_kernels::{relu_grad_slice, relu_inplace, relu_slice, Float};

#[test]
fn set_simd_switches_paths_and_results_agree() {
    let x: Vec<f64> = (0..1003)
        .map(|i| match i % 5 {
            0 => f64::from_bits(0xfff0_0000_0000_0001), // negative signaling NaN
            1 => -0.0,
            2 => f64::from_bits(1), // positive subnormal
            3 => -(i as f64),
            _ => i as f64,
        })
        .collect();
    let want_r: Vec<u64> = x.iter().map(|v| v.relu().to_bits()).collect();
    let want_g: Vec<u64> = x.iter().map(|v| v.relu_grad().to_bits()).collect();
    for enabled in [false, true, false, true] {
        let on = set_simd(enabled);
        assert_eq!(on, enabled && avx2_available());
        let want_path = if on { Path::Avx2 } else { Path::Portable };
        assert_eq!(active_path(), want_path);

        let mut y = vec![0.0f64; x.len()];
        relu_slice(&x, &mut y).unwrap();
        assert!(y.iter().map(|v| v.to_bits()).eq(want_r.iter().copied()));
        relu_grad_slice(&x, &mut y).unwrap();
        assert!(y.iter().map(|v| v.to_bits()).eq(want_g.iter().copied()));
        let mut y = x.clone();
        relu_inplace(&mut y);
        assert!(y.iter().map(|v| v.to_bits()).eq(want_r.iter().copied()));
    }
}
