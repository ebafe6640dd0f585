//! Bad input: every value a partition can hand in, out of range or belonging to someone
//! else, gets a typed error and changes nothing. Never a panic.

use notify_core::{
    Binding, Channel, Endpoint, Error, EventTables, PartitionId, Port, PortConfig, PortStatus,
    Source, Stats, TablesConfig,
};
use proptest::prelude::*;

const P: usize = 2;
type Tables = EventTables<P, 1>;

static P0: [PortConfig; 3] = [
    PortConfig::new(0, Binding::counting(Source::Timer)),
    PortConfig::new(1, Binding::counting(Source::Channel(0))),
    PortConfig::new(2, Binding::counting(Source::Channel(1))),
];
static P1: [PortConfig; 3] = [
    PortConfig::new(0, Binding::counting(Source::Timer)),
    PortConfig::new(4, Binding::counting(Source::Channel(0))),
    PortConfig::new(5, Binding::counting(Source::Channel(1))),
];
/// Channel 0: partition 0 port 1 -> partition 1 port 4.
/// Channel 1: partition 1 port 5 -> partition 0 port 2.
static CHANNELS: [Channel; 2] = [
    Channel {
        source: Endpoint { partition: 0, port: 1 },
        destination: Endpoint { partition: 1, port: 4 },
    },
    Channel {
        source: Endpoint { partition: 1, port: 5 },
        destination: Endpoint { partition: 0, port: 2 },
    },
];
static CONFIG: TablesConfig<P> =
    TablesConfig { partitions: [&P0, &P1], priority_levels: [&[]; P], channels: &CHANNELS };

fn tables() -> Tables {
    EventTables::new(&CONFIG).unwrap()
}

fn pid(raw: u32) -> PartitionId<P> {
    PartitionId::new(raw).unwrap()
}

fn port(raw: u32) -> Port<1> {
    Port::new(raw).unwrap()
}

/// Everything observable about the tables.
fn snapshot(t: &Tables) -> Vec<(Vec<PortStatus>, Stats, Option<u64>)> {
    PartitionId::<P>::all()
        .map(|p| {
            let part = t.partition(p);
            let ports = (0..64).map(|raw| part.status(port(raw))).collect();
            (ports, part.stats(), part.next_deliverable().map(|p| u64::from(p.raw())))
        })
        .collect()
}

/// Runs `op`, expects `expected`, and checks nothing changed.
fn refused<T: std::fmt::Debug>(
    t: &Tables,
    op: impl FnOnce(&Tables) -> Result<T, Error>,
    expected: Error,
) {
    let before = snapshot(t);
    match op(t) {
        Err(e) => assert_eq!(e, expected),
        Ok(v) => panic!("expected {expected:?}, got Ok({v:?})"),
    }
    assert_eq!(snapshot(t), before, "a refused operation changed the tables");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Raw partition, port and channel numbers: valid exactly when in range, a typed error
    /// carrying the raw value otherwise.
    #[test]
    fn raw_identifiers_are_validated(raw in prop_oneof![any::<u32>(), 0..200u32]) {
        let t = tables();
        match PartitionId::<P>::new(raw) {
            Ok(p) => prop_assert!((raw as usize) < P && p.index() == raw as usize),
            Err(e) => {
                prop_assert!(raw as usize >= P);
                prop_assert_eq!(e, Error::PartitionOutOfRange { raw });
            }
        }
        match Port::<1>::new(raw) {
            Ok(p) => prop_assert!(raw < 64 && p.index() == raw as usize),
            Err(e) => {
                prop_assert!(raw >= 64);
                prop_assert_eq!(e, Error::PortOutOfRange { raw });
            }
        }
        match Port::<64>::new(raw) {
            Ok(p) => prop_assert!(raw < 4096 && p.index() == raw as usize),
            Err(e) => prop_assert_eq!(e, Error::PortOutOfRange { raw }),
        }
        match t.channel(raw) {
            Ok(c) => prop_assert!(raw < 2 && c.index() == raw as usize),
            Err(e) => prop_assert_eq!(e, Error::ChannelOutOfRange { raw }),
        }
    }

    /// Any partition naming any of its ports for a notify: allowed only through the
    /// channel source port it owns; everything else refused with the fitting error and no
    /// change.
    #[test]
    fn notify_is_refused_unless_the_caller_owns_the_source_end(p in 0..P as u32, raw in 0..64u32) {
        let t = tables();
        let owned = matches!((p, raw), (0, 1) | (1, 5));
        if owned {
            prop_assert!(t.notify(pid(p), port(raw), 7).is_ok());
            return Ok(());
        }
        let expected = match (p, raw) {
            // The destination ends of the two channels: bound to the channel, not owned.
            (0, 2) => Error::NotChannelOwner { channel: 1, caller: 0 },
            (1, 4) => Error::NotChannelOwner { channel: 0, caller: 1 },
            _ => Error::NotAChannel { port: raw as u16 },
        };
        refused(&t, |t| t.notify(pid(p), port(raw), 7), expected);
    }
}

#[test]
fn a_partition_cannot_notify_through_another_partitions_port_number() {
    let t = tables();
    // Partition 1 names port 1, which is partition 0's source end of channel 0; in
    // partition 1 that port number is unbound.
    refused(&t, |t| t.notify(pid(1), port(1), 0), Error::NotAChannel { port: 1 });
    // A port bound at run time to a channel it does not own does not make it the owner.
    t.partition(pid(1)).bind(port(9), Binding::counting(Source::Channel(0))).unwrap();
    refused(&t, |t| t.notify(pid(1), port(9), 0), Error::NotChannelOwner { channel: 0, caller: 1 });
    // Nor does binding to a channel number that does not exist.
    t.partition(pid(1)).bind(port(10), Binding::counting(Source::Channel(99))).unwrap();
    refused(&t, |t| t.notify(pid(1), port(10), 0), Error::NotAChannel { port: 10 });
}

#[test]
fn consumer_operations_on_unbound_or_idle_ports_are_refused() {
    let t = tables();
    fn part(t: &Tables) -> &notify_core::PartitionEvents<1> {
        t.partition(pid(0))
    }
    let unbound = port(40);
    refused(&t, |t| part(t).raise(unbound, None), Error::NotBound { port: 40 });
    refused(&t, |t| part(t).raise_many(unbound, 5, None), Error::NotBound { port: 40 });
    refused(&t, |t| part(t).begin_service(unbound), Error::NotBound { port: 40 });
    refused(&t, |t| part(t).take(unbound), Error::NotBound { port: 40 });
    refused(&t, |t| part(t).unbind(unbound), Error::NotBound { port: 40 });
    refused(&t, |t| part(t).context(unbound), Error::NotBound { port: 40 });
    refused(
        &t,
        |t| part(t).set_port_handler(unbound, core::num::NonZeroU64::new(0x1000)),
        Error::NotBound { port: 40 },
    );
    refused(&t, |t| part(t).acknowledge(unbound), Error::NotBound { port: 40 });

    let timer = port(0);
    refused(&t, |t| part(t).begin_service(timer), Error::NothingPending { port: 0 });
    refused(&t, |t| part(t).acknowledge(timer), Error::NotInService { port: 0 });
    refused(
        &t,
        |t| part(t).bind(timer, Binding::counting(Source::Ping)),
        Error::AlreadyBound { port: 0 },
    );

    let _ = part(&t).raise(timer, None).unwrap();
    part(&t).mask(timer);
    refused(&t, |t| part(t).begin_service(timer), Error::Masked { port: 0 });
    assert!(part(&t).unmask(timer));
    part(&t).begin_service(timer).unwrap();
    refused(&t, |t| part(t).begin_service(timer), Error::AlreadyInService { port: 0 });
}

#[test]
fn one_partitions_operations_never_touch_another() {
    let t = tables();
    let _ = t.raise(pid(1), port(0), None).unwrap();
    let other = snapshot(&t)[1].clone();
    let p0 = t.partition(pid(0));
    // Partition 0 works its own port 0 (same number as partition 1's pending timer).
    let _ = p0.raise(port(0), None).unwrap();
    p0.begin_service(port(0)).unwrap();
    p0.acknowledge(port(0)).unwrap();
    p0.mask(port(0));
    p0.unbind(port(0)).unwrap();
    let _ = p0.reset();
    assert_eq!(snapshot(&t)[1], other, "partition 1 unchanged");
}
