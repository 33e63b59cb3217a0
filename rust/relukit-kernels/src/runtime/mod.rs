//! What the kernels need from the machine, apart from the kernels themselves: the CPU's
//! path and caches ([`cpu`]), the thresholds derived from them ([`thresholds`]), the thread
//! pool ([`pool`]) and the split of a call over it ([`split`]). [`info`] sums it up.

pub mod cpu;
pub mod pool;
pub mod split;
pub mod thresholds;

pub use cpu::{
    active_path, avx2_available, avx512_available, fma_available, set_simd, CacheSource, Caches,
    GemmKernel, Path,
};
pub use pool::{num_threads, set_num_threads, MAX_THREADS};
pub use split::{chunk_start, Config, CHUNKS_PER_THREAD};
pub use thresholds::{GemmBlocks, Thresholds};

/// How the kernels run in this process, for display (`relukit` shows it) and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    /// The path the public kernels use ([`active_path`]).
    pub path: Path,
    /// Whether `RELUKIT_FORCE_PORTABLE=1` is set.
    pub portable_forced: bool,
    /// The detected caches and cores.
    pub caches: Caches,
    /// The thresholds derived from them.
    pub thresholds: Thresholds,
    /// The micro-kernel of the matrix product on [`Info::path`].
    pub gemm_kernel: GemmKernel,
    /// Its cache blocking for `f32`.
    pub gemm_f32: GemmBlocks,
    /// Its cache blocking for `f64`.
    pub gemm_f64: GemmBlocks,
    /// Threads a large call may use now ([`num_threads`]).
    pub threads: usize,
    /// The most threads a call can use ([`MAX_THREADS`]).
    pub max_threads: usize,
}

/// The kernel path, the detected L2, L3 and cores, the thresholds and the thread setting.
pub fn info() -> Info {
    Info {
        path: active_path(),
        portable_forced: cpu::portable_forced(),
        caches: *Caches::detected(),
        thresholds: *Thresholds::detected(),
        gemm_kernel: GemmKernel::for_path(active_path()),
        gemm_f32: GemmBlocks::detected(GemmKernel::for_path(active_path()), 4),
        gemm_f64: GemmBlocks::detected(GemmKernel::for_path(active_path()), 8),
        threads: num_threads(),
        max_threads: MAX_THREADS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_matches_the_process_settings() {
        let i = info();
        assert_eq!(i.path, active_path());
        assert_eq!(i.thresholds, Thresholds::for_caches(&i.caches));
        assert_eq!(i.max_threads, MAX_THREADS);
        assert!(i.threads >= 1 && i.threads <= MAX_THREADS);
        let c = Config::current();
        assert_eq!(c.nt_min_bytes, i.thresholds.nt_min_bytes);
        assert_eq!(c.split_min_bytes, i.thresholds.split_min_bytes);
        assert_eq!(c.dense_split_min_macs, i.thresholds.dense_split_min_macs);
        if i.portable_forced {
            assert_eq!(i.path, Path::Portable);
        }
    }
}
