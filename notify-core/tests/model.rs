//! Reference-model property tests: random operation sequences over several partitions,
//! applied to the real tables and to a plain model, compared after every step.
//!
//! Checked after every step, for every partition and every port in play:
//! * each port's binding, pending count, mask and in-service bit (a coalescing port's
//!   pending bit is cleared as it goes into service: an event raised during the service
//!   is delivered again after the acknowledgement);
//! * the next deliverable port (among bound, pending, unmasked, not in service ports: the
//!   lowest number; or, with priority levels, the level of the lowest number and in it the
//!   first in round-robin order from the level's cursor, which the model moves past each
//!   port it takes into service), so masked or in-service ports are never offered and
//!   order is by priority, round-robin inside a level;
//! * the statistics, and the invariant `raised = delivered + pending + overflowed +
//!   coalesced + discarded` with `raised` counted independently by the model;
//! * every operation's result, errors included, and the latest context of each port;
//! * a raise straight into service (`raise_into_service`) takes the port into service
//!   exactly when it was idle and nothing of its partition was deliverable, its context
//!   left with the caller; otherwise it is an ordinary raise.

use std::sync::LazyLock;

use notify_core::{
    Binding, Channel, Context, DirectRaise, Endpoint, Error, EventTables, MAX_PRIORITY_LEVELS,
    Mode, PartitionId, Port, PortConfig, PriorityLevel, Sender, Source, TablesConfig,
};
use proptest::prelude::*;

const P: usize = 3;
/// Logical ports the operations name; each test maps them onto real port numbers.
const LOGICAL: usize = 9;

fn max(n: u32) -> Mode {
    Mode::Counting { max: core::num::NonZeroU32::new(n).expect("nonzero") }
}

/// Priority levels of each partition, as `(start, end)` port ranges.
type Levels = [&'static [(u16, u16)]; P];

/// The configuration, over logical ports `l` mapped through `map`, with `levels`.
fn config(map: [u16; LOGICAL], levels: Levels) -> TablesConfig<P> {
    let port = |l: usize, source, mode| PortConfig::new(map[l], Binding { source, mode });
    let p0 = vec![
        port(0, Source::Timer, max(3)),
        port(1, Source::Line(0x21), Mode::Coalescing),
        port(2, Source::Channel(0), Mode::COUNTING),
        port(3, Source::Trap(14), Mode::COUNTING),
        port(4, Source::Line(0x22), max(5)).masked(),
    ];
    let p1 = vec![
        port(5, Source::Channel(0), Mode::COUNTING),
        port(0, Source::Timer, max(2)),
        port(7, Source::Channel(1), max(4)),
        port(8, Source::Lifecycle, Mode::Coalescing),
    ];
    let p2 = vec![
        port(6, Source::Channel(1), Mode::COUNTING),
        port(1, Source::Ping, max(1)),
        port(2, Source::Line(0x23), Mode::Coalescing).masked(),
    ];
    let end = |partition, l: usize| Endpoint { partition, port: map[l] };
    let channels = vec![
        Channel { source: end(1, 5), destination: end(0, 2) },
        Channel { source: end(2, 6), destination: end(1, 7) },
    ];
    let priority_levels = levels.map(|ranges| {
        let ranges: Vec<_> =
            ranges.iter().map(|&(start, end)| PriorityLevel::new(start, end)).collect();
        &*ranges.leak()
    });
    TablesConfig {
        partitions: [p0.leak(), p1.leak(), p2.leak()],
        priority_levels,
        channels: channels.leak(),
    }
}

const MAP_64: [u16; LOGICAL] = [0, 1, 2, 3, 4, 5, 6, 7, 63];
const MAP_4096: [u16; LOGICAL] = [4095, 0, 64, 65, 2047, 4032, 4094, 63, 1];

const NO_LEVELS: Levels = [&[]; P];
/// Levels over the ports of `MAP_64`: two adjacent levels in p0 (ports 0-2 and 3-7), one
/// up to the last port in p1 (above its port 0, a level of its own), none in p2.
const LEVELS_64: Levels = [&[(0, 3), (3, 8)], &[(2, 64)], &[]];
/// Levels over the ports of `MAP_4096`, across words: 0-65 and 2047-4094 in p0 (4095 a
/// level of its own above them), 1-4095 in p1, a one-port level and 63-2047 in p2.
const LEVELS_4096: Levels = [&[(0, 66), (2047, 4095)], &[(1, 4096)], &[(0, 1), (63, 2048)]];

static CONFIG_64: LazyLock<&'static TablesConfig<P>> =
    LazyLock::new(|| Box::leak(Box::new(config(MAP_64, NO_LEVELS))));
static CONFIG_4096: LazyLock<&'static TablesConfig<P>> =
    LazyLock::new(|| Box::leak(Box::new(config(MAP_4096, NO_LEVELS))));
static CONFIG_64_LEVELS: LazyLock<&'static TablesConfig<P>> =
    LazyLock::new(|| Box::leak(Box::new(config(MAP_64, LEVELS_64))));
static CONFIG_4096_LEVELS: LazyLock<&'static TablesConfig<P>> =
    LazyLock::new(|| Box::leak(Box::new(config(MAP_4096, LEVELS_4096))));

#[derive(Clone, Debug)]
enum Op {
    Raise { p: usize, l: usize, n: u32, ctx: bool },
    RaiseIntoService { p: usize, l: usize, ctx: bool },
    Notify { p: usize, l: usize },
    Mask { p: usize, l: usize },
    Unmask { p: usize, l: usize },
    Begin { p: usize, l: usize },
    DeliverNext { p: usize },
    Ack { p: usize, l: usize },
    Take { p: usize, l: usize },
    Cancel { p: usize, l: usize },
    Bind { p: usize, l: usize, coalescing: bool },
    Unbind { p: usize, l: usize },
    Reset { p: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let p = 0..P;
    let l = 0..LOGICAL;
    prop_oneof![
        6 => (p.clone(), l.clone(), 1..4u32, any::<bool>())
            .prop_map(|(p, l, n, ctx)| Op::Raise { p, l, n, ctx }),
        2 => (p.clone(), l.clone(), any::<bool>())
            .prop_map(|(p, l, ctx)| Op::RaiseIntoService { p, l, ctx }),
        2 => (p.clone(), l.clone()).prop_map(|(p, l)| Op::Notify { p, l }),
        2 => (p.clone(), l.clone()).prop_map(|(p, l)| Op::Mask { p, l }),
        2 => (p.clone(), l.clone()).prop_map(|(p, l)| Op::Unmask { p, l }),
        2 => (p.clone(), l.clone()).prop_map(|(p, l)| Op::Begin { p, l }),
        3 => p.clone().prop_map(|p| Op::DeliverNext { p }),
        3 => (p.clone(), l.clone()).prop_map(|(p, l)| Op::Ack { p, l }),
        2 => (p.clone(), l.clone()).prop_map(|(p, l)| Op::Take { p, l }),
        1 => (p.clone(), l.clone()).prop_map(|(p, l)| Op::Cancel { p, l }),
        1 => (p.clone(), l.clone(), any::<bool>())
            .prop_map(|(p, l, coalescing)| Op::Bind { p, l, coalescing }),
        1 => (p.clone(), l).prop_map(|(p, l)| Op::Unbind { p, l }),
        1 => p.prop_map(|p| Op::Reset { p }),
    ]
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct ModelPort {
    binding: Option<Binding>,
    count: u32,
    masked: bool,
    in_service: bool,
    /// A coalescing port in service holds the event being handled apart from its
    /// pending bit (`count`), which going into service cleared.
    held: bool,
    context: Option<Context>,
}

impl ModelPort {
    fn coalescing(&self) -> bool {
        self.binding.is_some_and(|b| b.mode.is_coalescing())
    }

    /// Raised and not yet consumed.
    fn unconsumed(&self) -> u32 {
        self.count + u32::from(self.held)
    }

    /// Takes the port into service (it is deliverable).
    fn begin(&mut self) {
        self.in_service = true;
        if self.coalescing() {
            self.count = 0;
            self.held = true;
        }
    }

    fn deliverable(&self) -> bool {
        self.binding.is_some() && self.count > 0 && !self.masked && !self.in_service
    }
}

#[derive(Clone, Debug, Default)]
struct ModelPartition {
    ports: Vec<ModelPort>,
    /// Each level's round-robin cursor: the port after the one of the level last taken
    /// into service (0 at the start and after a reset).
    cursors: [u16; MAX_PRIORITY_LEVELS],
    raised: u64,
    delivered: u64,
    coalesced: u64,
    overflowed: u64,
    discarded: u64,
}

struct Model {
    map: [u16; LOGICAL],
    config: &'static TablesConfig<P>,
    partitions: Vec<ModelPartition>,
    clock: u64,
}

impl Model {
    fn new(map: [u16; LOGICAL], config: &'static TablesConfig<P>) -> Self {
        let mut model =
            Self { map, config, partitions: vec![ModelPartition::default(); P], clock: 0 };
        for p in 0..P {
            model.partitions[p].ports = vec![ModelPort::default(); LOGICAL];
            model.configure(p);
        }
        model
    }

    fn logical(&self, port: u16) -> usize {
        self.map.iter().position(|&m| m == port).expect("configured ports are mapped")
    }

    fn configure(&mut self, p: usize) {
        let fresh: Vec<_> = (0..LOGICAL).map(|_| ModelPort::default()).collect();
        self.partitions[p].ports = fresh;
        self.partitions[p].cursors = [0; MAX_PRIORITY_LEVELS];
        for c in self.config.partitions[p] {
            let l = self.logical(c.port);
            let port = &mut self.partitions[p].ports[l];
            port.binding = Some(c.binding);
            port.masked = c.masked;
        }
    }

    /// The port a lookup offers: the lowest-numbered deliverable port, or if it is in a
    /// level, the first deliverable port of that level in round-robin order from the
    /// level's cursor (a cursor outside the level starts from its first port).
    fn next_deliverable(&self, p: usize) -> Option<u16> {
        let ports = &self.partitions[p].ports;
        let deliverable: Vec<u16> =
            (0..LOGICAL).filter(|&l| ports[l].deliverable()).map(|l| self.map[l]).collect();
        let lowest = *deliverable.iter().min()?;
        let levels = self.config.priority_levels[p];
        let Some(level) = levels.iter().position(|l| l.contains(lowest)) else {
            return Some(lowest);
        };
        let range = levels[level];
        let cursor = self.partitions[p].cursors[level];
        let from = if range.contains(cursor) { cursor } else { range.start };
        let len = range.end - range.start;
        // Round-robin order: the distance from the cursor, going round the level.
        let order = |port: u16| (port + len - from) % len;
        deliverable.into_iter().filter(|&port| range.contains(port)).min_by_key(|&port| order(port))
    }

    /// `port` of `p` was taken into service: its level's cursor moves past it.
    fn served(&mut self, p: usize, port: u16) {
        let levels = self.config.priority_levels[p];
        if let Some(level) = levels.iter().position(|l| l.contains(port)) {
            self.partitions[p].cursors[level] = port + 1;
        }
    }

    fn raise(
        &mut self,
        p: usize,
        l: usize,
        n: u32,
        ctx: Option<Context>,
    ) -> Result<(bool, u32, u32), Error> {
        let raw = self.map[l];
        let part = &mut self.partitions[p];
        let port = &mut part.ports[l];
        let Some(binding) = port.binding else {
            return Err(Error::NotBound { port: raw });
        };
        if ctx.is_some() {
            port.context = ctx;
        }
        let was = port.deliverable();
        let room = binding.mode.max() - port.count;
        let accepted = n.min(room);
        let excess = n - accepted;
        port.count += accepted;
        part.raised += u64::from(n);
        let (overflowed, coalesced) =
            if binding.mode.is_coalescing() { (0, excess) } else { (excess, 0) };
        part.overflowed += u64::from(overflowed);
        part.coalesced += u64::from(coalesced);
        let became = !was && port.deliverable();
        Ok((became, overflowed, coalesced))
    }

    fn reset(&mut self, p: usize) -> u64 {
        let discarded: u64 =
            self.partitions[p].ports.iter().map(|s| u64::from(s.unconsumed())).sum();
        self.partitions[p].discarded += discarded;
        self.configure(p);
        discarded
    }
}

fn check<const W: usize>(tables: &EventTables<P, W>, model: &Model) {
    for p in 0..P {
        let id = PartitionId::new(p as u32).unwrap();
        let real = tables.partition(id);
        let mp = &model.partitions[p];
        for l in 0..LOGICAL {
            let port = Port::<W>::new(u32::from(model.map[l])).unwrap();
            let s = real.status(port);
            let m = mp.ports[l];
            assert_eq!(s.binding, m.binding, "p{p} port {} binding", model.map[l]);
            assert_eq!(s.pending, m.count, "p{p} port {} count", model.map[l]);
            assert_eq!(s.masked, m.masked, "p{p} port {} mask", model.map[l]);
            assert_eq!(s.in_service, m.in_service, "p{p} port {} in service", model.map[l]);
            if m.binding.is_some() {
                assert_eq!(
                    real.context(port).unwrap(),
                    m.context,
                    "p{p} port {} context",
                    model.map[l]
                );
            }
        }
        assert_eq!(
            real.next_deliverable().map(Port::raw),
            model.next_deliverable(p),
            "p{p} next deliverable"
        );
        let stats = real.stats();
        assert_eq!(
            (stats.raised, stats.delivered, stats.coalesced, stats.overflowed, stats.discarded),
            (mp.raised, mp.delivered, mp.coalesced, mp.overflowed, mp.discarded),
            "p{p} statistics"
        );
        // Nothing lost: the model's own count of raises is fully accounted for.
        let pending = real.pending_total();
        let unconsumed: u64 = mp.ports.iter().map(|m| u64::from(m.unconsumed())).sum();
        assert_eq!((stats.pending, pending), (unconsumed, unconsumed), "p{p} unconsumed events");
        assert_eq!(
            mp.raised,
            stats.delivered + pending + stats.overflowed + stats.coalesced + stats.discarded,
            "p{p} raised = delivered + pending + overflowed + coalesced + discarded"
        );
    }
}

fn step<const W: usize>(tables: &EventTables<P, W>, model: &mut Model, op: &Op) {
    model.clock += 1;
    let pid = |p: usize| PartitionId::<P>::new(p as u32).unwrap();
    let port = |l: usize| Port::<W>::new(u32::from(model.map[l])).unwrap();
    match *op {
        Op::Raise { p, l, n, ctx } => {
            let context = ctx.then(|| Context {
                vector: 0x20 + l as u16,
                sender: Sender::Kernel,
                error_code: n,
                fault_address: 0x1000 * model.clock,
                timestamp: model.clock,
            });
            let real = tables.partition(pid(p)).raise_many(port(l), n, context.as_ref());
            let expected = model.raise(p, l, n, context);
            let real = real.map(|r| (r.became_deliverable, r.overflowed, r.coalesced));
            assert_eq!(real, expected, "{op:?}");
        }
        Op::RaiseIntoService { p, l, ctx } => {
            let context = ctx.then(|| Context {
                vector: 0x40 + l as u16,
                timestamp: model.clock,
                ..Context::default()
            });
            let real = tables.partition(pid(p)).raise_into_service(port(l), context.as_ref());
            let raw = model.map[l];
            let nothing_deliverable = model.next_deliverable(p).is_none();
            let m = &mut model.partitions[p].ports[l];
            let idle = m.binding.is_some() && m.count == 0 && !m.masked && !m.in_service;
            let expected = if idle && nothing_deliverable {
                m.count = 1;
                m.begin();
                model.partitions[p].raised += 1;
                model.served(p, raw);
                Ok(None)
            } else {
                model.raise(p, l, 1, context).map(Some)
            };
            let real = real.map(|r| match r {
                DirectRaise::Serving(d) => {
                    assert_eq!((d.port.raw(), d.pending), (raw, 1), "{op:?}");
                    None
                }
                DirectRaise::Raised(r) => Some((r.became_deliverable, r.overflowed, r.coalesced)),
            });
            assert_eq!(real, expected, "{op:?}");
        }
        Op::Notify { p, l } => {
            let real = tables.notify(pid(p), port(l), model.clock);
            let raw = model.map[l];
            let binding = model.partitions[p].ports[l].binding;
            let expected = match binding.map(|b| b.source) {
                Some(Source::Channel(c)) => {
                    let ch = model.config.channels[c as usize];
                    if ch.source != (Endpoint { partition: p as u16, port: raw }) {
                        Err(Error::NotChannelOwner { channel: c, caller: p as u16 })
                    } else {
                        let dst_p = ch.destination.partition as usize;
                        let dst_l = model.logical(ch.destination.port);
                        let ctx = Context {
                            sender: Sender::Partition(p as u16),
                            timestamp: model.clock,
                            ..Context::default()
                        };
                        model.raise(dst_p, dst_l, 1, Some(ctx))
                    }
                }
                _ => Err(Error::NotAChannel { port: raw }),
            };
            let real = real
                .map(|r| (r.raised.became_deliverable, r.raised.overflowed, r.raised.coalesced));
            assert_eq!(real, expected, "{op:?}");
        }
        Op::Mask { p, l } => {
            tables.partition(pid(p)).mask(port(l));
            model.partitions[p].ports[l].masked = true;
        }
        Op::Unmask { p, l } => {
            let became = tables.partition(pid(p)).unmask(port(l));
            let m = &mut model.partitions[p].ports[l];
            let was = m.deliverable();
            m.masked = false;
            assert_eq!(became, !was && m.deliverable(), "{op:?}");
        }
        Op::Begin { p, l } => {
            let real = tables.partition(pid(p)).begin_service(port(l));
            let raw = model.map[l];
            let m = &mut model.partitions[p].ports[l];
            let expected = if m.binding.is_none() {
                Err(Error::NotBound { port: raw })
            } else if m.count == 0 {
                Err(Error::NothingPending { port: raw })
            } else if m.masked {
                Err(Error::Masked { port: raw })
            } else if m.in_service {
                Err(Error::AlreadyInService { port: raw })
            } else {
                let pending = m.count;
                m.begin();
                model.served(p, raw);
                Ok((raw, pending))
            };
            assert_eq!(real.map(|d| (d.port.raw(), d.pending)), expected, "{op:?}");
        }
        Op::DeliverNext { p } => {
            let real = tables.partition(pid(p)).deliver_next();
            let expected = model.next_deliverable(p).map(|raw| {
                let l = model.logical(raw);
                let m = &mut model.partitions[p].ports[l];
                assert!(!m.masked && !m.in_service, "the model never offers these");
                let pending = m.count;
                m.begin();
                model.served(p, raw);
                (raw, pending)
            });
            assert_eq!(real.map(|d| (d.port.raw(), d.pending)), expected, "{op:?}");
        }
        Op::Ack { p, l } => {
            let real = tables.partition(pid(p)).acknowledge(port(l));
            let raw = model.map[l];
            let part = &mut model.partitions[p];
            let m = &mut part.ports[l];
            let expected = if m.binding.is_none() {
                Err(Error::NotBound { port: raw })
            } else if m.in_service {
                m.in_service = false;
                if m.held {
                    // The event in service; one raised during the service stays pending.
                    m.held = false;
                    part.delivered += 1;
                } else {
                    let one = m.count.min(1);
                    m.count -= one;
                    part.delivered += u64::from(one);
                }
                Ok((m.count, m.deliverable()))
            } else {
                Err(Error::NotInService { port: raw })
            };
            assert_eq!(real.map(|a| (a.remaining, a.deliverable_again)), expected, "{op:?}");
        }
        Op::Take { p, l } => {
            let real = tables.partition(pid(p)).take(port(l));
            let raw = model.map[l];
            let part = &mut model.partitions[p];
            let m = &mut part.ports[l];
            let expected = if m.binding.is_some() {
                let n = m.unconsumed();
                m.count = 0;
                m.held = false;
                m.in_service = false;
                part.delivered += u64::from(n);
                Ok(n)
            } else {
                Err(Error::NotBound { port: raw })
            };
            assert_eq!(real, expected, "{op:?}");
        }
        Op::Cancel { p, l } => {
            let real = tables.partition(pid(p)).cancel_service(port(l));
            let part = &mut model.partitions[p];
            let m = &mut part.ports[l];
            let expected = if m.in_service {
                m.in_service = false;
                if m.held {
                    // Back to pending, merging with an event raised during the service.
                    m.held = false;
                    if m.count == 1 {
                        part.coalesced += 1;
                    }
                    m.count = 1;
                }
                Ok(m.deliverable())
            } else {
                Err(Error::NotInService { port: model.map[l] })
            };
            assert_eq!(real, expected, "{op:?}");
        }
        Op::Bind { p, l, coalescing } => {
            let binding = if coalescing {
                Binding::coalescing(Source::Line(0x40))
            } else {
                Binding { source: Source::Line(0x41), mode: max(2) }
            };
            let real = tables.partition(pid(p)).bind(port(l), binding);
            let m = &mut model.partitions[p].ports[l];
            let expected = if m.binding.is_some() {
                Err(Error::AlreadyBound { port: model.map[l] })
            } else {
                m.binding = Some(binding);
                Ok(())
            };
            assert_eq!(real, expected, "{op:?}");
        }
        Op::Unbind { p, l } => {
            let real = tables.partition(pid(p)).unbind(port(l));
            let part = &mut model.partitions[p];
            let m = &mut part.ports[l];
            let expected = if m.binding.is_some() {
                let n = m.unconsumed();
                part.discarded += u64::from(n);
                *m = ModelPort { masked: m.masked, ..ModelPort::default() };
                Ok(n)
            } else {
                Err(Error::NotBound { port: model.map[l] })
            };
            assert_eq!(real, expected, "{op:?}");
        }
        Op::Reset { p } => {
            let real = tables.partition(pid(p)).reset();
            assert_eq!(real, model.reset(p), "{op:?}");
        }
    }
}

fn run<const W: usize>(config: &'static TablesConfig<P>, map: [u16; LOGICAL], ops: Vec<Op>) {
    // Three 4,096-port tables are about 700 KiB: build them on a thread with room.
    let worker = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || run_on_this_thread::<W>(config, map, &ops))
        .expect("spawn");
    if let Err(panic) = worker.join() {
        std::panic::resume_unwind(panic);
    }
}

fn run_on_this_thread<const W: usize>(
    config: &'static TablesConfig<P>,
    map: [u16; LOGICAL],
    ops: &[Op],
) {
    let tables = Box::new(EventTables::<P, W>::new(config).expect("valid configuration"));
    let mut model = Model::new(map, config);
    check(&tables, &model);
    for op in ops {
        step(&tables, &mut model, op);
        check(&tables, &model);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn model_64_ports(ops in proptest::collection::vec(op(), 1..120)) {
        run::<1>(&CONFIG_64, MAP_64, ops);
    }

    #[test]
    fn model_4096_ports(ops in proptest::collection::vec(op(), 1..120)) {
        run::<64>(&CONFIG_4096, MAP_4096, ops);
    }

    #[test]
    fn model_64_ports_with_priority_levels(ops in proptest::collection::vec(op(), 1..120)) {
        run::<1>(&CONFIG_64_LEVELS, MAP_64, ops);
    }

    #[test]
    fn model_4096_ports_with_priority_levels(ops in proptest::collection::vec(op(), 1..120)) {
        run::<64>(&CONFIG_4096_LEVELS, MAP_4096, ops);
    }
}
