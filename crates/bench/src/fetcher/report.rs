//! The fetcher benchmark's report: its runs as a markdown table, then its
//! figures (the ratios against their targets, the peak memory) and notes.

use std::fmt::Write as _;
use std::time::Duration;

use super::{Measured, Run, Setup};
use crate::report::{heading, kib_to_mb, thousands, verdict, Figures, Limit};

/// (b)/(a′) at the main latency: what the fetcher keeps of the parse limit.
const TARGET_ONE_VS_PARSE: f64 = 0.7;
/// (c)/(b) at the scaling latency: a second process nearly doubles the rate.
const TARGET_TWO_VS_ONE: f64 = 1.8;
/// Peak RSS of a fetcher process, in MB (10^6 bytes).
const TARGET_RSS_MB: f64 = 50.0;
/// Pages per fetcher CPU-second: twelve times Scrapy's ~250 pages/s on one
/// core (issue 17).
const TARGET_PAGES_PER_CORE: f64 = 3_000.0;

pub fn render(setup: &Setup, results: &[Measured]) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_report(&mut out, setup, results);
    out
}

fn write_report(out: &mut String, setup: &Setup, results: &[Measured]) -> std::fmt::Result {
    let o = &setup.options;
    let pinning = match (setup.pinned, setup.nats_pinned) {
        (true, true) => "sample site and nats-server on core 1, client on core 0 (taskset)",
        (true, false) => {
            "sample site on core 1, client on core 0 (taskset); nats-server NOT pinned \
             (its pid was not found)"
        }
        (false, _) => "no pinning (taskset missing or one core)",
    };
    out.push_str(&heading("fetcher", &setup.machine, pinning));
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

    let mut figures = Figures::default();
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
            &mut figures,
            &format!("(b)/(a′) at {latency} ms"),
            rate_ratio(Run::One, Run::Parse, latency),
            main.then_some(TARGET_ONE_VS_PARSE),
        );
        ratio_row(
            &mut figures,
            &format!("(b)/(a) at {latency} ms"),
            rate_ratio(Run::One, Run::Get, latency),
            None,
        );
        ratio_row(
            &mut figures,
            &format!("(a′)/(a) at {latency} ms"),
            rate_ratio(Run::Parse, Run::Get, latency),
            None,
        );
        ratio_row(
            &mut figures,
            &format!("(c)/(b) at {latency} ms"),
            rate_ratio(Run::Two, Run::One, latency),
            scaling.then_some(TARGET_TWO_VS_ONE),
        );
    }
    let peak_mb = results
        .iter()
        .flat_map(|r| r.peak_rss_kib.iter())
        .map(|&kib| kib_to_mb(kib))
        .reduce(f64::max);
    match peak_mb {
        Some(mb) => figures.row(
            "largest fetcher peak RSS (VmHWM)",
            format!("{mb:.1} MB"),
            format!("< {TARGET_RSS_MB:.0} MB"),
            verdict(mb, Limit::Below(TARGET_RSS_MB)),
        ),
        None => figures.row(
            "largest fetcher peak RSS (VmHWM)",
            "n/a",
            format!("< {TARGET_RSS_MB:.0} MB"),
            "—",
        ),
    }
    if let Some(one) = find(Run::One, o.latency_ms) {
        let cores = one.client_cpu.as_secs_f64() / one.elapsed.as_secs_f64();
        let per_core = one.pages as f64 / one.client_cpu.as_secs_f64().max(1e-9);
        figures.row(
            format!(
                "(b) pages/s per fetcher core used at {} ms ({} pages/s on {cores:.2} cores)",
                o.latency_ms,
                thousands(one.pages_per_sec()),
            ),
            thousands(per_core),
            format!(
                "≥ {} (12 × Scrapy's ~250)",
                thousands(TARGET_PAGES_PER_CORE)
            ),
            verdict(per_core, Limit::AtLeast(TARGET_PAGES_PER_CORE)),
        );
    }
    out.push_str(&figures.render());

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

/// A ratio, against its target where it has one.
fn ratio_row(figures: &mut Figures, name: &str, value: Option<f64>, target: Option<f64>) {
    let Some(value) = value else {
        return;
    };
    match target {
        Some(target) => figures.row(
            name,
            format!("{value:.2}"),
            format!("≥ {target:.2}"),
            verdict(value, Limit::AtLeast(target)),
        ),
        None => figures.row(name, format!("{value:.2}"), "—", "—"),
    }
}

fn percent(cpu: Duration, wall: Duration) -> String {
    format!("{:.0} %", cpu.as_secs_f64() / wall.as_secs_f64() * 100.0)
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
