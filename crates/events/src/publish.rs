//! Publishing that does not lose: every message carries its `Nats-Msg-Id`,
//! every JetStream ack is awaited, and what was not acked is sent again with
//! the same id (so a retry after a lost ack is de-duplicated by JetStream).

use std::collections::VecDeque;
use std::future::IntoFuture as _;
use std::time::Duration;

use async_nats::jetstream::context::{Context, PublishAckFuture, PublishError, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::publish::PublishAck;
use bytes::Bytes;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::backoff::{sleep, Backoff};
use crate::event::Event;
use crate::task::Task;

/// A message ready for JetStream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub subject: String,
    pub msg_id: String,
    pub payload: Bytes,
}

impl From<&Task> for Outgoing {
    fn from(task: &Task) -> Outgoing {
        Outgoing {
            subject: task.subject(),
            msg_id: task.msg_id(),
            payload: task.encode().into(),
        }
    }
}

impl From<&Event> for Outgoing {
    fn from(event: &Event) -> Outgoing {
        Outgoing {
            subject: event.subject(),
            msg_id: event.msg_id(),
            payload: event.encode().into(),
        }
    }
}

/// Why [`publish_all`] gave up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishAllError {
    /// Shutdown was requested before every message was acked.
    #[error("shutdown before every message was acked ({unacked} left)")]
    Cancelled { unacked: usize },
    /// No stream takes these subjects (it was deleted, or the server lost its
    /// store): the caller should provision the streams and call again.
    #[error("no stream for subject {subject}")]
    StreamNotFound { subject: String },
    /// The server refuses the message itself (larger than its
    /// `max_payload`): retrying cannot help. The messages after it were not
    /// sent.
    #[error("message {msg_id} ({bytes} bytes) refused: {reason}")]
    Refused {
        msg_id: String,
        /// The payload's size.
        bytes: usize,
        reason: String,
    },
}

/// Publishes every message and waits until JetStream acked each one,
/// resending the unacked ones with their ids, with a back-off, for as long
/// as it takes (a nats-server restart, a network cut), unless `cancel` fires.
/// Returns the acks in the order of `msgs`. A message the server refuses
/// ([`PublishAllError::Refused`]) is never followed by the ones after it:
/// those are not sent, so a page record published last never claims an
/// entry that is not in the stream.
pub async fn publish_all(
    js: &Context,
    msgs: &[Outgoing],
    cancel: &CancellationToken,
) -> Result<Vec<PublishAck>, PublishAllError> {
    let mut acks: Vec<Option<PublishAck>> = vec![None; msgs.len()];
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
    loop {
        let pending: Vec<usize> = (0..msgs.len()).filter(|&i| acks[i].is_none()).collect();
        if pending.is_empty() {
            return Ok(acks.into_iter().flatten().collect());
        }
        let results = tokio::select! {
            results = send_then_await_acks(js, msgs, &pending) => results,
            () = cancel.cancelled() => {
                return Err(PublishAllError::Cancelled { unacked: pending.len() });
            }
        };
        let mut failures = 0;
        let mut last_error = None;
        for (&i, result) in pending.iter().zip(results) {
            match result {
                Ok(ack) => acks[i] = Some(ack),
                Err((kind, reason)) => {
                    match kind {
                        PublishErrorKind::StreamNotFound => {
                            return Err(PublishAllError::StreamNotFound {
                                subject: msgs[i].subject.clone(),
                            })
                        }
                        PublishErrorKind::MaxPayloadExceeded => {
                            return Err(PublishAllError::Refused {
                                msg_id: msgs[i].msg_id.clone(),
                                bytes: msgs[i].payload.len(),
                                reason,
                            })
                        }
                        _ => {}
                    }
                    failures += 1;
                    last_error = Some(reason);
                }
            }
        }
        if failures > 0 {
            let delay = backoff.next_delay();
            warn!(
                unacked = failures,
                error = last_error.as_deref().unwrap_or(""),
                retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "JetStream did not ack; publishing again with the same message ids"
            );
            if !sleep(delay, cancel).await {
                return Err(PublishAllError::Cancelled { unacked: failures });
            }
        }
    }
}

/// At most this many publishes of one call await their acks: async-nats
/// lets 5,000 acks be pending per context and makes a further send wait for
/// one, which would never come if the acks are only awaited after every
/// send. Callers sharing a context keep their calls in flight together
/// under 5,000 / `ACK_WINDOW`.
const ACK_WINDOW: usize = 1_000;

/// Sends in order (so the stream stores them in order), awaiting the oldest
/// ack whenever [`ACK_WINDOW`] are in flight, so the window slides rather
/// than draining every [`ACK_WINDOW`] messages (a round trip each).
/// Stops sending at a message too large for the server (async-nats refuses
/// it before it is sent): the results then end with that message's.
async fn send_then_await_acks(
    js: &Context,
    msgs: &[Outgoing],
    pending: &[usize],
) -> Vec<Result<PublishAck, (PublishErrorKind, String)>> {
    let mut results = Vec::with_capacity(pending.len());
    let mut in_flight = VecDeque::with_capacity(ACK_WINDOW.min(pending.len()));
    let mut refused = None;
    for &i in pending {
        if in_flight.len() >= ACK_WINDOW {
            if let Some((deadline, sent)) = in_flight.pop_front() {
                results.push(ack_of(deadline, sent).await);
            }
        }
        let msg = &msgs[i];
        let publish = PublishMessage::build()
            .payload(msg.payload.clone())
            .message_id(&msg.msg_id);
        match js.send_publish(msg.subject.clone(), publish).await {
            Err(e) if e.kind() == PublishErrorKind::MaxPayloadExceeded => {
                refused = Some((e.kind(), e.to_string()));
                break;
            }
            other => in_flight.push_back((Instant::now() + ACK_WAIT, other)),
        }
    }
    while let Some((deadline, sent)) = in_flight.pop_front() {
        results.push(ack_of(deadline, sent).await);
    }
    if let Some(refused) = refused {
        results.push(Err(refused));
    }
    results
}

/// How long after its send an ack is waited for (async-nats' own wait,
/// the same 5 s, starts only when the ack is awaited: acks awaited one
/// after another that never come would take 5 s each, 500 s for a tick's
/// chunk of 100).
const ACK_WAIT: Duration = Duration::from_secs(5);

/// The ack of one send, by `deadline` at the latest.
async fn ack_of(
    deadline: Instant,
    sent: Result<PublishAckFuture, PublishError>,
) -> Result<PublishAck, (PublishErrorKind, String)> {
    match sent {
        Ok(ack) => match tokio::time::timeout_at(deadline, ack.into_future()).await {
            Ok(acked) => acked.map_err(|e| (e.kind(), e.to_string())),
            Err(_) => Err((
                PublishErrorKind::TimedOut,
                format!("no ack within {} s of the publish", ACK_WAIT.as_secs()),
            )),
        },
        Err(e) => Err((e.kind(), e.to_string())),
    }
}
