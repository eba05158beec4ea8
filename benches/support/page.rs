//! What `benches/e2e.rs` needs to write its results page: the date, the
//! machine, a Markdown table and a grouped bar chart as SVG.
//!
//! All by hand, without dependencies: the date from `SystemTime` (through
//! `pushgate::time`), the
//! machine from `/proc`, the chart as formatted strings (a log-scale y
//! axis, one group of bars per scenario, one bar per server).
//!
//! Used by `benches/e2e.rs` via `#[path]`.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::time::SystemTime;

/// Now, as `YYYY-MM-DD HH:MM UTC`: when the numbers were taken.
pub fn utc_now() -> String {
    // `2026-12-08T04:47:03.123Z`, the crate's RFC 3339 writer.
    let t = pushgate::time::rfc3339_millis(SystemTime::now());
    format!("{} {} UTC", &t[..10], &t[11..16])
}

/// Where the numbers were taken: a reader compares them with their own
/// machine's only knowing this.
pub struct Machine {
    /// Cores this process may use, as `nproc` counts them: read before
    /// the bench pins itself to one.
    pub cores: usize,
    pub cpu: String,
    pub kernel: String,
}

impl Machine {
    pub fn detect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or("unknown CPU".to_owned(), |(_, v)| v.trim().to_owned());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or("unknown".to_owned(), |k| k.trim().to_owned());
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
            kernel,
        }
    }
}

/// `s` as one shell word: as is when it is plain, else single-quoted, so
/// that the command on the page can be pasted back.
pub fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./,:=+@%".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A Markdown table: the first `text_columns` columns left-aligned, the
/// rest (numbers) right-aligned. `|` in cells is escaped.
pub fn markdown_table(header: &[&str], text_columns: usize, rows: &[Vec<String>]) -> String {
    let line = |cells: &mut dyn Iterator<Item = String>| {
        let cells: Vec<String> = cells.map(|c| c.replace('|', r"\|")).collect();
        format!("| {} |\n", cells.join(" | "))
    };
    let mut out = line(&mut header.iter().map(|h| h.to_string()));
    out.push_str(&line(&mut (0..header.len()).map(|i| {
        if i < text_columns {
            ":--".to_owned()
        } else {
            "--:".to_owned()
        }
    })));
    for row in rows {
        out.push_str(&line(&mut row.iter().cloned()));
    }
    out
}

/// One kind of bar: a server.
pub struct Series {
    pub name: &'static str,
    pub color: &'static str,
}

/// One bar's value; `marked` when the run behind it had failures, drawn
/// faded with a `!` so that it is not read as a good number.
#[derive(Clone, Copy)]
pub struct Bar {
    pub value: f64,
    pub marked: bool,
}

/// One scenario: a bar per series, in the chart's series order (`None`:
/// that server did not run it, a gap).
pub struct Group {
    pub label: String,
    pub values: Vec<Option<Bar>>,
}

/// A grouped bar chart with a log-scale y axis.
pub struct Chart {
    pub title: String,
    pub y_label: String,
    pub x_label: String,
    pub series: Vec<Series>,
    pub groups: Vec<Group>,
}

const BAR_W: f64 = 10.0;
const GROUP_GAP: f64 = 14.0;
/// The least room left of the plot, for the y axis's labels.
const MIN_LEFT: f64 = 80.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 78.0;
const PLOT_H: f64 = 340.0;
const LEGEND_W: f64 = 140.0;
/// The scenario labels' angle: steep enough that long labels of
/// neighbouring groups do not overlap, flat enough to read.
const LABEL_ANGLE: f64 = 45.0;
/// Rough width of one character of the 11px labels, to leave them room.
const CHAR_W: f64 = 6.3;

/// `&`, `<`, `>`, `"` escaped for SVG text and attributes.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `10^d` as an axis label: 10, 100, 1k, 10k, 100k, 1M.
fn decade_label(d: i32) -> String {
    match d {
        d if d < 3 => format!("{}", 10f64.powi(d)),
        d if d < 6 => format!("{}k", 10f64.powi(d - 3)),
        d => format!("{}M", 10f64.powi(d - 6)),
    }
}

/// The decades the y axis spans: from the one below the smallest value
/// to the one above the largest, at least one.
fn decades(chart: &Chart) -> (i32, i32) {
    let values = || {
        chart
            .groups
            .iter()
            .flat_map(|g| g.values.iter().flatten())
            .map(|b| b.value)
            .filter(|v| *v > 0.0)
    };
    let lo = values().fold(f64::INFINITY, f64::min);
    let hi = values().fold(0.0, f64::max);
    if !lo.is_finite() {
        return (0, 1);
    }
    let (lo, hi) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    (lo, hi.max(lo + 1))
}

/// Where everything goes: sized from the number of bars and the longest
/// label, so that nothing is cut off whatever the scenarios.
struct Layout {
    left: f64,
    group_w: f64,
    plot_w: f64,
    /// Room under the plot: the rotated labels, then the x label.
    bottom: f64,
    width: f64,
    height: f64,
    /// The decades of the y axis.
    lo: i32,
    hi: i32,
}

impl Layout {
    fn of(chart: &Chart) -> Layout {
        let (sin, cos) = LABEL_ANGLE.to_radians().sin_cos();
        let label_w = |g: &Group| g.label.chars().count() as f64 * CHAR_W;
        let longest = chart.groups.iter().map(label_w).fold(0.0, f64::max);
        let legend_w = chart.series.len() as f64 * LEGEND_W;
        let groups = chart.groups.len().max(1) as f64;
        let group_w = (chart.series.len() as f64 * BAR_W + GROUP_GAP).max(legend_w / groups);
        let plot_w = groups * group_w;
        // The first label runs left of its group, under the y axis.
        let first = chart.groups.first().map_or(0.0, label_w);
        let left = MIN_LEFT.max(first * cos - group_w / 2.0 + 10.0);
        let bottom = longest * sin + 50.0;
        let (lo, hi) = decades(chart);
        Layout {
            left,
            group_w,
            plot_w,
            bottom,
            width: left + plot_w + RIGHT,
            height: TOP + PLOT_H + bottom,
            lo,
            hi,
        }
    }

    /// The height of `v` on the log axis.
    fn y(&self, v: f64) -> f64 {
        let span = (self.hi - self.lo) as f64;
        TOP + PLOT_H * (1.0 - (v.log10() - self.lo as f64) / span)
    }

    /// The left edge of group `g`.
    fn group_x(&self, g: usize) -> f64 {
        self.left + g as f64 * self.group_w
    }
}

/// The SVG of `chart`: title, legend, log y axis with a line per decade
/// (fainter ones at 2..9), bars with their value as a tooltip, scenario
/// labels rotated under each group.
pub fn svg(chart: &Chart) -> String {
    let l = Layout::of(chart);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">"#,
        w = l.width,
        h = l.height
    );
    let _ = writeln!(
        out,
        r##"<rect width="100%" height="100%" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        out,
        r#"<text x="{:.0}" y="24" font-size="16" font-weight="bold" text-anchor="middle">{}</text>"#,
        l.width / 2.0,
        xml(&chart.title)
    );
    legend(&mut out, chart, &l);
    bands(&mut out, chart, &l);
    grid(&mut out, &l);
    bars(&mut out, chart, &l);
    axes(&mut out, chart, &l);
    out.push_str("</svg>\n");
    out
}

/// A swatch and name per series, in one row under the title.
fn legend(out: &mut String, chart: &Chart, l: &Layout) {
    for (i, s) in chart.series.iter().enumerate() {
        let x = l.left + i as f64 * LEGEND_W;
        let _ = writeln!(
            out,
            r#"<rect x="{x:.0}" y="40" width="14" height="14" fill="{}"/><text x="{:.0}" y="52">{}</text>"#,
            s.color,
            x + 20.0,
            xml(s.name)
        );
    }
    let _ = writeln!(
        out,
        r##"<text x="{:.0}" y="70" font-size="11" fill="#555555">a gap: that server did not run the scenario; 0: it ran, no push completed; faded with ! = the run had failed pushes</text>"##,
        l.left
    );
}

/// A faint band behind every other group, so the eye finds which bars
/// belong together.
fn bands(out: &mut String, chart: &Chart, l: &Layout) {
    for g in (0..chart.groups.len()).step_by(2) {
        let _ = writeln!(
            out,
            r##"<rect x="{:.1}" y="{TOP:.0}" width="{:.1}" height="{PLOT_H:.0}" fill="#f3f3f3"/>"##,
            l.group_x(g),
            l.group_w
        );
    }
}

/// A labelled line per decade and a faint one at 2..9 times it.
fn grid(out: &mut String, l: &Layout) {
    let right = l.left + l.plot_w;
    for d in l.lo..=l.hi {
        let base = 10f64.powi(d);
        let yd = l.y(base);
        let _ = writeln!(
            out,
            r##"<line x1="{:.0}" x2="{right:.1}" y1="{yd:.1}" y2="{yd:.1}" stroke="#bbbbbb"/><text x="{:.0}" y="{:.1}" text-anchor="end">{}</text>"##,
            l.left,
            l.left - 6.0,
            yd + 4.0,
            decade_label(d)
        );
        if d == l.hi {
            break;
        }
        for k in 2..10 {
            let yk = l.y(base * k as f64);
            let _ = writeln!(
                out,
                r##"<line x1="{:.0}" x2="{right:.1}" y1="{yk:.1}" y2="{yk:.1}" stroke="#e4e4e4"/>"##,
                l.left
            );
        }
    }
}

/// The bars, from the bottom of the axis up to their value, centred in
/// their group.
fn bars(out: &mut String, chart: &Chart, l: &Layout) {
    let bottom = TOP + PLOT_H;
    let inset = (l.group_w - chart.series.len() as f64 * BAR_W) / 2.0;
    for (g, group) in chart.groups.iter().enumerate() {
        for (s, bar) in group.values.iter().enumerate() {
            let Some(bar) = bar else {
                continue;
            };
            let x = l.group_x(g) + inset + s as f64 * BAR_W;
            if bar.value <= 0.0 {
                // Ran, but no push completed: below any log axis.
                let _ = writeln!(
                    out,
                    r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="{}" text-anchor="middle">0</text>"##,
                    x + BAR_W / 2.0,
                    bottom - 3.0,
                    chart.series[s].color
                );
                continue;
            }
            let top = l.y(bar.value);
            let _ = writeln!(
                out,
                r#"<rect x="{x:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{}" fill-opacity="{}"><title>{}: {} {:.1} push/s</title></rect>"#,
                BAR_W - 1.0,
                bottom - top,
                chart.series[s].color,
                if bar.marked { "0.35" } else { "1" },
                xml(chart.series[s].name),
                xml(&group.label),
                bar.value
            );
            if bar.marked {
                let _ = writeln!(
                    out,
                    r##"<text x="{:.1}" y="{:.1}" font-size="11" fill="#cc0000" text-anchor="middle">!</text>"##,
                    x + BAR_W / 2.0,
                    top - 3.0
                );
            }
        }
    }
}

/// The axis lines, the rotated scenario labels and both axis labels.
fn axes(out: &mut String, chart: &Chart, l: &Layout) {
    let (bottom, right) = (TOP + PLOT_H, l.left + l.plot_w);
    let _ = writeln!(
        out,
        r##"<line x1="{x:.0}" x2="{x:.0}" y1="{TOP:.0}" y2="{bottom:.0}" stroke="#333333"/><line x1="{x:.0}" x2="{right:.1}" y1="{bottom:.0}" y2="{bottom:.0}" stroke="#333333"/>"##,
        x = l.left
    );
    for (g, group) in chart.groups.iter().enumerate() {
        let x = l.group_x(g) + l.group_w / 2.0;
        let ly = bottom + 14.0;
        let _ = writeln!(
            out,
            r#"<text x="{x:.1}" y="{ly:.1}" font-size="11" text-anchor="end" transform="rotate(-{LABEL_ANGLE} {x:.1} {ly:.1})">{}</text>"#,
            xml(&group.label)
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{:.0}" y="{:.0}" text-anchor="middle">{}</text>"#,
        l.left + l.plot_w / 2.0,
        bottom + l.bottom - 12.0,
        xml(&chart.x_label)
    );
    let mid = TOP + PLOT_H / 2.0;
    let _ = writeln!(
        out,
        r#"<text x="22" y="{mid:.0}" text-anchor="middle" transform="rotate(-90 22 {mid:.0})">{}</text>"#,
        xml(&chart.y_label)
    );
}
