//! The devices: PIT channel 0 (an edge ISA line through the IO-APIC, to CPU 0, for a
//! partition on CPU 1), and two of QEMU's `edu` PCI devices: the first one's INTx, a
//! level-triggered PCI line through the IO-APIC to CPU 0, shared by a partition on each
//! CPU (each drives the device through its register page, mapped into its own address
//! space, and acknowledges through the ABI); the second one's MSI, an edge line to CPU 1
//! for a partition there. The kernel makes the edus interrupt at a fixed period (writing
//! their raise register), from the CPU of the line's destination.

use core::sync::atomic::{AtomicU64, Ordering};

use irq_x86::acpi::Madt;
use irq_x86::apic::ioapic::{Polarity, RedirectionEntry, TriggerMode};
use irq_x86::apic::msi;
use irq_x86::pci::{self, PortConfig, command};
use irq_x86::pit;

use super::config::{
    DEVICE_HZ, DEVICE_VECTOR, EDU, EDU_INTX_PERIOD, EDU_INTX_VECTOR, EDU_MSI_PERIOD,
    EDU_MSI_VECTOR, PARTITIONS, WITHHOLD, port_of, q35_intx_gsi,
};
use super::machine::memory;
use super::{fail, machine, say};

/// The edu's interrupt raise register.
const EDU_RAISE: u64 = 0x60;

/// The edus' register pages (0: none), the raises made, and the tick of the last.
static INTX_MMIO: AtomicU64 = AtomicU64::new(0);
static MSI_MMIO: AtomicU64 = AtomicU64::new(0);
pub(crate) static INTX_RAISES: AtomicU64 = AtomicU64::new(0);
pub(crate) static MSI_RAISES: AtomicU64 = AtomicU64::new(0);
static INTX_LAST: AtomicU64 = AtomicU64::new(0);
static MSI_LAST: AtomicU64 = AtomicU64::new(0);
/// The edu INTx's global system interrupt.
pub(crate) static INTX_GSI: AtomicU64 = AtomicU64::new(0);

/// The PIT's line: channel 0 at `DEVICE_HZ`, its ISA IRQ 0 through the IO-APIC pin the
/// MADT names, edge, to CPU 0, on `DEVICE_VECTOR`.
pub(crate) fn route_pit(madt: &Madt) {
    let (gsi, polarity, trigger) = madt.isa_irq(0);
    let destination = machine::APIC_IDS[0].load(Ordering::Acquire) as u8;
    let entry = RedirectionEntry::fixed(DEVICE_VECTOR, destination, trigger, polarity, false);
    let Some(divisor) = pit::divisor(DEVICE_HZ) else { fail(format_args!("PIT rate")) };
    // SAFETY: ring 0, the kernel owns the PIT.
    unsafe { pit::program(divisor) };
    if let Err(e) = machine::IOAPICS.route(gsi, &entry) {
        fail(format_args!("routing the device: {e:?}"));
    }
    say!(
        "[kernel] device: PIT channel 0 at {DEVICE_HZ} Hz, GSI {gsi} -> vector {DEVICE_VECTOR:#x} on CPU 0 (APIC ID {destination}), entry {:#x}",
        machine::IOAPICS.entry(gsi).unwrap_or(0)
    );
}

/// The two edus: found on bus 0, memory decoding on; the first's INTx routed level,
/// active low, to CPU 0 and its register page mapped into the partitions bound to it; the
/// second's MSI to CPU 1. Each partition's role is written into its memory.
pub(crate) fn setup_edus() {
    // SAFETY: ring 0 at boot on the boot CPU: the kernel owns the configuration ports,
    // used only here.
    let mut cs = unsafe { PortConfig::new() };
    let (Some(intx), Some(msi_fn)) =
        (pci::find(&mut cs, EDU.0, EDU.1, 0), pci::find(&mut cs, EDU.0, EDU.1, 1))
    else {
        fail(format_args!("two edu PCI devices expected (QEMU's -device edu)"))
    };
    let mut mmio = [0u64; 2];
    for (i, f) in [intx, msi_fn].into_iter().enumerate() {
        let _ = command(&mut cs, f, command::MEMORY, 0);
        mmio[i] = pci::memory_bar(&mut cs, f, 0)
            .unwrap_or_else(|e| fail(format_args!("edu at slot {}: {e:?}", f.device)));
    }
    let pin = pci::interrupt_pin(&mut cs, intx);
    let gsi = q35_intx_gsi(intx.device, pin);
    let _ = command(&mut cs, intx, 0, command::INTX_DISABLE);
    let cpu0 = machine::APIC_IDS[0].load(Ordering::Acquire) as u8;
    let entry =
        RedirectionEntry::fixed(EDU_INTX_VECTOR, cpu0, TriggerMode::Level, Polarity::Low, false);
    if let Err(e) = machine::IOAPICS.route(gsi, &entry) {
        fail(format_args!("routing the edu's INTx: {e:?}"));
    }
    INTX_GSI.store(u64::from(gsi), Ordering::Relaxed);
    let cpu1 = machine::APIC_IDS[1].load(Ordering::Acquire);
    let message = msi::message(EDU_MSI_VECTOR, cpu1, TriggerMode::Edge)
        .unwrap_or_else(|e| fail(format_args!("the edu's MSI: {e:?}")));
    if let Err(e) = pci::enable_msi(&mut cs, msi_fn, &message) {
        fail(format_args!("the edu's MSI: {e:?}"));
    }
    for (p, memory) in (0..PARTITIONS).map(|p| (p, memory(p))).take(PARTITIONS) {
        let state = &memory.state;
        if let Some(port) = port_of(p, EDU_INTX_VECTOR) {
            // SAFETY: at boot, after the page tables were built, before any partition runs.
            unsafe { machine::map_device_page(p, mmio[0]) };
            state.edu_port.store(u64::from(port) + 1, Ordering::Relaxed);
            state.edu_mmio.store(mmio[0], Ordering::Relaxed);
        }
        if let Some(port) = port_of(p, EDU_MSI_VECTOR) {
            state.msi_port.store(u64::from(port) + 1, Ordering::Relaxed);
        }
        if p == WITHHOLD.0 {
            state.withhold_at.store(WITHHOLD.1, Ordering::Relaxed);
            state.withhold_for.store(WITHHOLD.2, Ordering::Relaxed);
        }
    }
    // The kernel's own view of the registers (the first is user in a partition's tables).
    INTX_MMIO.store(mmio[0] + machine::ALIAS, Ordering::Release);
    MSI_MMIO.store(mmio[1] + machine::ALIAS, Ordering::Release);
    say!(
        "[kernel] edu at slot {}: registers at {:#x}, INTA on GSI {gsi} (q35 _PRT) -> vector {EDU_INTX_VECTOR:#x}, level, active low, on CPU 0, entry {:#x}",
        intx.device,
        mmio[0],
        machine::IOAPICS.entry(gsi).unwrap_or(0)
    );
    say!(
        "[kernel] edu at slot {}: registers at {:#x}, MSI {:#x}/{:#x} -> vector {EDU_MSI_VECTOR:#x}, edge, on CPU 1",
        msi_fn.device,
        mmio[1],
        message.address,
        message.data
    );
}

/// Makes an edu interrupt if its period passed: the INTx one from CPU 0, the MSI one
/// from CPU 1 (each at the CPU its interrupt goes to), at tick `now` of the run.
pub(crate) fn on_tick(cpu: usize, now: u64) {
    let (mmio, last, period, raises) = match cpu {
        0 => (&INTX_MMIO, &INTX_LAST, EDU_INTX_PERIOD, &INTX_RAISES),
        1 => (&MSI_MMIO, &MSI_LAST, EDU_MSI_PERIOD, &MSI_RAISES),
        _ => return,
    };
    let at = mmio.load(Ordering::Acquire);
    if at == 0 || now / period <= last.load(Ordering::Relaxed) {
        return;
    }
    last.store(now / period, Ordering::Relaxed);
    let n = raises.fetch_add(1, Ordering::Relaxed) + 1;
    // SAFETY: the edu's register page, mapped uncached in the kernel's tables (the device
    // window); a 32-bit write of its raise register (the status ORs the value in).
    unsafe { core::ptr::write_volatile((at + EDU_RAISE) as *mut u32, 1 << (n % 32)) };
}
