//! The contract pagefeed's services share and nothing else: the event and
//! task types, subject and stream names, message-id derivation, the stream
//! definitions, the config file format and how to connect to NATS.

pub mod backoff;
pub mod config;
pub mod connect;
pub mod consume;
pub mod event;
pub mod limits;
pub mod publish;
pub mod redact;
pub mod streams;
pub mod subject;
pub mod task;

pub use config::{Config, ConfigError, Site};
pub use connect::{close, connect};
pub use event::{DecodeError, Event};
pub use subject::PageKey;
pub use task::Task;

/// A JetStream timestamp (a message's `published`, a stored message's
/// `time`) as the chrono time the rest of pagefeed uses.
pub fn jetstream_time(time: async_nats::datetime::DateTime) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(time.unix_timestamp(), time.nanosecond()).unwrap_or_default()
}
