//! Latency is two figures: clock ticks delivered inside the partition's window, and
//! ticks delivered at its next entry. A partition that keeps its upcall signal blocked
//! for stretches (as a guest in a long critical section would) often has an upcall made
//! near its window's end handled only in its next window, a frame later. Before, that
//! sample (about a frame: 40 ms here) went into the one latency figure, whose p99 then
//! meant nothing; now it counts as delivered at that entry, measured from it, and the
//! in-window figure holds only upcalls handled in the window they were made in.
//!
//! This test binary is also the partition program of the run it makes (see
//! `common/selfhost.rs`): the real partition program as partition 0; as 1, the blocker,
//! which also counts the upcalls it handled a window late (written to a file at the end
//! of the run, so the test knows the case happened).

#[path = "common/selfhost.rs"]
mod selfhost;

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use irq_guest::Upcall;
use irq_guest::hosted::region::{Arrival, Command};
use irq_guest::hosted::{self, Partition, sys};
use irq_hosted::runner::summary::PartitionSummary;

const NAME: &str = "hosted_latency_of_ticks_handled_a_window_late_is_not_in_window_latency";

/// Where the blocker writes how many upcalls it handled a window late.
const OUT_VAR: &str = "IRQ_HOSTED_TEST_STRADDLED";

/// Frames of 50 ticks (1 ms): a window of 10 ticks each, 40 ticks apart.
const SYSTEM: &str = r#"
tick_us = 1000
clock_vector = 32
major_frame = 50

[[partition]]
name = "good"
catch_up = "replay"
timer_port = 0
health = { default = "ignore" }
[[partition.port]]
port = 0
source = "timer"

[[partition]]
name = "blocker"
catch_up = "replay"
timer_port = 0
health = { default = "ignore" }
[[partition.port]]
port = 0
source = "timer"

[[window]]
partition = "good"
start = 0
length = 10

[[window]]
partition = "blocker"
start = 20
length = 10
"#;

const FRAMES: u64 = 40;

fn main() -> ExitCode {
    selfhost::main(NAME, |p| (p == "1").then(blocker), hosted_latency_split)
}

/// Upcalls handled in a later window than the one they were made in.
static STRADDLED: AtomicU64 = AtomicU64::new(0);

fn handle(upcall: &Upcall) {
    if let Ok(partition) = Partition::attach() {
        let region = partition.region();
        let stamp = region.mailbox.stamp_ns.load(Ordering::Acquire);
        let arrival = Arrival::from_raw(region.mailbox.arrival.load(Ordering::Acquire));
        let open = region.kernel.window_open_ns.load(Ordering::Acquire);
        if arrival == Arrival::InWindow && stamp != 0 && stamp < open {
            STRADDLED.fetch_add(1, Ordering::Relaxed);
        }
    }
    if let Some(port) = upcall.port {
        let _ = hosted::hypervisor().take_count(port);
    }
}

/// Takes its ticks like the demo, but keeps the upcall signal blocked 4 ms in every 7
/// (by the clock, so the blocked stretches fall anywhere in its windows).
fn blocker() -> ExitCode {
    let Ok(partition) = Partition::attach() else { return ExitCode::FAILURE };
    let Ok(entry) = partition.on_upcall(handle) else { return ExitCode::FAILURE };
    let hv = partition.hypervisor();
    let _ = hv.register_upcall(Some(entry));
    let _ = hv.enable_irqs();
    let command = &partition.region().kernel.command;
    while command.load(Ordering::Acquire) != Command::Finish as u64 {
        if (sys::monotonic_ns() / 1_000_000) % 7 < 4 {
            let Ok(old) = sys::block_signals(&[sys::upcall_signal()]) else {
                return ExitCode::FAILURE;
            };
            while (sys::monotonic_ns() / 1_000_000) % 7 < 4 {
                std::hint::spin_loop();
            }
            sys::restore_signals(&old);
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    if let Some(path) = std::env::var_os(OUT_VAR) {
        let _ = std::fs::write(path, STRADDLED.load(Ordering::Relaxed).to_string());
    }
    partition.run()
}

fn show(p: &PartitionSummary) -> String {
    format!("{p:?}")
}

fn hosted_latency_split() {
    let dir = std::env::temp_dir().join(format!("irq-hosted-split-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // Writable by the partition's own uid (a root runner gives it one of its own).
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .expect("chmod");
    let out = dir.join("straddled");
    // SAFETY: set before the run starts any thread or process.
    unsafe { std::env::set_var(OUT_VAR, &out) };
    let summary = selfhost::run(SYSTEM, FRAMES, false);
    let straddled: u64 = std::fs::read_to_string(&out)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .expect("the blocker reported");
    let _ = std::fs::remove_dir_all(&dir);
    let [good, blocker] = &summary.partitions[..] else { panic!("two partitions") };
    // The case happened: upcalls made in one window were handled in the next.
    assert!(straddled > 0, "no upcall was handled a window late: {}", show(blocker));
    for p in [good, blocker] {
        assert_eq!((p.restarts, p.drift, p.lost, p.hm_events), (0, 0, 0, 0), "{}", show(p));
        assert!(p.in_window_samples > 0 && p.at_entry_samples > 0, "{}", show(p));
        // At most one sample per window at entry (the entry's upcall, or the one made
        // in the last window and handled at this entry instead).
        assert!(p.at_entry_samples as u64 <= FRAMES, "{}", show(p));
        // Samples handled a frame (40 ms) after their tick are not in the window's
        // figure, nor measured from that tick: a window is 10 ms long, 25 ms leaves
        // room for a loaded machine.
        assert!(p.in_window_p99_us < 25_000.0, "{}", show(p));
        assert!(p.at_entry_p99_us < 25_000.0, "{}", show(p));
    }
}
