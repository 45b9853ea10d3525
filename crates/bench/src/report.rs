//! The printed report: the runs as a markdown table, the ratios next to their
//! targets, peak memory and a machine note, ready to paste into
//! docs/BENCHMARKS.md.

use std::fmt::Write as _;
use std::time::Duration;

use crate::fetcher::{Measured, Run, Setup};

/// (b)/(a′) at the main latency: what the fetcher keeps of the parse limit.
const TARGET_ONE_VS_PARSE: f64 = 0.7;
/// (c)/(b) at the scaling latency: a second process nearly doubles the rate.
const TARGET_TWO_VS_ONE: f64 = 1.8;
/// Peak RSS of a fetcher process, in MB (10^6 bytes).
const TARGET_RSS_MB: f64 = 50.0;
/// Pages per fetcher CPU-second: ten times Scrapy's ~250 pages/s on one core.
const TARGET_PAGES_PER_CORE: f64 = 2_500.0;

pub fn render(setup: &Setup, results: &[Measured]) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_report(&mut out, setup, results);
    out
}

fn write_report(out: &mut String, setup: &Setup, results: &[Measured]) -> std::fmt::Result {
    let o = &setup.options;
    let m = &setup.machine;
    writeln!(
        out,
        "\npagefeed fetcher benchmark, {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    )?;
    let pinning = match (setup.pinned, setup.nats_pinned) {
        (true, true) => "sample site and nats-server on core 1, client on core 0 (taskset)",
        (true, false) => {
            "sample site on core 1, client on core 0 (taskset); nats-server NOT pinned \
             (its pid was not found)"
        }
        (false, _) => "no pinning (taskset missing or one core)",
    };
    writeln!(
        out,
        "machine: {} cores, {}; {pinning}",
        m.cores, m.cpu_model
    )?;
    writeln!(
        out,
        "concurrency {c} per client (fetchers: --concurrency {c}, per_host_concurrency {c}), \
         {s} in the scaling runs; fetchers log at info to a file\n",
        c = o.concurrency,
        s = o.scaling_concurrency
    )?;

    writeln!(
        out,
        "| run | site latency | pages | seconds | pages/s | entries/s | client CPU | site CPU | nats CPU | fetcher peak RSS |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|---|---|---|")?;
    for r in results {
        let secs = r.elapsed.as_secs_f64();
        writeln!(
            out,
            "| {} | {} ms | {} | {:.2} | {} | {} | {} | {} | {} | {} |",
            r.run.label(),
            r.latency_ms,
            r.pages,
            secs,
            thousands(r.pages_per_sec()),
            r.entries_per_sec().map_or("—".to_owned(), thousands),
            percent(r.client_cpu, r.elapsed),
            percent(r.site_cpu, r.elapsed),
            r.nats_cpu
                .map_or("—".to_owned(), |cpu| percent(cpu, r.elapsed)),
            rss_cell(&r.peak_rss_kib),
        )?;
    }
    writeln!(
        out,
        "\nCPU is in % of one core over the run (client: this process for (a)/(a′), \
         the fetcher processes together for (b)/(c)).\n"
    )?;

    writeln!(out, "| figure | value | target | verdict |")?;
    writeln!(out, "|---|---|---|---|")?;
    let latencies = if o.latency_ms == o.scaling_latency_ms || o.scaling_pages == 0 {
        vec![o.latency_ms]
    } else {
        vec![o.latency_ms, o.scaling_latency_ms]
    };
    let find = |run: Run, latency: u64| {
        results
            .iter()
            .find(|r| r.run == run && r.latency_ms == latency)
    };
    let rate_ratio = |a: Run, b: Run, latency: u64| {
        Some(find(a, latency)?.pages_per_sec() / find(b, latency)?.pages_per_sec())
    };
    for &latency in &latencies {
        let main = latency == o.latency_ms;
        let scaling = latency == o.scaling_latency_ms && o.scaling_pages > 0;
        ratio_row(
            out,
            &format!("(b)/(a′) at {latency} ms"),
            rate_ratio(Run::One, Run::Parse, latency),
            main.then_some(TARGET_ONE_VS_PARSE),
        )?;
        ratio_row(
            out,
            &format!("(b)/(a) at {latency} ms"),
            rate_ratio(Run::One, Run::Get, latency),
            None,
        )?;
        ratio_row(
            out,
            &format!("(a′)/(a) at {latency} ms"),
            rate_ratio(Run::Parse, Run::Get, latency),
            None,
        )?;
        ratio_row(
            out,
            &format!("(c)/(b) at {latency} ms"),
            rate_ratio(Run::Two, Run::One, latency),
            scaling.then_some(TARGET_TWO_VS_ONE),
        )?;
    }
    let peak_mb = results
        .iter()
        .flat_map(|r| r.peak_rss_kib.iter())
        .map(|&kib| kib_to_mb(kib))
        .reduce(f64::max);
    match peak_mb {
        Some(mb) => writeln!(
            out,
            "| largest fetcher peak RSS (VmHWM) | {mb:.1} MB | < {TARGET_RSS_MB:.0} MB | {} |",
            if mb < TARGET_RSS_MB {
                "met".to_owned()
            } else {
                format!("missed by {:.1} MB", mb - TARGET_RSS_MB)
            }
        )?,
        None => writeln!(
            out,
            "| largest fetcher peak RSS (VmHWM) | n/a | < 50 MB | — |"
        )?,
    }
    if let Some(one) = find(Run::One, o.latency_ms) {
        let cores = one.client_cpu.as_secs_f64() / one.elapsed.as_secs_f64();
        let per_core = one.pages as f64 / one.client_cpu.as_secs_f64().max(1e-9);
        writeln!(
            out,
            "| (b) pages/s per fetcher core used at {} ms ({} pages/s on {cores:.2} cores) | {} | ≥ {} (10 × Scrapy's ~250) | {} |",
            o.latency_ms,
            thousands(one.pages_per_sec()),
            thousands(per_core),
            thousands(TARGET_PAGES_PER_CORE),
            verdict(per_core, TARGET_PAGES_PER_CORE),
        )?;
    }

    let mut notes = Vec::new();
    for r in results {
        if let Some(first) = r.first_event {
            let split = if r.pages_by_fetcher.len() > 1 {
                format!(
                    "; pages per fetcher: {}",
                    r.pages_by_fetcher
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(" / ")
                )
            } else {
                String::new()
            };
            notes.push(format!(
                "{} at {} ms: first event {} ms after the start{split}",
                r.run.label(),
                r.latency_ms,
                first.as_millis()
            ));
        }
    }
    if !notes.is_empty() {
        writeln!(out)?;
        for note in notes {
            writeln!(out, "- {note}")?;
        }
    }
    Ok(())
}

fn ratio_row(
    out: &mut String,
    name: &str,
    value: Option<f64>,
    target: Option<f64>,
) -> std::fmt::Result {
    let Some(value) = value else {
        return Ok(());
    };
    match target {
        Some(target) => writeln!(
            out,
            "| {name} | {value:.2} | ≥ {target:.2} | {} |",
            verdict(value, target)
        ),
        None => writeln!(out, "| {name} | {value:.2} | — | — |"),
    }
}

/// `met`, or `missed by 0.12 (15 %)`.
fn verdict(value: f64, at_least: f64) -> String {
    if value >= at_least {
        "met".to_owned()
    } else {
        let gap = at_least - value;
        let shown = if at_least >= 100.0 {
            thousands(gap)
        } else {
            format!("{gap:.2}")
        };
        format!("missed by {shown} ({:.0} %)", gap / at_least * 100.0)
    }
}

fn percent(cpu: Duration, wall: Duration) -> String {
    format!("{:.0} %", cpu.as_secs_f64() / wall.as_secs_f64() * 100.0)
}

fn kib_to_mb(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1e6
}

fn rss_cell(kib: &[u64]) -> String {
    if kib.is_empty() {
        return "—".to_owned();
    }
    let each: Vec<String> = kib
        .iter()
        .map(|&k| format!("{:.1}", kib_to_mb(k)))
        .collect();
    format!("{} MB", each.join(" + "))
}

/// `12,345`.
fn thousands(value: f64) -> String {
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
        assert_eq!(verdict(0.8, 0.7), "met");
        assert_eq!(verdict(1.44, 1.8), "missed by 0.36 (20 %)");
        assert_eq!(verdict(2_000.0, 2_500.0), "missed by 500 (20 %)");
    }
}
