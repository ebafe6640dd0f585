//! The 8253/8254 programmable interval timer, channel 0 (IRQ 0): rate programming.

use crate::cpu::outb;

/// Input clock of the PIT in Hz.
pub const PIT_HZ: u32 = 1_193_182;
/// Channel 0 data port.
pub const CHANNEL0: u16 = 0x40;
/// Mode/command port.
pub const COMMAND: u16 = 0x43;
/// Channel 0, lobyte/hibyte access, mode 2 (rate generator), binary.
pub const RATE_GENERATOR: u8 = 0x34;

/// The reload value for `hz` interrupts per second (rounded to the nearest), or `None`
/// if the PIT cannot make that rate (below about 19 Hz or above its input clock).
#[must_use]
pub const fn divisor(hz: u32) -> Option<u16> {
    if hz == 0 {
        return None;
    }
    let d = (PIT_HZ + hz / 2) / hz;
    if d < 2 || d > u16::MAX as u32 { None } else { Some(d as u16) }
}

/// The rate the PIT really runs at with reload value `divisor`, in millihertz.
#[must_use]
pub const fn actual_millihertz(divisor: u16) -> u64 {
    if divisor == 0 { 0 } else { PIT_HZ as u64 * 1000 / divisor as u64 }
}

/// Programs channel 0 as a rate generator at `divisor`.
///
/// # Safety
/// Ring 0, and the kernel owns the PIT.
pub unsafe fn program(divisor: u16) {
    let [lo, hi] = divisor.to_le_bytes();
    // SAFETY: ring 0 and the kernel owns the PIT (function contract).
    unsafe {
        outb(COMMAND, RATE_GENERATOR);
        outb(CHANNEL0, lo);
        outb(CHANNEL0, hi);
    }
}

#[cfg(test)]
mod tests {
    use super::{actual_millihertz, divisor};

    #[test]
    fn common_rates() {
        assert_eq!(divisor(1000), Some(1193));
        assert_eq!(divisor(100), Some(11932));
        assert_eq!(divisor(18), None, "below the slowest rate");
        assert_eq!(divisor(19), Some(62799));
        assert_eq!(divisor(20), Some(59659));
        assert_eq!(divisor(0), None);
        assert_eq!(divisor(1_000_000), None);
        assert_eq!(actual_millihertz(1193), 1_000_152);
    }
}
