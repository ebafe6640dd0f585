//! The burst (issue 15, the test of the RTAS 2023 study of partitioning hypervisors), the
//! kernel's side: 16 lines to one partition, raised at once while its virtual interrupts
//! are closed, must reach it in priority order (the lowest port first).
//!
//! From tick `BURST_FROM` on, the partition runs its rounds, a few each time it wakes.
//! In each, it closes its virtual interrupts, asks for a round (its `burst_request`)
//! and enters the kernel; on the way back to it, still with interrupts off, its CPU sends
//! itself the 16 vectors as fixed self-IPIs, in an order shuffled anew each round. They
//! are all pending in the local APIC when the return to ring 3 opens interrupts, and the
//! APIC delivers them one by one, the highest vector first (they outrank the clock): each
//! is a line interrupt for the engine, which raises its port (flagged: the vCPU is
//! closed).
//! The vectors' ports are a permutation (`config::burst_port`), so the order they arrive
//! in is not the ports' priority order: the order the partition sees is the engine's. The
//! partition then opens and logs its upcalls (`guest.rs`); the kernel counts what it sent
//! and took and whether they arrived out of priority order.

use core::sync::atomic::{AtomicU64, Ordering};

use irq_x86::apic::icr::{Delivery, Destination, Ipi};
use irq_x86::apic::local::{AnyApic, LocalApic};

use super::config::{
    BURST_FIRST_PORT, BURST_FIRST_VECTOR, BURST_FROM, BURST_LINES, BURST_ROUNDS, PARTITIONS,
    SYSTEM, burst_port, port_of,
};
use super::machine::memory;
use super::say;

/// Rounds fired, IPIs that could not be sent, burst interrupts taken, rounds whose
/// interrupts arrived out of the ports' priority order (all on the burst partition's
/// CPU, under its kernel's lock).
static FIRED: AtomicU64 = AtomicU64::new(0);
static SEND_ERRORS: AtomicU64 = AtomicU64::new(0);
static TAKEN: AtomicU64 = AtomicU64::new(0);
static OUT_OF_ORDER: AtomicU64 = AtomicU64::new(0);
/// The port of the round's last arrival (0 at the round's start), and whether this
/// round's arrivals already went out of order.
static LAST_PORT: AtomicU64 = AtomicU64::new(0);
static ROUND_OUT_OF_ORDER: AtomicU64 = AtomicU64::new(0);

/// The partition with the burst's lines (from the configuration), if any.
pub(crate) fn partition() -> Option<usize> {
    (0..PARTITIONS).find(|&p| port_of(p, BURST_FIRST_VECTOR).is_some())
}

/// Writes the burst partition's role into its memory (at boot, before it runs).
pub(crate) fn setup() {
    if let Some(p) = partition() {
        let state = &memory(p).state;
        state.burst_port.store(u64::from(BURST_FIRST_PORT) + 1, Ordering::Relaxed);
    }
}

/// Tick `now` of CPU `cpu`'s run: from `BURST_FROM` on, the burst partition (of this CPU)
/// is given its rounds to run.
pub(crate) fn on_tick(cpu: usize, now: u64) {
    if let Some(p) = partition().filter(|&p| usize::from(SYSTEM.partitions[p].cpu) == cpu)
        && now >= BURST_FROM
    {
        memory(p).state.burst_rounds.store(BURST_ROUNDS, Ordering::Release);
    }
}

/// The end of CPU `cpu`'s run: the burst partition (of this CPU) is given no more rounds,
/// and one it waits in ends (its final entries fire no burst). A slow build that has not
/// done its rounds by then would otherwise wait out every round in its final entry.
pub(crate) fn end(cpu: usize) {
    if let Some(p) = partition().filter(|&p| usize::from(SYSTEM.partitions[p].cpu) == cpu) {
        memory(p).state.burst_rounds.store(0, Ordering::Release);
    }
}

/// Fires the round partition `p` asked for, if it asked for one it was not given yet:
/// the 16 vectors as self-IPIs through `apic`, in a shuffled order. Called on the
/// partition's CPU with interrupts off, on the way back to it.
pub(crate) fn fire(p: usize, apic: &mut LocalApic<AnyApic>) {
    let state = &memory(p).state;
    let request = state.burst_request.load(Ordering::Acquire);
    if request <= state.burst_fired.load(Ordering::Relaxed) {
        return;
    }
    state.burst_fired.store(request, Ordering::Relaxed);
    FIRED.fetch_add(1, Ordering::Relaxed);
    LAST_PORT.store(0, Ordering::Relaxed);
    ROUND_OUT_OF_ORDER.store(0, Ordering::Relaxed);
    // A shuffled firing order (xorshift, Fisher-Yates), another each round.
    let mut order: [u8; BURST_LINES] = core::array::from_fn(|i| i as u8);
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64 ^ request.wrapping_mul(0x2545_f491_4f6c_dd1d);
    for i in (1..BURST_LINES).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        order.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    for line in order {
        let ipi = Ipi {
            delivery: Delivery::Fixed(BURST_FIRST_VECTOR + line),
            destination: Destination::SelfOnly,
        };
        if apic.send(&ipi).is_err() {
            SEND_ERRORS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Burst line `vector` was taken and given to the engine, for partition `p`.
pub(crate) fn taken(p: usize, vector: u8) {
    TAKEN.fetch_add(1, Ordering::Relaxed);
    let port = u64::from(burst_port(usize::from(vector - BURST_FIRST_VECTOR)));
    if port < LAST_PORT.swap(port, Ordering::Relaxed)
        && ROUND_OUT_OF_ORDER.swap(1, Ordering::Relaxed) == 0
    {
        OUT_OF_ORDER.fetch_add(1, Ordering::Relaxed);
    }
    // The partition waits for this count before it opens.
    memory(p).state.burst_taken.fetch_add(1, Ordering::Release);
}

/// The report's line; `false` if the burst failed a check.
pub(crate) fn report() -> bool {
    let Some(p) = partition() else { return true };
    let state = &memory(p).state;
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let (rounds, in_order) = (load(&state.burst_done), load(&state.burst_in_order));
    let (fired, taken, events) = (load(&FIRED), load(&TAKEN), load(&state.burst_events));
    let lines = BURST_LINES as u64;
    say!(
        "RESULT burst partition={p} cpu={} lines={lines} rounds={rounds} in_order={in_order} fired={fired} send_errors={} taken={taken} events={events} arrived_out_of_order={} timeouts={} first_bad_log={:#x} first_bad_upcalls={}",
        SYSTEM.partitions[p].cpu,
        load(&SEND_ERRORS),
        load(&OUT_OF_ORDER),
        load(&state.burst_timeouts),
        load(&state.burst_bad_log),
        load(&state.burst_bad_seen).saturating_sub(1),
    );
    rounds == BURST_ROUNDS
        && in_order == rounds
        && fired == rounds
        && taken == rounds * lines
        && events == taken
        && load(&SEND_ERRORS) == 0
        && load(&state.burst_timeouts) == 0
}
