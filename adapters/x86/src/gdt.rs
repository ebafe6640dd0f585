//! The GDT (kernel and ring-3 segments, a TSS) and the TSS itself: descriptor encoding as
//! pure functions, loading as `unsafe` ones.

use core::arch::asm;

/// Kernel code selector.
pub const KERNEL_CS: u16 = 0x08;
/// Kernel data selector.
pub const KERNEL_SS: u16 = 0x10;
/// User data selector (RPL 3).
pub const USER_SS: u16 = 0x18 | 3;
/// User code selector (RPL 3).
pub const USER_CS: u16 = 0x20 | 3;
/// TSS selector.
pub const TSS_SELECTOR: u16 = 0x28;

/// 64-bit code segment, DPL `dpl`.
#[must_use]
pub const fn code_descriptor(dpl: u8) -> u64 {
    // Present, S, executable, readable, L (64-bit); limit and base ignored.
    0x0020_9A00_0000_0000 | ((dpl as u64 & 3) << 45)
}

/// Data segment, DPL `dpl`.
#[must_use]
pub const fn data_descriptor(dpl: u8) -> u64 {
    // Present, S, writable.
    0x0000_9200_0000_0000 | ((dpl as u64 & 3) << 45)
}

/// The two GDT words of an available 64-bit TSS at `base` of `limit + 1` bytes.
#[must_use]
pub const fn tss_descriptor(base: u64, limit: u32) -> [u64; 2] {
    let low = (limit as u64 & 0xffff)
        | ((base & 0xff_ffff) << 16)
        | (0x89 << 40) // present, type 9: available 64-bit TSS
        | (((limit as u64 >> 16) & 0xf) << 48)
        | (((base >> 24) & 0xff) << 56);
    [low, base >> 32]
}

/// The 64-bit task-state segment: the stacks the CPU switches to.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default)]
pub struct Tss {
    reserved0: u32,
    /// Stacks for entries from a lower privilege into rings 0 to 2.
    pub rsp: [u64; 3],
    reserved1: u64,
    /// Interrupt stack table (IST1 to IST7).
    pub ist: [u64; 7],
    reserved2: u64,
    reserved3: u16,
    /// Offset of the I/O permission bitmap (past the limit: none, so no port access from
    /// ring 3).
    pub iomap_base: u16,
}

impl Tss {
    /// Size in bytes.
    pub const SIZE: usize = 104;

    /// A TSS with ring-0 stack `rsp0` and the interrupt stacks `ist` (IST1 first).
    #[must_use]
    pub const fn new(rsp0: u64, ist: [u64; 7]) -> Self {
        Self {
            reserved0: 0,
            rsp: [rsp0, 0, 0],
            reserved1: 0,
            ist,
            reserved2: 0,
            reserved3: 0,
            iomap_base: Self::SIZE as u16,
        }
    }
}

/// The GDT words for a TSS at `tss`: null, kernel code, kernel data, user data, user
/// code, TSS (two words). The order of the user segments is the one `sysret` expects.
#[must_use]
pub const fn gdt_words(tss: u64) -> [u64; 7] {
    let [t0, t1] = tss_descriptor(tss, Tss::SIZE as u32 - 1);
    [0, code_descriptor(0), data_descriptor(0), data_descriptor(3), code_descriptor(3), t0, t1]
}

/// Loads the GDT at `gdt` (7 words), reloads every segment register with the kernel's
/// selectors and loads the task register.
///
/// # Safety
/// Ring 0, interrupts disabled; `gdt` holds [`gdt_words`] of a TSS that stays valid and
/// in place for ever, and the GDT's memory stays in place and writable (the CPU sets the
/// TSS descriptor's busy bit).
pub unsafe fn load(gdt: *const [u64; 7]) {
    #[repr(C, packed(2))]
    struct Pointer {
        limit: u16,
        base: u64,
    }
    let pointer = Pointer { limit: 7 * 8 - 1, base: gdt as u64 };
    // SAFETY: the GDT is valid and permanent (function contract); the far return reloads
    // CS with the kernel code selector of that GDT, the other registers get its data
    // selector, and the TSS selector names the TSS descriptor.
    unsafe {
        asm!(
            "lgdt [{ptr}]",
            "push {cs}",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "retfq",
            "2:",
            "mov ds, {ss:x}",
            "mov es, {ss:x}",
            "mov ss, {ss:x}",
            "xor {tmp:e}, {tmp:e}",
            "mov fs, {tmp:x}",
            "mov gs, {tmp:x}",
            "ltr {tss:x}",
            ptr = in(reg) &raw const pointer,
            cs = in(reg) u64::from(KERNEL_CS),
            ss = in(reg) u64::from(KERNEL_SS),
            tss = in(reg) u64::from(TSS_SELECTOR),
            tmp = out(reg) _,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::{Tss, code_descriptor, data_descriptor, gdt_words, tss_descriptor};

    #[test]
    fn flat_segments() {
        assert_eq!(code_descriptor(0), 0x0020_9A00_0000_0000);
        assert_eq!(code_descriptor(3), 0x0020_FA00_0000_0000);
        assert_eq!(data_descriptor(0), 0x0000_9200_0000_0000);
        assert_eq!(data_descriptor(3), 0x0000_F200_0000_0000);
    }

    #[test]
    fn tss_descriptor_splits_the_base() {
        let [low, high] = tss_descriptor(0xffff_8000_1234_5678, 103);
        assert_eq!(low & 0xffff, 103);
        assert_eq!((low >> 16) & 0xff_ffff, 0x34_5678);
        assert_eq!((low >> 40) & 0xff, 0x89);
        assert_eq!(low >> 56, 0x12);
        assert_eq!(high, 0xffff_8000);
    }

    #[test]
    fn tss_layout() {
        use core::mem::offset_of;
        assert_eq!(core::mem::size_of::<Tss>(), Tss::SIZE);
        assert_eq!(offset_of!(Tss, rsp), 4);
        assert_eq!(offset_of!(Tss, ist), 36);
        assert_eq!(offset_of!(Tss, iomap_base), 102);
        let tss = Tss::new(0x1000, [0x2000, 0, 0, 0, 0, 0, 0]);
        assert_eq!({ tss.rsp }[0], 0x1000);
        assert_eq!({ tss.iomap_base }, 104);
    }

    #[test]
    fn gdt_order() {
        let gdt = gdt_words(0x10_0000);
        assert_eq!(gdt[0], 0);
        assert_eq!(gdt[1], code_descriptor(0));
        assert_eq!(gdt[3], data_descriptor(3));
        assert_eq!(gdt[4], code_descriptor(3));
        assert_eq!(gdt[5..], tss_descriptor(0x10_0000, 103));
    }
}
