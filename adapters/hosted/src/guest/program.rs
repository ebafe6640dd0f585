//! The built-in demo partition: what runs inside each partition process unless the
//! configuration gives it a `program` of its own. Written on the guest library's hosted
//! transport ([`irq_guest::hosted`]), as a partition of one's own would be.
//!
//! It attaches to its region and socket, asks why it started, says so on the console,
//! registers its upcall handler, binds its line, enables interrupts, then waits. All its
//! work is done by the upcall handler, one port at a time, as the kernel delivers them:
//! * timer: `take_count` (the whole count: a clock catching up wants it all), and every
//!   `notify_every` ticks a `notify` on its channel;
//! * hardware line: `acknowledge` one event;
//! * channel, error port: `take_count`; ping: `take_count` then `ping_answer`.
//!
//! The library returns from the upcall, counts what the calls did for the runner's
//! summary, and obeys the runner's commands (crash on `--crash`, finish at the end).
//!
//! `--bare` runs the latency baseline instead: a handler that only stamps the time.

use std::process::ExitCode;
use std::sync::atomic::Ordering;

use irq_guest::Upcall;
use irq_guest::hosted::region::{Region, Role};
use irq_guest::hosted::{self, Partition, sys};

/// The doorbell signal the runner sends after leaving a command.
#[must_use]
pub fn doorbell_signal() -> i32 {
    sys::doorbell_signal()
}

/// The demo's upcall handler.
fn handle(upcall: &Upcall) {
    let Some(port) = upcall.port else { return };
    let Ok(partition) = Partition::attach() else { return };
    let hv = hosted::hypervisor();
    match partition.role(port) {
        Role::Timer => {
            if let Ok(n) = hv.take_count(port) {
                on_ticks(&partition, n);
            }
        }
        Role::Line => {
            let _ = hv.acknowledge(port);
        }
        Role::Ping => {
            let _ = hv.take_count(port);
            let _ = hv.ping_answer();
        }
        _ => {
            let _ = hv.take_count(port);
        }
    }
}

/// Every `notify_every` timer ticks handled, a notify on the sending channel.
fn on_ticks(partition: &Partition, n: u64) {
    let Some((out, every)) = partition.notify_port() else { return };
    // Wrapping: a handler must never panic, whatever the counters hold.
    let handled = partition.region().guest.ticks_handled.load(Ordering::Acquire);
    let before = handled.wrapping_sub(n);
    if every > 0 && before / every != handled / every {
        let _ = hosted::hypervisor().notify(out);
    }
}

/// The baseline handler: stamps the latency, nothing else.
extern "C" fn bare_handler(_signal: libc::c_int) {
    let now = sys::monotonic_ns();
    let Some(region) = BARE.get() else { return };
    region.record_latency(now);
    region.guest.upcalls.fetch_add(1, Ordering::Relaxed);
}

/// The latency baseline's region.
static BARE: std::sync::OnceLock<&'static Region> = std::sync::OnceLock::new();

/// Runs the partition program; `args` are the program's arguments (`--bare` for the
/// latency baseline).
#[must_use]
pub fn main(args: &[String]) -> ExitCode {
    let partition = match Partition::attach() {
        Ok(partition) => partition,
        Err(e) => {
            eprintln!("irq-hosted partition: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.iter().any(|a| a == "--bare") {
        let _ = BARE.set(partition.region());
        let handler = bare_handler as *const () as usize;
        if sys::install(sys::upcall_signal(), handler, libc::SA_RESTART).is_err() {
            return ExitCode::FAILURE;
        }
        partition.run()
    }
    let Ok(entry) = partition.on_upcall(handle) else { return ExitCode::FAILURE };
    let hv = partition.hypervisor();
    let text = match hv.start_reason() {
        Ok(Some(r)) => format!(
            "partition {} (pid {}) started: {r:?}\n",
            partition.number(),
            std::process::id()
        ),
        _ => format!("partition {} started, reason unknown\n", partition.number()),
    };
    let _ = hv.console_write(text.as_bytes());
    let _ = hv.register_upcall(Some(entry));
    if let Some(vector) = partition.line_vector() {
        for port in partition.ports(Role::Line).collect::<Vec<_>>() {
            // The configuration binds it already (AlreadyBound): asking is harmless.
            let _ = hv.request_irq(vector, port);
        }
    }
    let _ = hv.enable_irqs();
    partition.run()
}
