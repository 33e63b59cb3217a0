//! What the CPU offers: the kernel path (portable loops or explicit AVX2, chosen once per
//! process; `RELUKIT_FORCE_PORTABLE=1` keeps the portable loops) and the cache sizes the
//! thresholds are derived from (sysfs, else CPUID, else a default).

use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::sync::OnceLock;

/// Which implementation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Plain Rust loops the compiler auto-vectorizes for the build's baseline target.
    Portable,
    /// Explicit AVX2 (x86-64 with AVX2 only).
    Avx2,
}

impl Path {
    /// `"portable"` or `"avx2"`.
    pub fn name(self) -> &'static str {
        match self {
            Path::Portable => "portable",
            Path::Avx2 => "avx2",
        }
    }
}

const UNKNOWN: u8 = 0;
const PORTABLE: u8 = 1;
const AVX2: u8 = 2;

/// The process-wide choice, decided lazily on first use.
static SELECTED: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Whether this CPU can run the AVX2 path (always `false` off x86-64).
pub fn avx2_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether this CPU has FMA (always `false` off x86-64, where the plain loops run).
pub fn fma_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether `RELUKIT_FORCE_PORTABLE=1` is set.
pub fn portable_forced() -> bool {
    std::env::var_os("RELUKIT_FORCE_PORTABLE").is_some_and(|v| v == "1")
}

/// The path the public kernels use in this process: AVX2 when the CPU has it, unless
/// `RELUKIT_FORCE_PORTABLE=1` (read once, on first use) or [`set_simd`] said otherwise.
pub fn active_path() -> Path {
    let mut v = SELECTED.load(Relaxed);
    if v == UNKNOWN {
        let initial = if !portable_forced() && avx2_available() {
            AVX2
        } else {
            PORTABLE
        };
        // A concurrent set_simd wins the race.
        let _ = SELECTED.compare_exchange(UNKNOWN, initial, Relaxed, Relaxed);
        v = SELECTED.load(Relaxed);
    }
    if v == AVX2 {
        Path::Avx2
    } else {
        Path::Portable
    }
}

/// Turns the AVX2 path on or off for the whole process (overriding `RELUKIT_FORCE_PORTABLE`);
/// returns whether AVX2 is now in use (`false` if requested but the CPU lacks it).
pub fn set_simd(enabled: bool) -> bool {
    let avx2 = enabled && avx2_available();
    SELECTED.store(if avx2 { AVX2 } else { PORTABLE }, Relaxed);
    avx2
}

/// Whether this CPU has AVX-512F (always `false` off x86-64).
pub fn avx512_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The micro-kernel of the matrix product (`dense/gemm.rs`). All give the same bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GemmKernel {
    /// `mul_add` loops, a 4 x 8 tile.
    Portable,
    /// AVX2 + FMA: 6 rows x 2 vectors (6 x 16 f32, 6 x 8 f64).
    Avx2Fma,
    /// AVX-512F: 12 rows x 2 vectors (12 x 32 f32, 12 x 16 f64).
    Avx512,
}

impl GemmKernel {
    /// `"portable"`, `"avx2+fma"` or `"avx512"`.
    pub fn name(self) -> &'static str {
        match self {
            GemmKernel::Portable => "portable",
            GemmKernel::Avx2Fma => "avx2+fma",
            GemmKernel::Avx512 => "avx512",
        }
    }

    /// The kernel for `path` on this CPU: the portable one on the portable path, else
    /// AVX-512 where the CPU has it, else AVX2 + FMA where it has FMA.
    pub fn for_path(path: Path) -> GemmKernel {
        if path == Path::Portable || !fma_available() {
            GemmKernel::Portable
        } else if avx512_available() {
            GemmKernel::Avx512
        } else {
            GemmKernel::Avx2Fma
        }
    }

    /// Whether this CPU can run it.
    pub fn available(self) -> bool {
        match self {
            GemmKernel::Portable => true,
            GemmKernel::Avx2Fma => avx2_available() && fma_available(),
            GemmKernel::Avx512 => avx512_available(),
        }
    }

    /// The register tile `(rows, columns)` for elements of `size` bytes.
    pub fn tile(self, size: usize) -> (usize, usize) {
        match self {
            GemmKernel::Portable => (4, 8),
            GemmKernel::Avx2Fma => (6, 2 * 32 / size),
            GemmKernel::Avx512 => (12, 2 * 64 / size),
        }
    }
}

/// Panics unless the AVX2 path can run here (a caller asked for it explicitly).
pub(crate) fn require_avx2() {
    assert!(
        avx2_available(),
        "relukit: the AVX2 kernel path was requested but this CPU does not support AVX2"
    );
}

/// Where the cache sizes of [`Caches`] come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheSource {
    /// `/sys/devices/system/cpu/cpu0/cache/index*` (Linux).
    Sysfs,
    /// CPUID's deterministic cache parameters (leaf 0x8000001D on AMD, 4 elsewhere).
    Cpuid,
    /// Neither answered: [`Caches::DEFAULT`].
    Default,
}

impl CacheSource {
    /// `"sysfs"`, `"cpuid"` or `"default"`.
    pub fn name(self) -> &'static str {
        match self {
            CacheSource::Sysfs => "sysfs",
            CacheSource::Cpuid => "cpuid",
            CacheSource::Default => "default",
        }
    }
}

/// The caches and cores the kernels can count on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caches {
    /// One core's L2 (unified or data), bytes.
    pub l2_bytes: usize,
    /// The L3 the first CPU shares, bytes (0 if there is none).
    pub l3_bytes: usize,
    /// CPUs this process may run on (`std::thread::available_parallelism`).
    pub cores: usize,
    /// Where the sizes come from.
    pub source: CacheSource,
}

impl Caches {
    /// Used when neither sysfs nor CPUID answers: small enough for any current x86-64 or
    /// ARM server core, so the derived thresholds err towards splitting and streaming early,
    /// which costs a little speed, never correctness.
    pub const DEFAULT: Caches = Caches {
        l2_bytes: 512 << 10,
        l3_bytes: 8 << 20,
        cores: 1,
        source: CacheSource::Default,
    };

    /// The caches of this machine, detected once per process.
    pub fn detected() -> &'static Caches {
        static CACHES: OnceLock<Caches> = OnceLock::new();
        CACHES.get_or_init(detect)
    }
}

fn detect() -> Caches {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (l2, l3, source) = match sysfs_caches().or_else(cpuid_caches) {
        Some((l2, l3, source)) if l2 > 0 => (l2, l3, source),
        _ => (
            Caches::DEFAULT.l2_bytes,
            Caches::DEFAULT.l3_bytes,
            CacheSource::Default,
        ),
    };
    Caches {
        l2_bytes: l2,
        l3_bytes: l3,
        cores,
        source,
    }
}

/// A sysfs cache size: `"2048K"`, `"32M"`, `"1G"` or plain bytes.
pub(crate) fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, ""),
    };
    let n: usize = digits.parse().ok()?;
    let shift = match unit.trim() {
        "" => 0,
        "K" | "k" | "KB" | "KiB" => 10,
        "M" | "MB" | "MiB" => 20,
        "G" | "GB" | "GiB" => 30,
        _ => return None,
    };
    n.checked_mul(1 << shift)
}

/// One core's L1 data cache in bytes (sysfs, detected once; 32 KiB, the smallest current
/// x86-64 and ARM server L1d, when sysfs does not say). Sizes the GEMM's depth blocks.
pub fn l1d_bytes() -> usize {
    static L1: OnceLock<usize> = OnceLock::new();
    *L1.get_or_init(|| sysfs_l1d().filter(|&n| n >= 4 << 10).unwrap_or(32 << 10))
}

fn sysfs_l1d() -> Option<usize> {
    let dir = std::fs::read_dir("/sys/devices/system/cpu/cpu0/cache").ok()?;
    for entry in dir.flatten() {
        let read = |f: &str| std::fs::read_to_string(entry.path().join(f)).ok();
        if let (Some(level), Some(kind), Some(size)) = (read("level"), read("type"), read("size")) {
            if level.trim() == "1" && kind.trim() == "Data" {
                return parse_size(&size);
            }
        }
    }
    None
}

/// L2 and L3 sizes of cpu0 from sysfs (the largest unified or data cache of each level).
fn sysfs_caches() -> Option<(usize, usize, CacheSource)> {
    let dir = std::fs::read_dir("/sys/devices/system/cpu/cpu0/cache").ok()?;
    let (mut l2, mut l3) = (0usize, 0usize);
    for entry in dir.flatten() {
        if !entry.file_name().to_string_lossy().starts_with("index") {
            continue;
        }
        let read = |f: &str| std::fs::read_to_string(entry.path().join(f)).ok();
        let (Some(level), Some(kind), Some(size)) = (read("level"), read("type"), read("size"))
        else {
            continue;
        };
        if kind.trim() == "Instruction" {
            continue;
        }
        let Some(size) = parse_size(&size) else {
            continue;
        };
        match level.trim() {
            "2" => l2 = l2.max(size),
            "3" => l3 = l3.max(size),
            _ => {}
        }
    }
    (l2 > 0).then_some((l2, l3, CacheSource::Sysfs))
}

/// L2 and L3 sizes from CPUID's deterministic cache parameters.
#[cfg(target_arch = "x86_64")]
fn cpuid_caches() -> Option<(usize, usize, CacheSource)> {
    #[allow(unused_unsafe)] // an unsafe fn before Rust 1.87
    // SAFETY: CPUID is unprivileged and present on every x86-64 CPU; it only reads
    // identification registers.
    let cpuid = |leaf: u32, sub: u32| unsafe { core::arch::x86_64::__cpuid_count(leaf, sub) };
    let vendor = cpuid(0, 0);
    let amd = (vendor.ebx, vendor.edx, vendor.ecx) == (0x6874_7541, 0x6974_6e65, 0x444d_4163)
        || (vendor.ebx, vendor.edx, vendor.ecx) == (0x6f67_7948, 0x6e65_476e, 0x656e_6975);
    let leaf = if amd {
        let max_ext = cpuid(0x8000_0000, 0).eax;
        let topo_ext = cpuid(0x8000_0001, 0).ecx & (1 << 22) != 0;
        if max_ext < 0x8000_001d || !topo_ext {
            return None;
        }
        0x8000_001d
    } else {
        if vendor.eax < 4 {
            return None;
        }
        4
    };
    let (mut l2, mut l3) = (0usize, 0usize);
    for sub in 0..16 {
        let r = cpuid(leaf, sub);
        let kind = r.eax & 0x1f; // 0 none, 1 data, 2 instruction, 3 unified
        if kind == 0 {
            break;
        }
        if kind == 2 {
            continue;
        }
        let level = (r.eax >> 5) & 0x7;
        let ways = ((r.ebx >> 22) & 0x3ff) as usize + 1;
        let parts = ((r.ebx >> 12) & 0x3ff) as usize + 1;
        let line = (r.ebx & 0xfff) as usize + 1;
        let sets = r.ecx as usize + 1;
        let size = ways * parts * line * sets;
        match level {
            2 => l2 = l2.max(size),
            3 => l3 = l3.max(size),
            _ => {}
        }
    }
    (l2 > 0).then_some((l2, l3, CacheSource::Cpuid))
}

#[cfg(not(target_arch = "x86_64"))]
fn cpuid_caches() -> Option<(usize, usize, CacheSource)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("2048K\n"), Some(2 << 20));
        assert_eq!(parse_size("32M"), Some(32 << 20));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("K"), None);
        assert_eq!(parse_size("12X"), None);
    }

    #[test]
    fn detection_gives_usable_sizes() {
        let c = Caches::detected();
        assert!(c.l2_bytes >= 64 << 10, "{c:?}");
        assert!(c.cores >= 1);
        #[cfg(target_arch = "x86_64")]
        if let Some((l2, _, _)) = cpuid_caches() {
            assert!(l2 >= 64 << 10, "cpuid L2 {l2}");
        }
    }
}
