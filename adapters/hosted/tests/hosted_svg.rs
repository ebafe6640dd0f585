//! The picture shows the frames where something happened, and every output numbers
//! frames the same way (from 0): the progress line, the summary, `--crash` and the
//! picture's labels.

use std::process::{Command, Output};

fn picture(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("irq-hosted-svg-{}-{name}.svg", std::process::id()))
}

/// Runs the runner with `args` and `--svg`; its output and the picture.
fn run(name: &str, args: &[&str]) -> (Output, String) {
    let svg = picture(name);
    let out = Command::new(env!("CARGO_BIN_EXE_irq-hosted"))
        .args(args)
        .arg("--svg")
        .arg(&svg)
        .output()
        .expect("the runner starts");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&svg).expect("the picture is written");
    let _ = std::fs::remove_file(&svg);
    (out, text)
}

/// The frames labelled in the picture, and the x of each frame's line.
fn frames(svg: &str) -> Vec<(u64, f64)> {
    svg.split("<line x1=\"")
        .skip(1)
        .filter(|l| l.contains("stroke-dasharray"))
        .filter_map(|l| {
            let x = l.split('"').next()?.parse().ok()?;
            let label = l.split("\">frame ").nth(1)?;
            Some((label.split('<').next()?.parse().ok()?, x))
        })
        .collect()
}

/// The x of each health-monitor mark.
fn health_marks(svg: &str) -> Vec<f64> {
    svg.split("<text x=\"")
        .skip(1)
        .filter(|t| t.contains("&#10007;"))
        .filter_map(|t| t.split('"').next()?.parse().ok())
        .collect()
}

#[test]
fn hosted_svg_shows_the_frames_around_a_crash_with_one_numbering() {
    // Not quiet: the progress line goes to stderr (a pipe: a line per frame).
    let (out, svg) = run("crash", &["--frames", "10", "--crash", "io-a@7"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let table = String::from_utf8_lossy(&out.stdout);
    // The progress line: frames 0 to 9, each once as it ends, and no frame 10.
    for f in 0..10 {
        let line = format!("frame {f:>4} done (0 to 9)");
        assert_eq!(stderr.matches(&line).count(), 1, "{line:?} in {stderr}");
    }
    assert!(!stderr.contains("frame   10 "), "{stderr}");
    // The summary: 10 frames, 0 to 9; the crash in frame 7, as asked (or later if the
    // partition could not run in its window of frame 7 on a loaded machine: it must run
    // to fault). The picture numbers it the same way.
    assert!(table.starts_with("10 frames (0 to 9), 400 ticks"), "{table}");
    let crash = crash_frame(&table);
    assert!(crash >= 7, "{table}");
    // The picture: the frames around the crash (6 to 8), which is drawn in its frame.
    let shown = frames(&svg);
    let first = (crash - 1).min(7);
    assert_eq!(
        shown.iter().map(|f| f.0).collect::<Vec<_>>(),
        [first, first + 1, first + 2],
        "{svg}"
    );
    let marks = health_marks(&svg);
    assert_eq!(marks.len(), 1, "{svg}");
    let at = shown.iter().position(|f| f.0 == crash).expect("its frame is shown");
    assert!(shown[at].1 < marks[0], "the crash in frame {crash}: {shown:?} {marks:?}");
    if let Some(next) = shown.get(at + 1) {
        assert!(marks[0] < next.1, "the crash in frame {crash}: {shown:?} {marks:?}");
    }
    assert!(
        svg.contains("around the first health-monitor record (Trap -&gt; ColdStart at tick "),
        "{svg}"
    );
    assert!(svg.contains(&format!(", frame {crash})")), "{svg}");
    assert!(svg.contains("restarted"), "the restart is drawn: {svg}");
    let said = format!(": frames {first} to {}, around the first health-monitor record", first + 2);
    assert!(stderr.contains(&said), "{stderr}");
    // Time labels since tick 0: frame 6 starts at 240 ms, frame 8 ends at 360 ms.
    let (from, to) = (first * 40, (first + 3) * 40);
    assert!(svg.contains(&format!(">{from} ms<")) && svg.contains(&format!(">{to} ms<")), "{svg}");
    assert!(!svg.contains(&format!(">{} ms<", from - 10)), "{svg}");
    assert!(!svg.contains(&format!(">{} ms<", to + 10)), "{svg}");
}

/// The frame of the crash's record, as the table says it (`(frame F) Trap -> ColdStart`).
fn crash_frame(table: &str) -> u64 {
    let line =
        table.lines().find(|l| l.contains(") Trap -> ColdStart")).expect("the crash's record");
    let (_, frame) = line.split_once("(frame ").expect("its frame");
    frame.split(')').next().and_then(|f| f.parse().ok()).expect("a frame number")
}

#[test]
fn hosted_svg_from_shows_the_frames_asked_for() {
    let args =
        ["--quiet", "--frames", "8", "--crash", "io-b@1", "--svg-from", "4", "--svg-frames", "2"];
    let (_, svg) = run("from", &args);
    assert_eq!(frames(&svg).iter().map(|f| f.0).collect::<Vec<_>>(), [4, 5], "{svg}");
    // The crash (frame 1) is outside: not drawn.
    assert!(health_marks(&svg).is_empty(), "{svg}");
    assert!(svg.contains("frames 4 to 5 (--svg-from 4)"), "{svg}");
}

#[test]
fn hosted_svg_without_a_record_shows_the_first_frames() {
    let (_, svg) = run("first", &["--quiet", "--frames", "5"]);
    assert_eq!(frames(&svg).iter().map(|f| f.0).collect::<Vec<_>>(), [0, 1, 2], "{svg}");
    assert!(
        svg.contains("frames 0 to 2, the first (no health-monitor record in the run)"),
        "{svg}"
    );
}
