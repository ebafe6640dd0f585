/*
 * A partition program in C for the hosted runner, linked with the C guest library:
 * give it to a partition with `program = ["path/to/partition"]` in the configuration.
 *
 * It takes its timer ticks, acknowledges its hardware line one event at a time, takes
 * what its channels and error port bring, answers pings, and runs a critical section
 * with its ISR level closed (one store each way through the shared page, as RTEMS's
 * interrupt disable and enable). The upcall handler runs as a signal handler: it uses
 * only the library's calls and plain memory.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "irq_guest.h"

static volatile sig_atomic_t ticks;
static volatile sig_atomic_t line_events;

static void on_upcall(const IrqGuestUpcall *upcall)
{
    if (upcall->port == IRQ_GUEST_TRAP) {
        return;
    }
    uint32_t port = (uint32_t)upcall->port;
    switch (irq_guest_role(port)) {
    case IRQ_GUEST_ROLE_TIMER: {
        int64_t n = irq_guest_take_count(port);
        if (n > 0) {
            ticks += (sig_atomic_t)n;
        }
        break;
    }
    case IRQ_GUEST_ROLE_LINE:
        if (irq_guest_acknowledge(port) >= 0) {
            line_events++;
        }
        break;
    case IRQ_GUEST_ROLE_PING:
        (void)irq_guest_take_count(port);
        (void)irq_guest_ping_answer();
        break;
    default:
        (void)irq_guest_take_count(port);
        break;
    }
}

int main(void)
{
    int64_t status = irq_guest_attach();
    if (status < 0) {
        fprintf(stderr, "partition.c: not run by the runner (%lld)\n", (long long)status);
        return 1;
    }
    const char *name = getenv("IRQ_PARTITION_NAME");
    char text[128];
    int len = snprintf(text, sizeof text, "%s: the C example partition, start reason %lld\n",
                       name ? name : "?", (long long)(irq_guest_start_reason() >> 32));
    if (len > 0) {
        (void)irq_guest_console_write((const uint8_t *)text, (size_t)len);
    }
    if (irq_guest_on_upcall(on_upcall) < 0 || irq_guest_enable_irqs() < 0) {
        return 1;
    }
    /* A critical section once, as RTEMS's interrupt disable/enable would. */
    uint32_t level = irq_guest_isr_close();
    (void)irq_guest_isr_set_level(level);
    irq_guest_run();
    return 1;
}
