/*
 * The header as a kernel includes it: beside the kernel's own fixed-width types (POK's
 * types.h style, with an intptr_t of its own that <stdint.h> would contradict), no C
 * library (-ffreestanding -nostdinc), IRQ_CAPI_NO_STDINT. The layouts the library writes
 * are checked at compile time, also under -fshort-enums and -m32: no C enum is in them.
 */
typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef unsigned long long uint64_t;
typedef signed char int8_t;
typedef int int32_t;
typedef int intptr_t; /* the kernel's own; <stdint.h> would say long on x86-64 */
#define NULL ((void *)0)
#define offsetof(t, f) __builtin_offsetof(t, f)

#define IRQ_CAPI_NO_STDINT
#include "irq_capi.h"

_Static_assert(sizeof(IrqStatus) == 4, "a status is a uint32_t");
_Static_assert(sizeof(IrqPartition) == 4, "a partition is a uint32_t");
_Static_assert(sizeof(IrqConfigError) == 20, "IrqConfigError");
_Static_assert(offsetof(IrqConfigError, partition) == 8, "IrqConfigError.partition");
_Static_assert(offsetof(IrqConfigError, index) == 16, "IrqConfigError.index");
_Static_assert(sizeof(IrqHmRecord) == 40, "IrqHmRecord");
_Static_assert(offsetof(IrqHmRecord, detail) == 16, "IrqHmRecord.detail");
_Static_assert(sizeof(IrqUpcall) == 48, "IrqUpcall");
_Static_assert(offsetof(IrqUpcall, sender) == 20, "IrqUpcall.sender");
_Static_assert(offsetof(IrqUpcall, fault_address) == 32, "IrqUpcall.fault_address");
_Static_assert(sizeof(IrqSwitch) == 24, "IrqSwitch");
_Static_assert(offsetof(IrqSwitch, until) == 16, "IrqSwitch.until");
_Static_assert(sizeof(IrqI386Regs) == 20, "IrqI386Regs");
_Static_assert(IRQ_NO_PARTITION == 0xFFFFFFFFu, "IRQ_NO_PARTITION");
_Static_assert(IRQ_CAPI_VERSION == (IRQ_CAPI_VERSION_MAJOR << 16 | IRQ_CAPI_VERSION_MINOR << 8 |
                                    IRQ_CAPI_VERSION_PATCH),
               "IRQ_CAPI_VERSION");

/* Every encoder, by name: one per call of the ABI. */
IrqRawCall every_call(uint32_t n);
IrqRawCall every_call(uint32_t n) {
    switch (n) {
    case 0: return irq_hc_encode_abi_version();
    case 1: return irq_hc_encode_irq_request(0x23, 1);
    case 2: return irq_hc_encode_irq_detach(0x23);
    case 3: return irq_hc_encode_interrupts_enable();
    case 4: return irq_hc_encode_interrupts_disable();
    case 5: return irq_hc_encode_interrupts_flash();
    case 6: return irq_hc_encode_interrupts_set_level(1);
    case 7: return irq_hc_encode_idle();
    case 8: return irq_hc_encode_acknowledge(1);
    case 9: return irq_hc_encode_take_count(1);
    case 10: return irq_hc_encode_mask(1);
    case 11: return irq_hc_encode_unmask(1);
    case 12: return irq_hc_encode_notify(1);
    case 13: return irq_hc_encode_clock_read();
    case 14: return irq_hc_encode_register_upcall(0x1000);
    case 15: return irq_hc_encode_register_fault_handler(0x2000);
    case 16: return irq_hc_encode_register_port_handler(1, 0x3000);
    case 17: return irq_hc_encode_console_write(0x4000, 5);
    case 18: return irq_hc_encode_exec_stop_error(0x77);
    case 19: return irq_hc_encode_start_reason();
    case 20: return irq_hc_encode_upcall_return();
    default: return irq_hc_encode_ping_answer();
    }
}
