//! loom models of the one protocol that crosses CPUs: an ISR on one CPU raising an event
//! for a partition while the partition, on its own CPU, re-enables interrupts with a
//! single store into the shared page. The guest either sees "upcall pending" after
//! opening, or the raise sees it open and kicks its CPU so the kernel injects the upcall;
//! never neither.
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom-vcpu cargo test --release -p vcpu-state --test loom`
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicU32, Ordering};
use loom::thread;
use std::sync::atomic::AtomicUsize;
use vcpu_state::{Nesting, Resume, SharedPage, Signal, StartReason, Vcpu};

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

fn raise_vs_open(opening: Opening) {
    check(move || {
        // The partition runs inside its window with interrupts disabled, nothing pending.
        let page = Arc::new(SharedPage::new());
        let mut vcpu = Vcpu::new(Nesting::NONE);
        vcpu.start(&page, StartReason::Fresh);
        let saved_level = match opening {
            Opening::Sti => 0,
            Opening::RestoreLevel => {
                assert!(!page.guest().sti());
                page.guest().close()
            }
        };
        assert_eq!(vcpu.enter(&page, false), Ok(Resume::Run));
        // Stands in for notify-core's pending count of the raised port.
        let events = Arc::new(AtomicU32::new(0));

        // CPU 1: an ISR raises the event, then signals the partition.
        let isr = {
            let (page, events) = (Arc::clone(&page), Arc::clone(&events));
            thread::spawn(move || {
                events.fetch_add(1, Ordering::Release);
                page.signal() == Signal::Open
            })
        };

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
        let kicked = isr.join().unwrap();
        let seen = guest.join().unwrap();
        assert!(seen || kicked, "lost wake-up: the guest saw nothing and the ISR saw it closed");

        // Either way the partition's CPU now enters the kernel (the guest's deliver
        // request, or the kick) and the upcall is injected.
        let deliverable = events.load(Ordering::Acquire) > 0;
        assert_eq!(vcpu.deliver(&page, deliverable), Ok(Resume::Upcall { depth: 1 }));
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
        let page = Arc::new(SharedPage::new());
        let mut vcpu = Vcpu::new(Nesting::NONE);
        vcpu.start(&page, StartReason::Fresh);
        assert!(!page.guest().sti());
        assert_eq!(vcpu.enter(&page, false), Ok(Resume::Run));
        let events = Arc::new(AtomicU32::new(1));

        let isr = {
            let (page, events) = (Arc::clone(&page), Arc::clone(&events));
            thread::spawn(move || {
                // notify-core's raise is a compare-and-swap with AcqRel ordering.
                events.fetch_add(1, Ordering::AcqRel);
                page.signal() == Signal::Open
            })
        };

        // CPU 0: the kernel injects an upcall for the first event; the handler takes
        // everything pending.
        let kernel = {
            let (page, events) = (Arc::clone(&page), Arc::clone(&events));
            thread::spawn(move || {
                assert_eq!(vcpu.resume(&page, true), Ok(Resume::Upcall { depth: 1 }));
                events.swap(0, Ordering::AcqRel)
            })
        };
        let kicked = isr.join().unwrap();
        let taken = kernel.join().unwrap();
        let pending = page.guest().upcall_pending();
        assert!(
            taken == 2 || pending || kicked,
            "the second event was neither taken, flagged, nor kicked"
        );
    });
}
