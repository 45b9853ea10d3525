//! The one loop that reads a JetStream pull consumer: set the consumer up,
//! pull its messages, set it up again when they fail or end, back off
//! between failures, stop on shutdown. The fetcher's tasks, the projector's
//! replication and its rebuild all read through it.

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, Consumer};
use async_nats::jetstream::Message;
use futures::StreamExt as _;
use tokio_util::sync::CancellationToken;
use tracing::warn;

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
    stream: pull::Stream,
    what: &'static str,
    errors: u32,
    delivered: u64,
}

impl Messages {
    /// The next message; `None` once the consumer must be set up again: its
    /// messages ended, or failed [`ERRORS_BEFORE_RECREATE`] times in a row.
    /// Cancel-safe: it can be a branch of a `select!`.
    pub async fn next(&mut self) -> Option<Message> {
        loop {
            match self.stream.next().await {
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
            Ok(stream) => {
                let mut messages = Messages {
                    stream,
                    what: S::WHAT,
                    errors: 0,
                    delivered: 0,
                };
                if source.read(&mut messages).await? == Flow::Stop {
                    break;
                }
                messages.delivered
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
async fn open<S: Source>(source: &mut S, pull: &Pull) -> anyhow::Result<pull::Stream> {
    let open = async {
        let consumer = source.consumer().await?;
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
        Ok(stream.messages().await?)
    };
    match pull.open_timeout {
        Some(limit) => tokio::time::timeout(limit, open)
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer within {limit:?}"))),
        None => open.await,
    }
}
