//! The memory one partition shares with the runner: one memfd, mapped by both. Its
//! layout is the guest library's ([`irq_guest::hosted::region`], re-exported here);
//! this module adds the runner's side, [`SharedRegion`].

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;

use irq_guest::hosted::region::map;
pub use irq_guest::hosted::region::{
    Arrival, Command, GuestArea, KernelArea, Mailbox, NO_PORT, REGION_FD, REGION_LEN, ROLE_PORTS,
    Region, Role, SAMPLES, Samples, latency_sample,
};
use irq_router::vcpu::SharedPage;

use crate::sys::{self, SysResult};

/// A memfd holding one [`Region`], mapped in this process.
///
/// The runner's mapping lives until [`release`](Self::release) (the runner releases
/// each region at the end of a run, once the router and the adapter holding
/// `&'static` references into it are gone); a `SharedRegion` merely dropped leaks its
/// mapping (never its descriptor), which is what keeps [`region`](Self::region)'s
/// `&'static` sound. The partition program keeps its own mapping for its whole life.
#[derive(Debug)]
pub struct SharedRegion {
    fd: OwnedFd,
    region: &'static Region,
}

impl SharedRegion {
    /// Creates a zeroed memfd of [`REGION_LEN`] bytes, sealed against resizing
    /// ([`sys::REGION_SEALS`]), maps it and lays out a fresh page at its start (runner
    /// side). The seals are on before the descriptor is handed to any child.
    ///
    /// # Errors
    /// A failed system call.
    pub fn create(name: &str) -> SysResult<Self> {
        let fd = sys::memfd(name, REGION_LEN)?;
        let region = map(fd.as_fd())?;
        region.page.write_bytes(&SharedPage::new().to_bytes());
        region.mailbox.port.store(NO_PORT, Ordering::Relaxed);
        region.kernel.notify_port.store(NO_PORT, Ordering::Release);
        Ok(Self { fd, region })
    }

    /// Maps the memfd a partition inherited as file descriptor `raw` (guest side: see
    /// [`region::inherit`](irq_guest::hosted::region::inherit)).
    ///
    /// # Errors
    /// As `inherit`.
    pub fn inherit(raw: i32) -> SysResult<Self> {
        let (fd, region) = irq_guest::hosted::region::inherit(raw)?;
        Ok(Self { fd, region })
    }

    /// The region.
    #[must_use]
    pub const fn region(&self) -> &'static Region {
        self.region
    }

    /// The memfd (for handing to a child).
    #[must_use]
    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    /// Unmaps the region and closes the memfd (the end of a run).
    ///
    /// # Safety
    /// No reference obtained from [`region`](Self::region) (the router's page, the
    /// adapter's regions...) is used after this call.
    pub unsafe fn release(self) {
        let ptr = std::ptr::from_ref(self.region).cast_mut().cast::<u8>();
        // SAFETY: `ptr` is the start of the REGION_LEN-byte mapping `map` made, and the
        // caller guarantees nothing refers into it any more.
        unsafe { sys::unmap(ptr, REGION_LEN) };
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::{AsRawFd, IntoRawFd};
    use std::sync::atomic::Ordering;

    use super::{REGION_LEN, SharedRegion};
    use crate::sys;

    fn dup(raw: i32) -> i32 {
        // SAFETY: plain system call on a descriptor this test owns.
        let fd = unsafe { libc::fcntl(raw, libc::F_DUPFD_CLOEXEC, 10) };
        assert!(fd >= 0);
        fd
    }

    #[test]
    fn a_partition_maps_the_runners_region() {
        let runner = SharedRegion::create("irq-hosted-region-test").expect("create");
        let guest = SharedRegion::inherit(dup(runner.raw_fd())).expect("inherit");
        runner.region().kernel.partition.store(7, Ordering::Release);
        assert_eq!(guest.region().kernel.partition.load(Ordering::Acquire), 7);
        // SAFETY: the references above are not used again.
        unsafe {
            guest.release();
            runner.release();
        }
    }

    #[test]
    fn inherit_refuses_what_is_not_a_sealed_region() {
        // Nothing open there.
        let e = SharedRegion::inherit(1_000_000).expect_err("closed descriptor");
        assert_eq!(e.errno(), libc::EBADF);
        // A regular file.
        let file = std::fs::File::open("/proc/self/status").expect("a file");
        let e = SharedRegion::inherit(file.as_raw_fd()).expect_err("not a memfd");
        assert_eq!(e.errno(), libc::EINVAL);
        // A memfd without the runner's seals.
        let name = c"irq-hosted-unsealed";
        // SAFETY: `name` is a valid C string.
        let raw = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
        assert!(raw >= 0);
        // SAFETY: `raw` is an open memfd.
        assert_eq!(unsafe { libc::ftruncate(raw, REGION_LEN as libc::off_t) }, 0);
        let e = SharedRegion::inherit(raw).expect_err("unsealed");
        assert_eq!(e.errno(), libc::EINVAL);
        // SAFETY: `raw` is still this test's (inherit refused it without taking it).
        unsafe { libc::close(raw) };
        // A sealed memfd that is too small.
        let small = sys::memfd("irq-hosted-small", 4096).expect("memfd").into_raw_fd();
        let e = SharedRegion::inherit(small).expect_err("too small");
        assert_eq!(e.errno(), libc::EINVAL);
        // SAFETY: as above.
        unsafe { libc::close(small) };
    }
}
