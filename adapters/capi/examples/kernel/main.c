/*
 * A hosted example "kernel" in plain C that embeds the interrupt-virtualization
 * subsystem through irq_capi.h.
 *
 * Simulated here: a PIT (the kernel's tick counter and its clock vector 0x20), a
 * cyclic schedule of two partitions (windows of 10 ticks in a 20-tick major frame), a
 * shared device line (vector 0x23) and the two partitions' guest code, which takes its
 * upcalls and answers with hypercalls through the library, as a paravirtualized RTEMS
 * would. Nothing is allocated: every table is static.
 *
 * Output lines (checked by the test capi_example_kernel_runs):
 *   config rejected: ...              an invalid configuration, the entry named
 *   p<N> start reason <R>             read from the shared page
 *   console p0: hello from p0         console_write hypercall
 *   p0 bad hypercall: status <S>      an illegal hypercall, answered
 *   p<N> irq 0x23 ...                 the shared line delivered to each partition
 *   p1 channel notification from p0   a channel notification
 *   p1 trap 14 ...                    a trap delivered to the fault handler
 *   hm: ...                           health-monitor records (the kernel's log)
 *   p<N> ticks <T> clock <C> kernel <K> drift <D>
 *   destroyed; later call: IRQ_STATUS_BAD_HANDLE
 *   ok
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "irq_capi.h"

#define CLOCK_VECTOR 0x20u
#define SHARED_VECTOR 0x23u
#define TIMER_PORT 0u
#define SHARED_PORT 2u
#define CHANNEL_PORT 4u
#define FRAME 20u
#define WINDOW 10u
#define LAST_TICK 90u
#define PARTITIONS 2u
#define QUEUE 64u

/* ---- the partitions' memory: each one's "address space" is a static array ---- */

static unsigned char memory[PARTITIONS][4096] __attribute__((aligned(64)));

static uint64_t address_of(unsigned p, unsigned offset) {
    return (uint64_t)(uintptr_t)&memory[p][offset];
}

/* ---- the kernel's state ---- */

struct guest {
    IrqUpcall queue[QUEUE]; /* upcalls injected, not yet run */
    unsigned head, tail;
    int booted;
    uint64_t ticks; /* timer events the guest counted */
    unsigned irqs, notifications, traps;
};

static struct {
    uint64_t now;          /* the PIT's tick counter */
    uint64_t kernel_ticks; /* the kernel's own clock handler ran */
    unsigned eois, masks, kicks;
    int kicked; /* the engine kicked this CPU: resume the running partition */
    int running;
    IrqRouter *router;
    struct guest guests[PARTITIONS];
} k;

static void fail(const char *what, IrqStatus status) {
    fprintf(stderr, "FAIL: %s: %s\n", what, irq_status_name(status));
    exit(1);
}

static void check(const char *what, IrqStatus status) {
    if (status != IRQ_STATUS_OK) {
        fail(what, status);
    }
}

/* ---- the adapter table: what the library asks of the kernel ---- */

static uint64_t op_now(void *ctx) {
    (void)ctx;
    return k.now;
}

static void op_kernel_handler(void *ctx, uint8_t vector) {
    (void)ctx;
    if (vector == CLOCK_VECTOR) {
        k.kernel_ticks++;
    }
}

static void op_eoi(void *ctx, uint8_t vector) {
    (void)ctx;
    (void)vector;
    k.eois++;
}

static void op_mask(void *ctx, uint8_t vector) {
    (void)ctx;
    (void)vector;
    k.masks++;
}

static void op_unmask(void *ctx, uint8_t vector) {
    (void)ctx;
    (void)vector;
}

/* Called inside a library call: only record the upcall; the guest runs afterwards. */
static uint32_t op_inject_upcall(void *ctx, IrqPartition partition, const IrqUpcall *upcall,
                                 void *frame) {
    (void)ctx;
    (void)frame; /* this simulation keeps no register frames: the queue stands for them */
    struct guest *g = &k.guests[partition];
    if (g->tail - g->head == QUEUE) {
        return IRQ_UPCALL_BAD_STACK;
    }
    g->queue[g->tail++ % QUEUE] = *upcall;
    return IRQ_UPCALL_OK;
}

static void op_kick(void *ctx, uint16_t cpu) {
    (void)ctx;
    (void)cpu; /* one CPU: always this one */
    k.kicks++;
    k.kicked = 1;
}

static void op_wait(void *ctx, IrqPartition partition) {
    (void)ctx;
    (void)partition;
}

static uint32_t op_user_range(void *ctx, IrqPartition partition, uint64_t addr, uint64_t len) {
    (void)ctx;
    if (partition >= PARTITIONS) {
        return 0;
    }
    uint64_t start = address_of(partition, 0);
    uint64_t size = sizeof memory[partition];
    return addr >= start && len <= size && addr - start <= size - len;
}

static uint64_t op_console_write(void *ctx, IrqPartition partition, uint64_t addr, uint64_t len) {
    (void)ctx;
    printf("console p%u: %.*s\n", partition, (int)len, (const char *)(uintptr_t)addr);
    return len;
}

static void op_restart(void *ctx, IrqPartition partition, uint8_t mode) {
    (void)ctx;
    printf("restart p%u mode %u\n", partition, mode);
}

static void op_idle(void *ctx, IrqPartition partition) {
    (void)ctx;
    printf("idle p%u\n", partition);
}

static void op_stop_module(void *ctx) {
    (void)ctx;
    printf("module stopped\n");
}

static void op_log(void *ctx, const IrqHmRecord *record) {
    (void)ctx;
    printf("hm: tick %" PRIu64 " partition %d kind %u action %u detail %" PRIu64 "\n",
           record->tick, (int)record->partition, record->kind, record->action, record->detail);
}

static void op_upcall_return(void *ctx, IrqPartition partition, void *frame) {
    (void)ctx;
    (void)partition;
    (void)frame; /* the simulated guest resumes by itself */
}

static const IrqKernelOps OPS = {
    .ctx = NULL,
    .now = op_now,
    .kernel_handler = op_kernel_handler,
    .eoi = op_eoi,
    .mask = op_mask,
    .unmask = op_unmask,
    .inject_upcall = op_inject_upcall,
    .kick = op_kick,
    .wait = op_wait,
    .user_range = op_user_range,
    .console_write = op_console_write,
    .restart = op_restart,
    .idle = op_idle,
    .stop_module = op_stop_module,
    .log = op_log,
    .upcall_return = op_upcall_return,
};

/* ---- the configuration ---- */

static const IrqPortConfig P0_PORTS[] = {
    {.port = TIMER_PORT, .source = IRQ_SOURCE_TIMER, .mode = IRQ_PORT_COUNTING},
    {.port = SHARED_PORT, .source = IRQ_SOURCE_LINE, .source_id = SHARED_VECTOR},
    {.port = CHANNEL_PORT, .source = IRQ_SOURCE_CHANNEL, .source_id = 0},
};
static const IrqPortConfig P1_PORTS[] = {
    {.port = TIMER_PORT, .source = IRQ_SOURCE_TIMER, .mode = IRQ_PORT_COUNTING},
    {.port = SHARED_PORT, .source = IRQ_SOURCE_LINE, .source_id = SHARED_VECTOR},
    {.port = CHANNEL_PORT, .source = IRQ_SOURCE_CHANNEL, .source_id = 0},
};
static const IrqWindow WINDOWS[] = {
    {.partition = 0, .start = 0, .length = WINDOW},
    {.partition = 1, .start = WINDOW, .length = WINDOW},
};
static const IrqTarget SHARED_TARGETS[] = {
    {.partition = 0, .port = SHARED_PORT},
    {.partition = 1, .port = SHARED_PORT},
};
/* Partition 1's port 0 is its timer, not the shared line: refused. */
static const IrqTarget BAD_TARGETS[] = {
    {.partition = 0, .port = SHARED_PORT},
    {.partition = 1, .port = TIMER_PORT},
};
static const IrqChannel CHANNELS[] = {
    {.source_partition = 0,
     .source_port = CHANNEL_PORT,
     .destination_partition = 1,
     .destination_port = CHANNEL_PORT},
};

static void partitions(IrqPartitionConfig out[PARTITIONS]) {
    /* Zero-filled: no priority levels (`levels` NULL), so the lowest port comes first. */
    memset(out, 0, sizeof(IrqPartitionConfig) * PARTITIONS);
    const IrqPortConfig *ports[PARTITIONS] = {P0_PORTS, P1_PORTS};
    const char *names[PARTITIONS] = {"p0", "p1"};
    for (unsigned p = 0; p < PARTITIONS; p++) {
        out[p].name = names[p];
        out[p].ports = ports[p];
        out[p].port_count = 3;
        out[p].timer_port = TIMER_PORT;
        out[p].error_port = IRQ_NO_PORT;
        out[p].catch_up = IRQ_CATCH_UP_REPLAY;
        out[p].vectors[SHARED_VECTOR / 64] = 1ull << (SHARED_VECTOR % 64);
        out[p].channels = 1; /* channel 0 */
        out[p].health[IRQ_HM_KIND_TRAP] = IRQ_HM_DELIVER;
    }
}

static IrqSystemConfig system_config(const IrqPartitionConfig *parts, const IrqRoute *route) {
    IrqSystemConfig config = {
        .partitions = parts,
        .partition_count = PARTITIONS,
        .major_frame = FRAME,
        .windows = WINDOWS,
        .window_count = 2,
        .routes = route,
        .route_count = 1,
        .clock_vector = CLOCK_VECTOR,
        .channels = CHANNELS,
        .channel_count = 1,
        .channel_budgets = NULL,
        .channel_budget_count = 0,
    };
    return config;
}

/* ---- the guests ---- */

/* A hypercall of partition p: what its trap into the kernel does. */
static uint64_t hypercall(unsigned p, IrqRawCall call, uint64_t *value) {
    uint64_t status = 0, v = 0;
    check("hypercall",
          irq_router_hypercall(k.router, p, call.number, call.args[0], call.args[1],
                               call.args[2], call.args[3], &status, &v, NULL));
    if (value != NULL) {
        *value = v;
    }
    return status;
}

static void expect_success(unsigned p, IrqRawCall call, uint64_t *value) {
    uint64_t status = hypercall(p, call, value);
    if (status != IRQ_HC_STATUS_SUCCESS) {
        fprintf(stderr, "FAIL: p%u call %" PRIu64 " answered %" PRIu64 "\n", p, call.number,
                status);
        exit(1);
    }
}

/* The guest's first run: register its handlers, enable its virtual interrupts. */
static void guest_boot(unsigned p) {
    expect_success(p, irq_hc_encode_register_upcall(address_of(p, 0x100)), NULL);
    expect_success(p, irq_hc_encode_register_fault_handler(address_of(p, 0x200)), NULL);
    expect_success(p, irq_hc_encode_interrupts_enable(), NULL);
    k.guests[p].booted = 1;
}

/* The guest runs its upcalls, each ending with upcall_return (which may inject the next). */
static void guest_run(unsigned p) {
    struct guest *g = &k.guests[p];
    if (k.kicked) {
        k.kicked = 0;
        check("resume", irq_router_resume(k.router, p, NULL));
    }
    while (g->head != g->tail) {
        IrqUpcall u = g->queue[g->head++ % QUEUE];
        uint64_t value = 0;
        if (u.port < 0) {
            g->traps++;
            printf("p%u trap %u error %u at 0x%" PRIx64 " delivered to its fault handler\n", p,
                   u.vector, u.error_code, u.fault_address);
        } else if ((unsigned)u.port == TIMER_PORT) {
            expect_success(p, irq_hc_encode_take_count(TIMER_PORT), &value);
            g->ticks += value;
        } else if ((unsigned)u.port == SHARED_PORT) {
            g->irqs++;
            printf("p%u irq 0x%x delivered (raised at tick %" PRIu64 ")\n", p, u.vector,
                   u.timestamp);
            expect_success(p, irq_hc_encode_acknowledge(SHARED_PORT), NULL);
        } else if ((unsigned)u.port == CHANNEL_PORT) {
            g->notifications++;
            printf("p%u channel notification from p%u\n", p, (unsigned)u.sender);
            expect_success(p, irq_hc_encode_acknowledge(CHANNEL_PORT), NULL);
        }
        expect_success(p, irq_hc_encode_upcall_return(), NULL);
    }
}

/* ---- the kernel ---- */

/* The window switch the library's schedule asked for (the configured WINDOWS). */
static int switch_window(uint64_t now, const IrqSwitch *sw) {
    if (!sw->switched) {
        return 0;
    }
    if (sw->from != IRQ_NO_PARTITION) {
        check("exit", irq_router_partition_exit(k.router, sw->from, now));
    }
    k.running = sw->to == IRQ_NO_PARTITION ? -1 : (int)sw->to;
    if (sw->to == IRQ_NO_PARTITION) {
        return 1; /* a gap: nobody runs */
    }
    check("entry", irq_router_partition_entry(k.router, sw->to, now, sw->until - now, NULL));
    if (!k.guests[k.running].booted) {
        guest_boot((unsigned)k.running);
    }
    guest_run((unsigned)k.running);
    return 1;
}

static int rejects_an_invalid_configuration(void) {
    IrqPartitionConfig parts[PARTITIONS];
    partitions(parts);
    IrqRoute bad = {.vector = SHARED_VECTOR,
                    .sharing = IRQ_SHARING_SHARED,
                    .trigger = IRQ_TRIGGER_EDGE,
                    .targets = BAD_TARGETS,
                    .target_count = 2};
    IrqSystemConfig config = system_config(parts, &bad);
    IrqRouter *router = NULL;
    IrqConfigError error;
    IrqStatus status = irq_router_create(&config, &OPS, &router, &error);
    printf("config rejected: %s %s table %d entry %d index %d\n",
           irq_status_name(status), irq_config_error_name(error.kind),
           (int)error.table, error.entry, error.index);
    return status == IRQ_STATUS_INVALID_CONFIG && router == NULL &&
           error.kind == IRQ_CONFIG_ERROR_KIND_ROUTE_PORT_NOT_BOUND &&
           error.table == IRQ_CONFIG_TABLE_ROUTES && error.entry == 0 && error.index == 1;
}

int main(void) {
    int ok = rejects_an_invalid_configuration();

    IrqPartitionConfig parts[PARTITIONS];
    partitions(parts);
    IrqRoute shared = {.vector = SHARED_VECTOR,
                       .sharing = IRQ_SHARING_SHARED,
                       .trigger = IRQ_TRIGGER_EDGE,
                       .targets = SHARED_TARGETS,
                       .target_count = 2};
    IrqSystemConfig config = system_config(parts, &shared);
    IrqConfigError error;
    check("create", irq_router_create(&config, &OPS, &k.router, &error));
    check("start", irq_router_start(k.router));
    for (unsigned p = 0; p < PARTITIONS; p++) {
        void *page = NULL;
        check("page", irq_router_shared_page(k.router, p, &page));
        printf("p%u start reason %u\n", p,
               ((const unsigned char *)page)[IRQ_PAGE_START_REASON_OFFSET]);
    }

    /* Tick 0: the schedule's first window. */
    k.now = 0;
    IrqSwitch first;
    check("schedule", irq_router_tick_switch(k.router, 0, &first, NULL));
    ok &= first.switched == 1 && first.from == IRQ_NO_PARTITION && first.to == 0 &&
          first.until == WINDOW;
    switch_window(0, &first);

    static const char hello[] = "hello from p0";
    memcpy(&memory[0][0x400], hello, sizeof hello - 1);

    for (uint64_t now = 1; now <= LAST_TICK; now++) {
        k.now = now;
        /* The PIT fires: the kernel's handler, then the virtual ticks and the schedule. */
        IrqSwitch sw;
        check("clock", irq_router_hardware_irq_switch(k.router, CLOCK_VECTOR, &sw, NULL));
        if (switch_window(now, &sw)) {
            ok &= now % WINDOW == 0;
            if (now >= LAST_TICK - WINDOW) {
                unsigned p = (unsigned)k.running;
                uint64_t clock = 0;
                expect_success(p, irq_hc_encode_clock_read(), &clock);
                printf("p%u ticks %" PRIu64 " clock %" PRIu64 " kernel %" PRIu64
                       " drift %" PRId64 "\n",
                       p, k.guests[p].ticks, clock, now, (int64_t)(now - k.guests[p].ticks));
                ok &= k.guests[p].ticks == now && clock == now;
            }
        }
        if (k.running >= 0) {
            guest_run((unsigned)k.running);
        }

        switch (now) {
        case 3: /* p0 writes to the console */
            expect_success(0, irq_hc_encode_console_write(address_of(0, 0x400), sizeof hello - 1),
                           NULL);
            break;
        case 4: { /* p0 makes a call that does not exist */
            IrqRawCall bad = {.number = 99};
            uint64_t status = hypercall(0, bad, NULL);
            printf("p0 bad hypercall: status %" PRIu64 "\n", status);
            ok &= status == IRQ_HC_STATUS_UNKNOWN_CALL;
            break;
        }
        case 5: /* the shared device raises its line */
            check("irq", irq_router_hardware_irq(k.router, SHARED_VECTOR, NULL));
            guest_run((unsigned)k.running);
            break;
        case 6: /* p0 notifies p1 through channel 0 */
            expect_success(0, irq_hc_encode_notify(CHANNEL_PORT), NULL);
            printf("p0 notified channel 0\n");
            break;
        case 13: /* p1 touches memory it does not have: a page fault */
            check("trap", irq_router_trap(k.router, 1, 14, 2, 0xdead000, NULL));
            guest_run(1);
            break;
        default:
            break;
        }
    }

    IrqHmRecord records[IRQ_HM_LOG_LEN];
    uint32_t count = 0;
    check("health log", irq_router_health_log(k.router, 0, records, IRQ_HM_LOG_LEN, &count));
    ok &= count == 1 && records[0].kind == IRQ_HM_KIND_ILLEGAL_HYPERCALL &&
          records[0].detail == 99;
    printf("p0 health log: %u record(s), kind %u detail %" PRIu64 "\n", (unsigned)count,
           count ? records[0].kind : 0, count ? records[0].detail : 0);
    check("health log", irq_router_health_log(k.router, 1, records, IRQ_HM_LOG_LEN, &count));
    ok &= count == 1 && records[0].kind == IRQ_HM_KIND_TRAP && records[0].action == IRQ_HM_DELIVER;

    ok &= k.guests[0].irqs == 1 && k.guests[1].irqs == 1;
    ok &= k.guests[1].notifications == 1 && k.guests[1].traps == 1;
    ok &= k.kernel_ticks == LAST_TICK;
    printf("kernel ticks %" PRIu64 " eois %u\n", k.kernel_ticks, k.eois);

    check("destroy", irq_router_destroy(k.router));
    IrqStatus after = irq_router_tick(k.router, 0, NULL);
    printf("destroyed; later call: %s\n", irq_status_name(after));
    ok &= after == IRQ_STATUS_BAD_HANDLE;
    ok &= irq_router_hardware_irq(NULL, 0, NULL) == IRQ_STATUS_BAD_HANDLE;

    printf("%s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
