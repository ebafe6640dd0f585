//! [`Interrupts`]: the virtual interrupt flag and the ISR level, through the shared page.

use irq_router::vcpu::{Guest, SharedPage};

use crate::call::{Error, Hypervisor, Transport};

/// The partition's virtual interrupts, the way RTEMS's CPU port uses them: disabling is
/// one store to the shared page; enabling is one store and a check, and only when an
/// upcall became pending meanwhile a hypercall asks the kernel to deliver it.
#[derive(Clone, Copy, Debug)]
pub struct Interrupts<'a, T> {
    page: &'a SharedPage,
    hv: &'a Hypervisor<T>,
}

impl<'a, T: Transport> Interrupts<'a, T> {
    /// The interrupts of the partition whose shared page is `page`.
    #[must_use]
    pub const fn new(page: &'a SharedPage, hv: &'a Hypervisor<T>) -> Self {
        Self { page, hv }
    }

    #[inline(always)]
    const fn guest(&self) -> Guest<'a> {
        Guest::new(self.page)
    }

    /// cli: one store.
    #[inline(always)]
    pub fn disable(&self) {
        self.guest().cli();
    }

    /// sti: one store; then, if an upcall is pending, the kernel is asked to deliver it.
    ///
    /// # Errors
    /// The delivery call failed.
    #[inline(always)]
    pub fn enable(&self) -> Result<(), Error> {
        if self.guest().sti() {
            self.hv.enable_irqs()?;
        }
        Ok(())
    }

    /// RTEMS's flash: enable, let what is due be delivered, disable.
    ///
    /// # Errors
    /// The delivery call failed (interrupts are disabled again all the same).
    #[inline(always)]
    pub fn flash(&self) -> Result<(), Error> {
        let result = self.enable();
        self.guest().cli();
        result
    }

    /// RTEMS's `_CPU_ISR_Disable`: closes and returns the level to restore.
    #[must_use]
    #[inline(always)]
    pub fn close(&self) -> u32 {
        self.guest().close()
    }

    /// RTEMS's `_CPU_ISR_Enable(level)` / `_CPU_ISR_Set_level(level)`: one store; if that
    /// opened the vCPU and an upcall is pending, the kernel is asked to deliver it.
    ///
    /// # Errors
    /// The delivery call failed.
    #[inline(always)]
    pub fn set_level(&self, level: u32) -> Result<(), Error> {
        if self.guest().set_level(level) {
            self.hv.enable_irqs()?;
        }
        Ok(())
    }

    /// The current ISR level.
    #[must_use]
    #[inline(always)]
    pub fn level(&self) -> u32 {
        self.page.level()
    }

    /// The flag and the level both allow upcalls.
    #[must_use]
    #[inline(always)]
    pub fn are_open(&self) -> bool {
        self.guest().is_open()
    }
}
