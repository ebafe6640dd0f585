//! The runner on two CPUs (`config/two-cpus.toml`): one thread per CPU, each with its own
//! clock and schedule, the engine called from both at once. The device's line is taken
//! on CPU 0 and shared with a partition of CPU 1, and the channel goes from CPU 0 to CPU 1:
//! both cross CPUs as kicks.

#[path = "common/json.rs"]
mod json;

use std::process::Command;

use json::{num, partition};
use serde_json::Value;

const FRAMES: i64 = 25;
const FRAME: i64 = 40;

/// Runs the runner on the two-CPU configuration; a run that does not end within a minute
/// fails the test (a CPU thread or a partition start that hangs).
fn run(args: &[&str]) -> Value {
    run_config(concat!(env!("CARGO_MANIFEST_DIR"), "/config/two-cpus.toml"), args)
}

/// Runs the runner on the configuration `text` (written to a file of the test's own).
fn run_text(name: &str, text: &str, args: &[&str]) -> Value {
    let path = std::env::temp_dir().join(format!("irq-hosted-{name}-{}.toml", std::process::id()));
    std::fs::write(&path, text).expect("write the configuration");
    let summary = run_config(path.to_str().expect("a UTF-8 path"), args);
    let _ = std::fs::remove_file(&path);
    summary
}

/// Runs the runner on the configuration file `config`, as [`run`].
fn run_config(config: &str, args: &[&str]) -> Value {
    json::run(&[&["--config", config][..], args].concat())
}

fn cpu(summary: &Value, n: usize) -> &Value {
    &summary["cpus"][n]
}

#[test]
fn hosted_two_cpus_every_partition_gets_every_tick() {
    let frames = FRAMES.to_string();
    let summary = run(&["--frames", &frames]);
    assert_eq!(summary["cpus"].as_array().map(Vec::len), Some(2), "{summary}");
    // Each CPU took every tick of the run, and has its two partitions.
    for (n, names) in [(0, ["control", "io-b"]), (1, ["io-a", "logger"])] {
        let c = cpu(&summary, n);
        assert_eq!(num(c, "ticks"), FRAMES * FRAME, "cpu {n}: {c}");
        assert_eq!(c["partitions"], serde_json::json!(names), "cpu {n}: {c}");
        assert!(c["host_cpu"].is_u64(), "cpu {n} is pinned: {c}");
    }
    // Every partition, on either CPU: every tick handled, in flight or (collapse only)
    // dropped and said so; nothing lost; no health-monitor event.
    for p in summary["partitions"].as_array().expect("partitions") {
        assert_eq!(num(p, "drift"), num(p, "dropped"), "drift is what the policy dropped: {p}");
        if p["catch_up"] != "collapse" {
            assert_eq!(num(p, "drift"), 0, "{p}");
        }
        assert_eq!(num(p, "kernel_time"), FRAMES * FRAME, "{p}");
        assert!(num(p, "in_flight") <= FRAME, "the guest keeps up: {p}");
        assert!(num(p, "guest_time") > 0, "{p}");
        assert_eq!(num(p, "lost"), 0, "{p}");
        assert_eq!(num(p, "restarts"), 0, "{p}");
        assert_eq!(p["mode"], "Normal", "{p}");
        assert_eq!(num(p, "hm_events"), 0, "{p}");
    }
    assert!(num(partition(&summary, "logger"), "dropped") > 0, "collapse drops ticks");
    // The device's interrupts, taken on CPU 0, reached io-b there and io-a on CPU 1
    // (kicks from CPU 0 to CPU 1), none lost.
    let device = &summary["device"];
    let received = num(device, "packets_received");
    assert!(received > 0, "{device}");
    assert_eq!(num(device, "packets_lost"), 0, "{device}");
    assert_eq!(num(cpu(&summary, 0), "device_irqs"), received);
    assert_eq!(num(cpu(&summary, 1), "device_irqs"), 0);
    for name in ["io-a", "io-b"] {
        let events = num(partition(&summary, name), "line_events");
        assert!(events > 0 && events <= received, "{name}: {events} of {received}");
    }
    // The channel from control (CPU 0) to io-a (CPU 1).
    let sent = num(partition(&summary, "control"), "channel_sent");
    let got = num(partition(&summary, "io-a"), "channel_received");
    assert!(sent > 0 && got > 0 && got <= sent, "sent {sent}, received {got}");
    // Those crossings were kicks, sent by CPU 0 and taken by CPU 1.
    assert!(num(cpu(&summary, 0), "kicks_sent") > 0, "{summary}");
    assert!(num(cpu(&summary, 1), "kicks_taken") > 0, "{summary}");
}

#[test]
fn hosted_two_cpus_a_crash_on_one_cpu_leaves_the_other_alone() {
    let summary = run(&["--frames", "6", "--crash", "io-a@2"]);
    let a = partition(&summary, "io-a");
    assert_eq!(num(a, "restarts"), 1, "{a}");
    assert_eq!(num(a, "hm_events"), 1, "{a}");
    let events = a["hm_last"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{a}");
    assert_eq!(events[0]["kind"], "Trap");
    assert_eq!(events[0]["action"], "ColdStart");
    assert_eq!(num(&events[0], "tick") / FRAME, 2, "in frame 2: {a}");
    for name in ["control", "io-b", "logger"] {
        let p = partition(&summary, name);
        assert_eq!(num(p, "restarts"), 0, "{p}");
        assert_eq!(num(p, "drift"), num(p, "dropped"), "{p}");
        assert_eq!(num(p, "lost"), 0, "{p}");
        assert_eq!(num(p, "hm_events"), 0, "{p}");
    }
}

/// A level line taken on CPU 0 whose one partition runs on CPU 1 (all the time): each
/// interrupt masks the line until the partition acknowledges it on CPU 1, and the unmask
/// there must have CPU 0 poll the device again at once (not at its next tick, which would
/// let at most one interrupt a tick through and the device's queue overflow).
#[test]
fn hosted_two_cpus_a_line_unmasked_on_another_cpu_is_polled_at_once() {
    const LEVEL: &str = r#"
tick_us = 1000
clock_vector = 32
cpus = 2
major_frame = 20

[[partition]]
name = "io"
cpu = 1
catch_up = "replay"
timer_port = 0
[[partition.port]]
port = 0
source = "timer"
[[partition.port]]
port = 1
source = { line = 40 }
mode = "coalescing"

[[window]]
partition = "io"
start = 0
length = 20

[[route]]
vector = 40
sharing = "exclusive"
trigger = "level"
targets = [{ partition = "io", port = 1 }]
ack_timeout = 10

[device]
cpu = 0
vector = 40
mean_interval_us = 250
"#;
    let summary = run_text("level", LEVEL, &["--frames", "25"]);
    let ticks = num(cpu(&summary, 0), "ticks");
    let irqs = num(cpu(&summary, 0), "device_irqs");
    // About four packets a tick are sent; taken one a tick, they would pile up.
    assert!(irqs * 2 > ticks * 3, "{irqs} device interrupts in {ticks} ticks: {summary}");
    let io = partition(&summary, "io");
    assert!(num(io, "line_events") * 2 > ticks * 3, "{io}");
}

/// The progress line goes to stderr, written by CPU 0's thread: a stderr nobody reads any
/// more (a closed pipe) must not end that thread. (It did: CPU 1 then ran on alone to the
/// end of the run, deaf to Ctrl-C, which CPU 0 reads, and the runner died without a
/// summary.)
#[test]
fn hosted_two_cpus_a_closed_stderr_does_not_stop_the_run() {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/config/two-cpus.toml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_irq-hosted"))
        .args(["--config", config, "--frames", "6"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the runner starts");
    drop(child.stderr.take());
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    let out = outcome
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the run ends within a minute")
        .expect("the runner's output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{:?}: {stdout}", out.status);
    assert!(stdout.contains("6 frames (0 to 5), 240 ticks"), "the summary: {stdout}");
    assert!(stdout.contains("cpu 1 (host cpu"), "the summary: {stdout}");
}

/// The timeline of a run on two CPUs is one machine's: the clock's ticks once each (every
/// CPU ticks, at the same instants), not once per CPU.
#[test]
fn hosted_two_cpus_the_timeline_has_one_clock() {
    use irq_hosted::runner::children::{PARTITION_MODE, Program};
    use irq_hosted::runner::timeline::Mark;
    use irq_hosted::runner::{self, Options};

    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/two-cpus.toml");
    let text = std::fs::read_to_string(path).expect("the two-CPU configuration");
    let system = irq_hosted::config::load(path, &text).expect("it loads");
    let options = Options {
        frames: 3,
        crash: None,
        svg_frames: 2,
        svg_from: Some(0),
        progress: false,
        echo_console: false,
        program: Program {
            args: vec![PARTITION_MODE.to_owned()],
            ..Program::new(env!("CARGO_BIN_EXE_irq-hosted"))
        },
        isolation: runner::isolation::Isolation::default(),
    };
    let outcome = runner::run(&system, &options).expect("the run");
    let clock: Vec<u64> = outcome
        .timeline
        .marks()
        .filter_map(|m| if let Mark::Clock { t } = *m { Some(t) } else { None })
        .collect();
    // Ticks 1 to 79 of the two frames recorded, each once.
    let ticks: Vec<u64> = (1..2 * FRAME as u64).map(|k| k * system.tick_ns).collect();
    assert_eq!(clock, ticks);
}
