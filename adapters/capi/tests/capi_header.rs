//! The checked-in header `include/irq_capi.h` is what cbindgen generates from the
//! sources today; it compiles as C with gcc and clang, pedantic, and freestanding beside
//! a kernel's own types (`tests/c/header_kernel.c`), with the layouts the library writes
//! the same under `-fshort-enums` and `-m32`.

mod support;

use std::path::Path;
use std::process::Command;

use support::{Check, Need, cargo_bin, cc_m32, crate_dir, harness, run, tool};

fn capi_header_is_up_to_date() {
    let cbindgen = tool("cbindgen", &cargo_bin("cbindgen"));
    let dir = std::env::temp_dir().join(format!("irq-capi-header-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fresh = dir.join("irq_capi.h");
    run(Command::new(cbindgen)
        .current_dir(crate_dir())
        .args(["--config", "cbindgen.toml", "--quiet", "--output"])
        .arg(&fresh));
    let generated = std::fs::read_to_string(&fresh).unwrap();
    let checked_in = std::fs::read_to_string(crate_dir().join("include/irq_capi.h")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        generated == checked_in,
        "include/irq_capi.h is out of date: regenerate it with \
         `cd adapters/capi && cbindgen --config cbindgen.toml --output include/irq_capi.h`"
    );
}

fn capi_header_declares_what_a_kernel_expects() {
    let header = std::fs::read_to_string(crate_dir().join("include/irq_capi.h")).unwrap();
    assert!(!header.contains("rust_eh_personality"));
    assert!(!header.contains("stdbool") && !header.contains("stddef"));
    assert!(!header.contains("enum "), "no C enum: their size follows the compiler");
    assert!(header.contains("#ifndef IRQ_CAPI_NO_STDINT\n#include <stdint.h>\n#endif"));
    for name in ["irq_capi_version", "IRQ_CAPI_VERSION", "irq_router_hypercall_i386"] {
        assert!(header.contains(name), "{name}");
    }
    // Every exported function says in what context it may be called.
    let functions = header.lines().filter(|l| l.contains(" irq_") && l.contains('(')).count();
    let notes = header.matches(" * ISR: ").count();
    assert!(functions >= 20 && notes >= functions, "{notes} notes for {functions} functions");
}

/// `compiler` on `source` with `flags` and the header's directory, syntax only.
fn compile(compiler: &Path, flags: &[&str], source: &Path) {
    run(Command::new(compiler)
        .args(["-Wall", "-Wextra", "-Werror", "-pedantic", "-fsyntax-only"])
        .args(flags)
        .arg("-I")
        .arg(crate_dir().join("include"))
        .arg(source));
}

fn capi_header_compiles_with_gcc_and_clang() {
    let header = crate_dir().join("include/irq_capi.h");
    let kernel = crate_dir().join("tests/c/header_kernel.c");
    let freestanding = ["-std=c11", "-ffreestanding", "-nostdinc"];
    let cc = cc_m32();
    compile(&cc, &["-std=c99", "-x", "c"], &header);
    compile(&cc, &freestanding, &kernel);
    compile(&cc, &[&freestanding[..], &["-fshort-enums"]].concat(), &kernel);
    compile(&cc, &[&freestanding[..], &["-m32", "-fshort-enums"]].concat(), &kernel);
    let clang = tool("clang", &[]);
    compile(&clang, &["-std=c99", "-x", "c"], &header);
    compile(&clang, &freestanding, &kernel);
    compile(&clang, &[&freestanding[..], &["-m32", "-fshort-enums"]].concat(), &kernel);
}

fn main() -> std::process::ExitCode {
    harness(vec![
        Check {
            name: "capi_header_is_up_to_date",
            needs: &[Need::Cbindgen],
            release_only: false,
            test: capi_header_is_up_to_date,
        },
        Check {
            name: "capi_header_declares_what_a_kernel_expects",
            needs: &[],
            release_only: false,
            test: capi_header_declares_what_a_kernel_expects,
        },
        Check {
            name: "capi_header_compiles_with_gcc_and_clang",
            needs: &[Need::Cc, Need::CcM32, Need::Clang],
            release_only: false,
            test: capi_header_compiles_with_gcc_and_clang,
        },
    ])
}
