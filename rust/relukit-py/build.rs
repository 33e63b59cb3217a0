//! Builds the C half of the extension, as pyca/cryptography does: run the cffi builder
//! (csrc/cffi_build.py) with `$PYO3_PYTHON` to emit the API-mode C source, then compile it and
//! the hand-written kernels with the `cc` crate. `src/lib.rs` adds the resulting cffi module
//! (`PyInit_c_kernels`) to the pyo3 module as `relukit._native.c_kernels`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The hand-written C kernels (csrc/), one line each: a new kernel file goes here.
const C_SOURCES: &[&str] = &[
    "relu.c",
    "dense.c",
    "pool.c",
    "dense_backward.c",
    "family.c",
];
/// Everything else under csrc/ whose change must rebuild the extension.
const C_HEADERS: &[&str] = &["relukit.h", "relukit_internal.h", "cffi_build.py"];

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let csrc = manifest.join("../../csrc");
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let python = env::var("PYO3_PYTHON").unwrap_or_else(|_| "python3".to_string());
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    for name in C_SOURCES.iter().chain(C_HEADERS) {
        println!("cargo:rerun-if-changed={}", csrc.join(name).display());
    }

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
    glue.file(out_dir.join("_relukit_cffi.c")).include(&csrc);
    for dir in include.lines() {
        glue.include(dir);
    }
    glue.warnings(false).compile("relukit_cffi");

    cc::Build::new()
        .std("c11")
        .files(C_SOURCES.iter().map(|name| csrc.join(name)))
        .include(&csrc)
        .flag_if_supported("-pthread")
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
