//! The guest side: the built-in demo partition ([`program`]), written on the guest
//! library's hosted transport ([`irq_guest::hosted`]), like any partition program of
//! one's own.

pub mod program;

pub use irq_guest::hosted::CALL_FD;
pub use irq_guest::hosted::region::REGION_FD;
