//! What a node holds of the stream at once: a batch of messages for one
//! write transaction, bounded by count and by bytes, and the size of the
//! pull requests that feed it. Events are bounded field by field
//! (`pagefeed_events::limits`), but ten thousand events of a megabyte each
//! would still be ten gigabytes: a count alone bounds nothing. Live
//! replication and `rebuild` read through these bounds, so a node's memory
//! does not depend on what the stream holds (design invariant 6).

use async_nats::jetstream;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::store::Logged;

/// Most events applied in one write transaction.
pub const MAX_BATCH: usize = 10_000;
/// A batch takes no more messages once its payloads add up to this much
/// (so it holds at most this plus one event). Events of a real crawl are
/// about 1 KB, so their batches are still bounded by [`MAX_BATCH`].
pub const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;
/// The bytes a pull request asks for. The client asks again when half of it
/// has been read, so at most one and a half of this is in flight or
/// buffered in the client.
const PULL_BYTES: usize = 8 * 1024 * 1024;
/// Payloads larger than this are copied out of the client's read buffer.
const COPY_ABOVE: usize = 64 * 1024;
/// Room for a message's subject, headers and reply subject beyond the
/// server's `max_payload`.
const MESSAGE_OVERHEAD: usize = 64 * 1024;

/// The bytes a pull request asks for on a connection to a server that
/// takes payloads up to `max_payload`: [`PULL_BYTES`], or more if one
/// message could be larger. The server answers a request too small for the
/// next message with an error, and the client asks again for ever, so a
/// request must always hold the largest message the stream may have.
pub fn pull_bytes(max_payload: usize) -> usize {
    PULL_BYTES.max(max_payload.saturating_add(MESSAGE_OVERHEAD))
}

/// One message of the stream, its subject and headers dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub seq: u64,
    pub published: DateTime<Utc>,
    pub payload: Bytes,
}

/// A message as delivered: the message, and where the delivery stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub message: Message,
    /// Messages of the stream after it when it was delivered (the lag).
    pub pending: u64,
    /// Its number among the consumer's deliveries: one more than the last
    /// one's, unless a delivery was lost.
    pub consumer_seq: u64,
}

impl Delivered {
    /// `None` for a message without JetStream metadata (every delivery has
    /// it, in its reply subject).
    pub fn from_jetstream(msg: jetstream::Message) -> Option<Delivered> {
        let (seq, pending, consumer_seq, published) = {
            let info = msg.info().ok()?;
            let published = pagefeed_events::jetstream_time(info.published);
            (
                info.stream_sequence,
                info.pending,
                info.consumer_sequence,
                published,
            )
        };
        let payload = msg.message.payload;
        // A payload is a slice of the allocation the client read it into,
        // which stays whole while any slice of it lives: a large one is
        // copied, so that a batch holds its payloads and no more
        // (docs/BENCHMARKS.md, "Bounded events").
        let payload = if payload.len() > COPY_ABOVE {
            Bytes::copy_from_slice(&payload)
        } else {
            payload
        };
        Some(Delivered {
            message: Message {
                seq,
                published,
                payload,
            },
            pending,
            consumer_seq,
        })
    }
}

/// Messages gathered for one write transaction.
#[derive(Debug, Default)]
pub struct Batch {
    items: Vec<Message>,
    /// Their payloads' bytes.
    bytes: usize,
    /// Messages of the stream after the last one, as the server reported
    /// with it (the lag).
    pub pending: u64,
}

impl Batch {
    pub fn push(&mut self, message: Message) {
        self.bytes += message.payload.len();
        self.items.push(message);
    }

    /// Whether the batch takes no more messages: it has [`MAX_BATCH`], or
    /// [`MAX_BATCH_BYTES`] of payloads.
    pub fn is_full(&self) -> bool {
        self.items.len() >= MAX_BATCH || self.bytes >= MAX_BATCH_BYTES
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Its payloads' bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The sequence of its last message.
    pub fn last_seq(&self) -> Option<u64> {
        self.items.last().map(|m| m.seq)
    }

    /// The batch as [`crate::store::Store::apply_batch`] takes it.
    pub fn logged(&self) -> Vec<Logged<'_>> {
        self.items
            .iter()
            .map(|m| Logged {
                seq: m.seq,
                published: m.published,
                payload: &m.payload,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(seq: u64, bytes: usize) -> Message {
        Message {
            seq,
            published: DateTime::from_timestamp(1_764_000_000, 0).unwrap_or_default(),
            payload: Bytes::from(vec![b'x'; bytes]),
        }
    }

    #[test]
    fn small_events_fill_a_batch_by_count() {
        let mut batch = Batch::default();
        for seq in 1..MAX_BATCH as u64 {
            batch.push(message(seq, 200));
            assert!(!batch.is_full(), "full at {seq}");
        }
        batch.push(message(MAX_BATCH as u64, 200));
        assert!(batch.is_full());
        assert_eq!(batch.bytes(), MAX_BATCH * 200);
    }

    #[test]
    fn large_events_fill_a_batch_by_bytes() {
        let mut batch = Batch::default();
        let big = 900 * 1024;
        let mut n = 0;
        while !batch.is_full() {
            n += 1;
            batch.push(message(n, big));
        }
        // Nine messages of 900 KiB are under 8 MiB, the tenth is over.
        assert_eq!(n, 10);
        assert!(batch.bytes() < MAX_BATCH_BYTES + big);
        let logged = batch.logged();
        assert_eq!(logged.len(), 10);
        assert_eq!((logged[0].seq, logged[0].payload.len()), (1, big));
        assert_eq!(batch.last_seq(), Some(10));
    }

    #[test]
    fn a_pull_request_always_holds_the_largest_message() {
        assert_eq!(pull_bytes(1024 * 1024), PULL_BYTES);
        let huge = 64 * 1024 * 1024;
        assert!(pull_bytes(huge) > huge);
        assert_eq!(pull_bytes(usize::MAX), usize::MAX);
    }
}
