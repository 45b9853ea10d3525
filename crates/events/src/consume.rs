//! The one loop that reads a JetStream pull consumer: set the consumer up,
//! pull its messages, set it up again when they fail or end, back off
//! between failures, stop on shutdown. The fetcher's tasks, the projector's
//! replication and its rebuild all read through it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::pull::BatchConfig;
use async_nats::jetstream::consumer::{pull, Consumer};
use async_nats::jetstream::{AckKind, Message};
use async_nats::{Client, StatusCode, Subscriber};
use futures::StreamExt as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::backoff::Backoff;

/// Errors in a row from a consumer's messages after which the consumer is
/// set up again: after a reconnect, a consumer that no longer exists makes
/// its message stream yield errors for ever (nats.rs #1584).
pub const ERRORS_BEFORE_RECREATE: u32 = 3;

/// How a [`consume`] loop pulls.
#[derive(Debug, Clone, Copy)]
pub struct Pull {
    /// Messages a pull request asks for.
    pub max_messages: usize,
    /// Bytes a pull request asks for at most (`None`: bounded by count only).
    pub max_bytes: Option<usize>,
    /// The server's heartbeat while a request waits: missed ones are errors.
    pub heartbeat: Duration,
    /// How long a request waits on the server (`None`: the client's default).
    pub expires: Option<Duration>,
    /// The longest setting the consumer up and opening its messages may take
    /// (`None`: the client's own request timeouts). A request sent just as
    /// the connection dropped may otherwise go unanswered for that long.
    pub open_timeout: Option<Duration>,
    /// Attempts in a row that read nothing (the consumer could not be set
    /// up, or its messages failed or ended before one arrived) after which
    /// [`consume`] gives up with an error (`None`: it never does).
    pub give_up_after: Option<u32>,
}

impl Pull {
    /// Requests for `max_messages`, bounded by count only, with a heartbeat
    /// every 5 s, each waiting up to 30 s on the server; no open timeout;
    /// retried for ever.
    pub fn new(max_messages: usize) -> Pull {
        Pull {
            max_messages,
            max_bytes: None,
            heartbeat: Duration::from_secs(5),
            expires: Some(Duration::from_secs(30)),
            open_timeout: None,
            give_up_after: None,
        }
    }
}

/// How a [`Source::read`] pass ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// The messages failed or ended: set the consumer up again.
    Recreate,
    /// Done (shutdown, or the reader has all it wanted).
    Stop,
}

/// What a [`consume`] loop reads for: how its consumer is set up, and what is
/// done with the messages.
pub trait Source: Send {
    /// The consumer's name in the logs ("tasks", "events").
    const WHAT: &'static str;

    /// How to pull, asked each time the consumer is set up.
    fn pull(&self) -> Pull;

    /// `Some(client)` (the client of the consumer's JetStream context): ask
    /// the server only for as many messages as the reader says it can take
    /// ([`Messages::next_for`]), and hand back (negative ack, no delay) any
    /// message still held when a pass ends, so that none waits out its
    /// `ack_wait` in this client. `None` (the default): async-nats's
    /// continuous stream, which keeps a pull request open and up to
    /// [`Pull::max_messages`] buffered; for consumers that take no acks.
    fn on_demand(&self) -> Option<Client> {
        None
    }

    /// Finds or creates the consumer. An error is logged and retried after a
    /// back-off.
    fn consumer(&mut self) -> impl Future<Output = anyhow::Result<Consumer<pull::Config>>> + Send;

    /// Reads `messages` until [`Messages::next`] returns `None`
    /// ([`Flow::Recreate`]) or it is done ([`Flow::Stop`]). It must return
    /// promptly once `shutdown` is cancelled (the loop does not drop it, so
    /// that it can finish what it holds). An error ends [`consume`].
    fn read(
        &mut self,
        messages: &mut Messages,
    ) -> impl Future<Output = anyhow::Result<Flow>> + Send;
}

/// The messages of one consumer, as long as they last.
pub struct Messages {
    feed: Feed,
    what: &'static str,
    errors: u32,
    delivered: u64,
}

/// Where a [`Messages`] gets its messages.
enum Feed {
    /// async-nats's continuous stream.
    Stream(pull::Stream),
    /// Pull requests sent only for the room the reader has.
    OnDemand(OnDemand),
}

impl Messages {
    /// The next message; `None` once the consumer must be set up again: its
    /// messages ended, or failed [`ERRORS_BEFORE_RECREATE`] times in a row.
    /// Cancel-safe: it can be a branch of a `select!`.
    pub async fn next(&mut self) -> Option<Message> {
        self.next_for(usize::MAX).await
    }

    /// [`Messages::next`], for a reader that can take `room` messages now
    /// (this one included): a consumer read [`Source::on_demand`] asks the
    /// server for at most that many, when it has no request open; `room` is
    /// ignored otherwise. Cancel-safe.
    pub async fn next_for(&mut self, room: usize) -> Option<Message> {
        loop {
            let next = match &mut self.feed {
                Feed::Stream(stream) => match stream.next().await {
                    Some(Ok(msg)) => Some(Ok(msg)),
                    Some(Err(e)) => Some(Err(anyhow::Error::from(e))),
                    None => None,
                },
                Feed::OnDemand(feed) => feed.next(room).await,
            };
            match next {
                Some(Ok(msg)) => {
                    self.errors = 0;
                    self.delivered += 1;
                    return Some(msg);
                }
                Some(Err(e)) => {
                    self.errors += 1;
                    warn!(consumer = self.what, error = %e, errors = self.errors, "pulling failed");
                    if self.errors >= ERRORS_BEFORE_RECREATE {
                        return None;
                    }
                }
                None => return None,
            }
        }
    }

    /// Ends a pass: a consumer read on demand stops asking, and hands back
    /// every message it received and did not hand out, including those
    /// still arriving for its open request (within [`HAND_BACK_WITHIN`]).
    async fn close(self) {
        if let Feed::OnDemand(feed) = self.feed {
            feed.close(self.what).await;
        }
    }
}

/// A [`Source::read`] for readers that work on each message apart, at most
/// as many at once as `slots` has: a free slot first, then a message, so
/// that none is held that cannot start (asking, on demand, for no more than
/// the free slots); each goes to `start` with the slot it keeps until it
/// ends. Until `shutdown` ([`Flow::Stop`]), which comes first: once
/// stopping, nothing more is asked for; or until the messages end
/// ([`Flow::Recreate`]).
pub async fn read_in_slots(
    messages: &mut Messages,
    slots: &Arc<Semaphore>,
    shutdown: &CancellationToken,
    mut start: impl FnMut(Message, OwnedSemaphorePermit),
) -> anyhow::Result<Flow> {
    loop {
        let slot = tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ok(Flow::Stop),
            slot = slots.clone().acquire_owned() => slot?,
        };
        // This slot and every other free one.
        let room = 1 + slots.available_permits();
        let next = tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ok(Flow::Stop),
            next = messages.next_for(room) => next,
        };
        let Some(msg) = next else {
            return Ok(Flow::Recreate);
        };
        start(msg, slot);
    }
}

/// The longest a pass read on demand waits, at its end, for the messages
/// its open pull request may still bring.
pub const HAND_BACK_WITHIN: Duration = Duration::from_secs(2);

/// A consumer read through pull requests of our own, each for no more
/// messages than the reader has room for: nothing waits in this client for
/// a free slot while its `ack_wait` runs, and at the end of a pass the
/// subscription is closed knowing what it may still receive.
struct OnDemand {
    client: Client,
    /// The context the messages are handed out with (acks go through it).
    context: async_nats::jetstream::Context,
    /// `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>` (the default API
    /// prefix: pagefeed's contexts are all `jetstream::new(client)`).
    next_subject: String,
    inbox: String,
    subscriber: Subscriber,
    pull: Pull,
    /// Messages the open request may still bring (0: no request open).
    asked: usize,
}

impl OnDemand {
    async fn open(
        client: Client,
        consumer: &Consumer<pull::Config>,
        pull: Pull,
    ) -> anyhow::Result<OnDemand> {
        let info = consumer.cached_info();
        let next_subject = format!(
            "$JS.API.CONSUMER.MSG.NEXT.{}.{}",
            info.stream_name, info.name
        );
        let inbox = client.new_inbox();
        let subscriber = client.subscribe(inbox.clone()).await?;
        Ok(OnDemand {
            context: async_nats::jetstream::new(client.clone()),
            client,
            next_subject,
            inbox,
            subscriber,
            pull,
            asked: 0,
        })
    }

    /// The next message, asking for up to `room` when no request is open.
    /// `None` once the subscription has ended.
    async fn next(&mut self, room: usize) -> Option<anyhow::Result<Message>> {
        loop {
            if self.asked == 0 {
                let batch = room.min(self.pull.max_messages).max(1);
                let request = BatchConfig {
                    batch,
                    expires: self.pull.expires,
                    max_bytes: self.pull.max_bytes.unwrap_or(0),
                    idle_heartbeat: self.pull.heartbeat,
                    ..BatchConfig::default()
                };
                let sent = match serde_json::to_vec(&request) {
                    Ok(body) => self
                        .client
                        .publish_with_reply(
                            self.next_subject.clone(),
                            self.inbox.clone(),
                            body.into(),
                        )
                        .await
                        .map_err(anyhow::Error::from),
                    Err(e) => Err(e.into()),
                };
                if let Err(e) = sent {
                    return Some(Err(e.context("cannot send a pull request")));
                }
                self.asked = batch;
            }
            // Two heartbeats missed: the request is gone (a server restart).
            let quiet = self.pull.heartbeat.saturating_mul(2);
            let msg = match tokio::time::timeout(quiet, self.subscriber.next()).await {
                Ok(Some(msg)) => msg,
                Ok(None) => return None,
                Err(_) => {
                    self.asked = 0;
                    return Some(Err(anyhow::anyhow!("no heartbeat for {quiet:?}")));
                }
            };
            match msg.status {
                None | Some(StatusCode::OK) => {
                    self.asked = self.asked.saturating_sub(1);
                    return Some(Ok(Message {
                        message: msg,
                        context: self.context.clone(),
                    }));
                }
                Some(StatusCode::IDLE_HEARTBEAT) => {}
                // The request expired, or ended (a leadership change, the
                // bytes it asked for): ask again.
                Some(StatusCode::TIMEOUT) | Some(StatusCode::NOT_FOUND) => self.asked = 0,
                Some(StatusCode::REQUEST_TERMINATED) => {
                    self.asked = 0;
                    let why = msg.description.unwrap_or_default();
                    if why.contains("Consumer Deleted") || why.starts_with("Exceeded MaxRequest") {
                        return Some(Err(anyhow::anyhow!("pull request refused: {why}")));
                    }
                }
                Some(status) => {
                    self.asked = 0;
                    return Some(Err(anyhow::anyhow!(
                        "pull request failed: {status} {}",
                        msg.description.unwrap_or_default()
                    )));
                }
            }
        }
    }

    /// Stops asking and hands back what this client still holds: drains the
    /// subscription (the server forgets a pull request whose inbox has no
    /// interest left) and naks every message that reaches it meanwhile.
    async fn close(mut self, what: &'static str) {
        let mut handed_back = 0u32;
        if self.subscriber.drain().await.is_ok() {
            let drained = async {
                // Once the server has answered this flush, it has processed
                // the unsubscription: no request of ours is left open there.
                let _ = self.client.flush().await;
                while let Some(msg) = self.subscriber.next().await {
                    if matches!(msg.status, None | Some(StatusCode::OK)) {
                        let msg = Message {
                            message: msg,
                            context: self.context.clone(),
                        };
                        if let Err(e) = msg.ack_with(AckKind::Nak(None)).await {
                            warn!(consumer = what, error = %e, "could not hand a message back");
                        }
                        handed_back += 1;
                    }
                }
            };
            if tokio::time::timeout(HAND_BACK_WITHIN, drained)
                .await
                .is_err()
            {
                warn!(consumer = what, "the subscription did not end in time");
            }
        }
        if handed_back > 0 {
            debug!(
                consumer = what,
                handed_back, "handed back messages not started"
            );
        }
    }
}

/// Reads `source`'s consumer until `shutdown`, a [`Flow::Stop`] or an error
/// from [`Source::read`]: sets the consumer up, hands its messages to
/// `source`, and sets it up again whenever they fail or end. A pass that
/// read nothing is followed by a [`Backoff`] wait; one that read something
/// by a new consumer at once.
pub async fn consume<S: Source>(
    source: &mut S,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let mut backoff = Backoff::default();
    let mut fruitless = 0u32;
    while !shutdown.is_cancelled() {
        let pull = source.pull();
        let opened = tokio::select! {
            opened = open(source, &pull) => opened,
            () = shutdown.cancelled() => break,
        };
        let delivered = match opened {
            Ok(feed) => {
                let mut messages = Messages {
                    feed,
                    what: S::WHAT,
                    errors: 0,
                    delivered: 0,
                };
                let flow = source.read(&mut messages).await;
                let delivered = messages.delivered;
                messages.close().await;
                if flow? == Flow::Stop {
                    break;
                }
                delivered
            }
            Err(e) => {
                warn!(consumer = S::WHAT, error = %e, "cannot set up the consumer; retrying");
                0
            }
        };
        if delivered > 0 {
            fruitless = 0;
            backoff.reset();
            continue;
        }
        fruitless += 1;
        if let Some(limit) = pull.give_up_after {
            if fruitless > limit {
                anyhow::bail!(
                    "cannot read the {} consumer: {limit} attempts in a row read nothing",
                    S::WHAT
                );
            }
        }
        if !backoff.wait(shutdown).await {
            break;
        }
    }
    Ok(())
}

/// Sets the consumer up and opens its messages, within `pull.open_timeout`.
async fn open<S: Source>(source: &mut S, pull: &Pull) -> anyhow::Result<Feed> {
    let on_demand = source.on_demand();
    let open = async {
        let consumer = source.consumer().await?;
        if let Some(client) = on_demand {
            return Ok(Feed::OnDemand(
                OnDemand::open(client, &consumer, *pull).await?,
            ));
        }
        let mut stream = consumer
            .stream()
            .max_messages_per_batch(pull.max_messages)
            .heartbeat(pull.heartbeat);
        if let Some(bytes) = pull.max_bytes {
            stream = stream.max_bytes_per_batch(bytes);
        }
        if let Some(expires) = pull.expires {
            stream = stream.expires(expires);
        }
        Ok(Feed::Stream(stream.messages().await?))
    };
    match pull.open_timeout {
        Some(limit) => tokio::time::timeout(limit, open)
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer within {limit:?}"))),
        None => open.await,
    }
}
