//! loom models of the one protocol that crosses CPUs: an ISR on one CPU raising an event
//! for a partition (raise, then `Doorbell::signal`) while the partition's own CPU opens
//! the vCPU, enters its window or idles (store, fence, then read what is deliverable).
//!
//! * raise vs the guest's sti or level restore: the guest either sees "upcall pending"
//!   after opening, or the raise sees it open and kicks its CPU;
//! * raise vs the kernel's own opening (enable, open by set-level, upcall return) and vs
//!   entry: the kernel either finds the event deliverable, or the raise sees the vCPU open
//!   and inside its window and kicks its CPU;
//! * raise vs idle: idle either finds the event and does not sleep, or the raise sees it
//!   idle and wakes it;
//! * raise vs upcall injection: the second event is taken, flagged or kicked; the same
//!   for the direct upcall of an event that was never deliverable.
//!
//! Never neither.
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom-vcpu cargo test --release -p vcpu-state --test loom`
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicU32, Ordering};
use loom::thread;
use std::sync::atomic::AtomicUsize;
use vcpu_state::{
    CatchUpPolicy, Doorbell, Nesting, Partition, Resume, SharedPage, Signal, StartReason, Vcpu,
};

/// How the guest opens its vCPU.
#[derive(Clone, Copy)]
enum Opening {
    /// sti: one store to the flag.
    Sti,
    /// RTEMS `_CPU_ISR_Enable(level)` after a close: one store to the ISR level.
    RestoreLevel,
}

/// Runs a model and checks that loom explored more than one interleaving.
///
/// Each side of every race runs on a spawned thread and the main thread only joins: loom
/// 0.7 does not explore interleavings of what the main thread does before a freshly
/// spawned thread first runs.
fn check(f: impl Fn() + Sync + Send + 'static) {
    let executions = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = executions.clone();
    loom::model(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    let explored = executions.load(std::sync::atomic::Ordering::Relaxed);
    println!("explored {explored} interleavings");
    assert!(explored > 1, "the model explored a single interleaving");
}

/// CPU 1: an ISR raises an event for the partition (notify-core's raise is a
/// compare-and-swap with AcqRel ordering), then rings its doorbell. Returns the signal.
fn raiser(
    page: &Arc<SharedPage>,
    bell: &Arc<Doorbell>,
    events: &Arc<AtomicU32>,
) -> thread::JoinHandle<Signal> {
    let (page, bell, events) = (Arc::clone(page), Arc::clone(bell), Arc::clone(events));
    thread::spawn(move || {
        events.fetch_add(1, Ordering::AcqRel);
        bell.signal(&page)
    })
}

fn raise_vs_open(opening: Opening) {
    check(move || {
        // The partition runs inside its window with interrupts disabled, nothing pending.
        let (page, bell) = (Arc::new(SharedPage::new()), Arc::new(Doorbell::new()));
        let mut vcpu = Vcpu::new(Nesting::NONE);
        vcpu.start(&page, &bell, StartReason::Fresh);
        let saved_level = match opening {
            Opening::Sti => 0,
            Opening::RestoreLevel => {
                assert!(!page.guest().sti());
                page.guest().close()
            }
        };
        assert_eq!(vcpu.enter(&page, &bell, || false), Ok(Resume::Run));
        // Stands in for notify-core's pending count of the raised port.
        let events = Arc::new(AtomicU32::new(0));

        // CPU 1: an ISR raises the event, then signals the partition.
        let isr = raiser(&page, &bell, &events);

        // CPU 0: the guest opens with one store and checks "upcall pending".
        let guest = {
            let (page, events) = (Arc::clone(&page), Arc::clone(&events));
            thread::spawn(move || {
                let seen = match opening {
                    Opening::Sti => page.guest().sti(),
                    Opening::RestoreLevel => page.guest().set_level(saved_level),
                };
                if seen {
                    // What the flag announced is visible to the guest that saw it.
                    assert_eq!(events.load(Ordering::Acquire), 1, "pending seen before the event");
                }
                seen
            })
        };
        let kicked = isr.join().unwrap() == Signal::Open;
        let seen = guest.join().unwrap();
        assert!(seen || kicked, "lost wake-up: the guest saw nothing and the ISR saw it closed");

        // Either way the partition's CPU now enters the kernel (the guest's deliver
        // request, or the kick) and the upcall is injected.
        let deliverable = || events.load(Ordering::Acquire) > 0;
        assert_eq!(vcpu.deliver(&page, &bell, deliverable), Ok(Resume::Upcall { depth: 1 }));
    });
}

#[test]
fn loom_raise_vs_sti_never_loses_the_upcall() {
    raise_vs_open(Opening::Sti);
}

#[test]
fn loom_raise_vs_isr_level_restore_never_loses_the_upcall() {
    raise_vs_open(Opening::RestoreLevel);
}

/// The kernel injecting an upcall (which consumes "upcall pending") while another CPU
/// raises: either the handler's scan took the new event, or "upcall pending" is left set
/// for the guest to find, or the raise kicked the CPU.
#[test]
fn loom_upcall_entry_vs_raise_keeps_the_flag_or_the_event() {
    check(|| {
        let (page, bell) = (Arc::new(SharedPage::new()), Arc::new(Doorbell::new()));
        let mut vcpu = Vcpu::new(Nesting::NONE);
        vcpu.start(&page, &bell, StartReason::Fresh);
        assert!(!page.guest().sti());
        assert_eq!(vcpu.enter(&page, &bell, || false), Ok(Resume::Run));
        let events = Arc::new(AtomicU32::new(1));

        let isr = raiser(&page, &bell, &events);

        // CPU 0: the kernel injects an upcall for the first event; the handler takes
        // everything pending.
        let kernel = {
            let (page, bell, events) = (Arc::clone(&page), Arc::clone(&bell), Arc::clone(&events));
            thread::spawn(move || {
                assert_eq!(vcpu.resume(&page, &bell, || true), Ok(Resume::Upcall { depth: 1 }));
                events.swap(0, Ordering::AcqRel)
            })
        };
        let kicked = isr.join().unwrap() == Signal::Open;
        let taken = kernel.join().unwrap();
        let pending = page.guest().upcall_pending();
        assert!(
            taken == 2 || pending || kicked,
            "the second event was neither taken, flagged, nor kicked"
        );
    });
}

/// The kernel delivers an interrupt's event straight into an upcall
/// (`Vcpu::direct_upcall`: the interrupt came on the partition's own CPU with its vCPU
/// open and nothing else deliverable) while another CPU raises a second event, on
/// another port, and signals: either the handler's scan, after the upcall began, finds
/// the second event, or "upcall pending" is left set for the guest, or the raise saw the
/// vCPU open and kicked the CPU. Each port is an atomic of its own, as in notify-core,
/// so no read-modify-write of one location orders the two sides: the direct upcall must
/// leave the flag alone (a direct upcall that cleared it, as an upcall for an event of
/// the table does, fails this model: the raise's flag is erased unseen).
#[test]
fn loom_direct_upcall_vs_raise_keeps_the_flag_or_the_event() {
    check(|| {
        let (page, bell) = (Arc::new(SharedPage::new()), Arc::new(Doorbell::new()));
        let mut vcpu = Vcpu::new(Nesting::NONE);
        vcpu.start(&page, &bell, StartReason::Fresh);
        assert!(!page.guest().sti());
        assert_eq!(vcpu.enter(&page, &bell, || false), Ok(Resume::Run));
        // The second event's port.
        let second = Arc::new(AtomicU32::new(0));

        let isr = raiser(&page, &bell, &second);

        // CPU 0: the interrupt's event goes from the kernel's hands into service and its
        // upcall is recorded; then the handler scans the other port.
        let kernel = {
            let (page, second) = (Arc::clone(&page), Arc::clone(&second));
            thread::spawn(move || {
                let first = AtomicU32::new(0);
                let taken = || first.fetch_add(1, Ordering::AcqRel) == 0;
                assert_eq!(vcpu.direct_upcall(&page, taken), Some(Resume::Upcall { depth: 1 }));
                assert_eq!(first.load(Ordering::Acquire), 1, "taken once");
                second.load(Ordering::Acquire)
            })
        };
        let kicked = isr.join().unwrap() == Signal::Open;
        let scanned = kernel.join().unwrap();
        let pending = page.guest().upcall_pending();
        assert!(
            scanned == 1 || pending || kicked,
            "the second event was neither scanned, flagged, nor kicked"
        );
    });
}

/// How the kernel itself opens the vCPU, on the partition's CPU.
#[derive(Clone, Copy)]
enum KernelOpening {
    /// The enable hypercall (sti for guests that do not store to the page).
    Enable,
    /// RTEMS's `_CPU_ISR_Enable(level)` by hypercall, after a close.
    Open,
    /// Return from an upcall that interrupted an open context.
    UpcallReturn,
}

/// The kernel opens the vCPU while an ISR raises: the kernel's `deliverable`, asked after
/// its store and fence, finds the event, or the raise finds the vCPU open (inside its
/// window) and kicks the CPU. Never neither.
fn raise_vs_kernel_open(opening: KernelOpening) {
    check(move || {
        let (page, bell) = (Arc::new(SharedPage::new()), Arc::new(Doorbell::new()));
        let mut vcpu = Vcpu::new(Nesting::NONE);
        vcpu.start(&page, &bell, StartReason::Fresh);
        assert_eq!(vcpu.enter(&page, &bell, || false), Ok(Resume::Run));
        let mut level = 0;
        match opening {
            KernelOpening::Enable => {}
            KernelOpening::Open => {
                assert_eq!(vcpu.enable(&page, &bell, || false), Ok(Resume::Run));
                level = vcpu.close(&page).unwrap();
            }
            KernelOpening::UpcallReturn => {
                assert!(!page.guest().sti());
                // An upcall for an earlier event, whose handler has taken it.
                assert_eq!(vcpu.resume(&page, &bell, || true), Ok(Resume::Upcall { depth: 1 }));
            }
        }
        assert!(!page.is_open());
        let events = Arc::new(AtomicU32::new(0));

        let isr = raiser(&page, &bell, &events);
        let kernel = {
            let (page, bell, events) = (Arc::clone(&page), Arc::clone(&bell), Arc::clone(&events));
            thread::spawn(move || {
                let deliverable = || events.load(Ordering::Acquire) > 0;
                let resume = match opening {
                    KernelOpening::Enable => vcpu.enable(&page, &bell, deliverable),
                    KernelOpening::Open => vcpu.open(&page, &bell, level, deliverable),
                    KernelOpening::UpcallReturn => vcpu.upcall_return(&page, &bell, deliverable),
                };
                (vcpu, resume.unwrap())
            })
        };
        let signal = isr.join().unwrap();
        let (mut vcpu, resume) = kernel.join().unwrap();
        let kicked = signal == Signal::Open;
        assert!(
            matches!(resume, Resume::Upcall { .. }) || kicked,
            "lost wake-up: the kernel opened with {resume:?} and the ISR saw {signal:?}"
        );
        if kicked && resume == Resume::Run {
            // The kick: the kernel resumes the partition and injects the upcall.
            let deliverable = || events.load(Ordering::Acquire) > 0;
            assert_eq!(vcpu.resume(&page, &bell, deliverable), Ok(Resume::Upcall { depth: 1 }));
        }
    });
}

#[test]
fn loom_raise_vs_enable_never_loses_the_upcall() {
    raise_vs_kernel_open(KernelOpening::Enable);
}

#[test]
fn loom_raise_vs_open_by_set_level_never_loses_the_upcall() {
    raise_vs_kernel_open(KernelOpening::Open);
}

#[test]
fn loom_raise_vs_upcall_return_never_loses_the_upcall() {
    raise_vs_kernel_open(KernelOpening::UpcallReturn);
}

/// Entry (the whole path: time, clock, run state, fence, events) while an ISR raises for
/// the partition, whose guest left its window open: entry finds the event, or the raise
/// sees the partition inside its window and open and kicks its CPU.
#[test]
fn loom_raise_vs_entry_never_loses_the_upcall() {
    check(|| {
        let (page, bell) = (Arc::new(SharedPage::new()), Arc::new(Doorbell::new()));
        let mut partition = Partition::new(CatchUpPolicy::Replay, Nesting::NONE, 0);
        let _ = partition.start(&page, &bell, 0, StartReason::Fresh);
        assert!(!page.guest().sti(), "the guest left its last window open");
        let events = Arc::new(AtomicU32::new(0));

        let isr = raiser(&page, &bell, &events);
        let kernel = {
            let (page, bell, events) = (Arc::clone(&page), Arc::clone(&bell), Arc::clone(&events));
            thread::spawn(move || {
                let entered =
                    partition.enter(&page, &bell, 0, 10, |_| events.load(Ordering::Acquire) > 0);
                entered.unwrap().resume
            })
        };
        let signal = isr.join().unwrap();
        let resume = kernel.join().unwrap();
        assert!(
            matches!(resume, Resume::Upcall { .. }) || signal == Signal::Open,
            "lost wake-up: entry decided {resume:?} and the ISR saw {signal:?}"
        );
    });
}

/// Idle while an ISR raises: idle finds the event and does not sleep, or the raise sees
/// the partition idle inside its window and wakes it.
#[test]
fn loom_raise_vs_idle_never_loses_the_wake_up() {
    check(|| {
        let (page, bell) = (Arc::new(SharedPage::new()), Arc::new(Doorbell::new()));
        let mut vcpu = Vcpu::new(Nesting::NONE);
        vcpu.start(&page, &bell, StartReason::Fresh);
        assert_eq!(vcpu.enter(&page, &bell, || false), Ok(Resume::Run));
        let events = Arc::new(AtomicU32::new(0));

        let isr = raiser(&page, &bell, &events);
        let kernel = {
            let (page, bell, events) = (Arc::clone(&page), Arc::clone(&bell), Arc::clone(&events));
            thread::spawn(move || {
                let resume = vcpu.idle(&page, &bell, || events.load(Ordering::Acquire) > 0);
                (vcpu, resume.unwrap())
            })
        };
        let signal = isr.join().unwrap();
        let (mut vcpu, resume) = kernel.join().unwrap();
        assert!(
            resume != Resume::Idle || signal == Signal::Wake,
            "lost wake-up: the partition sleeps and the ISR saw {signal:?}"
        );
        if signal == Signal::Wake {
            // The wake: the kernel resumes the partition, which is awake and flagged.
            let deliverable = || events.load(Ordering::Acquire) > 0;
            assert_eq!(vcpu.resume(&page, &bell, deliverable), Ok(Resume::Flagged));
            assert!(!vcpu.is_idle());
        }
    });
}
