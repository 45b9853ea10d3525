//! Pulling a page's title and entries out of its HTML with one site's CSS
//! selectors, within a deadline and the limits of an event. Synchronous and
//! CPU-bound: run it on a blocking thread.

mod entry;
mod error;
mod extractor;
mod limits;
mod link;
mod page;
mod stream;
mod text;
mod timestamp;
mod tree;

pub use entry::Entry;
pub use error::ExtractError;
pub use extractor::Extractor;
pub use limits::Limits;
pub use page::Page;

#[cfg(test)]
mod stream_tests;
#[cfg(test)]
mod tests;
