//! Replays every fuzz target's committed seeds (`fuzz/seeds/<target>/`) and, when present,
//! its local corpus (`fuzz/corpus/<target>/`, gitignored) through the same check functions
//! the cargo-fuzz targets call, on stable and without libFuzzer.

use std::fs;
use std::path::{Path, PathBuf};

use system_tests::fuzz_checks::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("fuzz")
}

/// The files of `dir`, sorted (an unreadable entry fails the test).
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

fn replay(check: fn(&[u8]), files: &[PathBuf]) {
    for file in files {
        let data = fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if let Err(panic) = std::panic::catch_unwind(|| check(&data)) {
            eprintln!("failing input: {}", file.display());
            std::panic::resume_unwind(panic);
        }
    }
}

#[test]
fn every_fuzz_target_passes_its_seeds_and_corpus() {
    let fuzz = fuzz_dir();
    for (name, check) in TARGETS {
        let seeds = inputs(&fuzz.join("seeds").join(name));
        assert!(!seeds.is_empty(), "no seeds for fuzz target {name}");
        replay(check, &seeds);
        let corpus = fuzz.join("corpus").join(name);
        if corpus.is_dir() {
            replay(check, &inputs(&corpus));
        }
    }
}

#[test]
fn every_fuzz_target_is_listed_in_the_fuzz_crate() {
    let manifest = fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for (name, _) in TARGETS {
        assert!(manifest.contains(&format!("name = \"{name}\"")), "{name} not in fuzz/Cargo.toml");
        let source = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        let source = fs::read_to_string(&source).expect("the target's source");
        assert!(source.contains(&format!("fuzz_checks::{name}(data)")), "{name} is not thin");
    }
}
