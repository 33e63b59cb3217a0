//! Builds the C half of the extension, as pyca/cryptography does: run the cffi builder
//! (csrc/cffi_build.py) with `$PYO3_PYTHON` to emit the API-mode C source, then compile it and
//! the hand-written kernels with the `cc` crate. `src/lib.rs` adds the resulting cffi module
//! (`PyInit_c_kernels`) to the pyo3 module as `relukit._native.c_kernels`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The list of the C library's files (relative to csrc/), shared with `make ctest`.
const SOURCES_LIST: &str = "sources.txt";
/// The directories of the C headers: the public one and the internal ones.
const INCLUDE_DIRS: &[&str] = &["include", "runtime", "kernels"];

/// The paths listed in csrc/sources.txt (one per line, `#` starts a comment).
fn listed_files(csrc: &Path) -> Vec<String> {
    let list = csrc.join(SOURCES_LIST);
    let text = std::fs::read_to_string(&list)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", list.display()));
    text.lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect()
}

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let csrc = manifest.join("../../csrc");
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let python = env::var("PYO3_PYTHON").unwrap_or_else(|_| "python3".to_string());
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    let files = listed_files(&csrc);
    for name in files
        .iter()
        .map(String::as_str)
        .chain([SOURCES_LIST, "cffi_build.py"])
    {
        println!("cargo:rerun-if-changed={}", csrc.join(name).display());
    }
    let includes: Vec<PathBuf> = INCLUDE_DIRS.iter().map(|d| csrc.join(d)).collect();

    let cffi_builder = csrc.join("cffi_build.py");
    run_python(&python, &[cffi_builder.to_str().unwrap()], &out_dir);
    let include = run_python(
        &python,
        &[
            "-c",
            "import sysconfig; p = sysconfig.get_paths(); print(p['include'], p['platinclude'], sep='\\n', end='')",
        ],
        &out_dir,
    );

    // The cffi glue first: it references the kernels, and static libraries link left to right.
    let mut glue = cc::Build::new();
    glue.file(out_dir.join("_relukit_cffi.c"))
        .include(csrc.join("include"));
    for dir in include.lines() {
        glue.include(dir);
    }
    glue.warnings(false).compile("relukit_cffi");

    cc::Build::new()
        .std("c11")
        .files(
            files
                .iter()
                .filter(|name| name.ends_with(".c"))
                .map(|name| csrc.join(name)),
        )
        .includes(&includes)
        .flag_if_supported("-pthread")
        // every path computes each formula as written (C and Rust give the same bits); clang
        // (the wheel is built with zig) would otherwise fuse a*b+c within an expression
        .flag("-ffp-contract=off")
        .warnings(true)
        .extra_warnings(true)
        .compile("relukit_ckernels");
}

/// Run `python args…` with `OUT_DIR` set and return its stdout; panic with its stderr on failure.
fn run_python(python: &str, args: &[&str], out_dir: &Path) -> String {
    let output = Command::new(python)
        .args(args)
        .env("OUT_DIR", out_dir)
        .env("PYTHONIOENCODING", "utf-8")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    if !output.status.success() {
        panic!(
            "{python} {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    String::from_utf8(output.stdout).expect("python printed non-UTF-8")
}
