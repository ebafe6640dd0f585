//! Raw hypercall registers from arbitrary partitions into a router in the middle of a run
//! (the first byte picks how far the three-partition system ran, with interrupts pending
//! and in service). For every call:
//!
//! * no panic, and the answer decodes as a reply (success with a value, or a known status
//!   with value 0); a call that does not decode is answered with its decoding error;
//! * the other partitions' event tables, modes and handlers are unchanged, except the
//!   destination of a notify that succeeded.

use arbitrary::{Arbitrary, Unstructured};
use irq_router::Mode;
use irq_router::hypercall::{
    ABI_VERSION, CallNumber, ErrorCode, RawCall, Request, decode, decode_reply,
};
use notify_core::{Context, PartitionEvents, Port, PortStatus, Stats};

use super::system::{Arg, Event, LEVEL, Machine, P, SHARED, STORMY, pid};

const PORTS: usize = PartitionEvents::<1>::PORTS;

/// What a call of another partition must not change.
#[derive(Debug, PartialEq, Eq)]
struct View {
    ports: [PortStatus; PORTS],
    contexts: [Option<Context>; PORTS],
    stats: Stats,
    mode: Mode,
    upcall_entry: Option<core::num::NonZeroU64>,
    fault_handler: Option<core::num::NonZeroU64>,
    traps: u64,
}

fn view(m: &Machine, p: usize) -> View {
    let table = m.router.events().partition(pid(p));
    let port = |i: usize| Port::<1>::new(i as u32).expect("port in range");
    View {
        ports: core::array::from_fn(|i| table.status(port(i))),
        contexts: core::array::from_fn(|i| table.context(port(i)).ok().flatten()),
        stats: table.stats(),
        mode: m.router.mode(pid(p)),
        upcall_entry: table.upcall_entry(),
        fault_handler: table.fault_handler(),
        traps: table.trap_count(),
    }
}

/// Runs the system `ticks` ticks with interrupts on every routed line and each partition
/// enabling its virtual interrupts when it enters.
fn prologue(m: &mut Machine, ticks: u64) {
    for event in m.switches() {
        m.perform(event);
    }
    while m.now < ticks && !m.stopped {
        for event in m.tick() {
            m.perform(event);
            if let Event::Entry(p, _) = event {
                m.perform(Event::Sti(p));
            }
        }
        for (every, vector) in [(3, SHARED), (5, LEVEL), (2, STORMY)] {
            if m.now.is_multiple_of(every) {
                m.perform(Event::Irq(vector));
            }
        }
    }
    // The running partition's quiet ticks given now: the calls that follow (of any
    // partition of the CPU, each of which gives them first) change only what they say.
    m.router.flush_ticks(&super::CPU0, &mut m.adapter);
}

/// The registers of one call: either fully arbitrary or a call by number with arguments
/// likely to mean something.
fn registers(u: &mut Unstructured<'_>, caller: usize) -> arbitrary::Result<RawCall> {
    if u.arbitrary::<bool>()? {
        return Ok(RawCall { number: u.arbitrary()?, args: u.arbitrary()? });
    }
    let number = u64::from(u.arbitrary::<u8>()?) % (CallNumber::COUNT as u64 + 1);
    let mut args = [0; 4];
    for a in &mut args[..2] {
        *a = Arg::arbitrary(u)?.value(caller);
    }
    Ok(RawCall { number, args })
}

/// The `router_hypercalls` target.
pub fn router_hypercalls(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(start) = u.arbitrary::<u8>() else { return };
    let mut m = Machine::new();
    prologue(&mut m, u64::from(start % 90));
    while !u.is_empty() && !m.stopped {
        let Ok(caller) = u.arbitrary::<u8>() else { return };
        let caller = usize::from(caller) % P;
        let Ok(raw) = registers(&mut u, caller) else { return };
        let before: Vec<View> = (0..P).map(|p| view(&m, p)).collect();
        let (answer, _) = m.perform(Event::Call(caller, raw));
        let answer = answer.expect("a call has an answer");
        let Some(result) = decode_reply(answer) else {
            panic!("answer {answer:?} to {raw:?} from {caller} does not decode");
        };
        let mut spared = None;
        match decode::<1>(&raw) {
            Err(error) => assert_eq!(result, Err(ErrorCode::from(error)), "{raw:?}"),
            Ok(Request::AbiVersion) => assert_eq!(result, Ok(ABI_VERSION)),
            Ok(Request::Notify { port }) if result.is_ok() => {
                let events = m.router.events();
                let channel = events.channel_from(pid(caller), port).expect("notify succeeded");
                spared = Some(usize::from(events.channel_ends(channel).destination.partition));
            }
            Ok(_) => {}
        }
        for (p, before) in before.iter().enumerate() {
            if p != caller && Some(p) != spared {
                assert_eq!(*before, view(&m, p), "call {raw:?} of {caller} changed partition {p}");
            }
        }
    }
}
