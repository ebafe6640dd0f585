//! `KernelAdapter::upcall_return` is called when, and only when, an upcall-return
//! hypercall succeeds (from an upcall or from the fault handler), before the engine
//! injects the next upcall of the same call: the next frame is built over the restored
//! state.

mod common;

use common::{Adapter, CPU0, SHARED, SHARED_PORT, boot, pid, system};
use irq_router::Trap;
use irq_router::adapter::{KernelAdapter, StartMode, Upcall, UpcallFault};
use irq_router::health::HmRecord;
use irq_router::hypercall::{ErrorCode, Request};
use notify_core::Port;

/// The recording adapter, and the order of injections and returns.
struct Order {
    inner: Adapter,
    seen: Vec<&'static str>,
}

impl KernelAdapter for Order {
    fn now(&self) -> u64 {
        self.inner.now()
    }
    fn kernel_handler(&mut self, vector: u8) {
        self.inner.kernel_handler(vector);
    }
    fn eoi(&mut self, vector: u8) {
        self.inner.eoi(vector);
    }
    fn mask_line(&mut self, vector: u8) {
        self.inner.mask_line(vector);
    }
    fn unmask_line(&mut self, vector: u8) {
        self.inner.unmask_line(vector);
    }
    fn inject_upcall(&mut self, partition: u16, upcall: &Upcall) -> Result<(), UpcallFault> {
        self.seen.push(if upcall.port.is_some() { "inject" } else { "fault handler" });
        self.inner.inject_upcall(partition, upcall)
    }
    fn kick(&mut self, cpu: u16) {
        self.inner.kick(cpu);
    }
    fn wait(&mut self, partition: u16) {
        self.inner.wait(partition);
    }
    fn user_range(&self, partition: u16, addr: u64, len: u64) -> bool {
        self.inner.user_range(partition, addr, len)
    }
    fn console_write(&mut self, partition: u16, addr: u64, len: u64) -> u64 {
        self.inner.console_write(partition, addr, len)
    }
    fn restart(&mut self, partition: u16, mode: StartMode) {
        self.inner.restart(partition, mode);
    }
    fn idle(&mut self, partition: u16) {
        self.inner.idle(partition);
    }
    fn stop_module(&mut self) {
        self.inner.stop_module();
    }
    fn log(&mut self, record: &HmRecord) {
        self.inner.log(record);
    }
    fn upcall_return(&mut self, partition: u16) {
        assert_eq!(partition, 0);
        self.seen.push("return");
    }
}

#[test]
fn the_return_comes_before_the_next_upcall_of_the_same_call() {
    let (router, pages) = system();
    let mut adapter = Order { inner: Adapter::new(), seen: Vec::new() };
    boot(&router, &mut adapter.inner);
    let _ = pages[0].guest().sti();
    adapter.inner.now = 1;
    router.on_hardware_irq(&CPU0, SHARED, &mut adapter);
    router.on_hardware_irq(&CPU0, SHARED, &mut adapter);
    assert_eq!(adapter.seen, ["inject"]);
    let port = Port::new(u32::from(SHARED_PORT)).unwrap();
    assert_eq!(router.call(&CPU0, pid(0), Request::Acknowledge { port }, &mut adapter), Ok(1));
    assert_eq!(router.call(&CPU0, pid(0), Request::UpcallReturn, &mut adapter), Ok(0));
    assert_eq!(adapter.seen, ["inject", "return", "inject"], "restored, then the next one");

    // No return outside an upcall.
    assert_eq!(router.call(&CPU0, pid(0), Request::Acknowledge { port }, &mut adapter), Ok(0));
    assert_eq!(router.call(&CPU0, pid(0), Request::UpcallReturn, &mut adapter), Ok(0));
    assert_eq!(
        router.call(&CPU0, pid(0), Request::UpcallReturn, &mut adapter),
        Err(ErrorCode::NotInUpcall)
    );
    assert_eq!(adapter.seen, ["inject", "return", "inject", "return"]);

    // From the fault handler too.
    router.on_trap(&CPU0, pid(0), Trap { vector: 14, error_code: 0, address: 8 }, &mut adapter);
    assert_eq!(router.call(&CPU0, pid(0), Request::UpcallReturn, &mut adapter), Ok(0));
    assert_eq!(adapter.seen[4..], ["fault handler", "return"]);
}
