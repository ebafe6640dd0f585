//! Behaviour of the event tables, one feature at a time.

use core::num::{NonZeroU32, NonZeroU64};

use notify_core::{
    Binding, Channel, ConfigError, Context, DirectRaise, End, Endpoint, Error, EventTables, Mode,
    PartitionEvents, PartitionId, Port, PortConfig, PortConfigError, PriorityLevel, Raised, Sender,
    Source, TRAP_RING_LEN, TablesConfig,
};

fn port<const W: usize>(raw: u32) -> Port<W> {
    Port::new(raw).unwrap()
}

fn counting(source: Source, max: u32) -> Binding {
    Binding { source, mode: Mode::Counting { max: NonZeroU32::new(max).unwrap() } }
}

const fn assert_send_sync<T: Send + Sync>() {}
const _: () = assert_send_sync::<EventTables<4, 64>>();
const _: () = assert_send_sync::<PartitionEvents<1>>();

static LINES: [PortConfig; 4] = [
    PortConfig::new(1, Binding::counting(Source::Timer)),
    PortConfig::new(2, Binding::coalescing(Source::Line(0x21))),
    PortConfig::new(
        3,
        Binding {
            source: Source::Line(0x22),
            mode: Mode::Counting { max: NonZeroU32::MIN.saturating_add(2) },
        },
    ),
    PortConfig::new(9, Binding::counting(Source::Trap(0))).masked(),
];

#[test]
fn counting_ports_saturate_and_report_overflow() {
    let t = PartitionEvents::<1>::new(&LINES).unwrap();
    let p = port(3);
    let first = t.raise_many(p, 2, None).unwrap();
    assert!(first.became_deliverable);
    assert_eq!(first.overflowed, 0);
    let second = t.raise_many(p, 4, None).unwrap();
    assert!(!second.became_deliverable, "already deliverable");
    assert_eq!((second.overflowed, second.coalesced), (3, 0));
    assert_eq!(t.status(p).pending, 3);
    let s = t.stats();
    assert_eq!((s.raised, s.overflowed), (6, 3));
    assert_eq!(t.take(p).unwrap(), 3);
    assert_eq!(t.stats().delivered, 3);
}

#[test]
fn coalescing_ports_keep_one_pending_event() {
    let t = PartitionEvents::<1>::new(&LINES).unwrap();
    let p = port(2);
    assert!(t.raise(p, None).unwrap().became_deliverable);
    let again = t.raise_many(p, 3, None).unwrap();
    assert_eq!((again.coalesced, again.overflowed), (3, 0));
    assert_eq!(t.status(p).pending, 1);
    assert_eq!(t.stats().coalesced, 3);
}

#[test]
fn zero_raises_change_nothing() {
    let t = PartitionEvents::<1>::new(&LINES).unwrap();
    assert_eq!(t.raise_many(port(1), 0, None).unwrap(), Default::default());
    assert_eq!(t.stats().raised, 0);
    assert_eq!(t.next_deliverable(), None);
}

#[test]
fn delivery_is_lowest_port_first_and_skips_masked_and_in_service() {
    let t = PartitionEvents::<1>::new(&LINES).unwrap();
    for raw in [9, 3, 2, 1] {
        let _ = t.raise(port(raw), None).unwrap();
    }
    // Port 9 is masked: never offered.
    let order: Vec<u16> = std::iter::from_fn(|| t.deliver_next().map(|d| d.port.raw())).collect();
    assert_eq!(order, [1, 2, 3], "priority order, masked port 9 left out");
    // All three are in service now: a new event on port 1 waits.
    let _ = t.raise(port(1), None).unwrap();
    assert_eq!(t.next_deliverable(), None);
    let ack = t.acknowledge(port(1)).unwrap();
    assert_eq!((ack.remaining, ack.deliverable_again), (1, true));
    assert_eq!(t.next_deliverable(), Some(port(1)));
    // Unmasking port 9 delivers what was raised while masked.
    assert!(t.unmask(port(9)));
    let _ = t.deliver_next().unwrap();
    let d = t.deliver_next().unwrap();
    assert_eq!(d.port, port(9));
}

#[test]
fn next_deliverable_spans_all_4096_ports() {
    static HIGH: [PortConfig; 3] = [
        PortConfig::new(4095, Binding::counting(Source::Timer)),
        PortConfig::new(2048, Binding::counting(Source::Line(1))),
        PortConfig::new(64, Binding::counting(Source::Line(2))),
    ];
    let t = Box::new(PartitionEvents::<64>::new(&HIGH).unwrap());
    let _ = t.raise(port(4095), None).unwrap();
    assert_eq!(t.next_deliverable(), Some(port(4095)));
    let _ = t.raise(port(2048), None).unwrap();
    let _ = t.raise(port(64), None).unwrap();
    let order: Vec<u16> = std::iter::from_fn(|| t.deliver_next().map(|d| d.port.raw())).collect();
    assert_eq!(order, [64, 2048, 4095]);
}

/// Lines on ports 0, 1, 2, 63, 64, 100, 4094 and 4095, for the priority-level tests.
static SPREAD: [PortConfig; 8] = {
    let mut ports = [PortConfig::new(0, Binding::counting(Source::Line(0x40))); 8];
    let numbers = [0, 1, 2, 63, 64, 100, 4094, 4095];
    let mut i = 0;
    while i < numbers.len() {
        ports[i] = PortConfig::new(numbers[i], Binding::counting(Source::Line(0x40 + i as u16)));
        i += 1;
    }
    ports
};

/// Serves `n` events of `t` the way a guest does (next, begin service, acknowledge), the
/// flooded ports raised again while they are in service; returns the ports served.
fn serve<const W: usize>(t: &PartitionEvents<W>, n: usize, flooded: &[u16]) -> Vec<u16> {
    (0..n)
        .map(|_| {
            let d = t.deliver_next().expect("something deliverable");
            if flooded.contains(&d.port.raw()) {
                let _ = t.raise(d.port, None).unwrap();
            }
            t.acknowledge(d.port).unwrap();
            d.port.raw()
        })
        .collect()
}

#[test]
fn a_priority_level_is_served_round_robin_across_words() {
    // Ports 1 to 4094 share a level: 0 is above it, 4095 below it.
    static LEVELS: [PriorityLevel; 1] = [PriorityLevel::new(1, 4095)];
    let t = Box::new(PartitionEvents::<64>::with_levels(&SPREAD, &LEVELS).unwrap());
    assert_eq!(t.priority_levels(), &LEVELS);
    for &p in &[0u16, 1, 2, 63, 64, 100, 4094, 4095] {
        let _ = t.raise(port(u32::from(p)), None).unwrap();
    }
    // Port 0 first (a level of its own, above), flooded: it keeps the level waiting.
    assert_eq!(serve(&t, 3, &[0]), [0, 0, 0]);
    // Then the level, round-robin from its start, port 1 flooded: every other port of the
    // level is served between two of its events, across words.
    assert_eq!(serve(&t, 1, &[]), [0]);
    assert_eq!(serve(&t, 9, &[1]), [1, 2, 63, 64, 100, 4094, 1, 1, 1]);
    // A port of the level raised again is served within one round of the level.
    let _ = t.raise(port(64), None).unwrap();
    assert_eq!(serve(&t, 3, &[1]), [64, 1, 1]);
    // In service, a port is skipped; the round-robin goes on from the port after it.
    let _ = t.raise(port(2), None).unwrap();
    let _ = t.raise(port(100), None).unwrap();
    let d = t.deliver_next().unwrap();
    assert_eq!(d.port, port(2));
    assert_eq!(serve(&t, 3, &[1]), [100, 1, 1]);
    t.acknowledge(d.port).unwrap();
    // The flood stops: the level drains, then 4095 (below it) comes last.
    assert_eq!(serve(&t, 2, &[]), [1, 4095]);
    assert_eq!(t.next_deliverable(), None);
    let stats = t.stats();
    assert_eq!((stats.pending, stats.delivered), (0, stats.raised));
}

#[test]
fn a_priority_level_keeps_its_ports_through_unbind_bind_and_reset() {
    static LEVELS: [PriorityLevel; 2] = [PriorityLevel::new(0, 2), PriorityLevel::new(2, 64)];
    let t = PartitionEvents::<1>::with_levels(&SPREAD[..4], &LEVELS).unwrap();
    // Port 5 is unbound; bound at run time it belongs to its level (2..64).
    t.bind(port(5), Binding::counting(Source::Line(0x50))).unwrap();
    for p in [2, 5, 63] {
        let _ = t.raise(port(p), None).unwrap();
    }
    assert_eq!(serve(&t, 4, &[2]), [2, 5, 63, 2]);
    // Unbound and bound again, port 63 is still in the level.
    t.unbind(port(63)).unwrap();
    t.bind(port(63), Binding::counting(Source::Line(0x3f))).unwrap();
    let _ = t.raise(port(63), None).unwrap();
    assert_eq!(serve(&t, 3, &[2]), [63, 2, 2]);
    // A reset puts each level's round-robin back at its first port.
    let _ = t.raise(port(5), None).unwrap();
    assert_eq!(serve(&t, 1, &[]), [5]);
    t.reset();
    for p in [1, 0, 63, 2] {
        let _ = t.raise(port(p), None).unwrap();
    }
    assert_eq!(serve(&t, 4, &[]), [0, 1, 2, 63]);
}

#[test]
fn deliveries_carry_the_port_handler_and_contexts_the_latest_raise() {
    let t = PartitionEvents::<1>::new(&LINES).unwrap();
    let entry = NonZeroU64::new(0x40_1000);
    t.set_port_handler(port(3), entry).unwrap();
    t.set_upcall_entry(NonZeroU64::new(0x40_0000));
    t.set_fault_handler(NonZeroU64::new(0x40_2000));
    let ctx = |ts| Context { vector: 0x22, timestamp: ts, ..Context::default() };
    assert_eq!(t.context(port(3)).unwrap(), None);
    let _ = t.raise(port(3), Some(&ctx(5))).unwrap();
    let _ = t.raise(port(3), Some(&ctx(6))).unwrap();
    let d = t.deliver_next().unwrap();
    assert_eq!((d.port, d.pending, d.handler), (port(3), 2, entry));
    assert_eq!(t.context(port(3)).unwrap(), Some(ctx(6)));
    let _ = t.raise(port(1), None).unwrap();
    assert_eq!(t.deliver_next().unwrap().handler, None, "no handler: use the upcall entry");
    assert_eq!(t.upcall_entry(), NonZeroU64::new(0x40_0000));
    assert_eq!(t.fault_handler(), NonZeroU64::new(0x40_2000));
}

#[test]
fn trap_ring_keeps_the_newest_and_counts_the_dropped() {
    let t = PartitionEvents::<1>::new(&LINES).unwrap();
    let trap = |n: u64| Context { vector: 14, fault_address: n, ..Context::default() };
    let total = TRAP_RING_LEN as u64 + 5;
    for n in 0..total {
        assert!(t.push_trap(&trap(n)));
    }
    assert_eq!(t.trap_count(), TRAP_RING_LEN as u64);
    assert_eq!(t.stats().traps_dropped, 5);
    let kept: Vec<u64> = std::iter::from_fn(|| t.pop_trap().map(|c| c.fault_address)).collect();
    assert_eq!(kept, (5..total).collect::<Vec<_>>());
}

#[test]
fn reset_returns_to_the_configuration_and_accounts_for_everything() {
    let t = PartitionEvents::<1>::new(&LINES).unwrap();
    let _ = t.raise_many(port(1), 4, Some(&Context::default())).unwrap();
    let _ = t.raise(port(9), None).unwrap();
    let _ = t.deliver_next().unwrap();
    t.unmask(port(9));
    t.mask(port(2));
    t.unbind(port(3)).unwrap();
    t.bind(port(30), counting(Source::Line(0x40), 8)).unwrap();
    let _ = t.raise(port(30), None).unwrap();
    t.set_upcall_entry(NonZeroU64::new(0x1000));
    assert!(t.push_trap(&Context::default()));

    assert_eq!(t.reset(), 4 + 1 + 1, "timer, trap port and runtime port discarded");
    for c in &LINES {
        let s = t.status(port(u32::from(c.port)));
        assert_eq!(s.binding, Some(c.binding), "port {} rebound", c.port);
        assert_eq!((s.pending, s.masked, s.in_service), (0, c.masked, false));
        assert_eq!(t.context(port(u32::from(c.port))).unwrap(), None, "no stale context");
    }
    assert_eq!(t.status(port(30)).binding, None, "runtime binding removed");
    assert_eq!((t.upcall_entry(), t.pop_trap(), t.next_deliverable()), (None, None, None));
    let s = t.stats();
    assert_eq!(s.raised, s.delivered + s.discarded + s.overflowed + s.coalesced);
}

#[test]
fn notify_raises_the_destination_with_the_sender() {
    static A: [PortConfig; 1] = [PortConfig::new(7, Binding::counting(Source::Channel(0)))];
    static B: [PortConfig; 1] = [PortConfig::new(2, Binding::counting(Source::Channel(0)))];
    static CH: [Channel; 1] = [Channel {
        source: Endpoint { partition: 0, port: 7 },
        destination: Endpoint { partition: 1, port: 2 },
    }];
    static CONFIG: TablesConfig<2> =
        TablesConfig { partitions: [&A, &B], priority_levels: [&[]; 2], channels: &CH };
    let t = EventTables::<2>::new(&CONFIG).unwrap();
    let (p0, p1) = (PartitionId::new(0).unwrap(), PartitionId::new(1).unwrap());
    let n = t.notify(p0, port(7), 33).unwrap();
    assert_eq!((n.partition, n.port, n.channel.index()), (p1, port(2), 0));
    assert!(n.raised.became_deliverable);
    let ctx = t.partition(p1).context(port(2)).unwrap().unwrap();
    assert_eq!((ctx.sender, ctx.timestamp), (Sender::Partition(0), 33));
    assert_eq!(t.partition(p0).next_deliverable(), None, "the sender is not raised");
    assert_eq!(t.channel_ends(n.channel), CH[0]);
}

#[test]
fn configuration_errors_name_the_entry() {
    fn check<const P: usize>(config: TablesConfig<P>, expected: ConfigError) {
        let config: &'static TablesConfig<P> = Box::leak(Box::new(config));
        assert_eq!(EventTables::<P>::validate(config), Err(expected));
        assert_eq!(EventTables::<P>::new(config).err(), Some(expected));
    }
    fn ports(entries: &[(u16, Binding)]) -> &'static [PortConfig] {
        entries.iter().map(|&(p, b)| PortConfig::new(p, b)).collect::<Vec<_>>().leak()
    }
    /// (partition, port) of one end.
    type Pair = (u16, u16);
    fn channels(list: &[(Pair, Pair)]) -> &'static [Channel] {
        let end = |(partition, port)| Endpoint { partition, port };
        list.iter()
            .map(|&(s, d)| Channel { source: end(s), destination: end(d) })
            .collect::<Vec<_>>()
            .leak()
    }
    let timer = Binding::counting(Source::Timer);
    let ch = Binding::counting(Source::Channel(0));
    check(
        TablesConfig {
            partitions: [ports(&[(1, timer), (64, timer)])],
            priority_levels: [&[]],
            channels: &[],
        },
        ConfigError::Port { partition: 0, error: PortConfigError::PortOutOfRange { entry: 1 } },
    );
    check(
        TablesConfig {
            partitions: [&[], ports(&[(3, timer), (3, timer)])],
            priority_levels: [&[]; 2],
            channels: &[],
        },
        ConfigError::Port { partition: 1, error: PortConfigError::DuplicatePort { entry: 1 } },
    );
    check(
        TablesConfig {
            partitions: [ports(&[(2, timer), (3, ch)])],
            priority_levels: [&[]],
            channels: &[],
        },
        ConfigError::UnknownChannel { partition: 0, entry: 1 },
    );
    check(
        TablesConfig {
            partitions: [ports(&[(3, ch)])],
            priority_levels: [&[]],
            channels: channels(&[((0, 3), (5, 0))]),
        },
        ConfigError::ChannelPartition { channel: 0, end: End::Destination },
    );
    // A channel to a port the destination does not have bound to it (a missing port).
    check(
        TablesConfig {
            partitions: [ports(&[(3, ch)]), ports(&[(9, timer)])],
            priority_levels: [&[]; 2],
            channels: channels(&[((0, 3), (1, 9))]),
        },
        ConfigError::ChannelPort { channel: 0, end: End::Destination },
    );
    check(
        TablesConfig {
            partitions: [&[], ports(&[(9, ch)])],
            priority_levels: [&[]; 2],
            channels: channels(&[((0, 4), (1, 9))]),
        },
        ConfigError::ChannelPort { channel: 0, end: End::Source },
    );
    // Priority levels: each partition's are checked against its own table, and the error
    // names the level.
    fn levels(ranges: &[(u16, u16)]) -> &'static [PriorityLevel] {
        ranges.iter().map(|&(s, e)| PriorityLevel::new(s, e)).collect::<Vec<_>>().leak()
    }
    check(
        TablesConfig {
            partitions: [&[], ports(&[(3, timer)])],
            priority_levels: [levels(&[(0, 64)]), levels(&[(0, 8), (8, 16), (12, 20)])],
            channels: &[],
        },
        ConfigError::Port { partition: 1, error: PortConfigError::LevelOrder { level: 2 } },
    );
    check(
        TablesConfig {
            partitions: [&[]],
            priority_levels: [levels(&[(4, 8), (60, 65)])],
            channels: &[],
        },
        ConfigError::Port { partition: 0, error: PortConfigError::LevelRange { level: 1 } },
    );
    check(
        TablesConfig { partitions: [&[]], priority_levels: [levels(&[(9, 9)])], channels: &[] },
        ConfigError::Port { partition: 0, error: PortConfigError::LevelRange { level: 0 } },
    );
    let seventeen: Vec<(u16, u16)> = (0..17).map(|i| (i, i + 1)).collect();
    check(
        TablesConfig { partitions: [&[]], priority_levels: [levels(&seventeen)], channels: &[] },
        ConfigError::Port { partition: 0, error: PortConfigError::TooManyLevels },
    );
    // The port entries are checked first.
    check(
        TablesConfig {
            partitions: [ports(&[(64, timer)])],
            priority_levels: [levels(&[(9, 9)])],
            channels: &[],
        },
        ConfigError::Port { partition: 0, error: PortConfigError::PortOutOfRange { entry: 0 } },
    );
    // 4,096 ports: a level may end at the last port.
    assert!(PartitionEvents::<64>::validate_levels(levels(&[(0, 64), (64, 4096)])).is_ok());
    assert_eq!(
        PartitionEvents::<64>::validate_levels(levels(&[(4000, 4097)])),
        Err(PortConfigError::LevelRange { level: 0 })
    );
    assert_eq!(PartitionEvents::<0>::new(&[]).err(), Some(PortConfigError::PortWords));
    assert_eq!(PartitionEvents::<65>::validate(&[]), Err(PortConfigError::PortWords));
}

#[test]
fn cancelled_service_leaves_the_event_pending_and_deliverable() {
    let t = PartitionEvents::<1>::new(&LINES).unwrap();
    let _ = t.raise_many(port(3), 2, None).unwrap();
    let d = t.deliver_next().unwrap();
    assert_eq!(t.next_deliverable(), None);
    assert_eq!(t.cancel_service(d.port), Ok(true));
    assert_eq!(t.status(port(3)).pending, 2, "nothing consumed");
    assert_eq!(t.next_deliverable(), Some(port(3)));
    assert_eq!(t.cancel_service(port(3)), Err(notify_core::Error::NotInService { port: 3 }));
    assert_eq!(t.stats().delivered, 0);
}

/// The [`Delivery`](notify_core::Delivery) of a raise straight into service, or a panic.
fn serving<const W: usize>(raised: Result<DirectRaise<W>, Error>) -> notify_core::Delivery<W> {
    match raised {
        Ok(DirectRaise::Serving(delivery)) => delivery,
        other => panic!("not straight into service: {other:?}"),
    }
}

#[test]
fn a_raise_into_service_takes_an_idle_port_when_nothing_else_is_deliverable() {
    let t = PartitionEvents::<1>::new(&LINES).unwrap();
    let entry = NonZeroU64::new(0x40_1000);
    t.set_port_handler(port(3), entry).unwrap();
    let ctx = |ts| Context { vector: 0x22, timestamp: ts, ..Context::default() };
    assert!(t.is_idle(port(3)));
    let d = serving(t.raise_into_service(port(3), Some(&ctx(1))));
    assert_eq!((d.port, d.pending, d.handler), (port(3), 1, entry));
    let status = t.status(port(3));
    assert_eq!((status.pending, status.in_service), (1, true), "counted and in service");
    assert!(!t.is_idle(port(3)));
    assert_eq!(t.next_deliverable(), None, "never deliverable");
    // Its context went with it, not into the table.
    assert_eq!(t.context(port(3)).unwrap(), None);
    // In service, a raise is an ordinary one: counted, delivered after the acknowledgement.
    let again = t.raise_into_service(port(3), Some(&ctx(2)));
    assert_eq!(again, Ok(DirectRaise::Raised(Raised::default())));
    assert_eq!(t.context(port(3)).unwrap(), Some(ctx(2)));
    let ack = t.acknowledge(port(3)).unwrap();
    assert_eq!((ack.remaining, ack.deliverable_again), (1, true));
    assert_eq!(t.deliver_next().map(|d| (d.port, d.pending)), Some((port(3), 1)));
    assert_eq!(t.take(port(3)), Ok(1));
    // Nothing else deliverable, but a port is: the ordinary raise, priority kept.
    let _ = t.raise(port(1), None).unwrap();
    let ordinary = t.raise_into_service(port(3), None).unwrap();
    assert_eq!(
        ordinary,
        DirectRaise::Raised(Raised { became_deliverable: true, ..Raised::default() })
    );
    assert_eq!(t.deliver_next().map(|d| d.port), Some(port(1)));
    // Masked, or unbound: never into service.
    let _ = t.raise_into_service(port(9), None).unwrap();
    assert!(!t.status(port(9)).in_service);
    assert_eq!(t.raise_into_service(port(4), None), Err(Error::NotBound { port: 4 }));
    let s = t.stats();
    assert_eq!((s.raised, s.delivered), (5, 2), "every event accounted for");
}

#[test]
fn a_raise_into_service_of_a_coalescing_port_holds_its_event_apart() {
    let t = PartitionEvents::<1>::new(&LINES).unwrap();
    let d = serving(t.raise_into_service(port(2), None));
    assert_eq!(d.pending, 1);
    // As after `begin_service`: the pending bit is clear, a raise sets it again.
    assert_eq!(t.status(port(2)).pending, 0);
    let _ = t.raise(port(2), None).unwrap();
    assert_eq!(t.acknowledge(port(2)).map(|a| a.deliverable_again), Ok(true));
    assert_eq!(t.take(port(2)), Ok(1));
    assert_eq!(t.stats().delivered, 2);
}

#[test]
fn a_raise_into_service_moves_its_levels_cursor() {
    static LEVEL: [PriorityLevel; 1] = [PriorityLevel::new(0, 64)];
    let t = PartitionEvents::<1>::with_levels(&SPREAD[..4], &LEVEL).unwrap();
    let d = serving(t.raise_into_service(port(2), None));
    t.acknowledge(d.port).unwrap();
    // The level's next delivery starts after port 2, as if it had been taken by
    // `begin_service`.
    for p in [1, 2, 63] {
        let _ = t.raise(port(p), None).unwrap();
    }
    assert_eq!(serve(&t, 3, &[]), [63, 1, 2]);
}

#[test]
fn a_direct_service_given_back_publishes_its_context_and_waits() {
    let t = PartitionEvents::<1>::new(&LINES).unwrap();
    let ctx = Context { vector: 0x22, timestamp: 7, ..Context::default() };
    assert_eq!(
        t.cancel_direct_service(port(3), Some(&ctx)),
        Err(Error::NotInService { port: 3 }),
        "nothing in service"
    );
    assert_eq!(t.context(port(3)).unwrap(), None, "nothing published");
    let _ = serving(t.raise_into_service(port(3), Some(&ctx)));
    assert_eq!(t.cancel_direct_service(port(3), Some(&ctx)), Ok(true));
    assert_eq!(t.context(port(3)).unwrap(), Some(ctx), "the event waits with its context");
    assert_eq!(t.status(port(3)).pending, 1, "nothing consumed");
    assert_eq!(t.deliver_next().map(|d| (d.port, d.pending)), Some((port(3), 1)));
}

#[test]
fn discard_drops_the_pending_count_and_keeps_the_binding() {
    let t = PartitionEvents::<1>::new(&LINES).unwrap();
    t.set_port_handler(port(1), NonZeroU64::new(0x4000)).unwrap();
    let _ = t.raise_many(port(1), 3, None).unwrap();
    let _ = t.deliver_next().unwrap();
    assert_eq!(t.discard(port(1)), Ok(3));
    let s = t.status(port(1));
    assert_eq!((s.pending, s.in_service, s.binding), (0, false, Some(LINES[0].binding)));
    assert_eq!(t.next_deliverable(), None);
    let stats = t.stats();
    assert_eq!((stats.discarded, stats.delivered, stats.raised), (3, 0, 3));
    let _ = t.raise(port(1), None).unwrap();
    assert_eq!(t.deliver_next().unwrap().handler, NonZeroU64::new(0x4000), "handler kept");
    assert_eq!(t.discard(port(40)), Err(notify_core::Error::NotBound { port: 40 }));
}

fn any_sender() -> impl proptest::strategy::Strategy<Value = Sender> {
    use proptest::prelude::{Just, any, prop_oneof};
    use proptest::strategy::Strategy;
    prop_oneof![
        Just(Sender::Kernel),
        Just(Sender::Partition(u16::MAX)),
        any::<u16>().prop_map(Sender::Partition),
    ]
}

proptest::proptest! {
    /// Defect 15: every context comes back whole from a port and from the trap ring.
    #[test]
    fn defect15_contexts_round_trip(
        vector: u16,
        sender in any_sender(),
        error_code: u32,
        fault_address: u64,
        timestamp: u64,
    ) {
        let t = PartitionEvents::<1>::new(&LINES).unwrap();
        let ctx = Context { vector, sender, error_code, fault_address, timestamp };
        let _ = t.raise(port(1), Some(&ctx)).unwrap();
        proptest::prop_assert_eq!(t.context(port(1)).unwrap(), Some(ctx));
        proptest::prop_assert!(t.push_trap(&ctx));
        proptest::prop_assert_eq!(t.pop_trap(), Some(ctx));
    }
}

/// Defect 15: every `Sender` value, `Partition(65535)` included, survives a port's
/// context and the trap ring.
#[test]
fn defect15_every_sender_round_trips() {
    let t = PartitionEvents::<1>::new(&LINES).unwrap();
    let senders = std::iter::once(Sender::Kernel).chain((0..=u16::MAX).map(Sender::Partition));
    for sender in senders {
        let ctx = Context { sender, ..Context::default() };
        let _ = t.raise(port(1), Some(&ctx)).unwrap();
        assert_eq!(t.context(port(1)).unwrap().map(|c| c.sender), Some(sender));
        assert!(t.push_trap(&ctx));
        assert_eq!(t.pop_trap().map(|c| c.sender), Some(sender));
    }
}

/// Defect 14: statistics are cumulative, so a reset takes nothing back: neither the trap
/// records overwritten before being read (`traps_dropped`) nor anything else. The unread
/// records a reset throws away are counted as `traps_discarded`.
#[test]
fn defect14_statistics_never_go_back_on_reset() {
    let t = PartitionEvents::<1>::new(&LINES).unwrap();
    let trap = |n: u64| Context { vector: 14, fault_address: n, ..Context::default() };
    for n in 0..TRAP_RING_LEN as u64 + 5 {
        assert!(t.push_trap(&trap(n)));
    }
    let _ = t.raise_many(port(1), 3, None).unwrap();
    let _ = t.raise_many(port(2), 2, None).unwrap();
    let before = t.stats();
    assert_eq!(before.traps_dropped, 5);
    let _ = t.reset();
    let after = t.stats();
    let monotonic = |b: u64, a: u64| a >= b;
    for (name, b, a) in [
        ("raised", before.raised, after.raised),
        ("delivered", before.delivered, after.delivered),
        ("coalesced", before.coalesced, after.coalesced),
        ("overflowed", before.overflowed, after.overflowed),
        ("discarded", before.discarded, after.discarded),
        ("contexts_dropped", before.contexts_dropped, after.contexts_dropped),
        ("traps_dropped", before.traps_dropped, after.traps_dropped),
    ] {
        assert!(monotonic(b, a), "{name} went back on reset: {b} -> {a}");
    }
    assert_eq!(after.traps_dropped, 5);
    assert_eq!(after.traps_discarded, TRAP_RING_LEN as u64);
    // The ring works on after the reset, and the counts carry on from there.
    for n in 0..TRAP_RING_LEN as u64 + 2 {
        assert!(t.push_trap(&trap(n)));
    }
    assert_eq!(t.stats().traps_dropped, 7);
    assert_eq!(t.pop_trap(), Some(trap(2)));
}

/// Defect 10: a coalescing port raised while in service stays pending after the
/// acknowledgement and is delivered again; coalescing merges only events pending together.
#[test]
fn defect10_coalescing_port_raised_in_service_is_delivered_again() {
    let t = PartitionEvents::<1>::new(&LINES).unwrap();
    let p = port(2);
    assert!(t.raise(p, None).unwrap().became_deliverable);
    let d = t.deliver_next().unwrap();
    assert_eq!((d.port, d.pending), (p, 1));
    // A channel notify arriving during the handler: accepted, not merged with the event
    // being handled, not deliverable while the port is in service.
    let during = t.raise(p, None).unwrap();
    assert_eq!((during.became_deliverable, during.coalesced), (false, 0));
    // A second one merges with the first pending one.
    assert_eq!(t.raise(p, None).unwrap().coalesced, 1);
    assert_eq!(t.next_deliverable(), None, "in service");
    let ack = t.acknowledge(p).unwrap();
    assert_eq!((ack.remaining, ack.deliverable_again), (1, true));
    assert_eq!(t.next_deliverable(), Some(p), "the event raised during service is not lost");
    let again = t.deliver_next().unwrap();
    assert_eq!((again.port, again.pending), (p, 1));
    assert_eq!(t.acknowledge(p).unwrap().remaining, 0);
    assert_eq!(t.next_deliverable(), None);
    let s = t.stats();
    assert_eq!((s.raised, s.delivered, s.coalesced, s.pending), (3, 2, 1, 0));
}

/// Defect 10, the other ways out of service: cancelling puts the event back (merging with
/// one raised meanwhile), taking consumes both the event in service and the pending one,
/// discarding counts both; the statistics add up all along.
#[test]
fn defect10_coalescing_cancel_take_and_discard_account_for_the_event_in_service() {
    let t = PartitionEvents::<1>::new(&LINES).unwrap();
    let p = port(2);
    let conserved = |t: &PartitionEvents<1>| {
        let s = t.stats();
        assert_eq!(s.pending, t.pending_total());
        s
    };
    let _ = t.raise(p, None).unwrap();
    let _ = t.begin_service(p).unwrap();
    assert_eq!(conserved(&t).pending, 1, "the event in service is not yet consumed");
    assert!(t.cancel_service(p).unwrap(), "cancelled: deliverable again");
    assert_eq!((t.status(p).pending, conserved(&t).coalesced), (1, 0));
    let _ = t.begin_service(p).unwrap();
    let _ = t.raise(p, None).unwrap();
    assert!(t.cancel_service(p).unwrap());
    let s = conserved(&t);
    assert_eq!((t.status(p).pending, s.coalesced, s.raised), (1, 1, 2));
    let _ = t.begin_service(p).unwrap();
    let _ = t.raise(p, None).unwrap();
    assert_eq!(t.take(p).unwrap(), 2, "the event in service and the one raised since");
    let s = conserved(&t);
    assert_eq!((s.raised, s.delivered, s.pending), (3, 2, 0));
    let _ = t.raise(p, None).unwrap();
    let _ = t.begin_service(p).unwrap();
    let _ = t.raise(p, None).unwrap();
    assert_eq!(t.discard(p).unwrap(), 2);
    let s = conserved(&t);
    assert_eq!((s.raised, s.discarded, s.pending), (5, 2, 0));
    assert!(!t.status(p).in_service);
}
