//! The event tables of a whole system: one [`PartitionEvents`] per partition, and the
//! static channel table between them.

use crate::binding::{PortConfig, Source};
use crate::context::{Context, Sender};
use crate::error::Error;
use crate::id::{ChannelId, PartitionId, Port};
use crate::partition::{PartitionEvents, PortConfigError, Raised};
use crate::priority::PriorityLevel;
use crate::sync::{array_of, maybe_const_fn};

/// One end of a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Partition number.
    pub partition: u16,
    /// Port number, local to that partition; bound to `Source::Channel(index)`.
    pub port: u16,
}

/// A one-way channel: the partition owning `source` may notify `destination`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Channel {
    /// The sending end; only its partition may notify, through this port.
    pub source: Endpoint,
    /// The receiving end, raised on notify.
    pub destination: Endpoint,
}

/// The static configuration of the event tables.
#[derive(Clone, Copy, Debug)]
pub struct TablesConfig<const P: usize> {
    /// Port configuration of each partition.
    pub partitions: [&'static [PortConfig]; P],
    /// Priority levels of each partition (see [`PriorityLevel`]); `&[]` for none, every
    /// port a level of its own (the lowest-numbered deliverable port first).
    pub priority_levels: [&'static [PriorityLevel]; P],
    /// The channels; a port bound to `Source::Channel(i)` refers to `channels[i]`.
    pub channels: &'static [Channel],
}

/// Which end of a channel a [`ConfigError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The sending end.
    Source,
    /// The receiving end.
    Destination,
}

/// Why a [`TablesConfig`] was refused, naming the offending entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A port entry or a priority level of partition `partition` is invalid (the error
    /// names the entry or the level).
    Port {
        /// Partition index.
        partition: usize,
        /// What is wrong with it.
        error: PortConfigError,
    },
    /// Port entry `entry` of `partition` is bound to a channel that does not exist.
    UnknownChannel {
        /// Partition index.
        partition: usize,
        /// Index of the entry in that partition's configuration.
        entry: usize,
    },
    /// An end of channel `channel` names a partition that does not exist.
    ChannelPartition {
        /// Channel index.
        channel: usize,
        /// Which end.
        end: End,
    },
    /// An end of channel `channel` names a port that is not bound to that channel in its
    /// partition's configuration (missing, out of range, or bound to something else).
    ChannelPort {
        /// Channel index.
        channel: usize,
        /// Which end.
        end: End,
    },
}

/// What a notify did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notified<const P: usize, const W: usize> {
    /// The channel used.
    pub channel: ChannelId,
    /// The partition raised.
    pub partition: PartitionId<P>,
    /// Its port raised.
    pub port: Port<W>,
    /// The raise's outcome.
    pub raised: Raised,
}

/// Event tables of `P` partitions with `64 * W` ports each, and `64 * CW` context slots
/// each (by default `W`: a slot for every port; see [`PartitionEvents`]).
pub struct EventTables<const P: usize, const W: usize = 1, const CW: usize = W> {
    partitions: [PartitionEvents<W, CW>; P],
    channels: &'static [Channel],
}

/// Whether `config` binds `port` to `Source::Channel(channel)`.
const fn binds_channel(config: &[PortConfig], port: u16, channel: usize) -> bool {
    let mut i = 0;
    while i < config.len() {
        if config[i].port == port {
            return matches!(config[i].binding.source, Source::Channel(c) if c as usize == channel);
        }
        i += 1;
    }
    false
}

impl<const P: usize, const W: usize, const CW: usize> EventTables<P, W, CW> {
    maybe_const_fn! {
        /// Validates `config` and builds the tables in their configured state. Usable in a
        /// `const`/`static` initializer, where an invalid configuration fails the build:
        ///
        /// ```compile_fail,E0080
        /// use notify_core::{Binding, EventTables, PortConfig, Source, TablesConfig};
        ///
        /// // Port 1 configured twice.
        /// static P0: [PortConfig; 2] = [
        ///     PortConfig::new(1, Binding::counting(Source::Timer)),
        ///     PortConfig::new(1, Binding::counting(Source::Ping)),
        /// ];
        /// static CONFIG: TablesConfig<1> =
        ///     TablesConfig { partitions: [&P0], priority_levels: [&[]], channels: &[] };
        /// static TABLES: EventTables<1> = match EventTables::new(&CONFIG) {
        ///     Ok(tables) => tables,
        ///     Err(_) => panic!("invalid event table configuration"),
        /// };
        /// ```
        ///
        /// # Errors
        /// The first [`ConfigError`] found, naming its entry.
        pub fn new(config: &TablesConfig<P>) -> Result<Self, ConfigError> {
            if let Err(e) = Self::validate(config) {
                return Err(e);
            }
            let mut partitions: [PartitionEvents<W, CW>; P] = array_of![PartitionEvents::empty(); P];
            let mut p = 0;
            while p < P {
                match PartitionEvents::with_levels(config.partitions[p], config.priority_levels[p]) {
                    Ok(table) => partitions[p] = table,
                    Err(error) => return Err(ConfigError::Port { partition: p, error }),
                }
                p += 1;
            }
            Ok(Self { partitions, channels: config.channels })
        }
    }

    /// Rebuilds the tables in place in their configured state for `config`, as
    /// [`new`](Self::new) builds new ones (everything of the previous configuration is
    /// forgotten). Each partition's table is rewritten where it is
    /// ([`PartitionEvents::reconfigure`]): nothing of the tables' size is built on the
    /// stack. On an error nothing is changed.
    ///
    /// # Errors
    /// The first [`ConfigError`] found, naming its entry.
    pub fn reconfigure(&mut self, config: &TablesConfig<P>) -> Result<(), ConfigError> {
        Self::validate(config)?;
        for (p, table) in self.partitions.iter_mut().enumerate() {
            // Validated above: cannot fail.
            table
                .reconfigure(config.partitions[p], config.priority_levels[p])
                .map_err(|error| ConfigError::Port { partition: p, error })?;
        }
        self.channels = config.channels;
        Ok(())
    }

    /// Checks `config` without building anything.
    ///
    /// # Errors
    /// The first [`ConfigError`] found, naming its entry.
    pub const fn validate(config: &TablesConfig<P>) -> Result<(), ConfigError> {
        let mut p = 0;
        while p < P {
            let ports = config.partitions[p];
            if let Err(error) = PartitionEvents::<W, CW>::validate(ports) {
                return Err(ConfigError::Port { partition: p, error });
            }
            if let Err(error) = PartitionEvents::<W, CW>::validate_levels(config.priority_levels[p])
            {
                return Err(ConfigError::Port { partition: p, error });
            }
            let mut entry = 0;
            while entry < ports.len() {
                if let Source::Channel(c) = ports[entry].binding.source
                    && c as usize >= config.channels.len()
                {
                    return Err(ConfigError::UnknownChannel { partition: p, entry });
                }
                entry += 1;
            }
            p += 1;
        }
        let mut channel = 0;
        while channel < config.channels.len() {
            let ch = config.channels[channel];
            let ends = [(ch.source, End::Source), (ch.destination, End::Destination)];
            let mut i = 0;
            while i < 2 {
                let (endpoint, end) = ends[i];
                if endpoint.partition as usize >= P {
                    return Err(ConfigError::ChannelPartition { channel, end });
                }
                let ports = config.partitions[endpoint.partition as usize];
                if !binds_channel(ports, endpoint.port, channel) {
                    return Err(ConfigError::ChannelPort { channel, end });
                }
                i += 1;
            }
            channel += 1;
        }
        Ok(())
    }

    /// The table of one partition.
    pub fn partition(&self, p: PartitionId<P>) -> &PartitionEvents<W, CW> {
        &self.partitions[p.index()]
    }

    /// Every partition's table, in partition order.
    pub fn partitions(&self) -> &[PartitionEvents<W, CW>; P] {
        &self.partitions
    }

    /// Validates a raw channel number.
    ///
    /// # Errors
    /// [`Error::ChannelOutOfRange`].
    pub fn channel(&self, raw: u32) -> Result<ChannelId, Error> {
        match u16::try_from(raw) {
            Ok(c) if (c as usize) < self.channels.len() => Ok(ChannelId(c)),
            _ => Err(Error::ChannelOutOfRange { raw }),
        }
    }

    /// The channel behind an id.
    pub fn channel_ends(&self, channel: ChannelId) -> Channel {
        self.channels[channel.index()]
    }

    /// Raises one event on `port` of partition `p` (see [`PartitionEvents::raise`]).
    ///
    /// # Errors
    /// [`Error::NotBound`].
    pub fn raise(
        &self,
        p: PartitionId<P>,
        port: Port<W>,
        context: Option<&Context>,
    ) -> Result<Raised, Error> {
        self.partition(p).raise(port, context)
    }

    /// The channel whose source end is `caller`'s `port`, checking that `caller` owns it.
    ///
    /// # Errors
    /// [`Error::NotAChannel`] if the port is not bound to a channel;
    /// [`Error::NotChannelOwner`] if the channel's source end is not (`caller`, `port`).
    pub fn channel_from(&self, caller: PartitionId<P>, port: Port<W>) -> Result<ChannelId, Error> {
        let binding = self.partition(caller).status(port).binding;
        let Some(Source::Channel(c)) = binding.map(|b| b.source) else {
            return Err(Error::NotAChannel { port: port.raw() });
        };
        let Some(ch) = self.channels.get(c as usize) else {
            return Err(Error::NotAChannel { port: port.raw() });
        };
        if ch.source != (Endpoint { partition: caller.raw(), port: port.raw() }) {
            return Err(Error::NotChannelOwner { channel: c, caller: caller.raw() });
        }
        Ok(ChannelId(c))
    }

    /// `caller` notifies through its channel source port `port`: the destination port is
    /// raised with `caller` as the sender and `timestamp` in the context.
    ///
    /// # Errors
    /// Those of [`channel_from`](Self::channel_from), or [`Error::NotBound`] if the
    /// destination unbound its end at run time.
    pub fn notify(
        &self,
        caller: PartitionId<P>,
        port: Port<W>,
        timestamp: u64,
    ) -> Result<Notified<P, W>, Error> {
        let channel = self.channel_from(caller, port)?;
        let dst = self.channels[channel.index()].destination;
        let partition = PartitionId::new(u32::from(dst.partition))?;
        let dst_port = Port::new(u32::from(dst.port))?;
        let context =
            Context { sender: Sender::Partition(caller.raw()), timestamp, ..Context::default() };
        let raised = self.partition(partition).raise(dst_port, Some(&context))?;
        Ok(Notified { channel, partition, port: dst_port, raised })
    }
}
