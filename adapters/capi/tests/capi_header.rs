//! The checked-in header `include/irq_capi.h` is what cbindgen generates from the
//! sources today; and it compiles as C.

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::{crate_dir, run, tool};

fn cargo_bin(name: &str) -> Vec<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    home.map(|h| h.join("bin").join(name)).into_iter().collect()
}

#[test]
fn capi_header_is_up_to_date() {
    let Some(cbindgen) =
        tool("cbindgen", &cargo_bin("cbindgen"), "cargo install cbindgen --locked")
    else {
        return;
    };
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

#[test]
fn capi_header_compiles_as_c() {
    let Some(cc) = tool("cc", &[], "apt-get install -y gcc") else { return };
    run(Command::new(cc)
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fsyntax-only", "-x", "c"])
        .arg(crate_dir().join("include/irq_capi.h")));
}
