//! Sharing the crawl: pull tasks from the one durable consumer every fetcher
//! process shares, run at most `concurrency` at once, and settle each task
//! only once its story is told: events acked by JetStream, then the task
//! acked; or a negative ack with a back-off; or, after the last attempt, a
//! `fetch_failed` event and then the ack. Nothing ends silently.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use chrono::Utc;
use futures::StreamExt as _;
use pagefeed_events::event::{Event, FetchFailed};
use pagefeed_events::publish::{publish_all, Outgoing, PublishAllError};
use pagefeed_events::streams::ensure_fetchers_consumer;
use pagefeed_events::{Config, Task};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, info, warn};

use crate::crawl::{Crawled, Crawler, Failure};
use crate::state::FetchState;

/// Errors in a row from the message stream after which the consumer is
/// looked up (or created) again: after a reconnect a consumer that no longer
/// exists makes the stream yield errors forever (nats.rs #1584).
const ERRORS_BEFORE_RECREATE: u32 = 3;

/// What every task handler shares.
pub struct Worker {
    pub js: jetstream::Context,
    pub cfg: Config,
    pub crawler: Crawler,
    pub state: FetchState,
    pub shutdown: CancellationToken,
}

/// Pulls and handles tasks until `shutdown`; then lets in-flight tasks end
/// (each one either finishes or is handed back with a negative ack).
pub async fn pull_loop(worker: Arc<Worker>, concurrency: usize) -> anyhow::Result<()> {
    let slots = Arc::new(Semaphore::new(concurrency));
    let tracker = TaskTracker::new();
    let mut delay = Duration::from_millis(100);
    'consumer: while !worker.shutdown.is_cancelled() {
        let consumer = tokio::select! {
            c = ensure_fetchers_consumer(&worker.js, &worker.cfg) => c,
            () = worker.shutdown.cancelled() => break,
        };
        let consumer = match consumer {
            Ok(consumer) => consumer,
            Err(e) => {
                warn!(error = %e, "no task consumer yet; retrying");
                pause(&worker.shutdown, &mut delay).await;
                continue;
            }
        };
        let messages = consumer
            .stream()
            .max_messages_per_batch(concurrency)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await;
        let mut messages = match messages {
            Ok(messages) => messages,
            Err(e) => {
                warn!(error = %e, "cannot pull tasks; retrying");
                pause(&worker.shutdown, &mut delay).await;
                continue;
            }
        };
        info!(concurrency, "pulling tasks");
        let mut errors = 0;
        loop {
            // A free slot first, then a task: never hold a task we cannot start.
            let slot = tokio::select! {
                slot = slots.clone().acquire_owned() => slot?,
                () = worker.shutdown.cancelled() => break 'consumer,
            };
            let next = tokio::select! {
                next = messages.next() => next,
                () = worker.shutdown.cancelled() => break 'consumer,
            };
            match next {
                Some(Ok(msg)) => {
                    errors = 0;
                    delay = Duration::from_millis(100);
                    let worker = worker.clone();
                    tracker.spawn(async move {
                        worker.handle(msg).await;
                        drop(slot);
                    });
                }
                Some(Err(e)) => {
                    errors += 1;
                    warn!(error = %e, errors, "pulling tasks failed");
                    if errors >= ERRORS_BEFORE_RECREATE {
                        warn!("looking the task consumer up again");
                        continue 'consumer;
                    }
                }
                None => continue 'consumer,
            }
        }
    }
    tracker.close();
    tracker.wait().await;
    Ok(())
}

async fn pause(shutdown: &CancellationToken, delay: &mut Duration) {
    tokio::select! {
        () = tokio::time::sleep(*delay) => {}
        () = shutdown.cancelled() => {}
    }
    *delay = (*delay * 2).min(Duration::from_secs(5));
}

impl Worker {
    /// One delivery of one task, settled one way or another.
    async fn handle(&self, msg: jetstream::Message) {
        let attempt = msg
            .info()
            .map(|i| u32::try_from(i.delivered).unwrap_or(u32::MAX))
            .unwrap_or(1);
        let task = match Task::decode(&msg.payload) {
            Ok(task) => task,
            Err(e) => {
                // Not ours to crawl (published by hand, or a newer schema):
                // keep no one busy with it, and say so.
                error!(subject = %msg.subject, error = %e, "undecodable task terminated");
                let _ = msg.ack_with(AckKind::Term).await;
                return;
            }
        };
        // Keep the task ours while it runs, however long the site takes.
        let keepalive = CancellationToken::new();
        let progress = tokio::spawn(keep_in_progress(
            msg.clone(),
            self.cfg.fetcher.ack_wait / 3,
            keepalive.clone(),
        ));
        let settled = tokio::select! {
            settled = self.attempt(&task, attempt) => Some(settled),
            () = self.shutdown.cancelled() => None,
        };
        keepalive.cancel();
        let _ = progress.await;
        let result = match settled {
            Some(Settle::Ack) => msg.double_ack().await,
            Some(Settle::Retry(delay)) => msg.ack_with(AckKind::Nak(Some(delay))).await,
            // Shutting down mid-task: hand it straight to another fetcher.
            None => msg.ack_with(AckKind::Nak(None)).await,
        };
        if let Err(e) = result {
            // The task will be redelivered; idempotent events make that harmless.
            warn!(page = %task.page, error = %e, "could not settle the task");
        }
    }

    /// Crawls, publishes, records; says how to settle the task.
    async fn attempt(&self, task: &Task, attempt: u32) -> Settle {
        match self.crawler.crawl(task).await {
            Ok(crawled) => self.publish_crawl(task, crawled).await,
            Err(failure) => self.failed(task, attempt, failure).await,
        }
    }

    async fn publish_crawl(&self, task: &Task, crawled: Crawled) -> Settle {
        let msgs: Vec<Outgoing> = crawled.events.iter().map(Outgoing::from).collect();
        if let Err(e) = self.publish(&msgs).await {
            return self.unpublished(task, e);
        }
        // Recorded only after the events are safe: a crash in between means
        // a recrawl whose entries de-duplicate by message id.
        if let Err(e) = self.state.put(&task.page, &crawled.state).await {
            warn!(page = %task.page, error = %e, "events published but fetch state not saved");
        }
        info!(
            page = %task.page,
            new_entries = crawled.new_entries,
            events = msgs.len(),
            "crawled"
        );
        Settle::Ack
    }

    async fn failed(&self, task: &Task, attempt: u32, failure: Failure) -> Settle {
        let max = self.cfg.fetcher.max_attempts;
        if attempt < max {
            let backoff = self
                .cfg
                .fetcher
                .retry_backoff
                .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
            let delay = backoff.max(failure.retry_after.unwrap_or_default());
            debug!(
                page = %task.page,
                attempt,
                reason = failure.reason,
                retry_in_ms = delay.as_millis() as u64,
                "attempt failed; retrying"
            );
            return Settle::Retry(delay);
        }
        let event = Event::FetchFailed(FetchFailed {
            page: task.page.clone(),
            url: task.url.clone(),
            failed_at: Utc::now(),
            reason: failure.reason.to_owned(),
            detail: failure.detail.clone(),
            status: failure.status,
            attempts: attempt,
        });
        if let Err(e) = self.publish(&[Outgoing::from(&event)]).await {
            return self.unpublished(task, e);
        }
        warn!(
            page = %task.page,
            attempts = attempt,
            reason = failure.reason,
            detail = %failure.detail,
            "fetch failed"
        );
        Settle::Ack
    }

    async fn publish(&self, msgs: &[Outgoing]) -> Result<(), PublishAllError> {
        publish_all(&self.js, msgs, &self.shutdown)
            .await
            .map(|_| ())
    }

    fn unpublished(&self, task: &Task, e: PublishAllError) -> Settle {
        warn!(page = %task.page, error = %e, "events not published; the task goes back");
        Settle::Retry(Duration::ZERO)
    }
}

/// How a delivery ends.
enum Settle {
    Ack,
    Retry(Duration),
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
