//! Several CPUs: the application processors started with INIT-SIPI-SIPI through a
//! real-mode [`trampoline`], and what each CPU needs of its own ([`percpu`]: GDT, TSS,
//! interrupt stacks). [`machine::ApicMachine`] is the [`Hardware`](crate::Hardware) of one
//! CPU of such a machine.
//!
//! The order of the boot (what a kernel calls, see the crate's README): the boot CPU
//! parses the MADT, sets its own tables and local APIC up, installs the trampoline, and
//! for each other CPU writes the trampoline's parameters (that CPU's stack and argument),
//! calls [`start_cpu`] and waits for the CPU's entry to say it left the trampoline;
//! each application processor then loads its own GDT and TSS, the shared IDT, enables
//! its local APIC and FPU, and reports.

pub mod machine;
pub mod percpu;
pub mod trampoline;

use crate::apic::icr::{Delivery, Destination, Ipi};
use crate::apic::local::{ApicRegisters, LocalApic, SendError};

/// The delays of the start-up sequence, in microseconds (the SDM's: 10 ms after INIT,
/// 200 µs after each SIPI).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartDelays {
    /// After INIT (and its de-assert).
    pub after_init: u64,
    /// After each start-up IPI.
    pub after_sipi: u64,
    /// How long the CPU has to report after the second start-up IPI.
    pub alive_within: u64,
}

impl StartDelays {
    /// The SDM's delays, and 100 ms to report.
    pub const SDM: Self = Self { after_init: 10_000, after_sipi: 200, alive_within: 100_000 };
}

/// Why a CPU did not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartError {
    /// An IPI could not be sent.
    Send(SendError),
    /// The CPU did not report within the time allowed (absent, disabled, or stuck in the
    /// trampoline).
    Silent,
}

/// Steps of the polling while waiting for a CPU, in microseconds.
const POLL: u64 = 10;

/// Starts the CPU with APIC ID `apic_id` at trampoline page `page`: INIT (asserted, then
/// de-asserted), a start-up IPI, and a second one if the CPU has not reported yet (as the
/// SDM asks); then waits for `alive` (the CPU's entry says it left the trampoline) for
/// at most `delays.alive_within`. `wait` waits for so many microseconds (a TSC-measured
/// spin at boot). Answers the number of start-up IPIs sent.
///
/// # Errors
/// [`StartError`]: an IPI could not be sent, or the CPU never reported.
pub fn start_cpu<R: ApicRegisters>(
    apic: &mut LocalApic<R>,
    apic_id: u32,
    page: u8,
    delays: &StartDelays,
    mut wait: impl FnMut(u64),
    mut alive: impl FnMut() -> bool,
) -> Result<u32, StartError> {
    let to = |delivery| Ipi { delivery, destination: Destination::Apic(apic_id) };
    let _ = apic.clear_errors();
    apic.send(&to(Delivery::Init)).map_err(StartError::Send)?;
    apic.send(&to(Delivery::InitDeassert)).map_err(StartError::Send)?;
    wait(delays.after_init);
    let mut sipis = 0;
    for _ in 0..2 {
        if alive() {
            break;
        }
        apic.send(&to(Delivery::Startup(page))).map_err(StartError::Send)?;
        sipis += 1;
        wait(delays.after_sipi);
    }
    let mut waited = 0;
    while !alive() {
        if waited >= delays.alive_within {
            return Err(StartError::Silent);
        }
        wait(POLL);
        waited += POLL;
    }
    Ok(sipis)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::cell::Cell;
    use std::vec::Vec;

    use super::{StartDelays, StartError, start_cpu};
    use crate::apic::icr::{Delivery, Destination, Ipi};
    use crate::apic::local::fake::FakeApic;
    use crate::apic::local::{LocalApic, Mode, reg};

    fn sent(apic: &LocalApic<FakeApic>) -> Vec<Ipi> {
        let writes = &apic.registers().writes;
        writes
            .iter()
            .filter(|(r, _)| *r == reg::ICR_LOW)
            .map(|(_, v)| Ipi::decode((v >> 56) << 32 | (v & 0xffff_ffff)).unwrap())
            .collect()
    }

    #[test]
    fn init_sipi_sipi_with_the_sdm_delays() {
        let mut apic = LocalApic::new(FakeApic::new(Mode::XApic, 0));
        let waits = Cell::new(Vec::new());
        let clock = Cell::new(0u64);
        let wait = |us| {
            let mut w = waits.take();
            w.push(us);
            waits.set(w);
            clock.set(clock.get() + us);
        };
        // The CPU reports 1 ms after the first SIPI's 200 µs.
        let alive = || clock.get() >= 10_000 + 200 + 1_000;
        assert_eq!(start_cpu(&mut apic, 3, 0x08, &StartDelays::SDM, wait, alive), Ok(2));
        let to = |delivery| Ipi { delivery, destination: Destination::Apic(3) };
        assert_eq!(
            sent(&apic),
            [
                to(Delivery::Init),
                to(Delivery::InitDeassert),
                to(Delivery::Startup(8)),
                to(Delivery::Startup(8))
            ]
        );
        assert_eq!(waits.take()[..3], [10_000, 200, 200]);
    }

    #[test]
    fn a_cpu_that_reports_at_once_gets_one_sipi_and_a_silent_one_is_an_error() {
        let mut apic = LocalApic::new(FakeApic::new(Mode::X2Apic, 0));
        let started = Cell::new(false);
        let n = start_cpu(
            &mut apic,
            1,
            8,
            &StartDelays::SDM,
            |_| {},
            || {
                let was = started.get();
                started.set(true);
                was
            },
        );
        assert_eq!(n, Ok(1));
        let mut apic = LocalApic::new(FakeApic::new(Mode::XApic, 0));
        let total = Cell::new(0u64);
        let r = start_cpu(
            &mut apic,
            2,
            8,
            &StartDelays::SDM,
            |us| total.set(total.get() + us),
            || false,
        );
        assert_eq!(r, Err(StartError::Silent));
        assert!(total.get() >= 100_000 && total.get() < 120_000, "bounded: {}", total.get());
    }
}
