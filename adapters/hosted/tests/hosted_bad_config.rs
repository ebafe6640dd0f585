//! Malformed configurations: each is refused with a message naming the entry with its
//! line and column, a non-zero exit status, and never a panic.

use std::process::Command;

const DEFAULT: &str = include_str!("../config/default.toml");

/// The default configuration with `from` replaced by `to` (which must occur).
fn variant(from: &str, to: &str) -> String {
    assert!(DEFAULT.contains(from), "the default configuration has {from:?}");
    DEFAULT.replacen(from, to, 1)
}

/// Runs the runner on `text`; returns its stderr after checking the exit status.
fn refused(name: &str, text: &str, extra: &[&str]) -> String {
    let dir = std::env::temp_dir().join(format!("irq-hosted-bad-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("system.toml");
    std::fs::write(&path, text).expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_irq-hosted"))
        .arg("--config")
        .arg(&path)
        .args(["--frames", "1", "--quiet"])
        .args(extra)
        .output()
        .expect("the runner starts");
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "exit status 2 for a bad configuration: {stderr}");
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");
    assert!(out.stdout.is_empty(), "no summary for a bad configuration");
    assert!(stderr.contains("bad configuration"), "{stderr}");
    stderr
}

/// Checks the message names `entry` at `line` (and some column) and says `what`.
fn names(stderr: &str, entry: &str, line: usize, what: &str) {
    let at = format!("system.toml:{line}:");
    assert!(stderr.contains(&at), "line {line} in: {stderr}");
    assert!(stderr.contains(&format!("in {entry}:")), "entry {entry} in: {stderr}");
    assert!(stderr.contains(what), "{what:?} in: {stderr}");
}

fn line_of(text: &str, needle: &str) -> usize {
    let at = text.find(needle).unwrap_or_else(|| panic!("{needle:?} not found"));
    text[..at].matches('\n').count() + 1
}

#[test]
fn hosted_bad_config_missing_field() {
    let text = variant("name = \"io-b\"\ncatch_up = \"warp\"\n", "name = \"io-b\"\n");
    let err = refused("missing", &text, &["--check"]);
    names(
        &err,
        "[[partition]] 2 \"io-b\"",
        line_of(&text, "name = \"io-b\"") - 1,
        "missing field `catch_up`",
    );
}

#[test]
fn hosted_bad_config_wrong_type() {
    let text = variant("major_frame = 40", "major_frame = \"forty\"");
    let err = refused("wrong-type", &text, &[]);
    names(&err, "top level", line_of(&text, "major_frame"), "invalid type");
}

#[test]
fn hosted_bad_config_wrong_type_in_an_entry() {
    let text = variant(
        "length = 10\n\n[[window]]\npartition = \"io-b\"",
        "length = \"ten\"\n\n[[window]]\npartition = \"io-b\"",
    );
    let err = refused("wrong-type-entry", &text, &["--check"]);
    names(&err, "[[window]] 1", line_of(&text, "length = \"ten\""), "invalid type");
}

#[test]
fn hosted_bad_config_exclusive_line_given_twice() {
    let text = variant("sharing = \"shared\"", "sharing = \"exclusive\"");
    let err = refused("exclusive", &text, &["--check"]);
    names(
        &err,
        "[[route]] 0",
        line_of(&text, "[[route]]"),
        "exclusive line is given to more than one partition",
    );
}

#[test]
fn hosted_bad_config_vector_routed_twice() {
    let second = "\n[[route]]\nvector = 40\nsharing = \"exclusive\"\ntrigger = \"edge\"\ntargets = [{ partition = \"io-b\", port = 1 }]\n";
    let text = format!("{DEFAULT}{second}");
    let err = refused("twice", &text, &["--check"]);
    let line = text.rfind("[[route]]").map(|at| text[..at].matches('\n').count() + 1).unwrap_or(0);
    names(&err, "[[route]] 1", line, "already has this vector");
}

#[test]
fn hosted_bad_config_channel_to_missing_port() {
    let text = variant(
        "to = { partition = \"io-a\", port = 3 }",
        "to = { partition = \"io-a\", port = 9 }",
    );
    let err = refused("channel-port", &text, &["--check"]);
    names(
        &err,
        "[[channel]] 0 \"commands\"",
        line_of(&text, "to = { partition = \"io-a\", port = 9"),
        "`to` port",
    );
}

#[test]
fn hosted_bad_config_channel_to_missing_partition() {
    let text = variant(
        "to = { partition = \"io-a\", port = 3 }",
        "to = { partition = \"io-z\", port = 3 }",
    );
    let err = refused("channel-partition", &text, &["--check"]);
    names(
        &err,
        "[[channel]] 0 \"commands\"",
        line_of(&text, "io-z"),
        "no partition is named \"io-z\"",
    );
}

#[test]
fn hosted_bad_config_windows_overlapping() {
    let text = variant("start = 20", "start = 15");
    let err = refused("overlap", &text, &["--check"]);
    names(
        &err,
        "[[window]] 2",
        line_of(&text, "start = 15") - 2,
        "starts before the previous window of its partition's CPU ends",
    );
}

#[test]
fn hosted_bad_config_window_past_the_frame() {
    let text = variant("start = 30\nlength = 8", "start = 30\nlength = 18");
    let err = refused("past-frame", &text, &["--check"]);
    names(&err, "[[window]] 3", line_of(&text, "start = 30") - 2, "ends after the major frame");
}

#[test]
fn hosted_bad_config_unknown_key_and_syntax() {
    let text = variant("budget = 200", "budget = 200\nbugdet = 3");
    let err = refused("unknown-key", &text, &["--check"]);
    names(&err, "[[route]] 0", line_of(&text, "bugdet"), "unknown field `bugdet`");
    let text = variant("major_frame = 40", "major_frame = = 40");
    let err = refused("syntax", &text, &["--check"]);
    assert!(err.contains(&format!("system.toml:{}:", line_of(&text, "major_frame"))), "{err}");
}

#[test]
fn hosted_bad_config_timer_port_not_a_timer() {
    let text = variant(
        "name = \"logger\"\ncatch_up = \"collapse\"\ntimer_port = 0",
        "name = \"logger\"\ncatch_up = \"collapse\"\ntimer_port = 5",
    );
    let err = refused("timer-port", &text, &["--check"]);
    names(
        &err,
        "[[partition]] 3 \"logger\"",
        line_of(&text, "name = \"logger\"") - 1,
        "timer_port",
    );
}

/// The `io-b` partition with `lines` added after its `catch_up`.
fn io_b_with(lines: &str) -> String {
    variant(
        "name = \"io-b\"\ncatch_up = \"warp\"\n",
        &format!("name = \"io-b\"\ncatch_up = \"warp\"\n{lines}\n"),
    )
}

#[test]
fn hosted_bad_config_program_not_found() {
    // Relative to the file's directory (a temporary one): nothing there.
    let text = io_b_with("program = [\"./no-such-partition\", \"--fast\"]");
    let err = refused("program-missing", &text, &["--check"]);
    names(&err, "[[partition]] 2 \"io-b\"", line_of(&text, "program ="), "not an executable file");
    let text = io_b_with("program = [\"no-such-partition-in-path\"]");
    let err = refused("program-path", &text, &["--check"]);
    names(
        &err,
        "[[partition]] 2 \"io-b\"",
        line_of(&text, "program ="),
        "not an executable found in PATH",
    );
    let text = io_b_with("program = []");
    let err = refused("program-empty", &text, &["--check"]);
    names(
        &err,
        "[[partition]] 2 \"io-b\"",
        line_of(&text, "program ="),
        "needs at least the executable",
    );
    // Not executable: a directory.
    let text = io_b_with("program = [\"/\"]");
    let err = refused("program-dir", &text, &["--check"]);
    names(&err, "[[partition]] 2 \"io-b\"", line_of(&text, "program ="), "not an executable file");
}

#[test]
fn hosted_bad_config_program_env_and_cwd() {
    let text = io_b_with("program = [\"/bin/sh\"]\ncwd = \"no-such-dir\"");
    let err = refused("cwd", &text, &["--check"]);
    names(&err, "[[partition]] 2 \"io-b\"", line_of(&text, "cwd ="), "is not a directory");
    let text = io_b_with("program = [\"/bin/sh\"]\nenv = { \"A=B\" = \"1\" }");
    let err = refused("env-key", &text, &["--check"]);
    names(&err, "[[partition]] 2 \"io-b\"", line_of(&text, "env ="), "cannot be set");
    let text = io_b_with("program = [\"/bin/sh\"]\nenv = { IRQ_PARTITION = \"7\" }");
    let err = refused("env-reserved", &text, &["--check"]);
    names(&err, "[[partition]] 2 \"io-b\"", line_of(&text, "env ="), "set by the runner");
    // env or cwd without a program: a mistake, not silently ignored.
    let text = io_b_with("cwd = \"/\"");
    let err = refused("cwd-alone", &text, &["--check"]);
    names(&err, "[[partition]] 2 \"io-b\"", line_of(&text, "cwd ="), "there is none");
}

#[test]
fn hosted_bad_config_limits() {
    let text = io_b_with("limits = { pids = 0 }");
    let err = refused("pids-zero", &text, &["--check"]);
    names(&err, "[[partition]] 2 \"io-b\"", line_of(&text, "limits ="), "limits.pids must be 1 to");
    let text = io_b_with("limits = { memory_mib = 2 }");
    let err = refused("memory-small", &text, &["--check"]);
    names(
        &err,
        "[[partition]] 2 \"io-b\"",
        line_of(&text, "limits ="),
        "limits.memory_mib must be",
    );
    let text = io_b_with("limits = { cpus = 2 }");
    let err = refused("limits-unknown", &text, &["--check"]);
    names(&err, "[[partition]] 2 \"io-b\"", line_of(&text, "limits ="), "unknown field");
    let text = io_b_with("limits = { pids = 16, memory_mib = 64 }");
    let system = irq_hosted::config::load("ok.toml", &text).expect("limits within range load");
    let io_b = &system.info[2].limits;
    assert_eq!((io_b.pids, io_b.memory_mib), (16, 64));
}

#[test]
fn hosted_config_port_without_context() {
    let text = variant(
        "port = 0\nsource = \"timer\"\n",
        "port = 0\nsource = \"timer\"\nno_context = true\n",
    );
    let system = irq_hosted::config::load("ok.toml", &text).expect("no_context loads");
    let keeps: Vec<_> = system.partitions[0].ports.iter().map(|c| c.keep_context).collect();
    assert_eq!(keeps, [false, true], "only the port configured without");
    let err = refused(
        "no-context-not-bool",
        &text.replace("no_context = true", "no_context = 1"),
        &["--check"],
    );
    assert!(err.contains("no_context") || err.contains("invalid type"), "{err}");
}

#[test]
fn hosted_bad_config_cpus() {
    let two = include_str!("../config/two-cpus.toml");
    for (from, to, entry, what) in [
        ("cpus = 2 ", "cpus = 0 ", "top level", "cpus must be 1 to 8"),
        ("cpus = 2 ", "cpus = 9 ", "top level", "cpus must be 1 to 8"),
        (
            "name = \"io-a\"\ncpu = 1\n",
            "name = \"io-a\"\ncpu = 2\n",
            "[[partition]] 1 \"io-a\"",
            "the partition's cpu = 2, but the system has cpus = 2",
        ),
        (
            "[device]\ncpu = 0 ",
            "[device]\ncpu = 5 ",
            "[device]",
            "the device's cpu = 5, but the system has cpus = 2",
        ),
    ] {
        assert!(two.contains(from), "the two-CPU configuration has {from:?}");
        let text = two.replacen(from, to, 1);
        let err = refused("cpus", &text, &["--check"]);
        // (The device's entry is reported at its table.)
        let last = to.lines().last().unwrap_or(to);
        let line = line_of(&text, if last == "cpu = 5 " { "[device]" } else { last });
        names(&err, entry, line, what);
    }
    // A partition on a CPU the default (one CPU) does not have.
    let text = variant("name = \"io-b\"\n", "name = \"io-b\"\ncpu = 1\n");
    let err = refused("cpu-default", &text, &["--check"]);
    names(
        &err,
        "[[partition]] 2 \"io-b\"",
        line_of(&text, "cpu = 1"),
        "but the system has cpus = 1",
    );
}

#[test]
fn hosted_bad_config_priority_levels() {
    let two = include_str!("../config/two-cpus.toml");
    let from = "priority_levels = [{ start = 0, end = 1 }, { start = 1, end = 4 }]";
    assert!(two.contains(from));
    for (to, what) in [
        (
            "priority_levels = [{ start = 2, end = 1 }]",
            "priority_levels[0]: a level needs start < end",
        ),
        (
            "priority_levels = [{ start = 0, end = 65 }]",
            "priority_levels[0]: a level needs start < end, and ends at 64",
        ),
        (
            "priority_levels = [{ start = 0, end = 4 }, { start = 2, end = 8 }]",
            "priority_levels[1] starts before the previous level ends",
        ),
    ] {
        let text = two.replacen(from, to, 1);
        let err = refused("levels", &text, &["--check"]);
        names(&err, "[[partition]] 1 \"io-a\"", line_of(&text, "name = \"io-a\"") - 1, what);
    }
}
