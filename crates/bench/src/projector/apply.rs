//! The apply alone: payloads applied in-process to a fresh redb file, no
//! NATS, with and without the search index (`pagefeed-bench apply`, and
//! the last step of `pagefeed-bench projector`: the split of the apply cost).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use pagefeed_projector::store::{Logged, Store};

use super::events::entry_events;
use super::Bench;

/// Events per transaction in the in-process apply: the most a node's batch
/// holds, live or in `rebuild`.
const APPLY_BATCH: usize = pagefeed_projector::batch::MAX_BATCH;

/// `pagefeed-bench apply` options: the in-process apply alone, no NATS, for
/// profiling (`perf record`, `valgrind --tool=callgrind`).
#[derive(Debug, Clone, clap::Args)]
pub struct ApplyOptions {
    /// Entry events generated and applied.
    #[arg(long, default_value_t = 300_000, value_name = "N")]
    pub events: usize,
    /// Leave the search index out.
    #[arg(long)]
    pub no_index: bool,
    /// Events per write transaction (by default the most a node's batch
    /// holds, live or in `rebuild`).
    #[arg(long, default_value_t = APPLY_BATCH, value_name = "N")]
    pub batch: usize,
    /// Write the file into this directory and keep it (a node's `--data`),
    /// instead of a temporary one.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}

/// Applies `options.events` generated entry events in-process to a fresh
/// file, `options.batch` per transaction, and prints the rate.
pub fn apply_only(options: ApplyOptions) -> anyhow::Result<()> {
    let temp = tempfile::Builder::new()
        .prefix("pagefeed-bench-apply-")
        .tempdir()?;
    let dir = options.data.as_deref().unwrap_or(temp.path());
    let payloads: Vec<(u64, Bytes)> = entry_events(options.events, 0)
        .into_iter()
        .zip(1..)
        .map(|(m, seq)| (seq, m.payload))
        .collect();
    let cpu = CpuClock::start()?;
    let (t, prepare) = apply_in_process(&payloads, dir, !options.no_index, options.batch.max(1))?;
    let cpu = cpu.elapsed()?;
    println!(
        "applied {} entry events in {:.2} s: {:.0} events/s ({} the search index); \
         of which preparing (decode, rows, hashes, grams) {:.2} s, writing {:.0} events/s; \
         CPU {:.2} s ({:.2} µs an event)",
        payloads.len(),
        t.as_secs_f64(),
        payloads.len() as f64 / t.as_secs_f64(),
        if options.no_index { "without" } else { "with" },
        prepare.as_secs_f64(),
        payloads.len() as f64 / t.saturating_sub(prepare).as_secs_f64(),
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / payloads.len() as f64,
    );
    Ok(())
}

impl Bench {
    /// Step 6: `payloads` applied in this process, [`APPLY_BATCH`] per
    /// transaction, with and then without the search index, against the
    /// raw read's rate.
    pub(super) fn apply_split(
        &mut self,
        payloads: &[(u64, Bytes)],
        raw_rate: f64,
    ) -> anyhow::Result<()> {
        for (label, index) in [("with", true), ("without", false)] {
            eprintln!("applying in-process {label} the search index ...");
            let cpu = CpuClock::start()?;
            let (t, prepare) = apply_in_process(
                payloads,
                &self.dir.path().join(format!("apply-{label}")),
                index,
                APPLY_BATCH,
            )?;
            let cpu = cpu.elapsed()?;
            let rate = payloads.len() as f64 / t.as_secs_f64();
            self.figures.row(
                format!("apply only, in-process, {label} the search index"),
                format!(
                    "{rate:.0} events/s ({:.1} s; CPU {:.1} s per 1M events)",
                    t.as_secs_f64(),
                    cpu.as_secs_f64() * 1e6 / payloads.len() as f64
                ),
                "—",
                format!("{:.2} of the raw read", rate / raw_rate),
            );
            let writing = payloads.len() as f64 / t.saturating_sub(prepare).as_secs_f64();
            self.figures.row(
                format!(
                    "of which the writes alone (no decode, rows, hashes, grams), {label} the index"
                ),
                format!(
                    "{writing:.0} events/s (prepare {:.1} s)",
                    prepare.as_secs_f64()
                ),
                "—",
                format!("{:.2} of the raw read", writing / raw_rate),
            );
        }
        Ok(())
    }
}

/// This process's CPU time since [`CpuClock::start`]: an in-process apply
/// runs on one thread, so this is what it costs whatever else the machine
/// runs.
struct CpuClock(Duration);

impl CpuClock {
    fn start() -> anyhow::Result<CpuClock> {
        Ok(CpuClock(crate::procs::cpu_time(std::process::id())?))
    }

    fn elapsed(&self) -> anyhow::Result<Duration> {
        Ok(crate::procs::cpu_time(std::process::id())?.saturating_sub(self.0))
    }
}

/// Applies `payloads` to a fresh file in `dir`, `batch` per transaction,
/// preparing each batch ([`Store::prepare`]) then writing it on this one
/// thread: (the whole time, the time spent preparing).
pub(super) fn apply_in_process(
    payloads: &[(u64, Bytes)],
    dir: &Path,
    index: bool,
    batch: usize,
) -> anyhow::Result<(Duration, Duration)> {
    std::fs::create_dir_all(dir)?;
    let store = Store::open(&dir.join("pagefeed.redb"))?;
    let store = if index {
        store
    } else {
        store.without_search_index()
    };
    let started = Instant::now();
    let mut preparing = Duration::ZERO;
    // Stored "now", after every time the events claim (as in a live stream).
    let published = chrono::Utc::now();
    for chunk in payloads.chunks(batch) {
        let batch: Vec<Logged> = chunk
            .iter()
            .map(|(seq, payload)| Logged {
                seq: *seq,
                published,
                payload,
            })
            .collect();
        let prepare_started = Instant::now();
        let prepared = store.prepare(&batch);
        preparing += prepare_started.elapsed();
        store.apply_prepared(&prepared)?;
    }
    Ok((started.elapsed(), preparing))
}
