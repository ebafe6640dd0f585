//! COM1 (16550 UART at 0x3f8): the kernel's console, 115200 8N1, polled.

use crate::cpu::{inb, outb};

/// COM1's base port.
pub const COM1: u16 = 0x3f8;

/// A polled 16550 UART.
#[derive(Debug)]
pub struct Serial {
    base: u16,
}

impl Serial {
    /// The UART at `base`. Nothing is written yet: see [`init`](Self::init).
    #[must_use]
    pub const fn new(base: u16) -> Self {
        Self { base }
    }

    /// 115200 baud, 8N1, FIFOs on, no interrupts.
    ///
    /// # Safety
    /// Ring 0, and the kernel owns the UART.
    pub unsafe fn init(&mut self) {
        let b = self.base;
        // SAFETY: ring 0 and the kernel owns the UART (function contract).
        unsafe {
            outb(b + 1, 0x00);
            outb(b + 3, 0x80);
            outb(b, 0x01);
            outb(b + 1, 0x00);
            outb(b + 3, 0x03);
            outb(b + 2, 0xC7);
            outb(b + 4, 0x03);
        }
    }

    /// Writes `bytes`, waiting for the transmitter.
    ///
    /// # Safety
    /// Ring 0, and the kernel owns the UART.
    pub unsafe fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            // SAFETY: ring 0 and the kernel owns the UART (function contract).
            unsafe {
                while inb(self.base + 5) & 0x20 == 0 {}
                outb(self.base, byte);
            }
        }
    }
}
