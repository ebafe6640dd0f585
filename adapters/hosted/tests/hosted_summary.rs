//! The summary stays short whatever the health monitor saw: counts per (kind, action),
//! the last few records with their tick and frame, `log_dropped`, for each partition and
//! for the module; the table and the JSON use the same field names.

use std::process::Command;

use serde_json::Value;

const DEFAULT: &str = include_str!("../config/default.toml");

/// The default configuration with `from` replaced by `to` (which must occur), written
/// to a file of its own.
fn config(name: &str, from: &str, to: &str) -> std::path::PathBuf {
    assert!(DEFAULT.contains(from), "the default configuration has {from:?}");
    let dir =
        std::env::temp_dir().join(format!("irq-hosted-summary-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("system.toml");
    std::fs::write(&path, DEFAULT.replacen(from, to, 1)).expect("write config");
    path
}

/// Runs the runner on `config` for `frames` frames: the table, then the JSON.
fn run_both(config: &std::path::Path, frames: &str) -> (String, Value) {
    let run = |json: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_irq-hosted"));
        command.args(["--quiet", "--frames", frames, "--config"]).arg(config);
        if json {
            command.arg("--json");
        }
        let out = command.output().expect("the runner starts");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let table = run(false);
    let json = serde_json::from_str(&run(true)).expect("the summary is JSON");
    let _ = std::fs::remove_dir_all(config.parent().expect("dir"));
    (table, json)
}

fn num(v: &Value, field: &str) -> u64 {
    v[field].as_u64().unwrap_or_else(|| panic!("{field} missing in {v}"))
}

fn partition<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["partitions"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no partition {name} in {summary}"))
}

/// The last records: at most 5, in order, each with its frame (from 0) in the run.
fn check_last(last: &Value, frames: u64, frame_ticks: u64) {
    let last = last.as_array().expect("last records");
    assert!(!last.is_empty() && last.len() <= 5, "{last:?}");
    let ticks: Vec<u64> = last.iter().map(|e| num(e, "tick")).collect();
    assert!(ticks.is_sorted(), "{ticks:?}");
    for e in last {
        assert_eq!(num(e, "frame"), num(e, "tick") / frame_ticks, "{e}");
        assert!(num(e, "frame") < frames, "{e}");
    }
}

/// A partition whose program exits as soon as it starts, restarted every time (no
/// restart limit): a storm of health-monitor records, which the summary sums up.
#[test]
fn hosted_summary_of_a_storming_partition_stays_short() {
    let from = "name = \"io-b\"\ncatch_up = \"warp\"\ntimer_port = 0\nhealth = { default = \"ignore\", trap = \"cold_start\", partition_error = \"warm_start\" }\n";
    let to = "name = \"io-b\"\ncatch_up = \"warp\"\ntimer_port = 0\nprogram = [\"/bin/true\"]\nhealth = { default = \"ignore\", partition_error = \"cold_start\" }\n";
    let (table, summary) = run_both(&config("storm", from, to), "30");
    let b = partition(&summary, "io-b");
    let events = num(b, "hm_events");
    assert_eq!(events, num(b, "restarts"), "{b}");
    assert!(events >= 30, "a storm (a record a frame at least): {b}");
    // One count: every record was the same (exit status 0: detail 0x200).
    let counts = b["hm_counts"].as_array().expect("counts");
    assert_eq!(counts.len(), 1, "{b}");
    assert_eq!(
        (&counts[0]["kind"], &counts[0]["action"]),
        (&"PartitionError".into(), &"ColdStart".into())
    );
    assert_eq!(num(&counts[0], "count"), events, "{b}");
    assert_eq!(counts[0]["details"], serde_json::json!([0x200]), "{b}");
    assert_eq!(counts[0]["details_more"], false, "{b}");
    assert_eq!(b["hm_last"].as_array().map(Vec::len), Some(5), "{b}");
    check_last(&b["hm_last"], 30, 40);
    // The others were not restarted, and saw nothing but, on a loaded machine, a missed
    // ping (io-b's restarts hold the runner up just before logger's window); nothing was
    // dropped.
    for name in ["control", "io-a", "logger"] {
        let p = partition(&summary, name);
        assert_eq!(num(p, "restarts"), 0, "{p}");
        let counts = p["hm_counts"].as_array().expect("counts");
        assert!(counts.iter().all(|c| c["kind"] == "PingMissed"), "{p}");
    }
    assert_eq!(num(&summary, "module_hm_events"), 0, "{summary}");
    assert_eq!(num(&summary, "log_dropped"), 0, "{summary}");
    // The table (a run of its own): a few lines whatever the number of records (before:
    // one per record), the count of each (kind, action) and the last 5.
    let io_b = table.lines().find(|l| l.starts_with("io-b: mode ")).expect("io-b's line");
    let (_, tail) = io_b.split_once(", restarts ").expect("restarts");
    let (restarts, hm_events) = tail.split_once(", hm_events ").expect("hm_events");
    assert_eq!(restarts, hm_events, "{table}");
    let events: u64 = hm_events.parse().expect("a count");
    assert!(events >= 30, "{table}");
    // 12 lines whatever happened and one per CPU, then at most 7 for each partition with
    // records (its mode, a line per (kind, action), its last 5): io-b's 65 records or so
    // take 7.
    let lines: Vec<&str> = table.lines().collect();
    let sections = lines.iter().filter(|l| l.contains(": mode ")).count();
    let cpus = lines.iter().filter(|l| l.starts_with("cpu ")).count();
    assert_eq!(cpus, 1, "{table}");
    assert!(
        lines.len() <= 12 + cpus + 7 * sections,
        "{} lines for {events} records:\n{table}",
        lines.len()
    );
    let at = lines.iter().position(|l| l.starts_with("io-b: mode ")).expect("io-b's section");
    let section = lines[at + 1..].iter().take_while(|l| l.starts_with("  ")).count();
    assert_eq!(section, 6, "{table}");
    let count_line = format!("\n  hm_counts: PartitionError -> ColdStart {events} (detail 512)\n");
    assert!(table.contains(&count_line), "{count_line:?} in\n{table}");
    assert!(lines[at + 2..at + 7].iter().all(|l| l.starts_with("  hm_last: tick ")), "{table}");
    assert!(
        table.contains("\nmodule: module_hm_events 0, log_dropped 0, console_dropped 0\n"),
        "{table}"
    );
}

/// A device line over its budget every frame: the module's records (line storms),
/// summed up the same way.
#[test]
fn hosted_summary_of_a_line_storm_counts_the_modules_records() {
    let from = "budget = 200\n\n[device]\nvector = 40\nmean_interval_us = 4000\njitter_us = 3000\n";
    let to = "budget = 2\n\n[device]\nvector = 40\nmean_interval_us = 300\njitter_us = 100\n";
    let (table, summary) = run_both(&config("line", from, to), "10");
    let events = num(&summary, "module_hm_events");
    assert!(events >= 10, "a storm every frame: {summary}");
    let counts = summary["module_hm_counts"].as_array().expect("counts");
    assert!(!counts.is_empty(), "{summary}");
    assert_eq!(counts.iter().map(|c| num(c, "count")).sum::<u64>(), events, "{summary}");
    for c in counts {
        assert_eq!(c["kind"], "Storm", "{c}");
        assert_eq!(c["details"], serde_json::json!([40]), "the line's vector: {c}");
    }
    check_last(&summary["module_hm_last"], 10, 40);
    assert_eq!(num(&summary, "log_dropped"), 0, "{summary}");
    assert!(
        table.contains(&format!("\nmodule: module_hm_events {events}, log_dropped 0, ")),
        "{table}"
    );
    assert!(table.contains("\n  module_hm_counts: Storm -> "), "{table}");
    assert!(table.contains("\n  module_hm_last: tick "), "{table}");
    assert!(table.lines().count() <= 25, "{table}");
}

/// Every column of the table is a field of the JSON, under the same name.
#[test]
fn hosted_summary_table_and_json_use_the_same_names() {
    let (table, summary) = run_both(&config("names", "major_frame = 40", "major_frame = 40"), "2");
    let header = table.lines().nth(1).expect("the header line");
    let p = &summary["partitions"][0];
    let mut columns = header.split_whitespace();
    assert_eq!(columns.next(), Some("partition"));
    for column in columns {
        assert!(!p[column].is_null(), "column {column} is no JSON field: {p}");
    }
    for field in ["module_hm_events", "log_dropped", "console_dropped"] {
        assert!(table.contains(&format!(" {field} ")), "{field} in\n{table}");
        assert!(summary[field].is_u64(), "{field} in {summary}");
    }
    assert!(table.starts_with("2 frames (0 to 1), 80 ticks of 1000 us\n"), "{table}");
}
