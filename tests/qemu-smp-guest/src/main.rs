//! The partitions' program of the SMP end-to-end kernel: one program for every partition,
//! what it does following from its configuration (its catch-up policy, whether it has the
//! device port, ...), which the kernel writes into its memory at boot. Built on its own
//! (see the library's documentation): it calls nothing outside its image, whatever the
//! compiler makes of it; kernel services are hypercalls through the guest library
//! (`irq-guest`, over `int 0x80`, and over `syscall` for some). It finds its memory from
//! its stack (an upcall frame is on it) or from its start argument.
//!
//! * The timer port: counts its ticks; a warp partition adds the warps its ledger says.
//! * The device port (partition 2): counts the device's events, and those that arrived
//!   within a tick of the raise (read from its clock against the event's timestamp).
//! * The edu INTx port (partitions 0 and 2): acknowledges the device at its register (its
//!   page is mapped into the partition), then the event through the ABI; partition 2
//!   withholds that acknowledgement once, for longer than the line's timeout.
//! * The edu MSI port (partition 3): counts the events.
//! * The burst's ports (partition 1): once the kernel gives it its 50 rounds, a few each
//!   time its main loop runs: close its virtual interrupts, ask for the burst (the kernel
//!   fires the 16 lines on its way back from the next call), wait until the kernel took
//!   them, open; its handler logs the order of the upcalls, and the round is in order if
//!   they came lowest port first.
//! * FPU/SSE: fills its registers with its own pattern and checks them before every idle.
//! * `syscall`: partitions 0 and 3 (one on each CPU) make their idle and upcall-return
//!   hypercalls through `syscall` instead of `int 0x80`, and before every idle compare
//!   the answers of a few calls made both ways (the ABI version, the start reason, calls
//!   refused for a port or a vector or a buffer that is not theirs; the clock read
//!   through `syscall` between two reads through `int 0x80`). Partition 0 also keeps its
//!   own FS and GS bases (below), which the entry's `swapgs` pair must leave alone.
//! * FS and GS: partitions 0 and 2 (one on each CPU) load the user data selector into
//!   both and, where the CPU offers FSGSBASE, write their bases (`wrfsbase`,
//!   `wrgsbase`: addresses in their own memory); partitions 1 and 3 leave them null.
//!   Before every idle each checks that it finds what it left (selectors, bases, and a
//!   word read through `fs:` and `gs:`), so neither loses its values nor sees its CPU
//!   neighbour's.
//!
//! On the host (any target but `x86_64-unknown-none`) this binary does nothing.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
mod program;

#[cfg(not(target_os = "none"))]
fn main() {}
