//! Runs the runner binary on the default configuration and checks its JSON summary.

#[path = "common/json.rs"]
mod json;

use std::process::Command;

use json::{num, partition, run};
use serde_json::Value;

/// Time is exact: the kernel's time equals the guest's plus what is in flight plus
/// what the catch-up policy dropped (nothing with replay and warp).
fn assert_time_exact(p: &Value) {
    assert_eq!(num(p, "drift"), num(p, "dropped"), "drift is what the policy dropped: {p}");
    if p["catch_up"] == "replay" || p["catch_up"] == "warp" {
        assert_eq!(num(p, "drift"), 0, "zero drift under replay and warp: {p}");
    }
    assert_eq!(num(p, "lost"), 0, "nothing lost: {p}");
    // At most a frame's ticks wait for the partition's next window: it never stalls.
    assert!(num(p, "in_flight") <= 40, "the guest keeps up: {p}");
    assert!(num(p, "ticks_given") > 0, "every partition got ticks: {p}");
    assert!(num(p, "guest_time") > 0, "every guest handled ticks: {p}");
}

#[test]
fn hosted_default_configuration_runs_clean() {
    let summary = run(&["--frames", "6"]);
    assert_eq!(summary["frames"], 6);
    assert_eq!(summary["interrupted"], false);
    let partitions = summary["partitions"].as_array().expect("partitions");
    assert!(partitions.len() >= 3);
    for p in partitions {
        assert_time_exact(p);
        assert_eq!(num(p, "hm_events"), 0, "no health-monitor event: {p}");
        assert!(p["hm_counts"].as_array().is_some_and(Vec::is_empty), "{p}");
        assert!(p["hm_last"].as_array().is_some_and(Vec::is_empty), "{p}");
        assert_eq!(num(p, "restarts"), 0);
        assert_eq!(p["mode"], "Normal", "{p}");
        assert_eq!(p["start_reason"], "fresh");
        assert_eq!(p["page_start_reason"], "fresh");
    }
    // The device line reached both partitions it is shared by.
    assert!(num(partition(&summary, "io-a"), "line_events") > 0);
    assert!(num(partition(&summary, "io-b"), "line_events") > 0);
    assert_eq!(num(&summary["device"], "packets_lost"), 0);
    // The channel event arrived.
    assert!(num(partition(&summary, "control"), "channel_sent") > 0);
    assert!(num(partition(&summary, "io-a"), "channel_received") > 0);
    // The collapse partition dropped ticks (its windows are 32 ticks apart) and said so.
    assert!(num(partition(&summary, "logger"), "dropped") > 0);
    // Latency was measured, both figures: ticks in the window, and at each entry (at most
    // one sample per window: one window per frame here).
    for p in partitions {
        assert!(num(p, "in_window_samples") > 0, "{p}");
        assert!((1..=6).contains(&num(p, "at_entry_samples")), "{p}");
    }
    assert_eq!(num(&summary, "module_hm_events"), 0);
    assert_eq!(num(&summary, "log_dropped"), 0);
}

#[test]
fn hosted_injected_crash_restarts_the_partition() {
    let summary = run(&["--frames", "5", "--crash", "io-a@2"]);
    let a = partition(&summary, "io-a");
    assert_eq!(num(a, "restarts"), 1, "{a}");
    assert_eq!(num(a, "hm_events"), 1, "{a}");
    let events = a["hm_last"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{a}");
    assert_eq!(events[0]["kind"], "Trap");
    assert_eq!(events[0]["action"], "ColdStart");
    assert_eq!(events[0]["detail"], 14, "a page fault");
    // The crash came in its window of frame 2 (frames from 0: ticks 90..100), and the
    // summary numbers the frame as --crash does.
    let tick = num(&events[0], "tick");
    assert!((90..100).contains(&tick), "crash at tick {tick}");
    assert_eq!(num(&events[0], "frame"), 2, "{a}");
    let counts = a["hm_counts"].as_array().expect("counts");
    assert_eq!(counts.len(), 1, "{a}");
    assert_eq!((&counts[0]["kind"], &counts[0]["action"]), (&"Trap".into(), &"ColdStart".into()));
    assert_eq!(num(&counts[0], "count"), 1, "{a}");
    // The new process read why it started, by hypercall and in its page.
    assert_eq!(a["start_reason"], "cold restart (Trap)");
    assert_eq!(a["page_start_reason"], "cold restart (Trap)");
    // Its clock restarted with it and is exact again; the others never noticed.
    assert_time_exact(a);
    assert!(num(a, "line_events") > 0);
    for other in ["control", "io-b", "logger"] {
        let p = partition(&summary, other);
        assert_eq!(num(p, "restarts"), 0);
        assert_eq!(num(p, "hm_events"), 0, "{p}");
        assert_time_exact(p);
    }
}

/// A terminal's Ctrl-C goes to the foreground process group: the runner's. The
/// partitions are in process groups of their own, so only the runner hears it; it ends
/// the run cleanly, and no partition dies of it (no restart, no health-monitor event).
#[test]
fn hosted_ctrl_c_reaches_the_runner_not_the_partitions() {
    use std::os::unix::process::CommandExt;
    let child = Command::new(env!("CARGO_BIN_EXE_irq-hosted"))
        .args(["--json", "--quiet", "--frames", "400"])
        // The runner leads a process group, as a shell's foreground job does.
        .process_group(0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the runner starts");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let group = child.id() as i32;
    // SAFETY: kill with a process-group id is an FFI call with no memory effects.
    assert_eq!(unsafe { libc::kill(-group, libc::SIGINT) }, 0);
    let out = child.wait_with_output().expect("the runner ends");
    // 130: ended by SIGINT, after its summary (the shell's convention).
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).expect("the summary is JSON");
    assert_eq!(summary["interrupted"], true, "the runner heard the Ctrl-C");
    for p in summary["partitions"].as_array().expect("partitions") {
        assert_eq!(num(p, "restarts"), 0, "a partition died of the Ctrl-C: {p}");
        // (A ping missed on a loaded machine is logged, and has nothing to do with it.)
        let counts = p["hm_counts"].as_array().expect("counts");
        assert!(
            counts.iter().all(|c| c["kind"] == "PingMissed"),
            "a partition's health monitor heard of the Ctrl-C: {p}"
        );
    }
}

/// A health table that stops the module on a trap: the run ends with the module stopped,
/// the summary says so, and the runner exits with status 3.
#[test]
fn hosted_a_module_stopped_by_the_health_monitor_fails_the_run() {
    let default = include_str!("../config/default.toml");
    let table = "health = { default = \"ignore\", trap = \"cold_start\", partition_error = \"warm_start\" }";
    assert!(default.contains(table), "the default configuration's health tables");
    let stopping =
        default.replace(table, "health = { default = \"ignore\", trap = \"stop_module\" }");
    let path = std::env::temp_dir().join(format!("irq-hosted-stop-{}.toml", std::process::id()));
    std::fs::write(&path, stopping).expect("write the configuration");
    let out = Command::new(env!("CARGO_BIN_EXE_irq-hosted"))
        .args(["--json", "--quiet", "--frames", "5", "--crash", "io-a@2", "--config"])
        .arg(&path)
        .output()
        .expect("the runner starts");
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).expect("the summary is JSON");
    assert_eq!(summary["module_stopped"], true, "{summary}");
    let a = partition(&summary, "io-a");
    let events = a["hm_last"].as_array().expect("events");
    let stop = events
        .iter()
        .find(|e| e["kind"] == "Trap" && e["action"] == "StopModule")
        .unwrap_or_else(|| panic!("{a}"));
    // The run ended there: in frame 2 (frames 0 to 2 run, not the 5 asked for), or later
    // if io-a could not run in its window of frame 2 (it must run to fault).
    let frame = num(stop, "frame");
    assert!((2..5).contains(&frame), "{a}");
    assert_eq!(num(&summary, "frames"), frame + 1, "{summary}");
    assert_eq!(num(&summary, "ticks"), num(stop, "tick"), "{summary}");
    // The table says it too, and the status is the same.
    let out = Command::new(env!("CARGO_BIN_EXE_irq-hosted"))
        .args(["--quiet", "--frames", "5", "--crash", "io-a@2", "--config"])
        .arg(&path)
        .output()
        .expect("the runner starts");
    let _ = std::fs::remove_file(&path);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("(module stopped by the health monitor)"), "{table}");
    let line = table.lines().find(|l| l.contains(") Trap -> StopModule (detail 14)"));
    let line = line.unwrap_or_else(|| panic!("the record in {table}"));
    assert!(line.starts_with("  hm_last: tick "), "{table}");
    let frame = line.split_once("(frame ").and_then(|(_, f)| f.split(')').next());
    let frame: u64 = frame.and_then(|f| f.parse().ok()).unwrap_or_else(|| panic!("{line}"));
    assert!(table.starts_with(&format!("{} frames (0 to {frame}), ", frame + 1)), "{table}");
}

#[test]
fn hosted_own_program_runs_with_its_arguments_environment_and_directory() {
    // A partition's own program, relative to the configuration file: a script that
    // records what it was given, then becomes the demo partition.
    let dir = std::env::temp_dir().join(format!("irq-hosted-program-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("work")).expect("temp dir");
    // Writable by the partition's own uid (a root runner gives it one of its own).
    std::fs::set_permissions(dir.join("work"), std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .expect("chmod");
    let script = dir.join("start.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nprintf '%s|%s|%s|%s|%s\\n' \"$IRQ_PARTITION\" \"$IRQ_PARTITION_NAME\" \
         \"$GREETING\" \"$(pwd)\" \"$*\" > marker\nexec \"$RUNNER\" partition\n",
    )
    .expect("write script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let default = include_str!("../config/default.toml");
    let from = "name = \"io-b\"\ncatch_up = \"warp\"\n";
    let text = default.replacen(
        from,
        &format!(
            "{from}program = [\"./start.sh\", \"one\", \"two words\"]\ncwd = \"work\"\n\
             env = {{ GREETING = \"hello\", RUNNER = \"{}\" }}\n",
            env!("CARGO_BIN_EXE_irq-hosted")
        ),
        1,
    );
    let config = dir.join("system.toml");
    std::fs::write(&config, text).expect("write config");
    let summary = run(&["--frames", "3", "--config", config.to_str().expect("utf-8 path")]);
    let marker = std::fs::read_to_string(dir.join("work/marker")).expect("the script ran");
    let _ = std::fs::remove_dir_all(&dir);
    let work = dir.join("work");
    assert_eq!(marker.trim_end(), format!("2|io-b|hello|{}|one two words", work.display()));
    for p in summary["partitions"].as_array().expect("partitions") {
        assert_time_exact(p);
        assert_eq!(num(p, "restarts"), 0, "{p}");
    }
}
