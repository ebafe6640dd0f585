//! Finds out whether QEMU is installed, for the QEMU end-to-end test: without
//! `qemu-system-x86_64` on `PATH` the test is built ignored (reported as such, never as
//! passed); `.ci/run` runs it with `--include-ignored`, so CI fails without QEMU.

fn main() {
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rustc-check-cfg=cfg(qemu_absent)");
    let found = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| dir.join("qemu-system-x86_64").is_file())
    });
    if !found {
        println!("cargo::rustc-cfg=qemu_absent");
    }
}
