//! # vcpu-state
//!
//! The virtual CPU of each partition and its time, for a partitioning kernel that gives
//! its partitions virtual interrupts. A functional core: every operation returns what the
//! kernel must do ([`Resume`], [`CatchUp`], [`Tick`], [`Exit`]); irq-router turns those
//! decisions into notify-core raises, upcall frames and health-monitor records.
//!
//! The design of the whole subsystem (layout, data flow, how the engine runs on several
//! CPUs) is in the repository's `docs/architecture.md`.
//!
//! * [`SharedPage`]: the `#[repr(C)]`, versioned page shared with the guest. It holds the
//!   virtual interrupt flag (cli/sti is one store, no hypercall), "upcall pending", the
//!   ISR level, the start reason and the guest-visible clock. The kernel treats it as
//!   untrusted: any byte pattern only changes whether this guest gets upcalls.
//!   [`Guest`] is the guest's side.
//! * [`Doorbell`]: the kernel-owned run state (outside its window, running, idle) that
//!   raisers on other CPUs read; [`Doorbell::signal`] is the raiser's side of the
//!   no-lost-wake-up protocol and says whether to kick, wake or do nothing ([`Signal`]).
//! * [`Vcpu`]: the upcall state machine (upcall due, pending when the flag is clear,
//!   return, flash, open/close and set-level as RTEMS uses them, idle woken only inside
//!   its own window, bounded [`Nesting`]). Every decision takes `deliverable` as a
//!   closure, called after the operation's stores and a fence, never before.
//! * [`TimeAccount`]: entry and exit checkpoints, ticks given, missed ticks in O(1),
//!   catch-up by [`CatchUpPolicy`] (replay, warp, collapse, bounded replay) and the
//!   window budget with overrun detection. Replay and warp give zero drift.
//! * [`Partition`]: a [`Vcpu`] and its [`TimeAccount`] entered and left together, the
//!   scheduler's one entry and exit path.
//!
//! Values from the partition never panic: they are either any-value-is-valid page
//! fields or calls that return a typed [`Error`].
//!
//! ```
//! use vcpu_state::{
//!     CatchUp, CatchUpPolicy, Doorbell, Nesting, Partition, Resume, SharedPage, Signal,
//!     StartReason,
//! };
//!
//! // One partition, started at kernel tick 0, replaying missed ticks. Its page is mapped
//! // into the guest; its doorbell is the kernel's, read by ISRs on any CPU.
//! let (page, bell) = (SharedPage::new(), Doorbell::new());
//! let mut p = Partition::new(CatchUpPolicy::Replay, Nesting::NONE, 0);
//! let _ = p.start(&page, &bell, 0, StartReason::Fresh);
//!
//! // Its window opens at tick 1,000 with a budget of 50 ticks: 1,000 ticks were missed.
//! // The closure raises them on the timer port (irq-router: notify-core) and answers
//! // whether anything is deliverable now.
//! let mut timer = 0;
//! let entered = p.enter(&page, &bell, 1_000, 50, |entry| {
//!     timer += entry.catch_up.given();
//!     timer > 0
//! })?;
//! let CatchUp::Ticks { ticks, dropped: 0 } = entered.entry.catch_up else { unreachable!() };
//! assert_eq!(ticks.get(), 1_000);
//! // The guest starts with interrupts disabled: the timer event is only flagged.
//! assert_eq!(entered.resume, Resume::Flagged);
//! // The guest enables with one store, sees "upcall pending" and asks for delivery.
//! assert!(page.guest().sti());
//! assert_eq!(p.vcpu_mut().deliver(&page, &bell, || timer > 0)?, Resume::Upcall { depth: 1 });
//! // Its handler takes the whole count, then returns; nothing else is due.
//! timer = 0;
//! assert_eq!(p.vcpu_mut().upcall_return(&page, &bell, || timer > 0)?, Resume::Run);
//! // An ISR on another CPU raises an event: the vCPU is open, so it kicks this CPU.
//! assert_eq!(bell.signal(&page), Signal::Open);
//!
//! // Each kernel tick inside the window is one tick for the partition.
//! assert_eq!(p.tick(1_001)?.ticks, 1);
//! let exit = p.exit(&bell, 1_050)?;
//! assert_eq!((exit.ran, exit.ticks, exit.overrun), (50, 49, None));
//! assert_eq!(p.time().given(), 1_050); // zero drift
//! // Outside its window a raise only leaves the event for the next entry.
//! assert_eq!(bell.signal(&page), Signal::Later);
//! # Ok::<(), vcpu_state::Error>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod catch_up;
mod doorbell;
mod error;
mod nesting;
mod page;
mod partition;
mod start;
mod sync;
mod time;
mod vcpu;

pub use catch_up::{CatchUp, CatchUpPolicy};
pub use doorbell::{Doorbell, Signal};
pub use error::Error;
pub use nesting::{MAX_NESTING, Nesting};
pub use page::{Guest, ISR_LEVEL_DISABLED, MASKED, PAGE_LEN, PAGE_VERSION, SharedPage};
pub use partition::{Entered, Partition};
pub use start::StartReason;
pub use time::{Entry, Exit, GuestClock, Tick, TimeAccount};
pub use vcpu::{Resume, Vcpu, upcall_due};
