//! What each destination has done, for `/status` (JSON) and `/metrics`
//! (Prometheus, written by prometheus-client): deliveries by outcome, the
//! deliveries failing now, the last error. Never a URL or a token.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use pagefeed_events::config::Notify;
use pagefeed_events::streams::notify_consumer_name;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use serde::Serialize;
use tracing::info;

/// One destination's figures.
#[derive(Debug)]
pub struct DestinationStats {
    pub name: String,
    kind: &'static str,
    site: Option<String>,
    /// Its consumer is set up and being read.
    following: AtomicBool,
    delivered: AtomicU64,
    /// Attempts that failed (each is tried again).
    failed: AtomicU64,
    /// Entries not sent: seen on their page's first crawl (or not an entry).
    skipped: AtomicU64,
    /// Deliveries failing now, waiting to be tried again.
    retrying: AtomicU64,
    last_error: Mutex<Option<String>>,
    last_delivered_at: Mutex<Option<DateTime<Utc>>>,
}

impl DestinationStats {
    pub fn new(notify: &Notify) -> DestinationStats {
        DestinationStats {
            name: notify.name.clone(),
            kind: notify.target.kind(),
            site: notify.site.clone(),
            following: AtomicBool::new(false),
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            retrying: AtomicU64::new(0),
            last_error: Mutex::new(None),
            last_delivered_at: Mutex::new(None),
        }
    }

    pub fn following(&self, yes: bool) {
        self.following.store(yes, Ordering::Relaxed);
    }

    pub fn delivered(&self) {
        self.delivered.fetch_add(1, Ordering::Relaxed);
        *lock(&self.last_delivered_at) = Some(Utc::now());
    }

    pub fn failed(&self, error: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        *lock(&self.last_error) = Some(error);
    }

    pub fn skipped(&self) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
    }

    /// A delivery started failing (`true`) or ended after failing (`false`).
    pub fn retrying(&self, yes: bool) {
        if yes {
            self.retrying.fetch_add(1, Ordering::Relaxed);
        } else {
            self.retrying.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn status(&self) -> DestinationStatus {
        DestinationStatus {
            name: self.name.clone(),
            kind: self.kind,
            site: self.site.clone(),
            consumer: notify_consumer_name(&self.name),
            following: self.following.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            failed_attempts: self.failed.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            retrying: self.retrying.load(Ordering::Relaxed),
            last_error: lock(&self.last_error).clone(),
            last_delivered_at: *lock(&self.last_delivered_at),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One destination in `/status`.
#[derive(Debug, Serialize)]
pub struct DestinationStatus {
    pub name: String,
    pub kind: &'static str,
    pub site: Option<String>,
    pub consumer: String,
    pub following: bool,
    pub delivered: u64,
    pub failed_attempts: u64,
    pub skipped: u64,
    pub retrying: u64,
    pub last_error: Option<String>,
    pub last_delivered_at: Option<DateTime<Utc>>,
}

/// `/status`.
#[derive(Debug, Serialize)]
pub struct Status {
    pub destinations: Vec<DestinationStatus>,
}

/// Every destination's figures.
#[derive(Debug, Clone)]
pub struct Stats(pub Vec<Arc<DestinationStats>>);

impl Stats {
    pub fn status(&self) -> Status {
        Status {
            destinations: self.0.iter().map(|d| d.status()).collect(),
        }
    }

    /// The Prometheus text of every figure.
    pub fn render(&self) -> Result<String, fmt::Error> {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self.clone()));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry)?;
        Ok(out)
    }
}

impl Collector for Stats {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let mut family = encoder.encode_descriptor(
            "pagefeed_notifier_deliveries",
            "Deliveries by destination and outcome: delivered, failed (an attempt, tried again), skipped (an entry of a page's first crawl).",
            None,
            MetricType::Counter,
        )?;
        for d in &self.0 {
            for (outcome, count) in [
                ("delivered", &d.delivered),
                ("failed", &d.failed),
                ("skipped", &d.skipped),
            ] {
                let labels = [("destination", d.name.as_str()), ("outcome", outcome)];
                ConstCounter::new(count.load(Ordering::Relaxed))
                    .encode(family.encode_family(&labels)?)?;
            }
        }
        for (name, help, value) in [
            (
                "pagefeed_notifier_retrying",
                "Deliveries failing now, waiting to be tried again.",
                (|d: &DestinationStats| d.retrying.load(Ordering::Relaxed))
                    as fn(&DestinationStats) -> u64,
            ),
            (
                "pagefeed_notifier_following",
                "1 while the destination's consumer is being read, else 0.",
                |d: &DestinationStats| u64::from(d.following.load(Ordering::Relaxed)),
            ),
        ] {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for d in &self.0 {
                let labels = [("destination", d.name.as_str())];
                ConstGauge::new(i64::try_from(value(d)).unwrap_or(i64::MAX))
                    .encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// The summary line's writer: deliveries per minute since the last line,
/// every destination together.
pub fn summary(stats: Stats) -> impl FnMut(std::time::Duration) + Send + 'static {
    let totals = move || {
        stats.0.iter().fold((0, 0), |(delivered, failed), d| {
            (
                delivered + d.delivered.load(Ordering::Relaxed),
                failed + d.failed.load(Ordering::Relaxed),
            )
        })
    };
    let mut last = (0, 0);
    move |elapsed| {
        let now = totals();
        let delivered = pagefeed_cli::observe::per_minute(now.0 - last.0, elapsed);
        let failed = pagefeed_cli::observe::per_minute(now.1 - last.1, elapsed);
        info!(
            deliveries_per_min = delivered,
            failed_attempts_per_min = failed,
            "delivered {delivered} notifications/min, {failed} failed attempts/min"
        );
        last = now;
    }
}
