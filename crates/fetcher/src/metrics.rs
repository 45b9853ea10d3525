//! The fetcher's figures for `/metrics` (prometheus-client) and for its
//! periodic summary line. Every label set is bounded: outcomes and status
//! classes are fixed lists, failure reasons are those of
//! [`FETCH_FAILURE_REASONS`].

use std::sync::Arc;
use std::time::Duration;

use pagefeed_events::event::{fetch_failure_slot, FETCH_FAILURE_REASONS};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use tracing::info;

use crate::failure::FailureReason;

type Labels = [(&'static str, &'static str); 1];

/// How a task ended, for `pagefeed_fetcher_pages_total{outcome}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageOutcome {
    /// New entries or a new title: `page_crawled`.
    Crawled,
    /// Nothing new: `page_unchanged` (a 304 among them).
    Unchanged,
    /// Ended as `fetch_failed`.
    Failed,
}

impl PageOutcome {
    fn as_str(self) -> &'static str {
        match self {
            PageOutcome::Crawled => "crawled",
            PageOutcome::Unchanged => "unchanged",
            PageOutcome::Failed => "failed",
        }
    }
}

/// Every figure of one fetcher process; cheap to share in an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    pages: Family<Labels, Counter>,
    failures: Family<Labels, Counter>,
    failed_attempts: Family<Labels, Counter>,
    entries: Counter,
    responses: Family<Labels, Counter>,
    not_modified: Counter,
    bytes: Counter,
    fetch_seconds: Histogram,
    parse_seconds: Histogram,
    in_flight: Gauge,
    politeness_waits: Counter,
    politeness_wait_seconds: Counter<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            pages: Family::default(),
            failures: Family::default(),
            failed_attempts: Family::default(),
            entries: Counter::default(),
            responses: Family::default(),
            not_modified: Counter::default(),
            bytes: Counter::default(),
            // 10 ms to about 80 s: a fetch's timeout is 30 s by default.
            fetch_seconds: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
            // 1 ms to about 8 s: the parse deadline is seconds.
            parse_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            in_flight: Gauge::default(),
            politeness_waits: Counter::default(),
            politeness_wait_seconds: Counter::default(),
        }
    }
}

/// The HTTP status classes counted; anything else counts as `other`.
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

impl Metrics {
    /// Registers every figure in `registry` (counters get `_total`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "pagefeed_fetcher_pages",
            "Tasks ended, by outcome: crawled (news), unchanged, failed (a fetch_failed event)",
            self.pages.clone(),
        );
        registry.register(
            "pagefeed_fetcher_failures",
            "Tasks ended as fetch_failed, by reason",
            self.failures.clone(),
        );
        registry.register(
            "pagefeed_fetcher_failed_attempts",
            "Attempts that failed, retried or not, by reason",
            self.failed_attempts.clone(),
        );
        registry.register(
            "pagefeed_fetcher_entries",
            "New entries published",
            self.entries.clone(),
        );
        registry.register(
            "pagefeed_fetcher_http_responses",
            "Final HTTP responses (after redirects), by status class",
            self.responses.clone(),
        );
        registry.register(
            "pagefeed_fetcher_not_modified",
            "Conditional GETs answered 304 Not Modified",
            self.not_modified.clone(),
        );
        registry.register(
            "pagefeed_fetcher_fetched_bytes",
            "Body bytes fetched (decompressed)",
            self.bytes.clone(),
        );
        registry.register(
            "pagefeed_fetcher_fetch_seconds",
            "Time from the request to the whole body, redirects included",
            self.fetch_seconds.clone(),
        );
        registry.register(
            "pagefeed_fetcher_parse_seconds",
            "Time to decode and extract one page",
            self.parse_seconds.clone(),
        );
        registry.register(
            "pagefeed_fetcher_tasks_in_flight",
            "Tasks being worked on in this process",
            self.in_flight.clone(),
        );
        registry.register(
            "pagefeed_fetcher_politeness_waits",
            "Requests that waited for their host's turn (per-host concurrency or delay)",
            self.politeness_waits.clone(),
        );
        registry.register(
            "pagefeed_fetcher_politeness_wait_seconds",
            "Time requests spent waiting for their host's turn",
            self.politeness_wait_seconds.clone(),
        );
    }

    /// A task ended so, with `new_entries` published.
    pub fn page(&self, outcome: PageOutcome, new_entries: usize) {
        self.pages
            .get_or_create(&[("outcome", outcome.as_str())])
            .inc();
        self.entries.inc_by(new_entries as u64);
    }

    /// A task ended as `fetch_failed` for `reason`.
    pub fn failed(&self, reason: &FailureReason) {
        self.page(PageOutcome::Failed, 0);
        self.failures.get_or_create(&reason_label(reason)).inc();
    }

    /// An attempt failed for `reason` (tried again or not).
    pub fn attempt_failed(&self, reason: &FailureReason) {
        self.failed_attempts
            .get_or_create(&reason_label(reason))
            .inc();
    }

    /// The site answered `status` after `took`, with `bytes` of body.
    pub fn response(&self, status: u16, took: Duration, bytes: usize) {
        let class = STATUS_CLASSES
            .get(usize::from(status / 100).wrapping_sub(1))
            .copied()
            .unwrap_or("other");
        self.responses.get_or_create(&[("class", class)]).inc();
        if status == 304 {
            self.not_modified.inc();
        }
        self.bytes.inc_by(bytes as u64);
        self.fetch_seconds.observe(took.as_secs_f64());
    }

    /// A fetch that got no answer took `took`.
    pub fn no_response(&self, took: Duration) {
        self.fetch_seconds.observe(took.as_secs_f64());
    }

    /// A parse took `took`.
    pub fn parsed(&self, took: Duration) {
        self.parse_seconds.observe(took.as_secs_f64());
    }

    /// A request waited `waited` for its host's turn (counted from 1 ms).
    pub fn politeness_wait(&self, waited: Duration) {
        if waited >= Duration::from_millis(1) {
            self.politeness_waits.inc();
            self.politeness_wait_seconds.inc_by(waited.as_secs_f64());
        }
    }

    /// A task is being worked on until the guard drops.
    pub fn in_flight(self: &Arc<Self>) -> InFlight {
        self.in_flight.inc();
        InFlight(Arc::clone(self))
    }

    fn snapshot(&self) -> Snapshot {
        let pages = |outcome: PageOutcome| {
            self.pages
                .get_or_create(&[("outcome", outcome.as_str())])
                .get()
        };
        Snapshot {
            crawled: pages(PageOutcome::Crawled) + pages(PageOutcome::Unchanged),
            failed: pages(PageOutcome::Failed),
            entries: self.entries.get(),
            by_reason: std::array::from_fn(|slot| {
                self.failures
                    .get_or_create(&[("reason", FETCH_FAILURE_REASONS[slot])])
                    .get()
            }),
        }
    }
}

/// One task in flight: see [`Metrics::in_flight`].
#[derive(Debug)]
pub struct InFlight(Arc<Metrics>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

/// The label of `reason`: one of [`FETCH_FAILURE_REASONS`].
fn reason_label(reason: &FailureReason) -> Labels {
    [(
        "reason",
        FETCH_FAILURE_REASONS[fetch_failure_slot(reason.as_str())],
    )]
}

#[derive(Debug, Clone, Copy)]
struct Snapshot {
    crawled: u64,
    failed: u64,
    entries: u64,
    by_reason: [u64; FETCH_FAILURE_REASONS.len()],
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot {
            crawled: 0,
            failed: 0,
            entries: 0,
            by_reason: [0; FETCH_FAILURE_REASONS.len()],
        }
    }
}

/// The summary line's writer: pages, entries and failures per minute since
/// the last line, the failures by reason.
pub fn summary(metrics: Arc<Metrics>) -> impl FnMut(Duration) + Send + 'static {
    let mut last = Snapshot::default();
    move |elapsed| {
        let now = metrics.snapshot();
        let per_min = |n: u64| pagefeed_cli::observe::per_minute(n, elapsed);
        let reasons: Vec<String> = FETCH_FAILURE_REASONS
            .iter()
            .zip(now.by_reason.iter().zip(&last.by_reason))
            .filter(|(_, (now, last))| now > last)
            .map(|(reason, (now, last))| format!("{reason} {}", per_min(now - last)))
            .collect();
        let reasons = if reasons.is_empty() {
            String::new()
        } else {
            format!(" (by reason: {})", reasons.join(", "))
        };
        info!(
            pages_per_min = per_min(now.crawled - last.crawled),
            entries_per_min = per_min(now.entries - last.entries),
            failures_per_min = per_min(now.failed - last.failed),
            in_flight = metrics.in_flight.get(),
            "crawled {} pages/min, {} entries/min, {} failures/min{reasons}",
            per_min(now.crawled - last.crawled),
            per_min(now.entries - last.entries),
            per_min(now.failed - last.failed),
        );
        last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(metrics: &Metrics) -> String {
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        out
    }

    fn has(text: &str, line: &str) {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }

    #[test]
    fn statuses_count_by_class_and_304s_apart() {
        let metrics = Metrics::default();
        for status in [200, 304, 404, 503, 503, 42] {
            metrics.response(status, Duration::from_millis(5), 10);
        }
        let text = text(&metrics);
        has(
            &text,
            "pagefeed_fetcher_http_responses_total{class=\"2xx\"} 1",
        );
        has(
            &text,
            "pagefeed_fetcher_http_responses_total{class=\"3xx\"} 1",
        );
        has(
            &text,
            "pagefeed_fetcher_http_responses_total{class=\"4xx\"} 1",
        );
        has(
            &text,
            "pagefeed_fetcher_http_responses_total{class=\"5xx\"} 2",
        );
        has(
            &text,
            "pagefeed_fetcher_http_responses_total{class=\"other\"} 1",
        );
        has(&text, "pagefeed_fetcher_not_modified_total 1");
        has(&text, "pagefeed_fetcher_fetched_bytes_total 60");
        has(&text, "pagefeed_fetcher_fetch_seconds_count 6");
    }

    #[test]
    fn failures_count_by_their_event_reason() {
        let metrics = Metrics::default();
        metrics.failed(&FailureReason::HttpStatus(404));
        metrics.failed(&FailureReason::Timeout);
        metrics.attempt_failed(&FailureReason::Timeout);
        let text = text(&metrics);
        has(
            &text,
            "pagefeed_fetcher_failures_total{reason=\"http_status\"} 1",
        );
        has(
            &text,
            "pagefeed_fetcher_failures_total{reason=\"timeout\"} 1",
        );
        has(
            &text,
            "pagefeed_fetcher_failed_attempts_total{reason=\"timeout\"} 1",
        );
        has(&text, "pagefeed_fetcher_pages_total{outcome=\"failed\"} 2");
    }

    #[test]
    fn a_task_in_flight_counts_until_it_ends() {
        let metrics = Arc::new(Metrics::default());
        let first = metrics.in_flight();
        let second = metrics.in_flight();
        assert_eq!(metrics.in_flight.get(), 2);
        drop(first);
        drop(second);
        assert_eq!(metrics.in_flight.get(), 0);
    }
}
