//! For the `hosted_` tests that need the runner's isolation (namespaces, control groups):
//! without it they report themselves ignored, never passed.

use irq_hosted::runner::{cgroup, isolation};

/// Goes on if this machine gives partitions their namespaces and control groups. If it
/// does not: prints `test NAME ... ignored` with the reason and exits (a failure with
/// `--include-ignored`, as CI runs it).
pub(crate) fn require(name: &str) {
    let (namespaces, cgroups) = isolation::available();
    if namespaces && cgroups {
        return;
    }
    let why = match (namespaces, cgroups) {
        (false, false) => "no user namespaces and no writable cgroups",
        (false, true) => "no user namespaces",
        _ => "no writable cgroups with kill, pids and memory",
    };
    if std::env::args().any(|a| a == "--include-ignored" || a == "--ignored") {
        panic!("{name}: {why}");
    }
    println!("test {name} ... ignored, {why}");
    std::process::exit(0);
}

/// The processes running this test binary, this one left out: after a run, none (every
/// partition and everything it started is gone).
pub(crate) fn survivors() -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let exe = std::env::current_exe().expect("this test binary");
    let exe = exe.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<String> =
            cmdline.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        if pid != me && args.first() == Some(&exe) {
            found.push((pid, args.join(" ")));
        }
    }
    found
}

/// Checks that nothing of the run is left: no process, no control group.
pub(crate) fn assert_nothing_left() {
    let survivors = survivors();
    assert!(survivors.is_empty(), "processes outlived the run: {survivors:?}");
    let groups = cgroup::leftovers(std::process::id());
    assert!(groups.is_empty(), "cgroups left behind: {groups:?}");
}
