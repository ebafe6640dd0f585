//! Finding QEMU, building a test kernel and booting it with NMIs injected through
//! QEMU's monitor: what both QEMU end-to-end tests do.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace's directory.
pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `qemu-system-x86_64` on `PATH`, if any.
pub(crate) fn qemu() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("qemu-system-x86_64"))
        .find(|candidate| candidate.is_file())
}

/// Builds the kernel `package` (release) in its own target directory (no lock contention
/// with the outer build, and no RUSTFLAGS of a loom or fuzz run leaking in); returns its
/// path.
pub(crate) fn build_kernel(package: &str) -> PathBuf {
    build_kernel_profile(package, true)
}

/// [`build_kernel`], in release or debug (overflow checks on, little inlined).
pub(crate) fn build_kernel_profile(package: &str, release: bool) -> PathBuf {
    let target_dir = workspace().join("target").join("qemu");
    let profile = if release { "release" } else { "debug" };
    let output = Command::new(env!("CARGO"))
        .current_dir(workspace())
        .args(["build", "--target", "x86_64-unknown-none", "-p", package])
        .args(release.then_some("--release"))
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .expect("run cargo");
    assert!(
        output.status.success(),
        "building the kernel failed (is the target installed? `rustup target add x86_64-unknown-none`):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    target_dir.join("x86_64-unknown-none").join(profile).join(package)
}

/// How to boot a test kernel.
pub(crate) struct Boot<'a> {
    /// QEMU arguments before `-kernel` (besides `-accel tcg`): the machine.
    pub(crate) machine: &'a [&'a str],
    /// Further QEMU arguments: the kernel's command line, devices.
    pub(crate) extra: &'a [&'a str],
    /// The serial line after which every CPU has its interrupt tables (an NMI before
    /// that, in the boot code, would be a triple fault).
    pub(crate) ready: &'a str,
    /// NMIs to inject (QEMU's `nmi` command: to every CPU) once `ready` is seen.
    pub(crate) nmis: u64,
    /// How long QEMU may run before it is killed.
    pub(crate) watchdog: Duration,
}

/// Injects `nmis` NMIs through the monitor socket at `path`, a few milliseconds apart,
/// once `ready` says the kernel is up; answers how many were sent.
fn inject_nmis(path: &Path, ready: &std::sync::mpsc::Receiver<()>, nmis: u64) -> u64 {
    use std::io::Write;
    if nmis == 0 || ready.recv_timeout(Duration::from_secs(60)).is_err() {
        return 0; // None asked for, or the kernel never got that far: the test says why.
    }
    let start = Instant::now();
    let mut monitor = loop {
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(stream) => break stream,
            Err(_) if start.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("QEMU's monitor at {}: {e}", path.display()),
        }
    };
    let mut sent = 0;
    for _ in 0..nmis {
        if monitor.write_all(b"nmi\n").is_err() {
            break; // The kernel finished and QEMU exited.
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(7));
    }
    sent
}

/// Boots `kernel` as `how` says, under TCG, its serial port on stdout and QEMU's
/// `isa-debug-exit` for its status; returns the exit status (None if the watchdog killed
/// it), the serial output and the number of NMIs sent.
pub(crate) fn boot(qemu: &Path, kernel: &Path, how: &Boot<'_>) -> (Option<i32>, String, u64) {
    // One QEMU at a time per test binary: two emulated machines at once on a small host
    // stretch a partition's absences past the kernels' acknowledgement timeouts.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    static BOOTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = BOOTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let monitor = std::env::temp_dir().join(format!("irq-qemu-monitor-{}-{n}", std::process::id()));
    let _ = std::fs::remove_file(&monitor);
    let mut child = Command::new(qemu)
        .args(how.machine)
        .args(["-accel", "tcg", "-kernel"])
        .arg(kernel)
        .arg("-monitor")
        .arg(format!("unix:{},server=on,wait=off", monitor.display()))
        .args([
            "-display",
            "none",
            "-serial",
            "stdio",
            "-no-reboot",
            "-net",
            "none",
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=0x04",
        ])
        .args(how.extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start qemu-system-x86_64");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let ready = how.ready.to_owned();
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let mut chunk = [0u8; 4096];
        let mut told = false;
        while let Ok(n) = stdout.read(&mut chunk) {
            if n == 0 {
                break;
            }
            bytes.extend_from_slice(&chunk[..n]);
            if !told && String::from_utf8_lossy(&bytes).contains(&ready) {
                told = ready_tx.send(()).is_ok();
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    });
    let injector = {
        let (monitor, nmis) = (monitor.clone(), how.nmis);
        std::thread::spawn(move || inject_nmis(&monitor, &ready_rx, nmis))
    };
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for qemu") {
            break status.code();
        }
        if start.elapsed() > how.watchdog {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let sent = injector.join().expect("NMI injector");
    let _ = std::fs::remove_file(&monitor);
    (status, reader.join().expect("serial reader"), sent)
}
