//! The 32-bit freestanding build (`targets/i686-irq-none.json`, soft-float, `-Z
//! build-std` on nightly): what a kernel links of the archive (every `irq_*` symbol and
//! what it reaches, `ld -r --gc-sections`) holds no x87, MMX or SSE instruction, uses
//! `lock cmpxchg8b` for its 64-bit atomics, and needs no symbol from outside.

mod support;

use std::process::Command;

use support::{Check, Need, harness, i686_library, run, tool, workspace_dir};

/// x87, MMX and SSE mnemonics and registers, as objdump (AT&T syntax) prints them.
fn floating_point(line: &str) -> bool {
    let Some((_, instruction)) = line.split_once(":\t") else { return false };
    let mnemonic = instruction.split_whitespace().next().unwrap_or("");
    let x87 = mnemonic.starts_with('f') && mnemonic != "fence";
    let state = ["emms", "ldmxcsr", "stmxcsr", "fxsave", "fxrstor", "xsave", "xrstor"]
        .iter()
        .any(|m| mnemonic.starts_with(m));
    let registers = ["%xmm", "%ymm", "%zmm", "%mm", "%st"].iter().any(|r| instruction.contains(r));
    x87 || state || registers
}

fn capi_i686_archive_has_no_floating_point_and_no_undefined_symbols() {
    let library = i686_library();
    let ld = tool("ld", &[]);
    let nm = run(Command::new("nm").args(["-g", "--defined-only"]).arg(&library));
    let mut roots: Vec<String> = String::from_utf8_lossy(&nm.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .filter(|s| s.starts_with("irq_"))
        .map(|s| format!("--undefined={s}"))
        .collect();
    roots.sort();
    roots.dedup();
    assert!(roots.len() > 40, "the C API's symbols: {roots:?}");
    let linked = workspace_dir().join("target/capi-i686/irq_capi_linked.o");
    run(Command::new(ld)
        .args(["-m", "elf_i386", "-r", "--gc-sections", "-e", "irq_router_create"])
        .args(&roots)
        .arg(&library)
        .arg("-o")
        .arg(&linked));
    let undefined = run(Command::new("nm").arg("-u").arg(&linked));
    let undefined = String::from_utf8_lossy(&undefined.stdout);
    assert!(undefined.trim().is_empty(), "undefined symbols:\n{undefined}");
    let disassembly = run(Command::new("objdump").args(["-d", "--no-show-raw-insn"]).arg(&linked));
    let disassembly = String::from_utf8_lossy(&disassembly.stdout);
    let instructions = disassembly.lines().filter(|l| l.contains(":\t")).count();
    let floating: Vec<&str> = disassembly.lines().filter(|l| floating_point(l)).collect();
    assert!(instructions > 10_000, "the library was disassembled ({instructions} instructions)");
    assert!(floating.is_empty(), "x87/MMX/SSE instructions:\n{}", floating.join("\n"));
    let cmpxchg8b = disassembly.lines().filter(|l| l.contains("lock cmpxchg8b")).count();
    assert!(cmpxchg8b > 0, "64-bit atomics are lock cmpxchg8b");
    eprintln!("{instructions} instructions, 0 x87/MMX/SSE, {cmpxchg8b} lock cmpxchg8b");
}

fn capi_floating_point_scan_finds_what_it_looks_for() {
    assert!(floating_point("  401000:\tfldcw  0x4(%esp)"));
    assert!(floating_point("  401000:\tmovaps %xmm0,(%eax)"));
    assert!(floating_point("  401000:\tfstpl  (%esp)"));
    assert!(floating_point("  401000:\temms"));
    assert!(!floating_point("  401000:\tlock cmpxchg8b (%esi)"));
    assert!(!floating_point("  401000:\tmov    %fs:0x0,%eax"));
}

fn main() -> std::process::ExitCode {
    harness(vec![
        Check {
            name: "capi_i686_archive_has_no_floating_point_and_no_undefined_symbols",
            needs: &[Need::NightlySrc, Need::Binutils],
            release_only: false,
            test: capi_i686_archive_has_no_floating_point_and_no_undefined_symbols,
        },
        Check {
            name: "capi_floating_point_scan_finds_what_it_looks_for",
            needs: &[],
            release_only: false,
            test: capi_floating_point_scan_finds_what_it_looks_for,
        },
    ])
}
