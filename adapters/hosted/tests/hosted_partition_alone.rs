//! The partition program run on its own (not by the runner): it checks what it finds
//! at descriptors 3 and 4 before taking them, and fails with a message and a non-zero
//! exit status, never a panic or a fault.

use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use irq_hosted::region::REGION_LEN;
use irq_hosted::runner::children::PARTITION_MODE;

/// Runs the partition program with `region` at descriptor 3 (or nothing) and nothing
/// at descriptor 4; returns its stderr after checking it failed cleanly.
fn alone(region: Option<RawFd>) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_irq-hosted"));
    command.args([PARTITION_MODE, "0"]);
    // SAFETY: the closure only makes async-signal-safe calls (dup2, close).
    unsafe {
        command.pre_exec(move || {
            match region {
                // dup2 onto another number clears close-on-exec; onto itself it does
                // nothing, so clear it then.
                Some(3) => {
                    libc::fcntl(3, libc::F_SETFD, 0);
                }
                Some(fd) => {
                    if libc::dup2(fd, 3) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                None => {
                    libc::close(3);
                }
            }
            libc::close(4);
            Ok(())
        });
    }
    let out = command.output().expect("the partition program starts");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "a clean failure: {stderr}");
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");
    assert!(stderr.contains("run it through irq-hosted"), "{stderr}");
    stderr
}

#[test]
fn hosted_partition_alone_without_a_region() {
    let stderr = alone(None);
    assert!(stderr.contains("no region"), "{stderr}");
}

#[test]
fn hosted_partition_alone_with_a_file_for_a_region() {
    let file = std::fs::File::open(env!("CARGO_BIN_EXE_irq-hosted")).expect("a file");
    let stderr = alone(Some(file.as_raw_fd()));
    assert!(stderr.contains("not a memfd"), "{stderr}");
}

#[test]
fn hosted_partition_alone_without_a_socket() {
    let region = irq_hosted::sys::memfd("irq-hosted-alone", REGION_LEN).expect("a region");
    let stderr = alone(Some(region.as_raw_fd()));
    assert!(stderr.contains("no hypercall socket"), "{stderr}");
}
