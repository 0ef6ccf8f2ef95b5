//! Compiles the kernel side (`src/bpf/*.bpf.c`) with clang and generates a libbpf-rs
//! skeleton for each into OUT_DIR. Only clang is needed: `vmlinux.h` is committed (CO-RE
//! relocates field offsets at load time) and libbpf's headers come with libbpf-cargo.

use std::env;
use std::path::PathBuf;

use libbpf_cargo::SkeletonBuilder;

/// The BPF objects: the probe itself, and one the verifier must refuse (for the test that a
/// verifier rejection surfaces as a readable error).
const PROGRAMS: [&str; 2] = ["probe", "rejected"];

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts"));
    for name in PROGRAMS {
        let src = format!("src/bpf/{name}.bpf.c");
        let skel = out.join(format!("{name}.skel.rs"));
        if let Err(error) = SkeletonBuilder::new()
            .source(&src)
            .clang_args(["-Wall", "-Wno-unused-function", "-O2", "-g"])
            .build_and_generate(&skel)
        {
            // The chain names the clang failure; `{:#}` keeps it on one line for cargo's output.
            panic!("compiling {src} failed (is clang installed? run scripts/bpf.sh): {error:#}");
        }
        println!("cargo:rerun-if-changed={src}");
    }
    println!("cargo:rerun-if-changed=src/bpf/probe.h");
    println!("cargo:rerun-if-changed=src/bpf/vmlinux.h");
}
