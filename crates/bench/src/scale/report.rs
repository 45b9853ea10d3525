//! The scale benchmark's report: each figure with its limit from the same
//! run, as a ratio, and the targets of issue 17 (a tick of 100,000 tasks in
//! under a second, every process under 100 MB).

use std::fmt::Write as _;

use super::{Measured, Setup};
use crate::report::{heading, kib_to_mb, mb, thousands, verdict, Figures, Limit};

/// Seconds to publish one tick.
const TARGET_TICK_SECS: f64 = 1.0;
/// Peak RSS of the scheduler and of a fetcher, in MB (10^6 bytes).
const TARGET_RSS_MB: f64 = 100.0;

pub fn render(setup: &Setup, m: &Measured) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_report(&mut out, setup, m);
    out
}

/// `; CPU: publisher 98 %, nats-server 45 %`: their CPU time over the
/// publication's time (from the process start for the scheduler).
fn nats_busy(t: &super::Timed) -> String {
    let secs = t.from_start.as_secs_f64().max(1e-9);
    let nats = t.nats_cpu.map_or(String::new(), |cpu| {
        format!(", nats-server {:.0} %", cpu.as_secs_f64() / secs * 100.0)
    });
    format!(
        "; CPU: publisher {:.0} %{nats}",
        t.client_cpu.as_secs_f64() / secs * 100.0
    )
}

fn write_report(out: &mut String, setup: &Setup, m: &Measured) -> std::fmt::Result {
    let o = &setup.options;
    let pinning = if setup.pinned {
        "nats-server, the sample sites and this process on core 1; the scheduler, the \
         fetcher and the limit's client on core 0 (taskset)"
    } else {
        "no pinning (taskset missing or one core)"
    };
    out.push_str(&heading("scale", &setup.machine, pinning));
    writeln!(
        out,
        "sites: ids 1..={} in batches of {}; a list of {} pages over {} hosts; {} pages \
         over as many hosts (127.0.x.y), and the same pages on one host, for the fetcher\n",
        o.ids, o.batch, o.list_pages, o.list_hosts, o.hosts
    )?;

    let limit_secs: Vec<f64> = m.limit.iter().map(|t| t.from_first.as_secs_f64()).collect();
    let limit_mean = limit_secs.iter().sum::<f64>() / limit_secs.len().max(1) as f64;
    let tick_secs = m.tick.from_first.as_secs_f64();
    let tick_mb = m.tick_bytes as f64 / 1e6;

    let mut f = Figures::default();
    f.row(
        format!(
            "limit: one client publishing {} tasks, {} acks in flight",
            m.tick.messages,
            super::LIMIT_WINDOW
        ),
        limit_secs
            .iter()
            .zip(&m.limit)
            .map(|(s, t)| format!("{s:.3} s ({} /s{})", thousands(t.per_sec()), nats_busy(t)))
            .collect::<Vec<_>>()
            .join(", "),
        "—",
        "",
    );
    f.row(
        "scheduler tick: first to last task stored",
        format!(
            "{tick_secs:.3} s ({} /s{})",
            thousands(m.tick.per_sec()),
            nats_busy(&m.tick)
        ),
        format!("< {TARGET_TICK_SECS} s"),
        verdict(tick_secs, Limit::Below(TARGET_TICK_SECS)),
    );
    f.row(
        "scheduler tick ÷ limit (mean of the two)",
        format!("{:.2}", tick_secs / limit_mean.max(1e-9)),
        "—",
        "",
    );
    f.row(
        "scheduler: process start to last task stored",
        format!("{:.3} s", m.tick.from_start.as_secs_f64()),
        "—",
        "",
    );
    f.row(
        "one tick's bytes (subjects, ids, payloads)",
        format!("{tick_mb:.1} MB"),
        "—",
        "",
    );
    f.row(
        "scheduler peak RSS, the id range alone",
        format!(
            "{} ({:.2} × the tick's bytes)",
            mb(m.tick_rss_kib),
            kib_to_mb(m.tick_rss_kib) / tick_mb.max(1e-9)
        ),
        format!("< {TARGET_RSS_MB} MB"),
        verdict(kib_to_mb(m.tick_rss_kib), Limit::Below(TARGET_RSS_MB)),
    );
    f.row(
        format!(
            "scheduler, every site: {} tasks stored from start",
            m.all_ticks.messages
        ),
        format!("{:.3} s", m.all_ticks.from_start.as_secs_f64()),
        "—",
        "",
    );
    f.row(
        "scheduler peak RSS, every site",
        mb(m.all_rss_kib),
        format!("< {TARGET_RSS_MB} MB"),
        verdict(kib_to_mb(m.all_rss_kib), Limit::Below(TARGET_RSS_MB)),
    );
    for crawl in [&m.one_host, &m.many_hosts] {
        f.row(
            format!("fetcher: {} pages of {} host(s)", crawl.pages, crawl.hosts),
            format!(
                "{:.2} s ({} pages/s)",
                crawl.elapsed.as_secs_f64(),
                thousands(crawl.pages as f64 / crawl.elapsed.as_secs_f64().max(1e-9))
            ),
            "—",
            "",
        );
        f.row(
            format!("fetcher peak RSS, {} host(s)", crawl.hosts),
            mb(crawl.peak_rss_kib),
            format!("< {TARGET_RSS_MB} MB"),
            verdict(kib_to_mb(crawl.peak_rss_kib), Limit::Below(TARGET_RSS_MB)),
        );
    }
    let extra_kib = m
        .many_hosts
        .peak_rss_kib
        .saturating_sub(m.one_host.peak_rss_kib);
    f.row(
        format!("fetcher peak RSS, {} hosts ÷ 1 host", m.many_hosts.hosts),
        format!(
            "{:.2} ({:.1} KB more per host)",
            m.many_hosts.peak_rss_kib as f64 / m.one_host.peak_rss_kib.max(1) as f64,
            extra_kib as f64 * 1.024 / m.many_hosts.hosts.max(1) as f64
        ),
        "—",
        "",
    );
    let per_page = m.bucket_bytes as f64 / m.bucket_pages.max(1) as f64;
    f.row(
        format!(
            "fetch-state bucket: bytes per page ({} pages)",
            m.bucket_pages
        ),
        format!(
            "{} B ({:.2} × the value's {:.0} B)",
            thousands(per_page),
            per_page / m.value_bytes.max(1e-9),
            m.value_bytes
        ),
        "—",
        "",
    );
    out.push_str(&f.render());
    writeln!(
        out,
        "\nThe fetcher spaces requests to a host by a minute in the run over many hosts \
         (`per_host_delay = \"60s\"`, each host asked once), so that every host it crawled \
         is still in its politeness state at the end; the one-host run has no delay and \
         `per_host_concurrency = 64`. Both fetchers load the same config (every site)."
    )?;
    Ok(())
}
