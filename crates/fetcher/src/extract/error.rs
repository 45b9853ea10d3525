//! Why a page gave nothing: no entry in its HTML (a page rendered by
//! JavaScript, out of scope, is reported so, never as an empty page), or the
//! deadline passed.

use std::time::Duration;

use pagefeed_events::limits::{truncate_to, MAX_DETAIL_BYTES};

use crate::failure::FailureReason;

/// Why a page gave nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    #[error(
        "no element matches the entry selector `{selector}`; if the page builds its \
         content with JavaScript, it is out of scope: pagefeed reads the HTML as served"
    )]
    NoEntries { selector: String },
    #[error(
        "decoding, parsing and extracting the page took longer than parse_deadline ({deadline:?})"
    )]
    Timeout { deadline: Duration },
}

impl ExtractError {
    /// The reason code of a `fetch_failed` event.
    pub fn reason(&self) -> &'static str {
        FailureReason::from(self).as_str()
    }

    /// The message, within [`MAX_DETAIL_BYTES`].
    pub fn detail(&self) -> String {
        let mut detail = self.to_string();
        truncate_to(&mut detail, MAX_DETAIL_BYTES);
        detail
    }
}
