//! `/metrics`: the node's figures in the Prometheus (OpenMetrics) text
//! format, written by prometheus-client from what the replication loop
//! publishes in [`Live`]; a scrape reads nothing from the file.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use pagefeed_events::event::FETCH_FAILURE_REASONS;

use crate::api::Live;

/// The content type of [`render`]'s text.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Buckets of a batch's commit time: 0.5 ms to about 16 s.
pub(crate) fn commit_time_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Every figure of the node, labelled with its name.
pub(crate) fn render(live: &Arc<Live>) -> Result<String, fmt::Error> {
    let mut registry = Registry::with_labels(std::iter::once((
        Cow::Borrowed("node"),
        Cow::Owned(live.node.clone()),
    )));
    registry.register_collector(Box::new(Figures(live.clone())));
    // `register` ends the help with a full stop itself; a collector does not.
    registry.register(
        "pagefeed_projector_batch_commit_seconds",
        "Time to commit one batch of events",
        live.batch_commit.clone(),
    );
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}

/// The figures read at each scrape.
#[derive(Debug)]
struct Figures(Arc<Live>);

impl Collector for Figures {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let live = &self.0;
        let replica = live.replica();
        let stream_last = live.stream_last_seq.load(Ordering::Relaxed);
        gauge(
            &mut encoder,
            "pagefeed_projector_applied_seq",
            "Last stream sequence applied to the replica.",
            replica.applied_seq,
        )?;
        gauge(
            &mut encoder,
            "pagefeed_projector_lag",
            "Stream sequences not yet applied (stream last sequence - applied sequence).",
            stream_last.saturating_sub(replica.applied_seq),
        )?;
        counter(
            &mut encoder,
            "pagefeed_projector_events_applied",
            "Events applied by this process.",
            live.events_applied.load(Ordering::Relaxed),
        )?;
        counter(
            &mut encoder,
            "pagefeed_projector_rejected",
            "Payloads recorded as rejected in the replica.",
            replica.rejected,
        )?;
        gauge(
            &mut encoder,
            "pagefeed_projector_apply_stalled",
            "1 while applying is stalled because commits fail (a full disk), else 0.",
            u64::from(live.stalled().is_some()),
        )?;
        counter(
            &mut encoder,
            "pagefeed_projector_failed_commits",
            "Batch commits that failed in this process.",
            live.failed_commits.load(Ordering::Relaxed),
        )?;
        fetch_failures(&mut encoder, live)
    }
}

/// `pagefeed_projector_fetch_failures_total{reason}`: one sample per reason,
/// including the sweeper's `expired`, `max_deliver` and `stranded`.
fn fetch_failures(encoder: &mut DescriptorEncoder, live: &Live) -> fmt::Result {
    let mut family = encoder.encode_descriptor(
        "pagefeed_projector_fetch_failures",
        "fetch_failed events applied by this process, by reason.",
        None,
        prometheus_client::metrics::MetricType::Counter,
    )?;
    for (reason, count) in FETCH_FAILURE_REASONS.iter().zip(&live.fetch_failures) {
        let labels = [("reason", *reason)];
        let metric = ConstCounter::new(count.load(Ordering::Relaxed));
        metric.encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let metric = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
    let metric_encoder = encoder.encode_descriptor(name, help, None, metric.metric_type())?;
    metric.encode(metric_encoder)
}

/// `name` is the family's; its sample is written `name_total`.
fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let metric = ConstCounter::new(value);
    let metric_encoder = encoder.encode_descriptor(name, help, None, metric.metric_type())?;
    metric.encode(metric_encoder)
}
