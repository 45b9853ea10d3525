//! What one page may cost and hold, from the config file's `[fetcher]`
//! section.

use std::time::Duration;

use pagefeed_events::config::FetcherConfig;

/// What one page may cost and hold, from `[fetcher]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Entries kept, in page order; the rest are dropped.
    pub max_entries: usize,
    /// An entry's text is cut to this many bytes.
    pub max_entry_text_bytes: usize,
    /// The title is cut to this many bytes.
    pub max_title_bytes: usize,
    /// Decoding, parsing and extracting one page.
    pub parse_deadline: Duration,
}

impl From<&FetcherConfig> for Limits {
    fn from(f: &FetcherConfig) -> Limits {
        Limits {
            max_entries: f.max_entries,
            max_entry_text_bytes: f.max_entry_text_bytes,
            max_title_bytes: f.max_title_bytes,
            parse_deadline: f.parse_deadline,
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::from(&FetcherConfig::default())
    }
}
