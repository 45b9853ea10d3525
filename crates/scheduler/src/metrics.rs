//! The scheduler's figures for `/metrics` (prometheus-client) and for its
//! periodic summary line: tasks published and de-duplicated, late ticks,
//! retention events, and what the sweeper did.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tracing::info;

use crate::sweep::Swept;

/// Every figure of one scheduler process; cheap to share in an `Arc`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Tasks JetStream acked, duplicates included.
    pub tasks_published: Counter,
    /// Of those, the ones the server said were duplicates (another
    /// scheduler, or this one again after a restart, published them first).
    pub tasks_deduplicated: Counter,
    /// Ticks published after their slot had passed (NATS was unreachable).
    pub late_ticks: Counter,
    /// Retention events JetStream acked, duplicates included.
    pub retention_events: Counter,
    /// Stranded tasks the sweeper put back in the queue.
    pub sweeper_requeued: Counter,
    /// Tasks the sweeper ended as `fetch_failed`, by reason.
    pub sweeper_ended: Family<[(&'static str, &'static str); 1], Counter>,
}

impl Metrics {
    /// Registers every figure in `registry` (the names get `_total`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "pagefeed_scheduler_tasks_published",
            "Crawl tasks acked by JetStream, duplicates included",
            self.tasks_published.clone(),
        );
        registry.register(
            "pagefeed_scheduler_tasks_deduplicated",
            "Crawl tasks JetStream acked as duplicates of a task already stored",
            self.tasks_deduplicated.clone(),
        );
        registry.register(
            "pagefeed_scheduler_late_ticks",
            "Ticks published after their slot had passed",
            self.late_ticks.clone(),
        );
        registry.register(
            "pagefeed_scheduler_retention_events",
            "Retention events acked by JetStream, duplicates included",
            self.retention_events.clone(),
        );
        registry.register(
            "pagefeed_scheduler_sweeper_requeued",
            "Stranded tasks the sweeper put back in the queue",
            self.sweeper_requeued.clone(),
        );
        registry.register(
            "pagefeed_scheduler_sweeper_ended",
            "Tasks the sweeper ended as fetch_failed, by reason (stranded, max_deliver, expired)",
            self.sweeper_ended.clone(),
        );
    }

    /// Counts what one sweep did.
    pub fn swept(&self, swept: &Swept) {
        self.sweeper_requeued.inc_by(u64::from(swept.requeued));
        for (reason, n) in [
            ("stranded", swept.stranded),
            ("max_deliver", swept.max_deliver),
            ("expired", swept.expired),
        ] {
            if n > 0 {
                self.sweeper_ended
                    .get_or_create(&[("reason", reason)])
                    .inc_by(u64::from(n));
            }
        }
    }

    /// What the summary line reports.
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            tasks: self.tasks_published.get(),
            duplicates: self.tasks_deduplicated.get(),
            late: self.late_ticks.get(),
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Snapshot {
    tasks: u64,
    duplicates: u64,
    late: u64,
}

/// The summary line's writer: tasks per minute since the last line.
pub fn summary(metrics: std::sync::Arc<Metrics>) -> impl FnMut(Duration) + Send + 'static {
    let mut last = Snapshot::default();
    move |elapsed| {
        let now = metrics.snapshot();
        let per_min = |n: u64| pagefeed_cli::observe::per_minute(n, elapsed);
        info!(
            tasks_per_min = per_min(now.tasks - last.tasks),
            duplicates_per_min = per_min(now.duplicates - last.duplicates),
            late_ticks = now.late - last.late,
            "published {} tasks/min ({} duplicates/min)",
            per_min(now.tasks - last.tasks),
            per_min(now.duplicates - last.duplicates),
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

    #[test]
    fn a_sweep_counts_by_reason() {
        let metrics = Metrics::default();
        metrics.swept(&Swept {
            requeued: 1,
            stranded: 0,
            max_deliver: 3,
            expired: 2,
            suspects: 5,
        });
        let text = text(&metrics);
        for line in [
            "pagefeed_scheduler_sweeper_requeued_total 1",
            "pagefeed_scheduler_sweeper_ended_total{reason=\"max_deliver\"} 3",
            "pagefeed_scheduler_sweeper_ended_total{reason=\"expired\"} 2",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(
            !text.contains("{reason=\"stranded\"}"),
            "no sample for what did not happen:\n{text}"
        );
    }
}
