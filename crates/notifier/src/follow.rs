//! One destination's durable consumer, shared by every notifier process:
//! pull new entries (no more than this process has free slots for), send
//! each until the destination takes it, retrying with the back-off and
//! keeping the message in progress meanwhile, then ack it. A failing
//! destination holds back only its own consumer.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, Consumer};
use async_nats::jetstream::{self, AckKind};
use pagefeed_events::backoff::{sleep, Backoff};
use pagefeed_events::config::Notify;
use pagefeed_events::consume::{consume, read_in_slots, Flow, Messages, Pull, Source};
use pagefeed_events::event::Event;
use pagefeed_events::redact::redact_url;
use pagefeed_events::streams::{ensure_notify_consumer, notify_consumer};
use pagefeed_events::Config;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::notification::Notification;
use crate::send::Sender;
use crate::stats::DestinationStats;

/// The first wait before a failed delivery is tried again.
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// Deliveries awaiting an ack across every notifier, per in-flight slot
/// of one process: room for this many processes at full speed.
const PROCESSES_AT_FULL_SPEED: i64 = 16;

/// What following one destination takes.
pub struct Destination {
    pub notify: Notify,
    pub cfg: Arc<Config>,
    pub js: jetstream::Context,
    pub sender: Arc<Sender>,
    pub stats: Arc<DestinationStats>,
    /// Where a consumer created now starts (`None`: with what comes next).
    pub start_seq: Option<u64>,
    /// Stops the following.
    pub shutdown: CancellationToken,
    /// Stops the deliveries in flight, which are handed back: cancelled
    /// only once the following has stopped (see [`follow`]).
    pub hand_back: CancellationToken,
}

/// Follows the destination until `shutdown`; then hands the deliveries in
/// flight back, once no pull request of this client is left open (as the
/// fetchers hand back their tasks: crates/fetcher/src/tasks.rs).
pub async fn follow(destination: Destination) -> anyhow::Result<()> {
    let shutdown = destination.shutdown.clone();
    let concurrency = destination.cfg.notifier.concurrency;
    let mut source = Follow {
        destination: Arc::new(destination),
        slots: Arc::new(Semaphore::new(concurrency)),
        tracker: TaskTracker::new(),
        concurrency,
    };
    let outcome = consume(&mut source, &shutdown).await;
    source.destination.hand_back.cancel();
    source.destination.stats.following(false);
    source.tracker.close();
    source.tracker.wait().await;
    outcome
}

struct Follow {
    destination: Arc<Destination>,
    slots: Arc<Semaphore>,
    tracker: TaskTracker,
    concurrency: usize,
}

impl Source for Follow {
    const WHAT: &'static str = "notifications";

    fn pull(&self) -> Pull {
        Pull::new(self.concurrency)
    }

    /// Asked for only as slots free up: nothing waits in this process while
    /// its `ack_wait` runs, and another notifier can take it.
    fn on_demand(&self) -> Option<async_nats::Client> {
        Some(self.destination.js.client())
    }

    async fn consumer(&mut self) -> anyhow::Result<Consumer<pull::Config>> {
        let d = &self.destination;
        let n = &d.cfg.notifier;
        let max_ack_pending = i64::try_from(n.concurrency)
            .unwrap_or(i64::MAX)
            .saturating_mul(PROCESSES_AT_FULL_SPEED);
        let want = notify_consumer(&d.notify, n.ack_wait, max_ack_pending, d.start_seq);
        Ok(ensure_notify_consumer(&d.js, want).await?)
    }

    async fn read(&mut self, messages: &mut Messages) -> anyhow::Result<Flow> {
        let d = &self.destination;
        d.stats.following(true);
        info!(destination = %d.notify.name, "following new entries");
        let tracker = &self.tracker;
        let flow = read_in_slots(messages, &self.slots, &d.shutdown, |msg, slot| {
            let d = d.clone();
            tracker.spawn(async move {
                d.handle(msg).await;
                drop(slot);
            });
        })
        .await?;
        if flow == Flow::Recreate {
            d.stats.following(false);
        }
        Ok(flow)
    }
}

impl Destination {
    /// One delivery of one event, settled one way or another.
    async fn handle(&self, msg: jetstream::Message) {
        let name = &self.notify.name;
        let seq = msg.info().map(|i| i.stream_sequence).unwrap_or(0);
        let entry = match Event::decode(&msg.payload) {
            Ok(Event::EntryObserved(entry)) => entry,
            Ok(_) => {
                // Not an entry (published by hand on an entry subject).
                self.stats.skipped();
                settle(&msg, AckKind::Term, name).await;
                return;
            }
            Err(e) => {
                warn!(destination = %name, seq, error = %e, "an undecodable event is not sent");
                self.stats.skipped();
                settle(&msg, AckKind::Term, name).await;
                return;
            }
        };
        if entry.first_crawl {
            debug!(destination = %name, seq, page = %entry.page, "first crawl of the page: not sent");
            self.stats.skipped();
            settle(&msg, AckKind::Ack, name).await;
            return;
        }
        let key = msg
            .headers
            .as_ref()
            .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
            .map(|v| v.as_str().to_owned())
            .unwrap_or_else(|| Event::EntryObserved(entry.clone()).msg_id());
        let page_url = self
            .cfg
            .site(entry.page.site())
            .and_then(|site| site.page_url(entry.page.id()))
            .map(|url| redact_url(&url).into_owned());
        let notification = Notification {
            key,
            seq,
            entry,
            page_url,
        };
        // Keep the message ours while the destination takes its time.
        let keepalive = CancellationToken::new();
        let progress = tokio::spawn(keep_in_progress(
            msg.clone(),
            self.cfg.notifier.ack_wait / 3,
            keepalive.clone(),
        ));
        let delivered = self.deliver(&notification).await;
        keepalive.cancel();
        let _ = progress.await;
        if delivered {
            if let Err(e) = msg.double_ack().await {
                // Sent again later, with the same key.
                warn!(destination = %name, seq, error = %e, "delivered, but the ack failed");
            }
        } else {
            // Shutting down: hand it straight to another notifier.
            settle(&msg, AckKind::Nak(None), name).await;
        }
    }

    /// Sends until the destination takes it (`true`), retrying with the
    /// back-off; `false` once handed back (on shutdown).
    async fn deliver(&self, n: &Notification) -> bool {
        let name = &self.notify.name;
        let mut backoff = Backoff::new(FIRST_RETRY, self.cfg.notifier.retry_max);
        let mut attempt = 0u32;
        let mut failing = false;
        let delivered = loop {
            attempt += 1;
            let sent = tokio::select! {
                sent = self.sender.send(name, &self.notify.target, n) => sent,
                () = self.hand_back.cancelled() => break false,
            };
            match sent {
                Ok(()) => {
                    self.stats.delivered();
                    if attempt > 1 {
                        info!(destination = %name, key = %n.key, attempts = attempt, "delivered after retrying");
                    }
                    break true;
                }
                Err(e) => {
                    self.stats.failed(e.to_string());
                    if !failing {
                        failing = true;
                        self.stats.retrying(true);
                    }
                    warn!(
                        destination = %name,
                        key = %n.key,
                        attempt,
                        error = %e,
                        "delivery failed; trying again"
                    );
                    // The back-off, or longer if the destination asked
                    // (never past `retry_max`).
                    let retry_max = self.cfg.notifier.retry_max;
                    let delay = backoff
                        .next_delay()
                        .max(e.retry_after().unwrap_or_default().min(retry_max));
                    if !sleep(delay, &self.hand_back).await {
                        break false;
                    }
                }
            }
        };
        if failing {
            self.stats.retrying(false);
        }
        delivered
    }
}

/// Acks, terminates or hands back `msg`; a failure only means it comes
/// again (and is settled again).
async fn settle(msg: &jetstream::Message, kind: AckKind, destination: &str) {
    if let Err(e) = msg.ack_with(kind).await {
        debug!(destination, error = %e, "could not settle a message");
    }
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
