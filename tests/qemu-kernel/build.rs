//! Link arguments for the bare-metal kernel, and the partitions' program built and
//! flattened into the image it embeds (`tests/qemu-guest`, see `guest-image`): only when
//! building for `x86_64-unknown-none` (on the host the crate is an empty program and
//! links normally).

use std::path::{Path, PathBuf};

/// Where the partitions' image is linked and mapped (`qemu_guest::GUEST_BASE`).
const GUEST_BASE: u64 = 0x40_0000;

fn main() {
    println!("cargo:rerun-if-changed=linker.ld");
    println!("cargo:rerun-if-env-changed=TARGET");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target != "x86_64-unknown-none" {
        return;
    }
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    println!("cargo:rustc-link-arg-bins=-T{}/linker.ld", dir.display());
    println!("cargo:rustc-link-arg-bins=--no-pie");
    println!("cargo:rustc-link-arg-bins=-zmax-page-size=0x1000");

    let workspace = dir.join("../..");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());
    let image = out.join("guest.bin");
    let sources: Vec<PathBuf> = [
        "tests/qemu-guest",
        "adapters/guest/src",
        "adapters/x86/src",
        "irq-router/src",
        "notify-core/src",
        "vcpu-state/src",
    ]
    .iter()
    .map(|s| workspace.join(s))
    .collect();
    let sources: Vec<&Path> = sources.iter().map(PathBuf::as_path).collect();
    match guest_image::make(
        &workspace,
        "qemu-guest",
        &out.join("guest-target"),
        GUEST_BASE,
        &image,
        &sources,
    ) {
        Ok(_) => println!("cargo:rustc-env=GUEST_IMAGE={}", image.display()),
        Err(e) => {
            eprintln!("the partitions' program: {e}");
            std::process::exit(1);
        }
    }
}
