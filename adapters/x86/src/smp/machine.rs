//! [`ApicMachine`]: the [`Hardware`] of one CPU of an APIC machine (one per CPU, each
//! used only on its CPU): its [`ApicController`] (local APIC, the shared IO-APICs), the
//! kick of another CPU as a fixed IPI, a [`SharedConsole`] for every CPU's output, and
//! the partitions' memory accessed at its own addresses.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU32, Ordering};

use irq_router::health::HmRecord;

use crate::adapter::Hardware;
use crate::apic::ApicController;
use crate::apic::icr::Ipi;
use crate::apic::ioapic::IoApicMmio;
use crate::apic::local::{AnyApic, LocalApic};
use crate::console::OutputBuffer;
use crate::cpu::{Protections, UserAccess};
use crate::fpu::{self, ExtendedState};
use crate::irqchip::InterruptController;
use crate::serial::Serial;

/// No APIC ID known for a CPU (not started).
pub const NO_APIC: u32 = u32::MAX;

/// The kernel's output, shared by every CPU: a bounded buffer (see [`OutputBuffer`])
/// behind one lock, held only to copy bytes in or out, and the polled UART behind another,
/// held by the one CPU draining: a CPU writing a line never waits for the UART (about
/// 87 µs a byte at 115,200 baud), only for another CPU's copy.
pub struct SharedConsole {
    out: spin::Mutex<OutputBuffer>,
    serial: spin::Mutex<Serial>,
}

impl core::fmt::Debug for SharedConsole {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SharedConsole").finish_non_exhaustive()
    }
}

/// Bytes moved from the buffer to the UART at a time (the buffer's lock is not held
/// while they are written).
const CHUNK: usize = 64;

impl SharedConsole {
    /// The console on the 16550 UART at I/O port `port` (not initialized yet).
    #[must_use]
    pub const fn new(port: u16) -> Self {
        Self {
            out: spin::Mutex::new(OutputBuffer::new()),
            serial: spin::Mutex::new(Serial::new(port)),
        }
    }

    /// Initializes the UART.
    ///
    /// # Safety
    /// Ring 0, and the kernel owns the UART.
    pub unsafe fn init(&self) {
        // SAFETY: ring 0, the kernel owns the UART (contract).
        unsafe { self.serial.lock().init() };
    }

    /// Queues `bytes` (dropped and counted if the buffer is full).
    pub fn write(&self, bytes: &[u8]) {
        self.out.lock().push(bytes);
    }

    /// Writes at most `budget` queued bytes to the UART, unless another CPU is draining
    /// right now (then nothing: what is queued goes at a later switch). Answers the bytes
    /// written.
    pub fn drain(&self, budget: usize) -> usize {
        match self.serial.try_lock() {
            Some(mut serial) => self.drain_into(&mut serial, budget),
            None => 0,
        }
    }

    /// Writes everything queued, waiting for another CPU's drain to end first.
    pub fn flush(&self) {
        let mut serial = self.serial.lock();
        let _ = self.drain_into(&mut serial, usize::MAX);
    }

    fn drain_into(&self, serial: &mut Serial, budget: usize) -> usize {
        let mut done = 0;
        while done < budget {
            let mut chunk = [0u8; CHUNK];
            let mut n = 0;
            let want = CHUNK.min(budget - done);
            let _ = self.out.lock().drain(want, |bytes| {
                chunk[n..n + bytes.len()].copy_from_slice(bytes);
                n += bytes.len();
            });
            if n == 0 {
                break;
            }
            // SAFETY: the kernel owns the UART (contract of `init`, which came first); the
            // serial lock makes this CPU its only user.
            unsafe { serial.write(&chunk[..n]) };
            done += n;
        }
        done
    }

    /// Bytes dropped because the buffer was full.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.out.lock().dropped()
    }

    /// Takes the console back from a CPU that stopped while holding it (a panic on
    /// another CPU): for the last words of a dying kernel only.
    ///
    /// # Safety
    /// No other CPU uses the console any more.
    pub unsafe fn force_unlock(&self) {
        // SAFETY: nobody else uses it (contract).
        unsafe {
            if self.out.is_locked() {
                self.out.force_unlock();
            }
            if self.serial.is_locked() {
                self.serial.force_unlock();
            }
        }
    }
}

/// The buffer as a formatting sink.
struct Sink<'a>(&'a mut OutputBuffer);

impl Write for Sink<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.push(s.as_bytes());
        Ok(())
    }
}

impl Write for &SharedConsole {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        SharedConsole::write(self, s.as_bytes());
        Ok(())
    }

    /// One lock for the whole of `args`: a line formatted on one CPU is never cut by
    /// another CPU's.
    fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> fmt::Result {
        Sink(&mut self.out.lock()).write_fmt(args)
    }
}

/// What the machine of one CPU did, for the kernel's report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MachineCounters {
    /// Kicks sent to other CPUs (fixed IPIs).
    pub kicks_sent: u64,
    /// Kicks that could not be sent (no APIC ID for the CPU, or the IPI refused).
    pub kick_errors: u64,
}

/// One CPU of an APIC machine.
#[derive(Debug)]
pub struct ApicMachine {
    controller: ApicController<'static, AnyApic, IoApicMmio>,
    console: &'static SharedConsole,
    fpu: fpu::Mode,
    apic_ids: &'static [AtomicU32],
    kick_vector: u8,
    /// SMAP is on for this CPU: `read_user` and `write_user` open a [`UserAccess`].
    smap: bool,
    counters: MachineCounters,
}

impl ApicMachine {
    /// The machine of this CPU: its controller (local APIC enabled), the console, the
    /// APIC ID of each CPU by index (for kicks), the kick's vector. Sets x87/SSE/AVX up
    /// for the partitions on this CPU ([`fpu::enable`]).
    ///
    /// # Safety
    /// Ring 0, interrupts disabled, on the CPU of `controller`, once; and every address
    /// the adapter hands to [`Hardware::read_user`] and [`Hardware::write_user`] is mapped,
    /// at that address, in every address space this CPU's dispatcher runs in, and is
    /// memory no Rust reference of the kernel points to; the machine is used with
    /// interrupts disabled (from the dispatcher). With SMAP on for this CPU
    /// ([`Protections::enable`], before this call) `read_user` and `write_user` reach the
    /// partition's pages with RFLAGS.AC set, between `stac` and `clac`.
    pub unsafe fn new(
        controller: ApicController<'static, AnyApic, IoApicMmio>,
        console: &'static SharedConsole,
        apic_ids: &'static [AtomicU32],
        kick_vector: u8,
    ) -> Self {
        // SAFETY: ring 0, at this CPU's boot, before any partition runs on it (contract).
        let fpu = unsafe { fpu::enable() };
        // SAFETY: ring 0 (contract).
        let smap = unsafe { Protections::active() }.smap;
        Self {
            controller,
            console,
            fpu,
            apic_ids,
            kick_vector,
            smap,
            counters: MachineCounters::default(),
        }
    }

    /// This CPU's local APIC (timer, IPIs, EOI of the kernel's own vectors).
    pub const fn apic(&mut self) -> &mut LocalApic<AnyApic> {
        self.controller.local()
    }

    /// The interrupt controller.
    pub const fn apic_controller(&mut self) -> &mut ApicController<'static, AnyApic, IoApicMmio> {
        &mut self.controller
    }

    /// The console.
    #[must_use]
    pub const fn console(&self) -> &'static SharedConsole {
        self.console
    }

    /// How partitions' FPU/SSE/AVX state is saved on this CPU.
    #[must_use]
    pub const fn fpu_mode(&self) -> fpu::Mode {
        self.fpu
    }

    /// What it did.
    #[must_use]
    pub const fn counters(&self) -> MachineCounters {
        self.counters
    }
}

impl Write for ApicMachine {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.console.write(s.as_bytes());
        Ok(())
    }

    fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> fmt::Result {
        let mut console = self.console;
        console.write_fmt(args)
    }
}

impl Hardware for ApicMachine {
    // The 8259 methods: the 8259 is masked on an APIC machine, and the adapter goes
    // through `controller` instead.
    fn eoi(&mut self, _irq: u8) {}

    fn eoi_master(&mut self) {}

    fn set_masked(&mut self, _irq: u8, _masked: bool) {}

    fn in_service(&mut self) -> u16 {
        0
    }

    fn console(&mut self, bytes: &[u8]) {
        self.console.write(bytes);
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
        self.console.write(b"[hm] module stopped\n");
    }

    fn read_user(&self, addr: u64, out: &mut [u8]) {
        // SAFETY: the dispatcher runs with interrupts off (contract of `new`), and `smap`
        // is this CPU's CR4.SMAP.
        let _access = unsafe { UserAccess::open(self.smap) };
        for (i, byte) in out.iter_mut().enumerate() {
            // SAFETY: the adapter only reads ranges inside a partition's space, which the
            // kernel keeps mapped at their own addresses and outside any Rust reference
            // (contract of `new`); volatile, since the partition writes them.
            *byte = unsafe { core::ptr::read_volatile((addr as usize + i) as *const u8) };
        }
    }

    fn write_user(&mut self, addr: u64, bytes: &[u8]) {
        // SAFETY: as in `read_user`.
        let _access = unsafe { UserAccess::open(self.smap) };
        for (i, byte) in bytes.iter().enumerate() {
            // SAFETY: as in `read_user`; the adapter writes only the partition's private
            // memory (its own stack, for upcall frames).
            unsafe { core::ptr::write_volatile((addr as usize + i) as *mut u8, *byte) };
        }
    }

    fn save_extended(&mut self, state: &mut ExtendedState) {
        // SAFETY: ring 0 after `fpu::enable` answered this mode on this CPU (in `new`).
        unsafe { fpu::save(self.fpu, state) };
    }

    fn restore_extended(&mut self, state: &ExtendedState) {
        // SAFETY: as above; the adapter only hands back states `save` wrote or initial ones.
        unsafe { fpu::restore(self.fpu, state) };
    }

    fn controller(&mut self) -> Option<&mut dyn InterruptController> {
        Some(&mut self.controller)
    }

    fn kick(&mut self, cpu: u16) {
        let id = self.apic_ids.get(usize::from(cpu)).map_or(NO_APIC, |a| a.load(Ordering::Acquire));
        if id == NO_APIC || self.controller.local().send(&Ipi::fixed(self.kick_vector, id)).is_err()
        {
            self.counters.kick_errors += 1;
        } else {
            self.counters.kicks_sent += 1;
        }
    }
}
