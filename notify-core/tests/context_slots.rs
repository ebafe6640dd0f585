//! Context slots: which ports keep a latest context and a handler entry, the typed answer
//! of a port that keeps none, and the configuration errors naming the entry.

use core::num::NonZeroU64;

use notify_core::{
    Binding, ConfigError, Context, DirectRaise, Error, EventTables, PartitionEvents, PartitionId,
    Port, PortConfig, PortConfigError, Source, TablesConfig,
};

fn port<const W: usize>(raw: u32) -> Port<W> {
    Port::new(raw).unwrap()
}

fn ctx(timestamp: u64) -> Context {
    Context { vector: 0x21, timestamp, ..Context::default() }
}

static NO_CONTEXTS: [PortConfig; 3] = [
    PortConfig::new(1, Binding::counting(Source::Timer)).without_context(),
    PortConfig::new(2, Binding::coalescing(Source::Line(0x21))).without_context(),
    PortConfig::new(5, Binding::counting(Source::Line(0x22))).without_context(),
];

#[test]
fn a_table_without_slots_counts_and_delivers_every_event_and_answers_no_context_kept() {
    let t = PartitionEvents::<1, 0>::new(&NO_CONTEXTS).unwrap();
    assert_eq!((PartitionEvents::<1, 0>::CONTEXT_SLOTS, t.context_ports()), (0, 0));
    t.set_upcall_entry(NonZeroU64::new(0x40_0000));
    for raw in [1, 2, 5] {
        assert!(!t.keeps_context(port(raw)));
    }
    let raised = t.raise(port(5), Some(&ctx(7))).unwrap();
    assert!(raised.became_deliverable);
    let _ = t.raise(port(5), Some(&ctx(8))).unwrap();
    assert_eq!(t.context(port(5)), Err(Error::NoContextKept { port: 5 }));
    // No handler of its own: the upcall entry is the one to enter.
    assert_eq!(
        t.set_port_handler(port(5), NonZeroU64::new(0x40_1000)),
        Err(Error::NoContextKept { port: 5 })
    );
    assert_eq!(t.set_port_handler(port(5), None), Ok(()), "clearing changes nothing");
    let d = t.deliver_next().unwrap();
    assert_eq!((d.port, d.pending, d.handler), (port(5), 2, None));
    assert_eq!(t.acknowledge(port(5)).unwrap().remaining, 1);
    assert_eq!(t.take(port(5)).unwrap(), 1);
    // The direct path too.
    match t.raise_into_service(port(2), Some(&ctx(9))).unwrap() {
        DirectRaise::Serving(d) => assert_eq!((d.port, d.handler), (port(2), None)),
        DirectRaise::Raised(r) => panic!("not served directly: {r:?}"),
    }
    assert_eq!(t.cancel_direct_service(port(2), Some(&ctx(9))), Ok(true));
    assert_eq!(t.context(port(2)), Err(Error::NoContextKept { port: 2 }));
    assert_eq!(t.take(port(2)).unwrap(), 1);
    // Nothing lost: every event raised is counted delivered.
    let s = t.stats();
    assert_eq!((s.raised, s.delivered, s.contexts_dropped), (3, 3, 0));
    // An unbound port is still "not bound" first.
    assert_eq!(t.context(port(9)), Err(Error::NotBound { port: 9 }));
    // A port bound at run time has no slot either.
    t.bind(port(9), Binding::counting(Source::Line(0x30))).unwrap();
    assert_eq!(t.context(port(9)), Err(Error::NoContextKept { port: 9 }));
}

#[test]
fn the_default_table_keeps_every_context_but_those_configured_without() {
    static PORTS: [PortConfig; 2] = [
        PortConfig::new(1, Binding::counting(Source::Timer)).without_context(),
        PortConfig::new(2, Binding::counting(Source::Line(0x21))),
    ];
    let t = PartitionEvents::<1>::new(&PORTS).unwrap();
    assert_eq!((PartitionEvents::<1>::CONTEXT_SLOTS, t.context_ports()), (64, 63));
    let _ = t.raise(port(2), Some(&ctx(3))).unwrap();
    assert_eq!(t.context(port(2)), Ok(Some(ctx(3))));
    let _ = t.raise(port(1), Some(&ctx(4))).unwrap();
    assert_eq!(t.context(port(1)), Err(Error::NoContextKept { port: 1 }));
    // A port bound at run time keeps one, as before slots existed.
    t.bind(port(40), Binding::counting(Source::Line(0x30))).unwrap();
    let _ = t.raise(port(40), Some(&ctx(5))).unwrap();
    assert_eq!(t.context(port(40)), Ok(Some(ctx(5))));
    t.set_port_handler(port(40), NonZeroU64::new(0x40_1000)).unwrap();
    t.mask(port(2));
    t.mask(port(1));
    assert_eq!(t.deliver_next().unwrap().handler, NonZeroU64::new(0x40_1000));
}

#[test]
fn fewer_slots_than_ports_go_to_the_configured_ports_that_keep_one() {
    static PORTS: [PortConfig; 3] = [
        PortConfig::new(100, Binding::counting(Source::Line(0x21))),
        PortConfig::new(3, Binding::counting(Source::Timer)).without_context(),
        PortConfig::new(7, Binding::counting(Source::Line(0x22))),
    ];
    let t = PartitionEvents::<2, 1>::new(&PORTS).unwrap();
    assert_eq!(t.context_ports(), 2);
    for (raw, stamp) in [(100, 1), (3, 2), (7, 3)] {
        let _ = t.raise(port(raw), Some(&ctx(stamp))).unwrap();
    }
    assert_eq!(t.context(port(100)), Ok(Some(ctx(1))));
    assert_eq!(t.context(port(7)), Ok(Some(ctx(3))));
    assert_eq!(t.context(port(3)), Err(Error::NoContextKept { port: 3 }));
    // Unbind forgets the context of a slotted port, reset every slot's.
    t.set_port_handler(port(7), NonZeroU64::new(0x40_1000)).unwrap();
    assert_eq!(t.unbind(port(7)), Ok(1));
    assert_eq!(t.reset(), 2);
    assert_eq!(t.context(port(100)), Ok(None));
    assert_eq!(t.context(port(7)), Ok(None));
    let _ = t.raise(port(7), None).unwrap();
    assert_eq!(t.deliver_next().unwrap().handler, None, "forgotten by the unbind");
}

#[test]
fn a_slot_table_too_small_is_a_typed_error_naming_the_entry() {
    static PORTS: [PortConfig; 2] = [
        PortConfig::new(1, Binding::counting(Source::Timer)).without_context(),
        PortConfig::new(2, Binding::counting(Source::Line(0x21))),
    ];
    let too_many = Err(PortConfigError::TooManyContexts { entry: 1 });
    assert_eq!(PartitionEvents::<1, 0>::validate(&PORTS), too_many);
    assert_eq!(PartitionEvents::<1, 0>::new(&PORTS).err(), too_many.err());
    assert_eq!(PartitionEvents::<1, 2>::validate(&[]), Err(PortConfigError::ContextWords));
    static CONFIG: TablesConfig<2> = TablesConfig {
        partitions: [&NO_CONTEXTS, &PORTS],
        priority_levels: [&[]; 2],
        channels: &[],
    };
    assert_eq!(
        EventTables::<2, 1, 0>::new(&CONFIG).err(),
        Some(ConfigError::Port {
            partition: 1,
            error: PortConfigError::TooManyContexts { entry: 1 }
        })
    );
    let mut tables = EventTables::<2, 1>::new(&CONFIG).unwrap();
    let p1 = PartitionId::new(1).unwrap();
    assert!(tables.partition(p1).keeps_context(port(2)));
    assert!(!tables.partition(p1).keeps_context(port(1)));
    // Reconfiguring a table keeps its slots' count: the same error, nothing changed.
    tables.reconfigure(&CONFIG).unwrap();
    let mut small = EventTables::<2, 1, 0>::new(&TablesConfig {
        partitions: [&NO_CONTEXTS, &NO_CONTEXTS],
        priority_levels: [&[]; 2],
        channels: &[],
    })
    .unwrap();
    assert_eq!(
        small.reconfigure(&CONFIG),
        Err(ConfigError::Port {
            partition: 1,
            error: PortConfigError::TooManyContexts { entry: 1 }
        })
    );
}

/// A configuration error fails the build of a `static` table.
const _: () = assert!(PartitionEvents::<1, 0>::validate(&NO_CONTEXTS).is_ok());

proptest::proptest! {
    /// Over random configurations of a table of 256 ports and 64 slots: exactly the
    /// configured ports that keep a context keep their latest one (the slot found by rank
    /// is the port's own: no two ports share one), every other port answers
    /// `NoContextKept`, and every event is counted whatever its port.
    #[test]
    fn each_port_with_a_slot_keeps_its_own_latest_context_and_no_event_is_lost(
        ports in proptest::collection::btree_map(0u16..256, proptest::bool::ANY, 0..120),
        raises in proptest::collection::vec((0u16..256, 1u64..1000), 0..200),
    ) {
        let mut keeping = 0;
        let config: Vec<PortConfig> = ports
            .iter()
            .map(|(&p, &keep)| {
                let c = PortConfig::new(p, Binding::counting(Source::Line(p)));
                // At most 64 ports keep a context: the table has 64 slots.
                if keep && keeping < 64 {
                    keeping += 1;
                    c
                } else {
                    c.without_context()
                }
            })
            .collect();
        let config: &'static [PortConfig] = Box::leak(config.into_boxed_slice());
        let t = PartitionEvents::<4, 1>::new(config).unwrap();
        proptest::prop_assert_eq!(t.context_ports(), keeping);
        let mut latest = std::collections::BTreeMap::new();
        let mut raised = 0;
        for (p, stamp) in raises {
            let Some(c) = config.iter().find(|c| c.port == p) else {
                proptest::prop_assert_eq!(
                    t.raise(port(u32::from(p)), Some(&ctx(stamp))),
                    Err(Error::NotBound { port: p })
                );
                continue;
            };
            let _ = t.raise(port(u32::from(p)), Some(&ctx(stamp))).unwrap();
            raised += 1;
            if c.keep_context {
                latest.insert(p, stamp);
            }
        }
        for c in config {
            let answer = t.context(port(u32::from(c.port)));
            if c.keep_context {
                proptest::prop_assert_eq!(answer, Ok(latest.get(&c.port).map(|&s| ctx(s))));
            } else {
                proptest::prop_assert_eq!(answer, Err(Error::NoContextKept { port: c.port }));
            }
        }
        let s = t.stats();
        proptest::prop_assert_eq!(s.raised, raised);
        proptest::prop_assert_eq!(s.pending + s.overflowed + s.coalesced, raised);
    }
}
