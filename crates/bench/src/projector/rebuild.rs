//! Rebuild: the stream read raw with an ordered consumer, applying nothing
//! (the limit), then `pagefeed-projector rebuild` of it against that limit.

use std::time::{Duration, Instant};

use async_nats::jetstream;
use bytes::Bytes;
use futures::StreamExt as _;
use pagefeed_events::streams::events_replay;
use pagefeed_events::subject::EVENTS_STREAM;

use super::nodes::{rebuild_run, RebuildRun};
use super::{Bench, CpuUse};
use crate::report::{kib_to_mb, mb, verdict, Limit};

/// `rebuild`'s rate as a share of the raw read's (issue 17).
const REBUILD_VS_RAW_TARGET: f64 = 0.8;
/// `rebuild`'s peak RSS, in MB.
const REBUILD_RSS_TARGET_MB: f64 = 200.0;

impl Bench {
    /// Steps 4 and 5: the raw read, then `rebuild` into a fresh directory;
    /// the raw read's rate and the payloads it read (for the apply split).
    pub(super) async fn rebuild_against_raw_read(
        &mut self,
    ) -> anyhow::Result<(f64, Vec<(u64, Bytes)>)> {
        let last = pagefeed_testkit::streams::events_last_seq(&self.js).await?;
        eprintln!("reading {last} events with an ordered consumer ...");
        let cpu = CpuUse::start_as("reader", self.nats_pid, &[]);
        let (read_time, payloads) = raw_read(&self.js, last).await?;
        let raw_rate = last as f64 / read_time.as_secs_f64();
        self.figures.row(
            "raw ordered-consumer read, no apply (the limit)",
            format!("{raw_rate:.0} events/s ({:.1} s)", read_time.as_secs_f64()),
            "—",
            "",
        );
        self.figures.row(
            "CPU during the raw read",
            cpu.finish(&[], self.cores),
            "—",
            "",
        );

        eprintln!("rebuilding node r ...");
        let cpu = CpuUse::start_as("bench", self.nats_pid, &[]);
        let RebuildRun {
            elapsed: rebuild_time,
            peak_rss_kib: rebuild_rss,
            cpu: rebuild_cpu,
            apply_thread,
            prepare_thread,
        } = rebuild_run(&self.bins, &self.config, &self.dir.path().join("r")).await?;
        let rebuild_rate = last as f64 / rebuild_time.as_secs_f64();
        self.figures.row(
            "`pagefeed-projector rebuild` (process start → exit)",
            format!(
                "{rebuild_rate:.0} events/s ({:.1} s; CPU {:.1} s per 1M events)",
                rebuild_time.as_secs_f64(),
                rebuild_cpu.as_secs_f64() * 1e6 / last as f64
            ),
            "—",
            "",
        );
        self.figures.row(
            "CPU during the rebuild",
            cpu.finish(&[("rebuild".to_owned(), rebuild_cpu)], self.cores),
            "—",
            "",
        );
        let per_million = |t: Duration| t.as_secs_f64() * 1e6 / last as f64;
        self.figures.row(
            "rebuild's apply / prepare thread, CPU-s per 1M events",
            format!(
                "{:.1} / {:.1} (the rest of the process {:.1})",
                per_million(apply_thread),
                per_million(prepare_thread),
                per_million(rebuild_cpu.saturating_sub(apply_thread + prepare_thread))
            ),
            "—",
            "",
        );
        self.figures.row(
            "rebuild / raw read",
            format!("{:.2}", rebuild_rate / raw_rate),
            format!("≥ {REBUILD_VS_RAW_TARGET}"),
            verdict(
                rebuild_rate / raw_rate,
                Limit::AtLeast(REBUILD_VS_RAW_TARGET),
            ),
        );
        self.figures.row(
            "rebuild peak RSS",
            mb(rebuild_rss),
            format!("< {REBUILD_RSS_TARGET_MB:.0} MB"),
            verdict(kib_to_mb(rebuild_rss), Limit::Below(REBUILD_RSS_TARGET_MB)),
        );
        Ok((raw_rate, payloads))
    }
}

/// Reads the whole stream with an ordered consumer, keeping the payloads
/// (for the in-process apply split).
async fn raw_read(
    js: &jetstream::Context,
    last: u64,
) -> anyhow::Result<(Duration, Vec<(u64, Bytes)>)> {
    let stream = js.get_stream(EVENTS_STREAM).await?;
    let mut payloads = Vec::with_capacity(last as usize);
    let started = Instant::now();
    let consumer = stream.create_consumer(events_replay()).await?;
    let mut messages = consumer.messages().await?;
    while let Some(msg) = messages.next().await {
        let msg = msg?;
        let seq = msg
            .info()
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .stream_sequence;
        payloads.push((seq, msg.payload.clone()));
        if seq >= last {
            break;
        }
    }
    Ok((started.elapsed(), payloads))
}
