//! [`BareMetal`]: the [`Hardware`] of a real (or emulated) PC, for a kernel running in
//! ring 0 with the partitions' memory identity-mapped.

use core::fmt::{self, Write};

use irq_router::health::HmRecord;

use crate::adapter::Hardware;
use crate::console::OutputBuffer;
use crate::cpu::outb;
use crate::fpu::{self, ExtendedState};
use crate::pic::Pic;
use crate::serial::Serial;

/// The 8259 pair and COM1, and the partitions' memory accessed at its own addresses.
#[derive(Debug)]
pub struct BareMetal {
    pic: Pic,
    serial: Serial,
    exit_port: Option<u16>,
    fpu: fpu::Mode,
    /// Everything written (kernel lines, partitions' console, health-monitor lines),
    /// until the kernel drains it.
    out: OutputBuffer,
}

impl BareMetal {
    /// The machine, with the PICs remapped to `pic_offsets` and every line masked, and
    /// COM1 initialized, and x87/SSE/AVX enabled for the partitions ([`fpu::enable`]).
    /// `exit_port`, if given, is QEMU's `isa-debug-exit` port, written
    /// when the health monitor stops the module.
    ///
    /// # Safety
    /// Ring 0 with interrupts disabled; the kernel owns the PICs and COM1; and every
    /// address the adapter hands to [`Hardware::read_user`] and
    /// [`Hardware::write_user`] (ranges inside the [`PartitionSpace`]s the kernel gives
    /// the adapter) is mapped, at that address, in every address space the dispatcher
    /// runs in, and is memory no Rust reference of the kernel points to.
    ///
    /// [`PartitionSpace`]: crate::PartitionSpace
    pub unsafe fn new(pic_offsets: (u8, u8), exit_port: Option<u16>) -> Self {
        let mut pic = Pic::new(pic_offsets.0, pic_offsets.1);
        let mut serial = Serial::new(crate::serial::COM1);
        // SAFETY: ring 0, interrupts disabled, the kernel owns the chips (contract), at
        // boot before any partition runs.
        let fpu = unsafe {
            pic.init();
            serial.init();
            fpu::enable()
        };
        Self { pic, serial, exit_port, fpu, out: OutputBuffer::new() }
    }

    /// How partitions' FPU/SSE/AVX state is saved on this CPU.
    #[must_use]
    pub const fn fpu_mode(&self) -> fpu::Mode {
        self.fpu
    }

    /// The PICs.
    pub fn pic(&mut self) -> &mut Pic {
        &mut self.pic
    }

    /// Queues `bytes` for COM1 (see [`drain`](Self::drain)); what does not fit in the
    /// buffer is dropped and counted ([`dropped`](Self::dropped)).
    pub fn write(&mut self, bytes: &[u8]) {
        self.out.push(bytes);
    }

    /// Writes at most `budget` queued bytes to COM1 (a polled UART: about 87 µs a byte
    /// at 115,200 baud). The kernel calls it outside the partitions' windows, at each
    /// switch. Answers how many were written.
    pub fn drain(&mut self, budget: usize) -> usize {
        let serial = &mut self.serial;
        // SAFETY: the kernel owns COM1 (contract of `new`).
        self.out.drain(budget, |bytes| unsafe { serial.write(bytes) })
    }

    /// Bytes of output dropped because the buffer was full.
    #[must_use]
    pub const fn dropped(&self) -> u64 {
        self.out.dropped()
    }

    /// Exits QEMU through `isa-debug-exit` with `code` (QEMU's status is
    /// `code << 1 | 1`); without an exit port, halts for ever.
    pub fn exit(&mut self, code: u8) -> ! {
        self.drain(usize::MAX);
        if let Some(port) = self.exit_port {
            // SAFETY: the kernel owns the debug-exit device (contract of `new`).
            unsafe { outb(port, code) };
        }
        loop {
            // SAFETY: ring 0 (contract of `new`); with interrupts disabled this halts.
            unsafe {
                crate::cpu::cli();
                crate::cpu::hlt();
            }
        }
    }
}

impl Write for BareMetal {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write(s.as_bytes());
        Ok(())
    }
}

impl Hardware for BareMetal {
    fn eoi(&mut self, irq: u8) {
        // SAFETY: the kernel owns the PICs (contract of `new`).
        unsafe { self.pic.eoi(irq) };
    }

    fn eoi_master(&mut self) {
        // SAFETY: the kernel owns the PICs (contract of `new`).
        unsafe { self.pic.eoi_master() };
    }

    fn set_masked(&mut self, irq: u8, masked: bool) {
        // SAFETY: the kernel owns the PICs (contract of `new`).
        unsafe { self.pic.set_masked(irq, masked) };
    }

    fn in_service(&mut self) -> u16 {
        // SAFETY: the kernel owns the PICs (contract of `new`).
        unsafe { self.pic.read_isr() }
    }

    fn console(&mut self, bytes: &[u8]) {
        self.write(bytes);
    }

    fn log(&mut self, record: &HmRecord) {
        let partition = record.partition.map_or(-1, i32::from);
        let _ = writeln!(
            self,
            "[hm] tick={} partition={} kind={:?} action={:?} detail={:#x} extra={:#x} discarded={}",
            record.tick,
            partition,
            record.kind,
            record.action,
            record.detail,
            record.extra,
            record.discarded
        );
    }

    fn stop_module(&mut self) {
        self.write(b"[hm] module stopped\n");
    }

    fn read_user(&self, addr: u64, out: &mut [u8]) {
        for (i, byte) in out.iter_mut().enumerate() {
            // SAFETY: the adapter only reads ranges inside a partition's space, which
            // the kernel keeps mapped at their own addresses and outside any Rust
            // reference (contract of `new`); volatile, since the partition writes them.
            *byte = unsafe { core::ptr::read_volatile((addr as usize + i) as *const u8) };
        }
    }

    fn write_user(&mut self, addr: u64, bytes: &[u8]) {
        for (i, byte) in bytes.iter().enumerate() {
            // SAFETY: as in `read_user`; the adapter writes only the partition's private
            // memory (its own stack, for upcall frames).
            unsafe { core::ptr::write_volatile((addr as usize + i) as *mut u8, *byte) };
        }
    }

    fn save_extended(&mut self, state: &mut ExtendedState) {
        // SAFETY: ring 0 after `fpu::enable` answered this mode (in `new`).
        unsafe { fpu::save(self.fpu, state) };
    }

    fn restore_extended(&mut self, state: &ExtendedState) {
        // SAFETY: as above; the adapter only hands back states `save` wrote or initial
        // ones.
        unsafe { fpu::restore(self.fpu, state) };
    }
}
