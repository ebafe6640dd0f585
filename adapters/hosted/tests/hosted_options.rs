//! Options that cannot take effect are refused, each with a message naming it, exit
//! status 2, no summary and no picture: never silently ignored.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn runner(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_irq-hosted")).args(args).output().expect("the runner starts")
}

/// A path for a picture that must not be written.
fn picture(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("irq-hosted-options-{}-{name}.svg", std::process::id()))
}

/// Runs `args`, checks the refusal names `option` and says `what`.
fn refused(args: &[&str], option: &str, what: &str) {
    let out = runner(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: exit status 2: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?}: no summary");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    assert!(
        stderr.starts_with(&format!("irq-hosted: {option}")),
        "{args:?} names {option}: {stderr}"
    );
    assert!(stderr.contains(what), "{args:?}: {what:?} in {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: one line: {stderr}");
}

fn not_written(path: &Path) {
    assert!(!path.exists(), "{} written", path.display());
}

#[test]
fn hosted_options_a_crash_past_the_run_is_refused() {
    // Frames are numbered from 0: a 3-frame run has frames 0 to 2.
    refused(
        &["--crash", "io-a@7", "--frames", "3"],
        "--crash io-a@7",
        "frame 7 is past the run (--frames 3 runs frames 0 to 2)",
    );
    refused(&["--crash", "io-a@3", "--frames", "3"], "--crash io-a@3", "frame 3 is past the run");
    // The default run is 50 frames.
    refused(&["--crash", "1@50"], "--crash 1@50", "frames 0 to 49");
    // Also when only checking.
    refused(&["--check", "--crash", "io-a@7", "--frames", "3"], "--crash io-a@7", "past the run");
}

#[test]
fn hosted_options_a_bad_crash_is_refused() {
    refused(&["--crash", "io-a"], "--crash io-a", "expected PARTITION@FRAME");
    refused(&["--crash", "io-a@x"], "--crash io-a@x", "FRAME is not a frame number");
    refused(&["--crash", "io-a@-1"], "--crash io-a@-1", "FRAME is not a frame number");
    refused(&["--crash", "nobody@1"], "--crash nobody@1", "known: control, io-a, io-b, logger");
    refused(&["--crash", "4@1"], "--crash 4@1", "no such partition");
}

#[test]
fn hosted_options_a_crash_of_a_partition_without_a_window_is_refused() {
    let default = include_str!("../config/default.toml");
    let window = "[[window]]\npartition = \"logger\"\nstart = 30\nlength = 8\n";
    assert!(default.contains(window), "the default schedule");
    let dir = std::env::temp_dir().join(format!("irq-hosted-nowindow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("system.toml");
    std::fs::write(&path, default.replace(window, "")).expect("write config");
    let config = path.to_str().expect("utf-8 path");
    let checked = runner(&["--check", "--config", config]);
    let out = runner(&["--config", config, "--crash", "logger@1", "--frames", "2"]);
    let _ = std::fs::remove_dir_all(&dir);
    // The configuration itself is valid: only the crash cannot happen.
    assert_eq!(checked.status.code(), Some(0), "{}", String::from_utf8_lossy(&checked.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--crash logger@1: partition \"logger\" has no window"), "{stderr}");
}

#[test]
fn hosted_options_picture_options_that_cannot_take_effect_are_refused() {
    let svg = picture("refused");
    let file = svg.to_str().expect("utf-8 path");
    // More frames than the run has, none, more than a picture shows.
    refused(&["--frames", "3", "--svg", file, "--svg-frames", "5"], "--svg-frames 5", "--frames 3");
    refused(&["--frames", "3", "--svg", file, "--svg-frames", "0"], "--svg-frames 0", "1 to 16");
    refused(&["--svg", file, "--svg-frames", "17"], "--svg-frames 17", "1 to 16 frames");
    // A first frame past the run, or a picture that would run past its end.
    refused(&["--frames", "3", "--svg", file, "--svg-from", "3"], "--svg-from 3", "frames 0 to 2");
    refused(
        &["--frames", "6", "--svg", file, "--svg-from", "4", "--svg-frames", "3"],
        "--svg-from 4",
        "a picture of 3 frames from frame 4 is not inside the run",
    );
    // What only sets the picture, without one.
    refused(&["--svg-frames", "2"], "--svg-frames", "needs --svg FILE");
    refused(&["--svg-from", "1"], "--svg-from", "needs --svg FILE");
    not_written(&svg);
}

#[test]
fn hosted_options_that_a_check_or_the_benchmark_would_ignore_are_refused() {
    let svg = picture("check");
    let file = svg.to_str().expect("utf-8 path");
    refused(&["--check", "--json"], "--json", "has no effect with --check");
    refused(&["--check", "--svg", file], "--svg", "has no effect with --check");
    refused(
        &["--bench-latency", "--frames", "3"],
        "--frames",
        "has no effect with --bench-latency",
    );
    refused(&["--bench-latency", "--crash", "io-a@1"], "--crash", "with --bench-latency");
    refused(&["--bench-latency", "--json"], "--json", "with --bench-latency");
    refused(&["--frames", "0"], "--frames 0", "at least one frame");
    not_written(&svg);
}

#[test]
fn hosted_options_that_can_take_effect_are_accepted() {
    // A check checks the options given with it too.
    let out = runner(&["--check", "--crash", "io-a@2", "--frames", "3", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // A picture of the run's last frame, asked for; the default frame count (3) shrinks
    // to what is left of the run.
    let svg = picture("accepted");
    let file = svg.to_str().expect("utf-8 path");
    let out = runner(&["--quiet", "--json", "--frames", "2", "--svg", file, "--svg-from", "1"]);
    let picture = std::fs::read_to_string(&svg);
    let _ = std::fs::remove_file(&svg);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let picture = picture.expect("the picture is written");
    assert!(picture.contains("frame 1 (--svg-from 1)"), "{picture}");
}
