//! The streams as `nats stream info` shows them: messages, bytes, first and
//! last sequence; and finding a stream with an error that says it is
//! missing rather than a JetStream code.

use async_nats::jetstream::context::GetStreamErrorKind;
use async_nats::jetstream::stream::Stream;
use async_nats::jetstream::{Context, ErrorCode};
use chrono::{DateTime, Utc};
use pagefeed_events::jetstream_time;
use pagefeed_events::subject::{EVENTS_STREAM, TASKS_STREAM};
use serde::Serialize;

/// The stream behind key-value bucket `bucket`.
pub fn bucket_stream(bucket: &str) -> String {
    format!("KV_{bucket}")
}

/// Which service creates `stream`, for the message saying it is missing.
fn created_by(stream: &str) -> &'static str {
    match stream {
        TASKS_STREAM => "the scheduler and the fetchers create it",
        EVENTS_STREAM => "every service creates it",
        _ => "the fetchers create it",
    }
}

/// `stream`, or `None` when it does not exist.
pub async fn find_stream(js: &Context, stream: &str) -> anyhow::Result<Option<Stream>> {
    match js.get_stream(stream).await {
        Ok(found) => Ok(Some(found)),
        Err(e) => match e.kind() {
            GetStreamErrorKind::JetStream(js_err)
                if js_err.error_code() == ErrorCode::STREAM_NOT_FOUND =>
            {
                Ok(None)
            }
            // Unanswered: what a user without the right to ask gets too.
            GetStreamErrorKind::Request => Err(anyhow::anyhow!(
                "cannot read stream {stream}: {e} (is JetStream enabled, and may this NATS user \
                 read it? pagefeed-admin runs as the operator user: docs/SECURITY.md)"
            )),
            _ => Err(anyhow::anyhow!("cannot read stream {stream}: {e}")),
        },
    }
}

/// `stream`, or an error saying it does not exist yet and who creates it.
pub async fn stream(js: &Context, stream: &str) -> anyhow::Result<Stream> {
    find_stream(js, stream).await?.ok_or_else(|| {
        anyhow::anyhow!(
            "stream {stream} does not exist yet: no pagefeed service has run against this NATS \
             ({})",
            created_by(stream)
        )
    })
}

/// One stream's state.
#[derive(Debug, Clone, Serialize)]
pub struct StreamStatus {
    pub name: String,
    /// False when the stream is not there (yet): every number is 0 then.
    pub exists: bool,
    pub messages: u64,
    pub bytes: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    /// When the oldest message still held was stored.
    pub first_time: Option<DateTime<Utc>>,
    pub last_time: Option<DateTime<Utc>>,
    /// Distinct subjects: pages with a task waiting, or keys in a bucket.
    pub subjects: u64,
    pub consumers: usize,
}

/// The state of `name` now.
pub async fn stream_status(js: &Context, name: &str) -> anyhow::Result<StreamStatus> {
    let Some(stream) = find_stream(js, name).await? else {
        return Ok(StreamStatus {
            name: name.to_owned(),
            exists: false,
            messages: 0,
            bytes: 0,
            first_seq: 0,
            last_seq: 0,
            first_time: None,
            last_time: None,
            subjects: 0,
            consumers: 0,
        });
    };
    let state = stream.get_info().await?.state;
    let time = |t, present: bool| present.then(|| jetstream_time(t));
    Ok(StreamStatus {
        name: name.to_owned(),
        exists: true,
        messages: state.messages,
        bytes: state.bytes,
        first_seq: state.first_sequence,
        last_seq: state.last_sequence,
        first_time: time(state.first_timestamp, state.messages > 0),
        last_time: time(state.last_timestamp, state.last_sequence > 0),
        subjects: state.subjects_count,
        consumers: state.consumer_count,
    })
}
