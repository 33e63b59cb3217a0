//! When a call is split over threads and when it streams its stores, derived once per process
//! from the detected caches ([`Caches::detected`]) instead of one machine's sweep. The rules and
//! the measurements behind them: `docs/benchmark.md`, "Rust kernels".

use std::sync::OnceLock;

use super::cpu::Caches;

/// The sizes that decide how a call runs. Any values give the same bits: they only choose
/// between equivalent loops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Out-of-place elementwise calls moving (reading + writing) more bytes than this use
    /// non-temporal stores (AVX2 path).
    pub nt_min_bytes: usize,
    /// Elementwise calls moving at least this many bytes are split over the threads.
    pub split_min_bytes: usize,
    /// Dense calls with at least this many multiply-adds are split over the threads.
    pub dense_split_min_macs: usize,
}

/// The most L3 one core is counted on for. A virtual machine reports its host socket's whole
/// L3 (480 MiB on one guest, shared with every other tenant's cores); no current server part
/// gives a core more than this, and measured crossovers agree (`docs/benchmark.md`).
pub const L3_PER_CORE_CAP: usize = 16 << 20;

impl Thresholds {
    /// The rules, for any cache sizes (`docs/benchmark.md`, "Rust kernels", has the
    /// measurements behind them):
    ///
    /// * streaming stores above `min(L3, cores * L3_PER_CORE_CAP) + cores * L2` bytes moved:
    ///   below it input and output fit the caches together, so a cached store leaves the
    ///   result where the next call (or the next op) reads it; above it they cannot both
    ///   stay, each cached store costs a read-for-ownership plus a write-back, and streaming
    ///   saves a third of the traffic.
    /// * elementwise split from `L2 / 4` bytes moved (at least 256 KiB, at most 4 MiB): a call
    ///   that size takes a few microseconds at L2 bandwidth, several times the hand-over to a
    ///   spinning worker; the floor keeps small-L2 machines from splitting calls of under ~3 us.
    /// * dense split from a quarter of that in multiply-adds: a batch-1 float32 layer then
    ///   reads as many bytes of weights, at about one multiply-add per 4 bytes, so it takes as
    ///   long as an elementwise call at the split threshold.
    pub fn for_caches(c: &Caches) -> Thresholds {
        let cores = c.cores.max(1);
        let l3 = c.l3_bytes.min(cores.saturating_mul(L3_PER_CORE_CAP));
        let split_min_bytes = (c.l2_bytes / 4).clamp(256 << 10, 4 << 20);
        Thresholds {
            nt_min_bytes: l3.saturating_add(cores.saturating_mul(c.l2_bytes)),
            split_min_bytes,
            dense_split_min_macs: split_min_bytes / 4,
        }
    }

    /// The thresholds of this machine, derived once per process, then the environment
    /// overrides the C runtime reads too (decimal byte or multiply-add counts):
    /// `RELUKIT_NT_BYTES`, `RELUKIT_SPLIT_BYTES`, `RELUKIT_DENSE_SPLIT_MACS`.
    pub fn detected() -> &'static Thresholds {
        static T: OnceLock<Thresholds> = OnceLock::new();
        T.get_or_init(|| {
            let mut t = Thresholds::for_caches(Caches::detected());
            t.nt_min_bytes = env_count("RELUKIT_NT_BYTES").unwrap_or(t.nt_min_bytes);
            t.split_min_bytes = env_count("RELUKIT_SPLIT_BYTES").unwrap_or(t.split_min_bytes);
            t.dense_split_min_macs =
                env_count("RELUKIT_DENSE_SPLIT_MACS").unwrap_or(t.dense_split_min_macs);
            t
        })
    }
}

/// The cache blocking of the matrix product (`dense/gemm.rs`), in elements. Any values give
/// the same bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemmBlocks {
    /// Depth of a packed block: a `kc x NR` sliver of `b` stays in L1.
    pub kc: usize,
    /// Rows of a packed block of `a` (`mc x kc`, kept in L2).
    pub mc: usize,
    /// Columns of a packed panel of `b` (`kc x nc`, kept in L3).
    pub nc: usize,
}

impl GemmBlocks {
    /// The rules, for a `mr x nr` tile of `size`-byte elements and an L1 data cache of `l1`
    /// bytes: the slivers of `a` and `b` (`kc * (mr + nr)` elements) fill L1 together, kc a
    /// multiple of 8 between 64 and 512 (on a 48 KiB L1 that is 272 for the AVX-512 f32 tile,
    /// measured within noise of the best of 64..512); the block of `a` fills half of L2 (`mc`
    /// a multiple of `mr`, at most 4096); the panel of `b` fills half of one core's share of
    /// L3 (capped as the thresholds cap it; `nc` a multiple of `nr`, at most 4096; without an
    /// L3, half of L2).
    pub fn for_caches(c: &Caches, l1: usize, mr: usize, nr: usize, size: usize) -> GemmBlocks {
        let (mr, nr, size) = (mr.max(1), nr.max(1), size.max(1));
        let kc = (l1 / ((mr + nr) * size) / 8 * 8).clamp(64, 512);
        let mc = (c.l2_bytes / 2 / (kc * size) / mr * mr).clamp(mr, 4096 / mr * mr);
        let cores = c.cores.max(1);
        let l3 = (c.l3_bytes / cores).min(L3_PER_CORE_CAP);
        let l3 = if l3 == 0 { c.l2_bytes } else { l3 };
        let nc = (l3 / 2 / (kc * size) / nr * nr).clamp(nr, 4096 / nr * nr);
        GemmBlocks { kc, mc, nc }
    }

    /// The blocks of this machine for `kernel` and elements of `size` bytes.
    pub fn detected(kernel: super::cpu::GemmKernel, size: usize) -> GemmBlocks {
        let (mr, nr) = kernel.tile(size);
        GemmBlocks::for_caches(Caches::detected(), super::cpu::l1d_bytes(), mr, nr, size)
    }
}

/// A decimal count from the environment (saturating at `usize::MAX`); `None` when unset or
/// not a plain decimal number.
fn env_count(name: &str) -> Option<usize> {
    parse_count(&std::env::var(name).ok()?)
}

fn parse_count(s: &str) -> Option<usize> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse::<usize>().unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::cpu::CacheSource;

    fn caches(l2: usize, l3: usize, cores: usize) -> Caches {
        Caches {
            l2_bytes: l2,
            l3_bytes: l3,
            cores,
            source: CacheSource::Sysfs,
        }
    }

    #[test]
    fn rules_on_known_machines() {
        // AMD Zen 4 EPYC guest, 2 cores: 4 Mi float32 (32 MiB moved) keeps cached stores.
        let zen4 = Thresholds::for_caches(&caches(1 << 20, 32 << 20, 2));
        assert_eq!(zen4.nt_min_bytes, 34 << 20);
        assert!(zen4.nt_min_bytes > 2 * 4 * (4 << 20));
        assert_eq!(zen4.split_min_bytes, 256 << 10);
        assert_eq!(zen4.dense_split_min_macs, 64 << 10);
        // Intel guest reporting its host's 480 MiB L3, 2 MiB L2, 2 cores: streaming from
        // 36 MiB moved (measured crossover between 32 and 48 MiB).
        let guest = Thresholds::for_caches(&caches(2 << 20, 480 << 20, 2));
        assert_eq!(guest.nt_min_bytes, 36 << 20);
        assert_eq!(guest.split_min_bytes, 512 << 10);
        assert_eq!(guest.dense_split_min_macs, 128 << 10);
        // one core of a 32 MiB L3
        let one = Thresholds::for_caches(&caches(1 << 20, 32 << 20, 1));
        assert_eq!(one.nt_min_bytes, 17 << 20);
        // no L3 at all, no L2, absurd sizes: still sane
        let tiny = Thresholds::for_caches(&caches(0, 0, 0));
        assert!(tiny.split_min_bytes >= 256 << 10 && tiny.dense_split_min_macs > 0);
        let huge = Thresholds::for_caches(&caches(usize::MAX, usize::MAX, usize::MAX));
        assert_eq!(huge.nt_min_bytes, usize::MAX);
        assert_eq!(huge.split_min_bytes, 4 << 20);
    }

    #[test]
    fn detected_is_derived_from_detected_caches() {
        let overridden = [
            "RELUKIT_NT_BYTES",
            "RELUKIT_SPLIT_BYTES",
            "RELUKIT_DENSE_SPLIT_MACS",
        ]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
        if !overridden {
            assert_eq!(
                *Thresholds::detected(),
                Thresholds::for_caches(Caches::detected())
            );
        }
    }

    #[test]
    fn gemm_blocks_fit_the_caches() {
        let guest = caches(2 << 20, 480 << 20, 2);
        // AVX-512 f32 (12 x 32) on a 48 KiB L1: 272 steps of 44 values fill it
        let b = GemmBlocks::for_caches(&guest, 48 << 10, 12, 32, 4);
        assert_eq!(b.kc, 272);
        assert_eq!(b.mc % 12, 0);
        assert!(b.mc * b.kc * 4 <= 1 << 20);
        assert_eq!(b.nc % 32, 0);
        // AVX2 f64 (6 x 8)
        let b = GemmBlocks::for_caches(&guest, 32 << 10, 6, 8, 8);
        assert_eq!(b.kc, 288);
        assert_eq!(b.mc % 6, 0);
        for c in [caches(0, 0, 0), caches(usize::MAX, usize::MAX, usize::MAX)] {
            let b = GemmBlocks::for_caches(&c, 0, 12, 16, 8);
            assert!(b.kc >= 64 && b.mc >= 12 && b.nc >= 16 && b.mc <= 4096 && b.nc <= 4096);
        }
    }

    #[test]
    fn environment_counts_parse_like_the_c_runtime() {
        assert_eq!(parse_count("0"), Some(0));
        assert_eq!(parse_count("1048576"), Some(1 << 20));
        assert_eq!(parse_count("99999999999999999999999"), Some(usize::MAX));
        for bad in ["", "-1", "1k", " 5", "0x10", "+3"] {
            assert_eq!(parse_count(bad), None, "{bad:?}");
        }
    }
}
