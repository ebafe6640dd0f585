//! # notify-core
//!
//! The per-partition event tables of the interrupt-virtualization subsystem: what a
//! partitioning kernel keeps for each partition so that hardware interrupts, the virtual
//! clock, traps and notifications from other partitions reach it as virtual interrupts,
//! with nothing lost.
//!
//! The design of the whole subsystem (layout, data flow, how the engine runs on several
//! CPUs) is in the repository's `docs/architecture.md`.
//!
//! * A partition has `64 * W` **ports** (`W` words of 64; 64 ports by default, up to
//!   4,096). Each port is bound to one [`Source`] and either counts events up to a
//!   saturating maximum or coalesces them ([`Mode`]); a coalescing port raised while in
//!   service is delivered again after the acknowledgement.
//! * A port is **deliverable** when it is bound, has something pending, is not masked and
//!   is not in service. [`PartitionEvents::next_deliverable`] finds the next one in O(1)
//!   through a two-level bitmap (a summary word over ready words): the lowest-numbered
//!   deliverable port, or where the configuration groups ports into
//!   [priority levels](PriorityLevel) (up to 16 contiguous port ranges per partition),
//!   the next port of the highest-priority level in round-robin order, so that a flooded
//!   port cannot starve the others of its level.
//! * [`PartitionEvents::raise`] is lock-free and callable from an ISR on any CPU; it
//!   reports whether the port became deliverable. Delivery is
//!   [`begin_service`](PartitionEvents::begin_service) then
//!   [`acknowledge`](PartitionEvents::acknowledge) or [`take`](PartitionEvents::take).
//! * Nothing is silently lost: every event is delivered, still pending, or counted as
//!   overflowed, coalesced or discarded in [`Stats`].
//! * A port keeps the context of its latest event and may have a handler of its own, in a
//!   context slot: by default every port has one; a table of fewer slots
//!   ([`PartitionEvents<W, CW>`](PartitionEvents)) gives them to the ports its
//!   configuration chooses ([`PortConfig::without_context`] leaves a port without), and a
//!   port without one answers [`Error::NoContextKept`] for its context, losing no event.
//! * [`EventTables`] holds every partition and the static channel table;
//!   [`EventTables::notify`] checks that the caller owns the channel's source end.
//!
//! Values a partition hands in are validated once, by [`PartitionId::new`],
//! [`Port::new`] and [`EventTables::channel`]; everything else returns a typed [`Error`].
//!
//! ```
//! use notify_core::{Binding, EventTables, PartitionId, Port, PortConfig, Source, TablesConfig};
//!
//! static P0: [PortConfig; 1] = [PortConfig::new(3, Binding::counting(Source::Timer))];
//! static CONFIG: TablesConfig<1> =
//!     TablesConfig { partitions: [&P0], priority_levels: [&[]], channels: &[] };
//! static TABLES: EventTables<1> = match EventTables::new(&CONFIG) {
//!     Ok(tables) => tables,
//!     Err(_) => panic!("invalid event table configuration"),
//! };
//!
//! let p = PartitionId::new(0)?;
//! let timer = Port::new(3)?;
//! let raised = TABLES.raise(p, timer, None)?;
//! assert!(raised.became_deliverable);
//! let delivery = TABLES.partition(p).deliver_next().expect("the tick is deliverable");
//! assert_eq!((delivery.port, delivery.pending), (timer, 1));
//! TABLES.partition(p).acknowledge(timer)?;
//! assert_eq!(TABLES.partition(p).next_deliverable(), None);
//! # Ok::<(), notify_core::Error>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod binding;
mod context;
mod error;
mod id;
mod partition;
mod priority;
mod state;
mod stats;
mod sync;
mod tables;
mod trap_ring;

pub use binding::{Binding, Mode, PortConfig, Source};
pub use context::{Context, Sender};
pub use error::Error;
pub use id::{ChannelId, MAX_PORT_WORDS, PORTS_PER_WORD, PartitionId, Port};
pub use partition::{
    Acknowledged, Delivery, DirectRaise, PartitionEvents, PortConfigError, PortStatus, Raised,
};
pub use priority::{MAX_PRIORITY_LEVELS, PriorityLevel};
pub use stats::Stats;
pub use tables::{Channel, ConfigError, End, Endpoint, EventTables, Notified, TablesConfig};
pub use trap_ring::TRAP_RING_LEN;
