//! Shared by the tests; [`harness`] runs those that need tools outside cargo (cc,
//! valgrind, cbindgen, clang, the nightly toolchain).
#![allow(dead_code, reason = "each test file uses a part of this")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The crate's directory.
pub(crate) fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The workspace's directory.
pub(crate) fn workspace_dir() -> PathBuf {
    crate_dir().join("../..")
}

/// Whether the CI gate runs (a missing tool then fails the test instead of skipping it).
pub(crate) fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// What a test needs from outside cargo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    /// The system C compiler.
    Cc,
    /// `cc -m32 -static` (gcc-multilib).
    CcM32,
    /// clang.
    Clang,
    /// valgrind.
    Valgrind,
    /// cbindgen.
    Cbindgen,
    /// `ld`, `nm`, `objdump`.
    Binutils,
    /// The nightly toolchain with its `rust-src` component (`-Z build-std`).
    NightlySrc,
}

impl Need {
    /// `None` if this machine has it, else how to install it.
    fn missing(self) -> Option<&'static str> {
        static FOUND: [OnceLock<bool>; 7] = [const { OnceLock::new() }; 7];
        let found = *FOUND[self as usize].get_or_init(|| match self {
            Self::Cc => find("cc", &[]).is_some(),
            Self::CcM32 => find("cc", &[]).is_some_and(|cc| builds_m32(&cc)),
            Self::Clang => find("clang", &[]).is_some(),
            Self::Valgrind => find("valgrind", &[]).is_some(),
            Self::Cbindgen => find("cbindgen", &cargo_bin("cbindgen")).is_some(),
            Self::Binutils => ["ld", "nm", "objdump"].iter().all(|t| find(t, &[]).is_some()),
            Self::NightlySrc => Command::new("rustup")
                .args(["component", "list", "--toolchain", "nightly", "--installed"])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("rust-src")),
        });
        (!found).then_some(match self {
            Self::Cc => "cc (apt-get install -y gcc)",
            Self::CcM32 => "cc -m32 (apt-get install -y gcc-multilib)",
            Self::Clang => "clang (apt-get install -y clang)",
            Self::Valgrind => "valgrind (apt-get install -y valgrind)",
            Self::Cbindgen => "cbindgen (cargo install cbindgen --locked)",
            Self::Binutils => "ld, nm and objdump (apt-get install -y binutils)",
            Self::NightlySrc => {
                "the nightly toolchain's rust-src (rustup toolchain install nightly --component rust-src)"
            }
        })
    }
}

/// One test of a file whose tests need tools: run by [`harness`].
pub(crate) struct Check {
    /// Its name.
    pub(crate) name: &'static str,
    /// What it needs.
    pub(crate) needs: &'static [Need],
    /// For the release build only (ignored in a debug build).
    pub(crate) release_only: bool,
    /// The test.
    pub(crate) test: fn(),
}

/// The `main` of a test file whose tests need tools outside cargo: each test that needs
/// a tool this machine lacks is reported ignored (and says what it needs), never passed.
/// Under CI (`CI=true`), and with `--include-ignored`, it runs anyway and fails.
pub(crate) fn harness(checks: Vec<Check>) -> std::process::ExitCode {
    let args = libtest_mimic::Arguments::from_args();
    let trials = checks
        .into_iter()
        .map(|check| {
            let missing: Vec<&str> = check.needs.iter().filter_map(|n| n.missing()).collect();
            let debug = check.release_only && cfg!(debug_assertions);
            let ignored = debug || (!missing.is_empty() && !in_ci());
            if debug {
                eprintln!("{}: ignored, its bound is for the release build", check.name);
            } else if ignored {
                eprintln!("{}: ignored, this machine lacks {}", check.name, missing.join(", "));
            }
            let test = check.test;
            libtest_mimic::Trial::test(check.name, move || {
                test();
                Ok(())
            })
            .with_ignored_flag(ignored)
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}

/// `tool` (or one of `candidates`) if it runs (`tool --version`).
fn find(tool: &str, candidates: &[PathBuf]) -> Option<PathBuf> {
    std::iter::once(PathBuf::from(tool))
        .chain(candidates.iter().cloned())
        .find(|path| Command::new(path).arg("--version").output().is_ok_and(|o| o.status.success()))
}

/// `tool` (or one of `candidates`): the test fails if it is missing (a test that needs it
/// says so in its [`Check::needs`], and is reported ignored where it is missing).
pub(crate) fn tool(tool: &str, candidates: &[PathBuf]) -> PathBuf {
    find(tool, candidates).unwrap_or_else(|| panic!("`{tool}` is not installed"))
}

/// `$CARGO_HOME/bin/NAME`, where `cargo install` puts it.
pub(crate) fn cargo_bin(name: &str) -> Vec<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    home.map(|h| h.join("bin").join(name)).into_iter().collect()
}

/// Runs `command`, failing the test with its output if it fails.
pub(crate) fn run(command: &mut Command) -> std::process::Output {
    let output = command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    output
}

/// Whether `path` exists.
pub(crate) fn exists(path: &Path) -> bool {
    path.exists()
}

/// The `IRQ_CONFIG_ERROR_KIND_*` values by their variant names, for readable tests.
#[allow(non_upper_case_globals, reason = "named after the kinds")]
pub(crate) mod kind {
    pub(crate) const None: u32 = irq_capi::IRQ_CONFIG_ERROR_KIND_NONE;
    pub(crate) const NullTable: u32 = irq_capi::IRQ_CONFIG_ERROR_KIND_NULL_TABLE;
    pub(crate) const TooMany: u32 = irq_capi::IRQ_CONFIG_ERROR_KIND_TOO_MANY;
    pub(crate) const BadValue: u32 = irq_capi::IRQ_CONFIG_ERROR_KIND_BAD_VALUE;
    pub(crate) const BadPage: u32 = irq_capi::IRQ_CONFIG_ERROR_KIND_BAD_PAGE;
    pub(crate) const PartitionCount: u32 = irq_capi::IRQ_CONFIG_ERROR_KIND_PARTITION_COUNT;
    pub(crate) const ChannelCount: u32 = irq_capi::IRQ_CONFIG_ERROR_KIND_CHANNEL_COUNT;
    pub(crate) const PortOutOfRange: u32 = irq_capi::IRQ_CONFIG_ERROR_KIND_PORT_OUT_OF_RANGE;
    pub(crate) const DuplicatePort: u32 = irq_capi::IRQ_CONFIG_ERROR_KIND_DUPLICATE_PORT;
    pub(crate) const UnknownChannel: u32 = irq_capi::IRQ_CONFIG_ERROR_KIND_UNKNOWN_CHANNEL;
    pub(crate) const ChannelPartition: u32 = irq_capi::IRQ_CONFIG_ERROR_KIND_CHANNEL_PARTITION;
    pub(crate) const ChannelPort: u32 = irq_capi::IRQ_CONFIG_ERROR_KIND_CHANNEL_PORT;
    pub(crate) const TimerPort: u32 = irq_capi::IRQ_CONFIG_ERROR_KIND_TIMER_PORT;
    pub(crate) const ErrorPort: u32 = irq_capi::IRQ_CONFIG_ERROR_KIND_ERROR_PORT;
    pub(crate) const DeliverWithoutErrorPort: u32 =
        irq_capi::IRQ_CONFIG_ERROR_KIND_DELIVER_WITHOUT_ERROR_PORT;
    pub(crate) const Ping: u32 = irq_capi::IRQ_CONFIG_ERROR_KIND_PING;
    pub(crate) const VectorNotPermitted: u32 = irq_capi::IRQ_CONFIG_ERROR_KIND_VECTOR_NOT_PERMITTED;
    pub(crate) const EmptyFrame: u32 = irq_capi::IRQ_CONFIG_ERROR_KIND_EMPTY_FRAME;
    pub(crate) const WindowUnknownPartition: u32 =
        irq_capi::IRQ_CONFIG_ERROR_KIND_WINDOW_UNKNOWN_PARTITION;
    pub(crate) const WindowEmpty: u32 = irq_capi::IRQ_CONFIG_ERROR_KIND_WINDOW_EMPTY;
    pub(crate) const WindowExceedsFrame: u32 = irq_capi::IRQ_CONFIG_ERROR_KIND_WINDOW_EXCEEDS_FRAME;
    pub(crate) const WindowOverlaps: u32 = irq_capi::IRQ_CONFIG_ERROR_KIND_WINDOW_OVERLAPS;
    pub(crate) const RouteDuplicateVector: u32 =
        irq_capi::IRQ_CONFIG_ERROR_KIND_ROUTE_DUPLICATE_VECTOR;
    pub(crate) const RouteExclusiveShared: u32 =
        irq_capi::IRQ_CONFIG_ERROR_KIND_ROUTE_EXCLUSIVE_SHARED;
    pub(crate) const RouteUnhandled: u32 = irq_capi::IRQ_CONFIG_ERROR_KIND_ROUTE_UNHANDLED;
    pub(crate) const RouteUnknownPartition: u32 =
        irq_capi::IRQ_CONFIG_ERROR_KIND_ROUTE_UNKNOWN_PARTITION;
    pub(crate) const RouteNotPermitted: u32 = irq_capi::IRQ_CONFIG_ERROR_KIND_ROUTE_NOT_PERMITTED;
    pub(crate) const RoutePortNotBound: u32 = irq_capi::IRQ_CONFIG_ERROR_KIND_ROUTE_PORT_NOT_BOUND;
    pub(crate) const RouteDuplicateTarget: u32 =
        irq_capi::IRQ_CONFIG_ERROR_KIND_ROUTE_DUPLICATE_TARGET;
    pub(crate) const RouteZeroAckTimeout: u32 =
        irq_capi::IRQ_CONFIG_ERROR_KIND_ROUTE_ZERO_ACK_TIMEOUT;
    pub(crate) const RouteLevelPortCounts: u32 =
        irq_capi::IRQ_CONFIG_ERROR_KIND_ROUTE_LEVEL_PORT_COUNTS;
    pub(crate) const ChannelNotPermitted: u32 =
        irq_capi::IRQ_CONFIG_ERROR_KIND_CHANNEL_NOT_PERMITTED;
    pub(crate) const ChannelBudget: u32 = irq_capi::IRQ_CONFIG_ERROR_KIND_CHANNEL_BUDGET;
    pub(crate) const Other: u32 = irq_capi::IRQ_CONFIG_ERROR_KIND_OTHER;
    pub(crate) const RouteTooManyLevelTargets: u32 =
        irq_capi::IRQ_CONFIG_ERROR_KIND_ROUTE_TOO_MANY_LEVEL_TARGETS;
    pub(crate) const RouteLevelBudget: u32 = irq_capi::IRQ_CONFIG_ERROR_KIND_ROUTE_LEVEL_BUDGET;
    pub(crate) const LevelRange: u32 = irq_capi::IRQ_CONFIG_ERROR_KIND_LEVEL_RANGE;
    pub(crate) const LevelOrder: u32 = irq_capi::IRQ_CONFIG_ERROR_KIND_LEVEL_ORDER;
}

/// The `IRQ_CONFIG_TABLE_*` values by their variant names.
#[allow(non_upper_case_globals, reason = "named after the tables")]
pub(crate) mod table {
    pub(crate) const System: u32 = irq_capi::IRQ_CONFIG_TABLE_SYSTEM;
    pub(crate) const Partitions: u32 = irq_capi::IRQ_CONFIG_TABLE_PARTITIONS;
    pub(crate) const Ports: u32 = irq_capi::IRQ_CONFIG_TABLE_PORTS;
    pub(crate) const Windows: u32 = irq_capi::IRQ_CONFIG_TABLE_WINDOWS;
    pub(crate) const Routes: u32 = irq_capi::IRQ_CONFIG_TABLE_ROUTES;
    pub(crate) const Channels: u32 = irq_capi::IRQ_CONFIG_TABLE_CHANNELS;
    pub(crate) const ChannelBudgets: u32 = irq_capi::IRQ_CONFIG_TABLE_CHANNEL_BUDGETS;
    pub(crate) const Operations: u32 = irq_capi::IRQ_CONFIG_TABLE_OPERATIONS;
    pub(crate) const Levels: u32 = irq_capi::IRQ_CONFIG_TABLE_LEVELS;
}

/// The freestanding staticlib for the host (`no_std`, the crate's panic handler,
/// `-C panic=abort`), built once per test process in its own target directory
/// (`target/capi-host`), so that it neither fights the outer cargo for its lock nor
/// changes its flags.
pub(crate) fn host_library() -> PathBuf {
    static LIBRARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    LIBRARY
        .get_or_init(|| {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let target = workspace_dir().join("target/capi-host");
            run(Command::new(cargo)
                .current_dir(workspace_dir())
                .args(["build", "-p", "irq-capi", "--release", "--features", "freestanding"])
                .env("CARGO_TARGET_DIR", &target)
                .env("RUSTFLAGS", "-C panic=abort")
                .env_remove("CARGO_ENCODED_RUSTFLAGS"));
            target.join("release/libirq_capi.a")
        })
        .clone()
}

/// The command that builds the 32-bit freestanding staticlib (README, "A 32-bit
/// kernel"), run from the workspace with `CARGO_TARGET_DIR=target/capi-i686`.
pub(crate) const I686_BUILD: [&str; 13] = [
    "run",
    "nightly",
    "cargo",
    "build",
    "-p",
    "irq-capi",
    "--release",
    "--target",
    "adapters/capi/targets/i686-irq-none.json",
    "-Z",
    "json-target-spec",
    "-Zbuild-std=core,compiler_builtins",
    "-Zbuild-std-features=compiler-builtins-mem",
];

/// The i686 soft-float staticlib, built once per test process with the nightly
/// toolchain (`rustup run nightly cargo ...`, `-Z build-std`) in `target/capi-i686`
/// (needs [`Need::NightlySrc`]).
pub(crate) fn i686_library() -> PathBuf {
    static LIBRARY: OnceLock<PathBuf> = OnceLock::new();
    LIBRARY
        .get_or_init(|| {
            if let Some(install) = Need::NightlySrc.missing() {
                panic!("missing: {install}");
            }
            let target = workspace_dir().join("target/capi-i686");
            let mut command = Command::new("rustup");
            command.current_dir(workspace_dir()).args(I686_BUILD).env("CARGO_TARGET_DIR", &target);
            for var in ["RUSTUP_TOOLCHAIN", "RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "RUSTC"] {
                command.env_remove(var);
            }
            run(&mut command);
            target.join("i686-irq-none/release/libirq_capi.a")
        })
        .clone()
}

/// Whether `cc` builds and links 32-bit programs (`-m32 -static`).
fn builds_m32(cc: &Path) -> bool {
    let dir = std::env::temp_dir().join(format!("irq-capi-m32-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("m32.c"), "int main(void) { return 0; }\n");
    let works = Command::new(cc)
        .args(["-m32", "-static", "-o"])
        .arg(dir.join("m32"))
        .arg(dir.join("m32.c"))
        .output()
        .is_ok_and(|o| o.status.success());
    let _ = std::fs::remove_dir_all(&dir);
    works
}

/// `cc`, which builds 32-bit programs (needs [`Need::CcM32`]).
pub(crate) fn cc_m32() -> PathBuf {
    let cc = tool("cc", &[]);
    assert!(builds_m32(&cc), "`cc -m32 -static` cannot build 32-bit programs");
    cc
}

/// Compiles and links the C sources `sources` with `library` into `out`, with `cc` and
/// `flags` (and the header's directory).
pub(crate) fn build_c(cc: &Path, flags: &[&str], sources: &[PathBuf], library: &Path, out: &Path) {
    run(Command::new(cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-g"])
        .args(flags)
        .arg("-I")
        .arg(crate_dir().join("include"))
        .args(sources)
        .arg(library)
        .arg("-lpthread")
        .arg("-o")
        .arg(out));
}

/// Kernel operations that do nothing, for the tests that only look at the answers.
pub(crate) mod quiet {
    use core::ffi::c_void;
    use core::ptr;

    use irq_capi::{IRQ_UPCALL_OK, IrqHmRecord, IrqKernelOps, IrqPartition, IrqUpcall};

    extern "C" fn now(_: *mut c_void) -> u64 {
        0
    }
    extern "C" fn vector_op(_: *mut c_void, _: u8) {}
    extern "C" fn cpu_op(_: *mut c_void, _: u16) {}
    extern "C" fn partition_op(_: *mut c_void, _: IrqPartition) {}
    extern "C" fn inject(
        _: *mut c_void,
        _: IrqPartition,
        _: *const IrqUpcall,
        _: *mut c_void,
    ) -> u32 {
        IRQ_UPCALL_OK
    }
    extern "C" fn user_range(_: *mut c_void, _: IrqPartition, _: u64, _: u64) -> u32 {
        1
    }
    extern "C" fn console(_: *mut c_void, _: IrqPartition, _: u64, len: u64) -> u64 {
        len
    }
    extern "C" fn restart(_: *mut c_void, _: IrqPartition, _: u8) {}
    extern "C" fn stop(_: *mut c_void) {}
    extern "C" fn log(_: *mut c_void, _: *const IrqHmRecord) {}
    extern "C" fn upcall_return(_: *mut c_void, _: IrqPartition, _: *mut c_void) {}

    /// Operations that do nothing (and answer what a test that ignores them needs).
    pub(crate) const QUIET_OPS: IrqKernelOps = IrqKernelOps {
        ctx: ptr::null_mut(),
        now: Some(now),
        kernel_handler: Some(vector_op),
        eoi: Some(vector_op),
        mask: Some(vector_op),
        unmask: Some(vector_op),
        inject_upcall: Some(inject),
        kick: Some(cpu_op),
        wait: Some(partition_op),
        user_range: Some(user_range),
        console_write: Some(console),
        restart: Some(restart),
        idle: Some(partition_op),
        stop_module: Some(stop),
        log: Some(log),
        upcall_return: Some(upcall_return),
    };
}
