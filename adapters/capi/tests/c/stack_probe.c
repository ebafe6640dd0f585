/*
 * Stack use of every entry point of the library, measured by stack painting: each call
 * runs on a thread whose stack (STACK_SIZE bytes, ours) is first filled with a pattern;
 * after the thread ends, the deepest byte that no longer holds the pattern is the call's
 * high-water mark. The thread's own start-up frame is measured once with an empty call
 * (the baseline) and subtracted.
 *
 * Output, one line per call:  stack <name> <bytes>   (baseline subtracted)
 * then:                       stack-max <bytes> <name>
 *                             ok
 * Used by tests/capi_stack.rs for the host build and the i686 (gcc -m32) build.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "irq_capi.h"

#define STACK_SIZE (1024u * 1024u)
#define PATTERN 0xa5u

static unsigned char stack[STACK_SIZE] __attribute__((aligned(4096)));

static IrqRouter *router;
static uint64_t now_tick;

static uint64_t op_now(void *ctx) { (void)ctx; return now_tick; }
static void op_vector(void *ctx, uint8_t vector) { (void)ctx; (void)vector; }
static uint32_t op_inject(void *ctx, IrqPartition partition, const IrqUpcall *upcall,
                          void *frame) {
    (void)ctx; (void)partition; (void)upcall; (void)frame;
    return IRQ_UPCALL_OK;
}
static void op_cpu(void *ctx, uint16_t cpu) { (void)ctx; (void)cpu; }
static void op_partition(void *ctx, IrqPartition partition) { (void)ctx; (void)partition; }
static uint32_t op_range(void *ctx, IrqPartition partition, uint64_t addr, uint64_t len) {
    (void)ctx; (void)partition; (void)addr; (void)len;
    return 1;
}
static uint64_t op_console(void *ctx, IrqPartition partition, uint64_t addr, uint64_t len) {
    (void)ctx; (void)partition; (void)addr;
    return len;
}
static void op_restart(void *ctx, IrqPartition partition, uint8_t mode) {
    (void)ctx; (void)partition; (void)mode;
}
static void op_stop(void *ctx) { (void)ctx; }
static void op_log(void *ctx, const IrqHmRecord *record) { (void)ctx; (void)record; }
static void op_return(void *ctx, IrqPartition partition, void *frame) {
    (void)ctx; (void)partition; (void)frame;
}

static const IrqKernelOps OPS = {
    .now = op_now, .kernel_handler = op_vector, .eoi = op_vector, .mask = op_vector,
    .unmask = op_vector, .inject_upcall = op_inject, .kick = op_cpu, .wait = op_partition,
    .user_range = op_range, .console_write = op_console, .restart = op_restart,
    .idle = op_partition, .stop_module = op_stop, .log = op_log, .upcall_return = op_return,
};

static const IrqPortConfig PORTS[] = {
    {.port = 0, .source = IRQ_SOURCE_TIMER, .mode = IRQ_PORT_COUNTING},
    {.port = 1, .source = IRQ_SOURCE_LINE, .source_id = 0x23},
    {.port = 2, .source = IRQ_SOURCE_CHANNEL, .source_id = 0},
    {.port = 3, .source = IRQ_SOURCE_LIFECYCLE},
};
static const IrqWindow WINDOWS[] = {
    {.partition = 0, .start = 0, .length = 10},
    {.partition = 1, .start = 10, .length = 10},
};
static const IrqTarget TARGETS[] = {{.partition = 0, .port = 1}, {.partition = 1, .port = 1}};
static const IrqChannel CHANNELS[] = {
    {.source_partition = 0, .source_port = 2, .destination_partition = 1, .destination_port = 2},
};

static IrqPartitionConfig parts[IRQ_MAX_PARTITIONS];
static IrqRoute route;
static IrqSystemConfig config;

static void configure(uint32_t partitions, uint16_t bad_timer) {
    memset(parts, 0, sizeof parts);
    for (uint32_t p = 0; p < partitions; p++) {
        parts[p].name = "probe";
        parts[p].ports = PORTS;
        parts[p].port_count = 4;
        parts[p].timer_port = bad_timer ? 1 : 0;
        parts[p].error_port = 3;
        parts[p].vectors[0] = 1ull << 0x23;
        parts[p].channels = 1;
        parts[p].health[IRQ_HM_KIND_PARTITION_ERROR] = IRQ_HM_COLD_START;
        parts[p].health[IRQ_HM_KIND_TRAP] = IRQ_HM_DELIVER;
    }
    route = (IrqRoute){.vector = 0x23, .sharing = IRQ_SHARING_SHARED,
                       .trigger = IRQ_TRIGGER_EDGE, .targets = TARGETS,
                       .target_count = partitions < 2 ? partitions : 2};
    config = (IrqSystemConfig){.partitions = parts, .partition_count = partitions,
                               .major_frame = 20, .windows = WINDOWS, .window_count = 2,
                               .routes = &route, .route_count = 1, .clock_vector = 0x20,
                               .channels = CHANNELS, .channel_count = 1};
}

static int failures;

static void expect(const char *what, IrqStatus status, IrqStatus wanted) {
    if (status != wanted) {
        fprintf(stderr, "FAIL %s: %s\n", what, irq_status_name(status));
        failures++;
    }
}

static uint64_t hc(IrqPartition p, IrqRawCall call) {
    uint64_t status = 0, value = 0;
    expect("hypercall", irq_router_hypercall(router, p, call.number, call.args[0], call.args[1],
                                             call.args[2], call.args[3], &status, &value, NULL),
           IRQ_STATUS_OK);
    return status;
}

/* ---- the calls measured ---- */

static void nothing(void) {}
static void create(void) {
    IrqConfigError error;
    configure(IRQ_MAX_PARTITIONS, 0);
    config.window_count = 2;
    expect("create", irq_router_create(&config, &OPS, &router, &error), IRQ_STATUS_OK);
}
static void create_invalid(void) {
    IrqRouter *bad = NULL;
    IrqConfigError error;
    configure(IRQ_MAX_PARTITIONS, 1);
    expect("create invalid", irq_router_create(&config, &OPS, &bad, &error),
           IRQ_STATUS_INVALID_CONFIG);
}
static void start(void) { expect("start", irq_router_start(router), IRQ_STATUS_OK); }
static void tick_switch(void) {
    IrqSwitch sw;
    expect("tick", irq_router_tick_switch(router, 0, &sw, NULL), IRQ_STATUS_OK);
}
static void entry(void) {
    expect("entry", irq_router_partition_entry(router, 0, 0, 10, NULL), IRQ_STATUS_OK);
}
static void hypercalls(void) {
    hc(0, irq_hc_encode_register_upcall(0x1000));
    hc(0, irq_hc_encode_register_fault_handler(0x2000));
    hc(0, irq_hc_encode_interrupts_enable());
}
static void clock_irq(void) {
    IrqSwitch sw;
    now_tick = 1;
    expect("clock", irq_router_hardware_irq_switch(router, 0x20, &sw, NULL), IRQ_STATUS_OK);
}
static void line_irq(void) {
    expect("line", irq_router_hardware_irq(router, 0x23, NULL), IRQ_STATUS_OK);
}
static void acknowledge(void) {
    hc(0, irq_hc_encode_acknowledge(1));
    hc(0, irq_hc_encode_upcall_return());
}
static void notify(void) { hc(0, irq_hc_encode_notify(2)); }
static void bad_call(void) {
    IrqRawCall call = {.number = 99};
    hc(0, call);
}
static void trap(void) {
    expect("trap", irq_router_trap(router, 0, 14, 2, 0xdead000, NULL), IRQ_STATUS_OK);
}
static void resume(void) { expect("resume", irq_router_resume(router, 0, NULL), IRQ_STATUS_OK); }
static void stop_error(void) { hc(0, irq_hc_encode_exec_stop_error(0x77)); }
static void exit_window(void) {
    expect("exit", irq_router_partition_exit(router, 0, 2), IRQ_STATUS_OK);
}
static void inspect(void) {
    void *page;
    uint8_t mode, stopped;
    uint64_t total, dropped;
    expect("page", irq_router_shared_page(router, 0, &page), IRQ_STATUS_OK);
    expect("mode", irq_router_mode(router, 0, &mode), IRQ_STATUS_OK);
    expect("stopped", irq_router_stopped(router, &stopped), IRQ_STATUS_OK);
    expect("counts", irq_router_health_counts(router, 0, &total, &dropped), IRQ_STATUS_OK);
}
static void health_log(void) {
    IrqHmRecord records[IRQ_HM_LOG_LEN];
    uint32_t count;
    expect("log", irq_router_health_log(router, 0, records, IRQ_HM_LOG_LEN, &count),
           IRQ_STATUS_OK);
}
static void destroy(void) { expect("destroy", irq_router_destroy(router), IRQ_STATUS_OK); }

static void *run(void *arg) {
    ((void (*)(void))arg)();
    return NULL;
}

/* Runs `call` on the painted stack; its high-water mark in bytes. */
static size_t measure(void (*call)(void)) {
    memset(stack, PATTERN, sizeof stack);
    pthread_attr_t attr;
    pthread_t thread;
    if (pthread_attr_init(&attr) != 0 || pthread_attr_setstack(&attr, stack, sizeof stack) != 0 ||
        pthread_create(&thread, &attr, run, (void *)call) != 0 || pthread_join(thread, NULL) != 0) {
        fprintf(stderr, "FAIL: cannot run a thread on the painted stack\n");
        exit(1);
    }
    pthread_attr_destroy(&attr);
    size_t untouched = 0;
    while (untouched < sizeof stack && stack[untouched] == PATTERN) {
        untouched++;
    }
    return sizeof stack - untouched;
}

int main(void) {
    static const struct {
        const char *name;
        void (*call)(void);
    } calls[] = {
        {"irq_router_create", create},
        {"irq_router_create(invalid)", create_invalid},
        {"irq_router_start", start},
        {"irq_router_tick_switch", tick_switch},
        {"irq_router_partition_entry", entry},
        {"irq_router_hypercall(register,enable)", hypercalls},
        {"irq_router_hardware_irq_switch(clock)", clock_irq},
        {"irq_router_hardware_irq(line)", line_irq},
        {"irq_router_hypercall(acknowledge,upcall_return)", acknowledge},
        {"irq_router_hypercall(notify)", notify},
        {"irq_router_hypercall(illegal)", bad_call},
        {"irq_router_trap", trap},
        {"irq_router_resume", resume},
        {"irq_router_hypercall(exec_stop_error,restart)", stop_error},
        {"irq_router_partition_exit", exit_window},
        {"irq_router_inspection", inspect},
        {"irq_router_health_log", health_log},
        {"irq_router_destroy", destroy},
    };
    size_t baseline = measure(nothing);
    size_t max = 0;
    const char *deepest = "";
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        size_t used = measure(calls[i].call);
        used = used > baseline ? used - baseline : 0;
        printf("stack %s %zu\n", calls[i].name, used);
        if (used > max) {
            max = used;
            deepest = calls[i].name;
        }
    }
    printf("stack-baseline %zu\n", baseline);
    printf("stack-max %zu %s\n", max, deepest);
    printf("%s\n", failures == 0 ? "ok" : "FAILED");
    return failures == 0 ? 0 : 1;
}
