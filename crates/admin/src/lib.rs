//! The operator's view of pagefeed in NATS, read through the same JetStream
//! API as the `nats` CLI: the streams, the fetchers', projector nodes' and
//! notifiers' consumers, the fetch-state bucket, one page's events and the
//! tasks waiting; and retiring a node. Each query returns plain data that
//! [`render`] shows as a table or the binary prints as JSON.

pub mod connect;
pub mod consumers;
pub mod fetch_state;
pub mod nodes;
pub mod page_events;
pub mod render;
pub mod status;
pub mod streams;
pub mod tasks;

pub use connect::connect;
