//! Rebuild: the stream read raw with an ordered consumer, applying nothing
//! (the limit), then `pagefeed-projector rebuild` of it against that limit.

use std::time::{Duration, Instant};

use async_nats::jetstream;
use bytes::Bytes;
use futures::StreamExt as _;
use pagefeed_events::streams::events_replay;
use pagefeed_events::subject::EVENTS_STREAM;

use super::nodes::rebuild;
use super::Bench;
use crate::report::{kib_to_mb, mb, verdict, Limit};

/// `rebuild`'s rate as a share of the raw read's.
const REBUILD_VS_RAW_TARGET: f64 = 0.5;
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
        let (read_time, payloads) = raw_read(&self.js, last).await?;
        let raw_rate = last as f64 / read_time.as_secs_f64();
        self.figures.row(
            "raw ordered-consumer read, no apply (the limit)",
            format!("{raw_rate:.0} events/s ({:.1} s)", read_time.as_secs_f64()),
            "—",
            "",
        );

        eprintln!("rebuilding node r ...");
        let (rebuild_time, rebuild_rss) =
            rebuild(&self.bins, &self.config, &self.dir.path().join("r")).await?;
        let rebuild_rate = last as f64 / rebuild_time.as_secs_f64();
        self.figures.row(
            "`pagefeed-projector rebuild` (process start → exit)",
            format!(
                "{rebuild_rate:.0} events/s ({:.1} s)",
                rebuild_time.as_secs_f64()
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
