//! Arbitrary operation sequences on notify-core's event tables, with the invariants
//! checked after every step.
//!
//! * every event is accounted for: the raises this check counted itself equal
//!   delivered + pending + overflowed + coalesced + discarded;
//! * the next deliverable port is deliverable (bound, pending, unmasked, not in service)
//!   and no lower-numbered port is (priority order), and if any port is deliverable the
//!   lookup finds one (the index never hides an event);
//! * no operation panics, whatever the raw values;
//! * a twin of the tables with fewer context slots (`EventTables<P, W, 1>`: 64 slots for
//!   128 ports, some configured ports without a context) given the same operations ends
//!   every step in the same state (statuses, statistics, lookup, deliveries): only the
//!   latest contexts of the ports without a slot are not kept, and those answer
//!   `NoContextKept`; a port with a slot keeps the same context as in the tables.

use arbitrary::{Arbitrary, Unstructured};
use notify_core::{
    Binding, Channel, Endpoint, EventTables, Mode, PartitionEvents, PartitionId, Port, PortConfig,
    Source, TablesConfig,
};

const P: usize = 3;
const W: usize = 2;

fn counting(source: Source, max: u32) -> Binding {
    let max = core::num::NonZeroU32::new(max).expect("callers pass a non-zero maximum");
    Binding { source, mode: Mode::Counting { max } }
}

static P0: [PortConfig; 4] = [
    PortConfig::new(0, Binding::counting(Source::Timer)),
    PortConfig::new(5, Binding::coalescing(Source::Line(0x21))),
    PortConfig::new(64, Binding::counting(Source::Channel(0))),
    PortConfig::new(127, Binding::counting(Source::Trap(14))).masked(),
];
static P1: [PortConfig; 2] = [
    PortConfig::new(1, Binding::counting(Source::Channel(0))),
    PortConfig::new(70, Binding::counting(Source::Timer)),
];
static P2: [PortConfig; 0] = [];
static CHANNELS: [Channel; 1] = [Channel {
    source: Endpoint { partition: 1, port: 1 },
    destination: Endpoint { partition: 0, port: 64 },
}];
static CONFIG: TablesConfig<P> =
    TablesConfig { partitions: [&P0, &P1, &P2], priority_levels: [&[]; P], channels: &CHANNELS };

/// [`P0`] and [`P1`] with ports 5 and 70 keeping no context, for the twin of fewer slots.
static TWIN_P0: [PortConfig; 4] = [P0[0], P0[1].without_context(), P0[2], P0[3]];
static TWIN_P1: [PortConfig; 2] = [P1[0], P1[1].without_context()];
static TWIN_CONFIG: TablesConfig<P> = TablesConfig {
    partitions: [&TWIN_P0, &TWIN_P1, &P2],
    priority_levels: [&[]; P],
    channels: &CHANNELS,
};

/// A raw partition or port number. One byte, so about half the values are valid (ports
/// 0..128 of 256; partitions 0..3 of 4 after the modulo below) and half are not.
type Raw = u8;

fn partition_id(raw: Raw) -> Result<PartitionId<P>, notify_core::Error> {
    PartitionId::new(u32::from(raw) % (P as u32 + 1))
}

fn port_id(raw: Raw) -> Result<Port<W>, notify_core::Error> {
    Port::new(u32::from(raw))
}

/// One operation with raw, unvalidated values, as a partition or an ISR would hand them.
#[derive(Arbitrary, Clone, Copy, Debug)]
enum Op {
    Raise { partition: Raw, port: Raw, n: u8, context: bool },
    Notify { partition: Raw, port: Raw },
    Mask { partition: Raw, port: Raw },
    Unmask { partition: Raw, port: Raw },
    Begin { partition: Raw, port: Raw },
    DeliverNext { partition: Raw },
    Acknowledge { partition: Raw, port: Raw },
    Take { partition: Raw, port: Raw },
    Bind { partition: Raw, port: Raw, coalescing: bool, max: u8 },
    Unbind { partition: Raw, port: Raw },
    Reset { partition: Raw },
    PushTrap { partition: Raw, address: u64 },
    PopTrap { partition: Raw },
}

fn check<const CW: usize>(table: &PartitionEvents<W, CW>, raised: u64) {
    let stats = table.stats();
    assert_eq!(
        raised,
        stats.delivered + stats.pending + stats.overflowed + stats.coalesced + stats.discarded,
        "an event was lost: {stats:?}"
    );
    let deliverable = |port: Port<W>| {
        let s = table.status(port);
        s.binding.is_some() && s.pending > 0 && !s.masked && !s.in_service
    };
    let first = (0..PartitionEvents::<W, CW>::PORTS as u32)
        .map(|raw| Port::<W>::new(raw).expect("in range"))
        .find(|&p| deliverable(p));
    assert_eq!(table.next_deliverable(), first, "lookup disagrees with the ports");
}

/// The `notify_ops` target: `data` as a sequence of operations (the same decoding as a
/// `fuzz_target!(|ops: Vec<Op>| ..)`, so corpora carry over).
pub fn notify_ops(data: &[u8]) {
    let Ok(ops) = Vec::<Op>::arbitrary_take_rest(Unstructured::new(data)) else { return };
    let tables = EventTables::<P, W>::new(&CONFIG).expect("valid configuration");
    let twin = EventTables::<P, W, 1>::new(&TWIN_CONFIG).expect("valid configuration");
    let (mut raised, mut twin_raised) = ([0u64; P], [0u64; P]);
    for op in ops {
        let delivered = apply(&tables, &mut raised, op);
        let twin_delivered = apply(&twin, &mut twin_raised, op);
        assert_eq!(
            delivered.map(|d| (d.port, d.pending)),
            twin_delivered.map(|d| (d.port, d.pending)),
            "{op:?}"
        );
        for p in PartitionId::<P>::all() {
            check(tables.partition(p), raised[p.index()]);
            check(twin.partition(p), twin_raised[p.index()]);
            same_but_contexts(tables.partition(p), twin.partition(p));
        }
    }
}

/// The twin's table is the table's, but for the contexts of its ports without a slot.
fn same_but_contexts(table: &PartitionEvents<W>, twin: &PartitionEvents<W, 1>) {
    assert_eq!(table.stats(), twin.stats());
    assert_eq!(table.next_deliverable(), twin.next_deliverable());
    for raw in 0..PartitionEvents::<W>::PORTS as u32 {
        let port = Port::<W>::new(raw).expect("in range");
        assert_eq!(table.status(port), twin.status(port), "port {raw}");
        let context = twin.context(port);
        if twin.keeps_context(port) {
            assert_eq!(context, table.context(port), "port {raw}");
        } else if table.status(port).binding.is_some() {
            assert_eq!(context, Err(notify_core::Error::NoContextKept { port: port.raw() }));
        }
    }
}

/// Applies `op`; returns the delivery it made, if any.
fn apply<const CW: usize>(
    tables: &EventTables<P, W, CW>,
    raised: &mut [u64; P],
    op: Op,
) -> Option<notify_core::Delivery<W>> {
    match op {
        Op::Raise { partition, port, n, context } => {
            if let (Ok(p), Ok(port)) = (partition_id(partition), port_id(port)) {
                let ctx = notify_core::Context { timestamp: u64::from(n), ..Default::default() };
                let table = tables.partition(p);
                if table.raise_many(port, u32::from(n), context.then_some(&ctx)).is_ok() {
                    raised[p.index()] += u64::from(n);
                }
            }
        }
        Op::Notify { partition, port } => {
            if let (Ok(p), Ok(port)) = (partition_id(partition), port_id(port))
                && let Ok(n) = tables.notify(p, port, 0)
            {
                raised[n.partition.index()] += 1;
            }
        }
        Op::Mask { partition, port } => with_port(tables, partition, port, |t, p| t.mask(p)),
        Op::Unmask { partition, port } => with_port(tables, partition, port, |t, p| {
            let _ = t.unmask(p);
        }),
        Op::Begin { partition, port } => {
            let mut delivery = None;
            with_port(tables, partition, port, |t, p| delivery = t.begin_service(p).ok());
            return delivery;
        }
        Op::DeliverNext { partition } => {
            if let Ok(p) = partition_id(partition)
                && let Some(d) = tables.partition(p).deliver_next()
            {
                assert!(d.pending > 0, "delivered an empty port");
                return Some(d);
            }
        }
        Op::Acknowledge { partition, port } => with_port(tables, partition, port, |t, p| {
            let _ = t.acknowledge(p);
        }),
        Op::Take { partition, port } => with_port(tables, partition, port, |t, p| {
            let _ = t.take(p);
        }),
        Op::Bind { partition, port, coalescing, max } => {
            with_port(tables, partition, port, |t, p| {
                let binding = if coalescing || max == 0 {
                    Binding::coalescing(Source::Line(0x40))
                } else {
                    counting(Source::Line(0x41), u32::from(max))
                };
                let _ = t.bind(p, binding);
            })
        }
        Op::Unbind { partition, port } => with_port(tables, partition, port, |t, p| {
            let _ = t.unbind(p);
        }),
        Op::Reset { partition } => {
            if let Ok(p) = partition_id(partition) {
                let _ = tables.partition(p).reset();
            }
        }
        Op::PushTrap { partition, address } => {
            if let Ok(p) = partition_id(partition) {
                let ctx = notify_core::Context { fault_address: address, ..Default::default() };
                let _ = tables.partition(p).push_trap(&ctx);
            }
        }
        Op::PopTrap { partition } => {
            if let Ok(p) = partition_id(partition) {
                let _ = tables.partition(p).pop_trap();
            }
        }
    }
    None
}

/// Validates raw values the way the edge does and runs `f` on the port if both are valid.
fn with_port<const CW: usize>(
    tables: &EventTables<P, W, CW>,
    partition: Raw,
    port: Raw,
    f: impl FnOnce(&PartitionEvents<W, CW>, Port<W>),
) {
    if let (Ok(p), Ok(port)) = (partition_id(partition), port_id(port)) {
        f(tables.partition(p), port);
    }
}
