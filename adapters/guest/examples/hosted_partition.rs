//! A partition program of one's own, for the hosted runner: give it to a partition with
//! `program = ["path/to/hosted_partition"]` in the runner's configuration.
//!
//! The partition's logic ([`handle`]) is written against the guest library's
//! [`Hypervisor`] over any [`Transport`]: the same function runs on bare metal over
//! `irq_guest::x86_64::Int80`. Only `main` is hosted-specific.
//!
//! It takes its timer ticks, acknowledges its hardware line one event at a time, takes
//! what its channels and error port bring, answers pings, and runs a short critical
//! section with its virtual interrupts closed (one store each way through the shared
//! page) every hundred ticks.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use irq_guest::hosted::region::Role;
use irq_guest::hosted::{self, Partition};
use irq_guest::{Hypervisor, Transport, Upcall};

/// Ticks this program has taken (its own clock).
static TICKS: AtomicU64 = AtomicU64::new(0);

/// The partition's logic, transport-independent: what to do with one upcall on a port
/// of `role`.
fn handle<T: Transport>(hv: &Hypervisor<T>, role: Role, upcall: &Upcall) {
    let Some(port) = upcall.port else { return };
    match role {
        Role::Timer => {
            if let Ok(n) = hv.take_count(port) {
                TICKS.fetch_add(n, Ordering::Relaxed);
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

fn on_upcall(upcall: &Upcall) {
    let Ok(partition) = Partition::attach() else { return };
    let role = upcall.port.map_or(Role::None, |p| partition.role(p));
    handle(&hosted::hypervisor(), role, upcall);
}

fn main() -> ExitCode {
    let partition = match Partition::attach() {
        Ok(partition) => partition,
        Err(e) => {
            eprintln!("hosted_partition: {e}");
            return ExitCode::FAILURE;
        }
    };
    let hv = partition.hypervisor();
    let name = std::env::var("IRQ_PARTITION_NAME").unwrap_or_default();
    let reason = hv.start_reason();
    let _ =
        hv.console_write(format!("{name}: the Rust example partition, {reason:?}\n").as_bytes());
    let Ok(entry) = partition.on_upcall(on_upcall) else { return ExitCode::FAILURE };
    if hv.register_upcall(Some(entry)).is_err() || hv.enable_irqs().is_err() {
        return ExitCode::FAILURE;
    }
    // A critical section every hundred ticks: upcalls due meanwhile wait for the end.
    let interrupts = partition.interrupts();
    let mut next = 100;
    loop {
        if TICKS.load(Ordering::Relaxed) >= next {
            interrupts.disable();
            next += 100;
            let _ = interrupts.enable();
        }
        // Sleep until the next upcall or command (the library obeys the runner's).
        if partition.region().kernel.command.load(Ordering::Acquire) != 0 {
            partition.run()
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}
