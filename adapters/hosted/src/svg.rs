//! The timeline picture (SVG): one row per line (clock, device) with its interrupt
//! arrivals, one row per partition with its windows and the upcalls delivered to it
//! (coloured by what they delivered), a thin line from each device arrival to the
//! upcall that delivered it in each partition (matched in order within the picture),
//! health-monitor events and restarts. The frames shown are the timeline's
//! ([`Timeline::shown`]: see [`crate::runner::timeline`] for how they are chosen),
//! labelled with their numbers (from 0) and times since tick 0.

use std::fmt::Write;

use crate::config::System;
use crate::region::Role;
use crate::runner::timeline::{Mark, Timeline};

const LEFT: f64 = 130.0;
const WIDTH: f64 = 1500.0;
const ROW: f64 = 46.0;
const TOP: f64 = 50.0;
const PALETTE: [&str; 8] =
    ["#dbe9f6", "#fde2c8", "#d8f0d2", "#eadcf2", "#f9d6d5", "#e0e0e0", "#fff2b3", "#d0eeee"];

fn role_colour(role: Role) -> &'static str {
    match role {
        Role::Timer => "#1f5fa8",
        Role::Line => "#e07b00",
        Role::ChannelIn | Role::ChannelOut => "#2a9d3a",
        Role::Ping => "#8e44ad",
        Role::Error => "#c0392b",
        Role::None => "#555555",
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Renders `timeline` as an SVG document.
#[must_use]
pub fn render(timeline: &Timeline, system: &System) -> String {
    let names: Vec<&str> = system.info.iter().map(|i| i.name.as_str()).collect();
    let (first, frames) = timeline.shown();
    let frame_ns = timeline.frame_ticks.saturating_mul(timeline.tick_ns);
    let from_ns = first.saturating_mul(frame_ns);
    let span_ns = frames.max(1).saturating_mul(frame_ns).max(1) as f64;
    let x = |ns: f64| LEFT + (WIDTH - LEFT - 20.0) * (ns - from_ns as f64) / span_ns;
    let clock_y = TOP;
    let device_y = TOP + ROW;
    let row_y = |p: usize| TOP + ROW * (2 + p) as f64;
    let height = row_y(names.len()) + 90.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="22" font-size="15" font-weight="bold">irq-hosted timeline: {} (frames of {} ticks, 1 tick = {} us)</text>"#,
        escape(&timeline.describe()),
        timeline.frame_ticks,
        timeline.tick_ns / 1000
    );
    if timeline.dropped() > 0 {
        let _ = writeln!(
            s,
            r##"<text x="{LEFT}" y="36" font-size="11" fill="#c0392b">{} marks not drawn (more than {} in a frame)</text>"##,
            timeline.dropped(),
            crate::runner::timeline::MARKS_PER_FRAME
        );
    }
    // Row labels and guides.
    let mut label = |y: f64, text: &str| {
        let _ = writeln!(
            s,
            r#"<text x="8" y="{}" font-weight="bold">{}</text>"#,
            y + 4.0,
            escape(text)
        );
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{y}" x2="{}" y2="{y}" stroke="#eeeeee"/>"##,
            WIDTH - 20.0
        );
    };
    label(clock_y, &format!("clock (v{})", system.clock_vector));
    if let Some(d) = system.device {
        label(device_y, &format!("device (v{})", d.vector));
    } else {
        label(device_y, "device: none");
    }
    for (p, name) in names.iter().enumerate() {
        label(row_y(p), &format!("{p} {name}"));
    }
    // Time axis: a label every 10 ms (since tick 0), a dashed line at each frame.
    let axis_y = row_y(names.len()) - ROW / 2.0 + 8.0;
    let end_ms = (from_ns as f64 + span_ns) / 1e6;
    let mut t = (from_ns / 1_000_000).div_ceil(10) * 10;
    while (t as f64) <= end_ms {
        let px = x((t * 1_000_000) as f64);
        let _ = writeln!(
            s,
            r##"<line x1="{px}" y1="{axis_y}" x2="{px}" y2="{}" stroke="#999"/>"##,
            axis_y + 5.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{px}" y="{}" text-anchor="middle" font-size="10">{t} ms</text>"#,
            axis_y + 17.0
        );
        t += 10;
    }
    for f in first..first + frames {
        let px = x(f.saturating_mul(frame_ns) as f64);
        let _ = writeln!(
            s,
            r##"<line x1="{px}" y1="{}" x2="{px}" y2="{axis_y}" stroke="#777" stroke-dasharray="4 3"/><text x="{}" y="{}" font-size="10" fill="#777">frame {f}</text>"##,
            TOP - 16.0,
            px + 3.0,
            TOP - 18.0
        );
    }
    // Windows first (underneath).
    for mark in timeline.marks() {
        if let Mark::Window { p, start, end } = *mark {
            let (x0, x1) =
                (x((start * timeline.tick_ns) as f64), x((end * timeline.tick_ns) as f64));
            let _ = writeln!(
                s,
                r##"<rect x="{x0}" y="{}" width="{}" height="28" fill="{}" stroke="#888"/>"##,
                row_y(p) - 14.0,
                x1 - x0,
                PALETTE[p % PALETTE.len()]
            );
        }
    }
    // Device arrivals and their deliveries, matched in order per partition.
    let arrivals: Vec<u64> = timeline
        .marks()
        .filter_map(|m| if let Mark::Device { t } = m { Some(*t) } else { None })
        .collect();
    let mut nth_line = vec![0usize; names.len()];
    for mark in timeline.marks() {
        match mark {
            Mark::Clock { t } => {
                let px = x(*t as f64);
                let _ = writeln!(
                    s,
                    r##"<line x1="{px}" y1="{}" x2="{px}" y2="{}" stroke="#1f5fa8"/>"##,
                    clock_y - 7.0,
                    clock_y + 7.0
                );
            }
            Mark::Device { t } => {
                let _ = writeln!(
                    s,
                    r##"<circle cx="{}" cy="{device_y}" r="4" fill="#e07b00"/>"##,
                    x(*t as f64)
                );
            }
            Mark::Upcall { p, t, role } => {
                let px = x(*t as f64);
                let y = row_y(*p);
                let (h, w) = if *role == Role::Timer { (10.0, 1.0) } else { (13.0, 2.5) };
                let _ = writeln!(
                    s,
                    r#"<line x1="{px}" y1="{}" x2="{px}" y2="{}" stroke="{}" stroke-width="{w}"/>"#,
                    y - h,
                    y + h,
                    role_colour(*role)
                );
                if *role == Role::Line {
                    // (An arrival after the delivery is a mismatch: one delivered here
                    // arrived before the picture's first frame.)
                    if let Some(&arrived) = arrivals.get(nth_line[*p]).filter(|&&a| a <= *t) {
                        let _ = writeln!(
                            s,
                            r##"<line x1="{}" y1="{device_y}" x2="{px}" y2="{}" stroke="#e07b00" stroke-opacity="0.35"/>"##,
                            x(arrived as f64),
                            y - 13.0
                        );
                    }
                    nth_line[*p] += 1;
                }
            }
            Mark::Health { p, t, label } => {
                let px = x(*t as f64);
                let y = p.map_or(device_y, row_y);
                let _ = writeln!(
                    s,
                    r##"<text x="{px}" y="{}" fill="#c0392b" font-weight="bold" text-anchor="middle">&#10007;</text><text x="{}" y="{}" fill="#c0392b" font-size="11">{}</text>"##,
                    y + 5.0,
                    px + 8.0,
                    y - 17.0,
                    escape(label)
                );
            }
            Mark::Restart { p, t } => {
                // A cold start discarded what was pending: its next line event is the
                // next arrival.
                nth_line[*p] = arrivals.iter().filter(|&&a| a <= *t).count();
                let px = x(*t as f64);
                let _ = writeln!(
                    s,
                    r#"<text x="{}" y="{}" font-size="11" font-weight="bold">&#8635; restarted</text>"#,
                    px + 8.0,
                    row_y(*p) + 26.0
                );
            }
            Mark::Window { .. } => {}
        }
    }
    // Legend.
    let ly = height - 30.0;
    let items = [
        ("#1f5fa8", "clock tick / timer upcall"),
        ("#e07b00", "device packet (interrupt) / line upcall; faint line: arrival to delivery"),
        ("#2a9d3a", "channel upcall"),
        ("#8e44ad", "ping upcall"),
        ("#c0392b", "health-monitor event"),
    ];
    let mut lx = LEFT;
    for (colour, text) in items {
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="{}" width="12" height="12" fill="{colour}"/>"#,
            ly - 10.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{ly}" font-size="11">{}</text>"#,
            lx + 16.0,
            escape(text)
        );
        lx += 40.0 + 6.2 * text.len() as f64;
    }
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="{}" font-size="11" fill="#555">Shaded boxes: each partition's windows (its process runs only there; SIGSTOP outside). Upcalls happen only inside windows; what arrives outside waits, counted.</text>"##,
        ly + 18.0
    );
    s.push_str("</svg>\n");
    s
}
