//! # vcpu-state
//!
//! The virtual CPU of each partition and its time, for a partitioning kernel that gives
//! its partitions virtual interrupts. A functional core: every operation returns what the
//! kernel must do ([`Resume`], [`CatchUp`], [`Tick`], [`Exit`]); irq-router turns those
//! decisions into notify-core raises, upcall frames and health-monitor records.
//!
//! * [`SharedPage`]: the `#[repr(C)]`, versioned page shared with the guest. It holds the
//!   virtual interrupt flag (cli/sti is one store, no hypercall), "upcall pending", the
//!   ISR level, the start reason and the guest-visible clock. The kernel treats it as
//!   untrusted: any byte pattern only changes whether this guest gets upcalls.
//!   [`Guest`] is the guest's side; [`SharedPage::signal`] the kernel's cross-CPU side.
//! * [`Vcpu`]: the upcall state machine (upcall due, pending when the flag is clear,
//!   return, flash, open/close and set-level as RTEMS uses them, idle woken only inside
//!   its own window, bounded [`Nesting`]).
//! * [`TimeAccount`]: entry and exit checkpoints, ticks given, missed ticks in O(1),
//!   catch-up by [`CatchUpPolicy`] (replay, warp, collapse, bounded replay) and the
//!   window budget with overrun detection. Replay and warp give zero drift.
//!
//! Values from the partition never panic: they are either any-value-is-valid page
//! fields or calls that return a typed [`Error`].
//!
//! ```
//! use vcpu_state::{
//!     CatchUp, CatchUpPolicy, Nesting, Resume, SharedPage, StartReason, TimeAccount, Vcpu,
//! };
//!
//! // One partition, started at kernel tick 0, replaying missed ticks.
//! let page = SharedPage::new();
//! let mut vcpu = Vcpu::new(Nesting::NONE);
//! let mut time = TimeAccount::new(CatchUpPolicy::Replay, 0);
//! vcpu.start(&page, StartReason::Fresh);
//!
//! // Its window opens at tick 1,000 with a budget of 50 ticks: 1,000 ticks were missed.
//! let entry = time.enter(1_000, 50)?;
//! let CatchUp::Ticks { ticks, dropped: 0 } = entry.catch_up else { unreachable!() };
//! assert_eq!(ticks.get(), 1_000); // irq-router: raise the timer port 1,000 times
//! page.publish_clock(&entry.clock);
//!
//! // The guest starts with interrupts disabled: the timer event is only flagged.
//! let timer_pending = true; // irq-router asks notify-core
//! assert_eq!(vcpu.enter(&page, timer_pending)?, Resume::Run);
//! // The guest enables with one store, sees "upcall pending" and asks for delivery.
//! assert!(page.guest().sti());
//! assert_eq!(vcpu.deliver(&page, timer_pending)?, Resume::Upcall { depth: 1 });
//! // Its handler takes the whole count, then returns; nothing else is due.
//! assert_eq!(vcpu.upcall_return(&page, false)?, Resume::Run);
//!
//! // Each kernel tick inside the window is one tick for the partition.
//! assert_eq!(time.tick(1_001)?.ticks, 1);
//! let exit = time.exit(1_050)?;
//! assert_eq!((exit.ran, exit.ticks, exit.overrun), (50, 49, None));
//! vcpu.exit()?;
//! assert_eq!(time.given(), 1_050); // zero drift
//! # Ok::<(), vcpu_state::Error>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod catch_up;
mod error;
mod nesting;
mod page;
mod start;
mod sync;
mod time;
mod vcpu;

pub use catch_up::{CatchUp, CatchUpPolicy};
pub use error::Error;
pub use nesting::{MAX_NESTING, Nesting};
pub use page::{Guest, ISR_LEVEL_DISABLED, MASKED, PAGE_LEN, PAGE_VERSION, SharedPage, Signal};
pub use start::StartReason;
pub use time::{Entry, Exit, GuestClock, Tick, TimeAccount};
pub use vcpu::{Resume, Vcpu, upcall_due};
