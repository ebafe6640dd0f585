//! A partition whose process forks a child that leaves its session (`setsid`) and then
//! hunts the other partitions' processes (found in `/proc` by their command line) with
//! SIGSTOP and SIGKILL, while the partition's own process exits to be restarted, which
//! forks another. Such a child used to outlive its partition's restarts and the run,
//! holding the region memfd and the socket; measured before: 7,780 restarts of each
//! other partition, 105 real device packets lost. Now each partition's tree is in a PID
//! namespace of its own (the child dies with the partition's process, pid 1 there, and
//! sees no other partition) and a control group the runner kills on restart and at the
//! end: the other partitions are untouched, the device loses nothing, the offender's
//! health monitor sees only its own exits (cold start, as configured), and no process
//! and no control group is left after the run.
//!
//! This test binary is also the partition program of the run it makes (see
//! `common/selfhost.rs`): the real partition program as partitions 0 and 1, the escape
//! as 2.

#[path = "common/isolated.rs"]
mod isolated;
#[path = "common/selfhost.rs"]
mod selfhost;

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use irq_hosted::guest::REGION_FD;
use irq_hosted::region::SharedRegion;
use irq_hosted::runner::summary::PartitionSummary;

const NAME: &str = "hosted_a_forked_child_dies_with_its_partition";

const SYSTEM: &str = r#"
tick_us = 1000
clock_vector = 32
major_frame = 30

[[partition]]
name = "io-a"
catch_up = "replay"
timer_port = 0
health = { default = "ignore" }
[[partition.port]]
port = 0
source = "timer"
[[partition.port]]
port = 1
source = { line = 40 }

[[partition]]
name = "io-b"
catch_up = "replay"
timer_port = 0
health = { default = "ignore" }
[[partition.port]]
port = 0
source = "timer"
[[partition.port]]
port = 1
source = { line = 40 }

[[partition]]
name = "escaper"
catch_up = "replay"
timer_port = 0
health = { default = "ignore", partition_error = "cold_start" }
[[partition.port]]
port = 0
source = "timer"

[[window]]
partition = "io-a"
start = 0
length = 8

[[window]]
partition = "io-b"
start = 10
length = 8

[[window]]
partition = "escaper"
start = 20
length = 8

[[route]]
vector = 40
sharing = "shared"
trigger = "edge"
targets = [{ partition = "io-a", port = 1 }, { partition = "io-b", port = 1 }]

[device]
vector = 40
mean_interval_us = 4000
jitter_us = 1000
"#;

fn main() -> ExitCode {
    selfhost::main(NAME, |p| (p == "2").then(escape), hosted_a_forked_child_dies_with_its_partition)
}

/// The arguments of process `pid` (empty if it cannot be read).
fn cmdline(pid: &str) -> Vec<Vec<u8>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    raw.split(|&b| b == 0).filter(|a| !a.is_empty()).map(<[u8]>::to_vec).collect()
}

/// Partition 2: forks the hunter, lets it start, exits (and is restarted).
fn escape() -> ExitCode {
    // SAFETY: fork in this single-threaded process; the child only runs `hunt`.
    if unsafe { libc::fork() } == 0 {
        hunt();
    }
    std::thread::sleep(Duration::from_millis(2));
    ExitCode::SUCCESS
}

/// The forked child: a session of its own, then for 10 s, every millisecond, SIGSTOP or
/// SIGKILL to every process of this binary that is another partition. Each one it finds
/// is counted in its region's `line_events` (the escaper has no line: any count there
/// is a sighting).
fn hunt() -> ! {
    // SAFETY: plain system call.
    unsafe { libc::setsid() };
    let region = SharedRegion::inherit(REGION_FD).ok();
    let me = cmdline("self");
    let started = Instant::now();
    let mut round = 0u32;
    while started.elapsed() < Duration::from_secs(10) {
        round = round.wrapping_add(1);
        let signal = if round.is_multiple_of(2) { libc::SIGKILL } else { libc::SIGSTOP };
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(pid) = name.parse::<i32>() else { continue };
            let args = cmdline(&name);
            if args.first() != me.first() || args.last() == me.last() {
                continue;
            }
            if let Some(region) = &region {
                region.region().guest.line_events.fetch_add(1, Ordering::Relaxed);
            }
            // SAFETY: plain system call.
            unsafe { libc::kill(pid, signal) };
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    // SAFETY: _exit ends this process.
    unsafe { libc::_exit(0) }
}

fn show(p: &PartitionSummary) -> String {
    format!("{p:?}")
}

fn hosted_a_forked_child_dies_with_its_partition() {
    isolated::require(NAME);
    let summary = selfhost::run(SYSTEM, 60, false);
    let device = &summary.device;
    assert!(device.packets_received > 0, "{device:?}");
    assert_eq!(device.packets_lost, 0, "{device:?}");
    assert!(device.packets_received <= device.packets_sent, "{device:?}");
    let [a, b, escaper] = &summary.partitions[..] else { panic!("three partitions") };
    for p in [a, b] {
        assert!(p.isolation.is_full(), "{}", show(p));
        assert_eq!((p.restarts, p.drift, p.lost), (0, 0, 0), "{}", show(p));
        assert_eq!(p.hm_events, 0, "{}", show(p));
        assert!(p.line_events > 0 && p.line_events <= device.packets_sent, "{}", show(p));
    }
    assert!(escaper.isolation.is_full(), "{}", show(escaper));
    assert_eq!(escaper.line_events, 0, "its children saw other partitions: {}", show(escaper));
    assert!(escaper.restarts > 0, "{}", show(escaper));
    assert_eq!(escaper.restarts, escaper.hm_events, "{}", show(escaper));
    let [count] = &escaper.hm_counts[..] else { panic!("one kind: {}", show(escaper)) };
    let seen = (count.kind.as_str(), count.action.as_str(), count.count);
    assert_eq!(seen, ("PartitionError", "ColdStart", escaper.hm_events), "{}", show(escaper));
    assert_eq!(
        (&count.details[..], count.details_more),
        (&[0x200][..], false),
        "{}",
        show(escaper)
    );
    isolated::assert_nothing_left();
}
