//! Helpers shared by the integration tests: edge values with their expected class, a
//! deterministic value generator, and bit-level comparisons for f32 and f64.
#![allow(dead_code)] // each test binary uses a different subset

use relukit_kernels::Float;

/// What the contract says about a value, decided by hand (not by float comparisons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `x > 0`: relu keeps x, grad is 1.
    Pos,
    /// `±0.0` or negative: relu is +0.0, grad is 0.
    NonPos,
    /// Any NaN: relu and grad return x bit for bit.
    Nan,
}

/// The float types under test, seen through their bits widened to u64.
pub trait TestFloat: Float + std::fmt::Debug {
    const NAME: &'static str;
    fn bits(self) -> u64;
    fn from_bits64(bits: u64) -> Self;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    /// Every edge value of the contract with its class.
    fn edges() -> Vec<(Self, Kind)>;
}

impl TestFloat for f32 {
    const NAME: &'static str = "f32";
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
    fn from_bits64(bits: u64) -> Self {
        f32::from_bits(bits as u32)
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn edges() -> Vec<(Self, Kind)> {
        use Kind::*;
        vec![
            (0.0, NonPos),
            (-0.0, NonPos),
            (1.0, Pos),
            (-1.0, NonPos),
            (f32::INFINITY, Pos),
            (f32::NEG_INFINITY, NonPos),
            (f32::MAX, Pos),
            (f32::MIN, NonPos),
            (f32::MIN_POSITIVE, Pos),
            (-f32::MIN_POSITIVE, NonPos),
            (f32::from_bits(0x0000_0001), Pos), // smallest positive subnormal
            (f32::from_bits(0x8000_0001), NonPos), // smallest negative subnormal
            (f32::from_bits(0x007f_ffff), Pos), // largest positive subnormal
            (f32::from_bits(0x807f_ffff), NonPos), // largest negative subnormal
            (f32::from_bits(0x7fc0_0000), Nan), // canonical quiet NaN
            (f32::from_bits(0xffc0_0000), Nan), // negative quiet NaN
            (f32::from_bits(0x7fc1_2345), Nan), // quiet NaN with payload
            (f32::from_bits(0xffc1_2345), Nan), // negative quiet NaN with payload
            (f32::from_bits(0x7f80_0001), Nan), // signaling NaN
            (f32::from_bits(0xff80_0001), Nan), // negative signaling NaN
            (f32::from_bits(0x7fff_ffff), Nan),
            (f32::from_bits(0xffff_ffff), Nan),
        ]
    }
}

impl TestFloat for f64 {
    const NAME: &'static str = "f64";
    fn bits(self) -> u64 {
        self.to_bits()
    }
    fn from_bits64(bits: u64) -> Self {
        f64::from_bits(bits)
    }
    fn from_f64(v: f64) -> Self {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn edges() -> Vec<(Self, Kind)> {
        use Kind::*;
        vec![
            (0.0, NonPos),
            (-0.0, NonPos),
            (1.0, Pos),
            (-1.0, NonPos),
            (f64::INFINITY, Pos),
            (f64::NEG_INFINITY, NonPos),
            (f64::MAX, Pos),
            (f64::MIN, NonPos),
            (f64::MIN_POSITIVE, Pos),
            (-f64::MIN_POSITIVE, NonPos),
            (f64::from_bits(0x0000_0000_0000_0001), Pos),
            (f64::from_bits(0x8000_0000_0000_0001), NonPos),
            (f64::from_bits(0x000f_ffff_ffff_ffff), Pos),
            (f64::from_bits(0x800f_ffff_ffff_ffff), NonPos),
            (f64::from_bits(0x7ff8_0000_0000_0000), Nan),
            (f64::from_bits(0xfff8_0000_0000_0000), Nan),
            (f64::from_bits(0x7ff8_0000_0012_3456), Nan),
            (f64::from_bits(0xfff8_0000_0012_3456), Nan),
            (f64::from_bits(0x7ff0_0000_0000_0001), Nan), // signaling NaN
            (f64::from_bits(0xfff0_0000_0000_0001), Nan), // negative signaling NaN
            (f64::from_bits(0x7fff_ffff_ffff_ffff), Nan),
            (f64::from_bits(0xffff_ffff_ffff_ffff), Nan),
        ]
    }
}

/// Expected relu bits for a value of the given class.
pub fn expected_relu<T: TestFloat>(x: T, kind: Kind) -> u64 {
    match kind {
        Kind::Pos | Kind::Nan => x.bits(),
        Kind::NonPos => T::from_f64(0.0).bits(),
    }
}

/// Expected relu_grad bits for a value of the given class.
pub fn expected_grad<T: TestFloat>(x: T, kind: Kind) -> u64 {
    match kind {
        Kind::Pos => T::from_f64(1.0).bits(),
        Kind::NonPos => T::from_f64(0.0).bits(),
        Kind::Nan => x.bits(),
    }
}

/// Deterministic xorshift generator.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in [-1, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }

    /// A mix of edge values, arbitrary bit patterns (NaNs included) and ordinary numbers.
    pub fn value<T: TestFloat>(&mut self) -> T {
        let edges = T::edges();
        match self.next_u64() % 3 {
            0 => edges[(self.next_u64() % edges.len() as u64) as usize].0,
            1 => T::from_bits64(self.next_u64()),
            _ => T::from_f64(self.unit() * 100.0),
        }
    }

    pub fn values<T: TestFloat>(&mut self, n: usize) -> Vec<T> {
        (0..n).map(|_| self.value()).collect()
    }
}

/// Asserts two float slices are equal bit for bit.
pub fn assert_bits_eq<T: TestFloat>(got: &[T], want: &[T], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(
            g.bits(),
            w.bits(),
            "{what} ({}): element {i}: got {g:?}, want {w:?}",
            T::NAME
        );
    }
}
