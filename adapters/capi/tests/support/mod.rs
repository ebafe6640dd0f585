//! Shared by the tests that need tools outside cargo (cc, valgrind, cbindgen).
#![allow(dead_code, reason = "each test file uses a part of this")]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The crate's directory.
pub(crate) fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The workspace's directory.
pub(crate) fn workspace_dir() -> PathBuf {
    crate_dir().join("../..")
}

/// Whether the CI gate runs (a missing tool then fails the test instead of skipping it).
pub(crate) fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// `tool` if it runs (`tool --version`). Missing: under CI the test fails, otherwise it
/// says loudly that it is skipped and answers `None`.
pub(crate) fn tool(tool: &str, candidates: &[PathBuf], install: &str) -> Option<PathBuf> {
    let found =
        std::iter::once(PathBuf::from(tool)).chain(candidates.iter().cloned()).find(|path| {
            Command::new(path).arg("--version").output().is_ok_and(|o| o.status.success())
        });
    if found.is_none() {
        let message = format!("`{tool}` is not installed (install it with: {install})");
        assert!(!in_ci(), "{message}; CI=true requires it");
        eprintln!("\n**** SKIPPED: {message} ****\n");
    }
    found
}

/// Runs `command`, failing the test with its output if it fails.
pub(crate) fn run(command: &mut Command) -> std::process::Output {
    let output = command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    output
}

/// Whether `path` exists.
pub(crate) fn exists(path: &Path) -> bool {
    path.exists()
}
