//! The partitions' program of the 8259 end-to-end kernel: partition 0's entry and upcall
//! handler, partition 1's entry, upcall handler and fault handler. Built on its own (see
//! the library's documentation): it calls nothing outside its image, whatever the
//! compiler makes of it; kernel services are hypercalls through the guest library
//! (`irq-guest`, over `int 0x80`: the same calls a hosted partition makes over its
//! socket). It finds its memory from its start argument or from its stack.
//!
//! * Partition 0 (replay catch-up): counts its ticks; runs critical sections with cli/sti
//!   (one store each to its shared page) during which a tick must arrive, deferred until
//!   the sti; runs a while with its stack pointer in kernel memory (the upcall that comes
//!   meanwhile cannot be built: a health-monitor event, not a kernel fault); notifies
//!   partition 1 through the channel three times.
//! * Partition 1 (warp catch-up): counts its ticks plus the warps; receives the channel;
//!   at guest time 30 executes `ud2`; its fault handler checks the vector and RIP, then
//!   divides by zero, and its health monitor warm-starts it; the new run reads why, then
//!   reads kernel memory (a page fault its fault handler resumes after).
//! * FPU/SSE: each fills its registers with its own pattern and checks them before every
//!   idle.
//! * FS and GS: partition 1 finds both selectors null at each of its starts (the restart
//!   reset them), then loads the user data selector into both and finds it there at every
//!   check; partition 0 never loads them and finds them null at every check.
//!
//! On the host (any target but `x86_64-unknown-none`) this binary does nothing.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
mod program;

#[cfg(not(target_os = "none"))]
fn main() {}
