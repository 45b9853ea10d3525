//! Tasks from the one durable consumer every fetcher process shares: pull
//! them, run at most `concurrency` at once, and settle each one only once its
//! story is told (the events acked by JetStream, then the task; or a negative
//! ack with a back-off; or a `fetch_failed` event, then the ack). Nothing
//! ends silently.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, Consumer};
use async_nats::jetstream::{self, AckKind};
use pagefeed_events::backoff::Backoff;
use pagefeed_events::consume::{consume, read_in_slots, Flow, Messages, Pull, Source};
use pagefeed_events::limits::MAX_EVENT_BYTES;
use pagefeed_events::publish::{publish_all, Outgoing, PublishAllError};
use pagefeed_events::streams::ensure_fetchers_consumer;
use pagefeed_events::{Config, PageKey, Task};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, info, warn};

use crate::crawl::{Crawled, Crawler};
use crate::failure::{Failure, FailureReason};
use crate::metrics::PageOutcome;

/// What every task handler shares.
pub struct Worker {
    pub js: jetstream::Context,
    pub cfg: Config,
    pub crawler: Crawler,
    /// Stops the pulling.
    pub shutdown: CancellationToken,
    /// Stops the tasks in flight, which are handed back: cancelled only
    /// once the pulling has stopped (see [`pull_loop`]).
    pub hand_back: CancellationToken,
}

/// Pulls and handles tasks until `shutdown`; then hands back the tasks in
/// flight with a negative ack, once this client has no pull request left
/// open: a task handed back while one is open could be redelivered into it,
/// after the end of the subscription, and wait out `ack_wait` there.
pub async fn pull_loop(worker: Arc<Worker>, concurrency: usize) -> anyhow::Result<()> {
    let shutdown = worker.shutdown.clone();
    let hand_back = worker.hand_back.clone();
    let mut tasks = Tasks {
        worker,
        slots: Arc::new(Semaphore::new(concurrency)),
        tracker: TaskTracker::new(),
        concurrency,
    };
    let outcome = consume(&mut tasks, &shutdown).await;
    hand_back.cancel();
    tasks.tracker.close();
    tasks.tracker.wait().await;
    // The negative acks are only queued in the client: the caller closes
    // the connection with pagefeed_events::close, which writes them first.
    outcome
}

/// The `fetchers` consumer's messages, each handled on a task of its own,
/// at most `concurrency` at once.
struct Tasks {
    worker: Arc<Worker>,
    slots: Arc<Semaphore>,
    tracker: TaskTracker,
    concurrency: usize,
}

impl Source for Tasks {
    const WHAT: &'static str = "tasks";

    fn pull(&self) -> Pull {
        Pull::new(self.concurrency)
    }

    /// Tasks are asked for only as slots free up, so that none waits in this
    /// process while its `ack_wait` runs, and a stopped fetcher hands back
    /// at once whatever it was sent and had not started.
    fn on_demand(&self) -> Option<async_nats::Client> {
        Some(self.worker.js.client())
    }

    async fn consumer(&mut self) -> anyhow::Result<Consumer<pull::Config>> {
        Ok(ensure_fetchers_consumer(&self.worker.js, &self.worker.cfg).await?)
    }

    async fn read(&mut self, messages: &mut Messages) -> anyhow::Result<Flow> {
        info!(concurrency = self.concurrency, "pulling tasks");
        let (worker, tracker) = (&self.worker, &self.tracker);
        read_in_slots(messages, &self.slots, &worker.shutdown, |msg, slot| {
            let worker = worker.clone();
            tracker.spawn(async move {
                worker.handle(msg).await;
                drop(slot);
            });
        })
        .await
    }
}

impl Worker {
    /// One delivery of one task, settled one way or another.
    async fn handle(&self, msg: jetstream::Message) {
        let _in_flight = self.crawler.metrics().in_flight();
        let attempt = msg
            .info()
            .map(|i| u32::try_from(i.delivered).unwrap_or(u32::MAX))
            .unwrap_or(1);
        let Some(job) = self.job(&msg) else {
            let _ = msg.ack_with(AckKind::Term).await;
            return;
        };
        // Keep the task ours while it runs, however long the site takes.
        let keepalive = CancellationToken::new();
        let progress = tokio::spawn(keep_in_progress(
            msg.clone(),
            self.cfg.fetcher.ack_wait / 3,
            keepalive.clone(),
        ));
        let settled = tokio::select! {
            settled = self.attempt(&job, attempt) => Some(settled),
            () = self.hand_back.cancelled() => None,
        };
        keepalive.cancel();
        let _ = progress.await;
        let result = match settled {
            Some(Settle::Ack) => msg.double_ack().await,
            Some(Settle::Retry(delay)) => msg.ack_with(AckKind::Nak(Some(delay))).await,
            Some(Settle::Term) => msg.ack_with(AckKind::Term).await,
            // Shutting down mid-task: hand it straight to another fetcher.
            None => msg.ack_with(AckKind::Nak(None)).await,
        };
        if let Err(e) = result {
            // The task will be redelivered; idempotent events make that harmless.
            warn!(page = %job.page(), error = %e, "could not settle the task");
        }
    }

    /// What a delivery asks, judged against the configuration: a crawl of a
    /// configured page, or a task refused on the page its subject names.
    /// `None` for a message that names no page at all, or none configured,
    /// and does not decode: there is no one to tell, so it is only logged.
    fn job(&self, msg: &jetstream::Message) -> Option<Job> {
        let subject_page = page_of_subject(&msg.subject);
        let task = match Task::decode(&msg.payload) {
            Ok(task) => task,
            Err(e) => {
                if let Some(page) = subject_page.filter(|p| self.crawler.page_url(p).is_ok()) {
                    let failure =
                        Failure::new(FailureReason::BadTask, format!("undecodable task: {e}"));
                    return Some(Job::Refuse { page, failure });
                }
                // Not ours to crawl (published by hand, or a newer schema).
                error!(subject = %msg.subject, error = %e, "undecodable task terminated");
                return None;
            }
        };
        let Some(page) = subject_page else {
            error!(
                subject = %msg.subject,
                page = %task.page,
                "a task on a subject that names no page terminated"
            );
            return None;
        };
        if page != task.page {
            let failure = Failure::new(
                FailureReason::BadTask,
                format!("the subject names page {page}, the task page {}", task.page),
            );
            return Some(Job::Refuse { page, failure });
        }
        Some(Job::Crawl(task))
    }

    /// Crawls, publishes, records; says how to settle the task.
    async fn attempt(&self, job: &Job, attempt: u32) -> Settle {
        match job {
            Job::Crawl(task) => match self.crawler.crawl(task).await {
                Ok(crawled) => self.publish_crawl(&task.page, attempt, crawled).await,
                Err(failure) => self.failed(&task.page, attempt, failure).await,
            },
            Job::Refuse { page, failure } => self.failed(page, attempt, failure.clone()).await,
        }
    }

    async fn publish_crawl(&self, page: &PageKey, attempt: u32, crawled: Crawled) -> Settle {
        // Nothing over the limits is published, and then nothing at all: a
        // page record never claims entries that are not in the stream.
        let msgs: Vec<Outgoing> = crawled.events.iter().map(Outgoing::from).collect();
        for (event, msg) in crawled.events.iter().zip(&msgs) {
            let over = match event.check_limits() {
                Err(over) => Some(over.to_string()),
                Ok(()) if msg.payload.len() > MAX_EVENT_BYTES => Some(format!(
                    "the payload is {} bytes, over the limit of {MAX_EVENT_BYTES}",
                    msg.payload.len()
                )),
                Ok(()) => None,
            };
            if let Some(over) = over {
                let detail = format!("event {} not published: {over}", msg.msg_id);
                return self
                    .failed(page, attempt, Failure::new(FailureReason::TooLarge, detail))
                    .await;
            }
        }
        match self.publish(&msgs).await {
            Ok(()) => {}
            // The messages after the refused one (the page record last of
            // all) were not sent; the fetch state is not saved, so the next
            // crawl sees the same page as new.
            Err(PublishAllError::Refused {
                msg_id,
                bytes,
                reason,
            }) => {
                let detail = format!("event {msg_id} ({bytes} bytes) refused by NATS: {reason}");
                return self
                    .failed(page, attempt, Failure::new(FailureReason::TooLarge, detail))
                    .await;
            }
            Err(e) => return self.unpublished(page, e),
        }
        // Recorded only after the events are acked.
        if let Err(e) = self.crawler.record(page, &crawled).await {
            warn!(page = %page, error = %e, "events published but fetch state not saved");
        }
        let outcome = match crawled.events.last() {
            Some(pagefeed_events::Event::PageCrawled(_)) => PageOutcome::Crawled,
            _ => PageOutcome::Unchanged,
        };
        self.crawler.metrics().page(outcome, crawled.new_entries);
        // The summary line says how the crawl goes; this is for debugging.
        debug!(
            page = %page,
            new_entries = crawled.new_entries,
            events = msgs.len(),
            "crawled"
        );
        Settle::Ack
    }

    /// A failed attempt: tried again after a back-off if the failure is
    /// transient and attempts are left; otherwise told as `fetch_failed`.
    async fn failed(&self, page: &PageKey, attempt: u32, failure: Failure) -> Settle {
        let max = self.cfg.fetcher.max_attempts;
        self.crawler.metrics().attempt_failed(&failure.reason);
        if !failure.is_permanent() && attempt < max {
            let delay = retry_delay(
                self.cfg.fetcher.retry_backoff,
                attempt,
                failure.retry_after,
                self.cfg.nats.task_ttl,
            );
            debug!(
                page = %page,
                attempt,
                reason = %failure.reason,
                retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "attempt failed; retrying"
            );
            return Settle::Retry(delay);
        }
        let event = self.crawler.failed(page, &failure, attempt);
        let told = match event.check_limits() {
            Ok(()) => self.publish(&[Outgoing::from(&event)]).await,
            Err(over) => Err(PublishAllError::Refused {
                msg_id: event.msg_id(),
                bytes: event.encode().len(),
                reason: over.to_string(),
            }),
        };
        match told {
            Ok(()) => {}
            Err(e @ PublishAllError::Refused { .. }) => {
                // Not even the failure can be told: end the task rather than
                // loop on it, and say so here.
                error!(
                    page = %page,
                    reason = %failure.reason,
                    error = %e,
                    "fetch_failed not published; task terminated"
                );
                return Settle::Term;
            }
            Err(e) => return self.unpublished(page, e),
        }
        self.crawler.metrics().failed(&failure.reason);
        warn!(
            page = %page,
            attempts = attempt,
            reason = %failure.reason,
            detail = %failure.detail,
            "fetch failed"
        );
        Settle::Ack
    }

    /// Publishes until JetStream acks every message. A stream that answers
    /// nothing ("no responders": a stream whose leader is being elected, as
    /// after a partition heals, or one gone until a scheduler provisions it
    /// again) is waited for with a back-off, the task kept in progress: a
    /// negative ack at once would spend the task's deliveries in a burst, and
    /// a task past `max_deliver` stays in the work queue, never delivered
    /// again and never told.
    async fn publish(&self, msgs: &[Outgoing]) -> Result<(), PublishAllError> {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        loop {
            match publish_all(&self.js, msgs, &self.hand_back).await {
                Err(PublishAllError::StreamNotFound { subject }) => {
                    warn!(%subject, "no stream answers; publishing again after a pause");
                    if !backoff.wait(&self.hand_back).await {
                        return Err(PublishAllError::Cancelled {
                            unacked: msgs.len(),
                        });
                    }
                }
                published => return published.map(|_| ()),
            }
        }
    }

    fn unpublished(&self, page: &PageKey, e: PublishAllError) -> Settle {
        warn!(page = %page, error = %e, "events not published; the task goes back");
        Settle::Retry(Duration::ZERO)
    }
}

/// What one delivery asks for.
enum Job {
    Crawl(Task),
    /// A task that cannot be crawled, told as a failure of `page` (the page
    /// its subject names).
    Refuse {
        page: PageKey,
        failure: Failure,
    },
}

impl Job {
    fn page(&self) -> &PageKey {
        match self {
            Job::Crawl(task) => &task.page,
            Job::Refuse { page, .. } => page,
        }
    }
}

/// The page a task subject names: `pagefeed.tasks.<site>.<id>`.
fn page_of_subject(subject: &str) -> Option<PageKey> {
    subject.strip_prefix("pagefeed.tasks.")?.parse().ok()
}

/// How long to wait before attempt `attempt + 1`: the back-off doubled at
/// each attempt, or longer if the site asked (`Retry-After`), and never
/// more than `cap` (the task's time to live: a task waits no longer than it
/// lives, whatever a site says).
fn retry_delay(
    backoff: Duration,
    attempt: u32,
    retry_after: Option<Duration>,
    cap: Duration,
) -> Duration {
    let backoff = backoff.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
    backoff.max(retry_after.unwrap_or_default()).min(cap)
}

/// How a delivery ends.
enum Settle {
    Ack,
    Retry(Duration),
    /// Never to be delivered again, told only in the log.
    Term,
}

/// In-progress acks every `every` until `done`.
async fn keep_in_progress(msg: jetstream::Message, every: Duration, done: CancellationToken) {
    let every = every.max(Duration::from_millis(100));
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {
                if let Err(e) = msg.ack_with(AckKind::Progress).await {
                    debug!(error = %e, "in-progress ack failed");
                }
            }
            () = done.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_capped_at_the_task_ttl() {
        let hour = Duration::from_secs(3600);
        let second = Duration::from_secs(1);
        // `Retry-After: 99999999999`: taken as an hour, not three millennia.
        let huge = Some(Duration::from_secs(99_999_999_999));
        assert_eq!(retry_delay(second, 1, huge, hour), hour);
        assert_eq!(retry_delay(second, 1, Some(Duration::MAX), hour), hour);
        assert_eq!(retry_delay(second, 1, Some(2 * second), hour), 2 * second);
        // The back-off doubles, and is capped too.
        assert_eq!(retry_delay(second, 1, None, hour), second);
        assert_eq!(retry_delay(second, 3, None, hour), 4 * second);
        assert_eq!(retry_delay(second, u32::MAX, None, hour), hour);
    }

    #[test]
    fn the_subject_names_the_page() {
        assert_eq!(
            page_of_subject("pagefeed.tasks.sample.42"),
            Some("sample.42".parse().unwrap())
        );
        for bad in [
            "pagefeed.tasks.sample",
            "pagefeed.tasks.sample.4.2",
            "pagefeed.tasks.Sample.42",
            "pagefeed.events.page_crawled.sample.42",
            "",
        ] {
            assert_eq!(page_of_subject(bad), None, "{bad}");
        }
    }
}
