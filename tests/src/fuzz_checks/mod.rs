//! The checks behind the cargo-fuzz targets in `fuzz/`, as plain functions of the input
//! bytes, so that a stable test (`tests/fuzz_replay.rs`) replays the committed seeds and any
//! local corpus without libFuzzer.
//!
//! Each function decodes its bytes (any bytes are a valid input: what does not decode is
//! ignored or read as zeros), drives the crates and panics on an invariant violation. The
//! fuzz target of the same name is `fuzz_target!(|data: &[u8]| fuzz_checks::NAME(data))`.
//!
//! | target              | drives                                                       |
//! | ------------------- | ------------------------------------------------------------ |
//! | `notify_ops`        | notify-core operation sequences against its invariants       |
//! | `hypercall_decode`  | raw hypercall registers through decode/encode                |
//! | `router_ops`        | router event sequences on a three-partition system           |
//! | `router_hypercalls` | raw hypercall registers into a running router                |
//! | `config`            | arbitrary system configurations through validation and boot |
//! | `sim`               | a scenario of the deterministic multi-CPU simulator (irq-sim) |

mod arena;
mod config;
mod config_gen;
mod hypercall_decode;
mod notify_ops;
mod router_hypercalls;
mod router_ops;
mod sim;
mod system;

pub use config::config;
pub use hypercall_decode::hypercall_decode;
pub use notify_ops::notify_ops;
pub use router_hypercalls::router_hypercalls;
pub use router_ops::router_ops;
pub use sim::sim;

/// The one CPU the fuzzed single-CPU systems run on (a fuzz case is one thread).
const CPU0: irq_router::Local<'static, 1> =
    irq_router::Local::interrupts_disabled(irq_router::CpuId::BOOT);

/// A fuzz target's check: decodes the bytes, panics on an invariant violation.
pub type Check = fn(&[u8]);

/// Every target's name and check, in the order of the table above (the replay test and
/// `.ci/run` cover each).
pub const TARGETS: [(&str, Check); 6] = [
    ("notify_ops", notify_ops),
    ("hypercall_decode", hypercall_decode),
    ("router_ops", router_ops),
    ("router_hypercalls", router_hypercalls),
    ("config", config),
    ("sim", sim),
];
