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

impl Thresholds {
    /// The rules, for any cache sizes:
    ///
    /// * streaming stores from `L3 + cores * L2` bytes moved: below it input and output fit
    ///   the caches together, so a cached store leaves the result where the next call (or the
    ///   next op) reads it; above it they cannot both stay, each cached store costs a
    ///   read-for-ownership plus a write-back, and streaming saves a third of the traffic.
    /// * elementwise split from one core's L2 moved: below it the data sits in the caller's
    ///   L2, where a second core would have to fetch its half through L3 and the hand-over
    ///   (about a microsecond) is a large part of the call.
    /// * dense split from `L2 / 4` multiply-adds: from there a batch-1 float32 layer's weights
    ///   no longer fit one core's L2, and each core then keeps its own half.
    pub fn for_caches(c: &Caches) -> Thresholds {
        let l2 = c.l2_bytes.max(64 << 10);
        Thresholds {
            nt_min_bytes: c.l3_bytes.saturating_add(c.cores.saturating_mul(l2)),
            split_min_bytes: l2.clamp(256 << 10, 16 << 20),
            dense_split_min_macs: (l2 / 4).clamp(32 << 10, 4 << 20),
        }
    }

    /// The thresholds of this machine, derived once per process.
    pub fn detected() -> &'static Thresholds {
        static T: OnceLock<Thresholds> = OnceLock::new();
        T.get_or_init(|| Thresholds::for_caches(Caches::detected()))
    }
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
        assert!(zen4.nt_min_bytes >= 2 * 4 * (4 << 20));
        assert_eq!(zen4.split_min_bytes, 1 << 20);
        assert_eq!(zen4.dense_split_min_macs, 256 << 10);
        // the 512 KiB L2 machine the old constants were tuned on
        let old = Thresholds::for_caches(&caches(512 << 10, 32 << 20, 2));
        assert_eq!(old.split_min_bytes, 512 << 10);
        assert_eq!(old.dense_split_min_macs, 128 << 10);
        // no L3 at all, absurd L2: still sane
        let tiny = Thresholds::for_caches(&caches(0, 0, 1));
        assert!(tiny.nt_min_bytes > 0 && tiny.split_min_bytes >= 256 << 10);
        let huge = Thresholds::for_caches(&caches(usize::MAX, usize::MAX, usize::MAX));
        assert_eq!(huge.nt_min_bytes, usize::MAX);
        assert_eq!(huge.split_min_bytes, 16 << 20);
    }

    #[test]
    fn detected_is_derived_from_detected_caches() {
        assert_eq!(
            *Thresholds::detected(),
            Thresholds::for_caches(Caches::detected())
        );
    }
}
