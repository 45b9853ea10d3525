//! Feeds of what the replica collected: Atom 1.0, RSS 2.0 and JSON Feed 1.1
//! of a page, a site or a search, served by the projector's HTTP server
//! under `/feeds/` with validators that make a repeated poll cheap.
//! `docs/DESIGN.md`, "Feeds", says how ids and caching work.

mod atom;
mod caching;
mod clean;
mod content;
mod format;
mod ids;
mod json;
mod rss;
mod serve;
mod target;

pub use caching::ValidatorCache;
pub use format::FeedFormat;
pub(crate) use serve::{page_feed, search_feed, site_feed};
pub use target::{feed_links, FeedLink, FeedTarget};
