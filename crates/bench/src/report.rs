//! What every benchmark prints: a heading, [`Figures`] (each figure against
//! its target, judged by the one rule of [`verdict`]) and the number formats
//! they share, as markdown ready to paste into docs/BENCHMARKS.md.

use std::time::Duration;

use crate::procs::Machine;

/// The bound a figure is held to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    /// Met when the figure is this or more (a rate, a ratio).
    AtLeast(f64),
    /// Met when the figure is under this (a latency, a memory peak).
    Below(f64),
}

/// `met`, or `missed by 0.12 (15 %)`: by how much, in the figure's unit
/// and as a share of the limit.
pub fn verdict(value: f64, limit: Limit) -> String {
    let (met, gap, bound) = match limit {
        Limit::AtLeast(bound) => (value >= bound, bound - value, bound),
        Limit::Below(bound) => (value < bound, value - bound, bound),
    };
    if met {
        return "met".to_owned();
    }
    let shown = if bound >= 100.0 {
        thousands(gap)
    } else {
        format!("{gap:.2}")
    };
    format!("missed by {shown} ({:.0} %)", gap / bound * 100.0)
}

/// The first lines of a report: which benchmark, when, on what machine and
/// how its processes were placed.
pub fn heading(bench: &str, machine: &Machine, placement: &str) -> String {
    format!(
        "\npagefeed {bench} benchmark, {}\nmachine: {} cores, {}; {placement}\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        machine.cores,
        machine.cpu_model
    )
}

/// The table of figures: `| figure | value | target | verdict |`.
#[derive(Debug, Default)]
pub struct Figures {
    rows: Vec<[String; 4]>,
    /// Each row also goes to stderr as it is added (a long run's progress).
    echo: bool,
}

impl Figures {
    /// A table whose rows also go to stderr as they are added.
    pub fn echoing() -> Figures {
        Figures {
            rows: Vec::new(),
            echo: true,
        }
    }

    /// Adds a row; `target` and `verdict` are `—` or empty for a figure
    /// shown for context.
    pub fn row(
        &mut self,
        figure: impl Into<String>,
        value: impl Into<String>,
        target: impl Into<String>,
        verdict: impl Into<String>,
    ) {
        let (figure, value) = (figure.into(), value.into());
        if self.echo {
            eprintln!("  {figure}: {value}");
        }
        self.rows
            .push([figure, value, target.into(), verdict.into()]);
    }

    pub fn render(&self) -> String {
        let mut out = String::from("| figure | value | target | verdict |\n|---|---|---|---|\n");
        for [figure, value, target, verdict] in &self.rows {
            out.push_str(&format!("| {figure} | {value} | {target} | {verdict} |\n"));
        }
        out
    }
}

/// `12,345`.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// KiB (as /proc gives them) in MB (10^6 bytes).
pub fn kib_to_mb(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1e6
}

/// `123.4 MB`, from KiB.
pub fn mb(kib: u64) -> String {
    format!("{:.1} MB", kib_to_mb(kib))
}

/// A duration in milliseconds.
pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `1.23 ms`.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", millis(d))
}

/// The 50th and 99th percentiles (nearest rank); zero for no samples.
pub fn percentiles(d: &mut [Duration]) -> (Duration, Duration) {
    if d.is_empty() {
        return (Duration::ZERO, Duration::ZERO);
    }
    d.sort_unstable();
    let at = |p: f64| d[((d.len() as f64 * p).ceil() as usize).clamp(1, d.len()) - 1];
    (at(0.50), at(0.99))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(2_500.0), "2,500");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
    }

    #[test]
    fn verdicts_say_by_how_much() {
        assert_eq!(verdict(0.8, Limit::AtLeast(0.7)), "met");
        assert_eq!(verdict(1.44, Limit::AtLeast(1.8)), "missed by 0.36 (20 %)");
        assert_eq!(
            verdict(2_000.0, Limit::AtLeast(2_500.0)),
            "missed by 500 (20 %)"
        );
        assert_eq!(verdict(9.9, Limit::Below(10.0)), "met");
        assert_eq!(verdict(12.0, Limit::Below(10.0)), "missed by 2.00 (20 %)");
        assert_eq!(verdict(250.0, Limit::Below(200.0)), "missed by 50 (25 %)");
    }

    #[test]
    fn figures_render_as_a_table() {
        let mut figures = Figures::default();
        figures.row("rate", "5 events/s", "≥ 4", "met");
        figures.row("context", "1", "—", "");
        assert_eq!(
            figures.render(),
            "| figure | value | target | verdict |\n|---|---|---|---|\n\
             | rate | 5 events/s | ≥ 4 | met |\n| context | 1 | — |  |\n"
        );
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut d: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        assert_eq!(
            percentiles(&mut d),
            (Duration::from_millis(50), Duration::from_millis(99))
        );
        assert_eq!(percentiles(&mut []), (Duration::ZERO, Duration::ZERO));
    }
}
