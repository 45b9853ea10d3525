//! Where a list answer left off ([`Cursor`]): opaque to clients, tagged
//! with the list it belongs to, so that one list's cursor is refused by another.

use data_encoding::BASE64URL_NOPAD;
use serde::{Deserialize, Serialize};

use crate::store::search::postings::Posting;
use crate::store::EntryPos;

use super::error::ApiError;

/// The longest cursor a request may send.
const MAX_CURSOR_CHARS: usize = 1024;

/// Where a list answer left off: opaque to clients (base64url of JSON),
/// tagged with the list it belongs to.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum Cursor {
    /// After this page key.
    Page(String),
    /// After this entry, newest first.
    Entry(EntryPos),
    /// After this search index position.
    Search(Posting),
}

impl Cursor {
    pub(crate) fn encode(&self) -> String {
        // A cursor is plain strings and integers: it always serialises.
        BASE64URL_NOPAD.encode(&serde_json::to_vec(self).unwrap_or_default())
    }

    pub(crate) fn decode(raw: &str) -> Result<Cursor, ApiError> {
        let bad = || ApiError::bad_request("cursor is not one this node gave");
        if raw.len() > MAX_CURSOR_CHARS {
            return Err(bad());
        }
        let json = BASE64URL_NOPAD.decode(raw.as_bytes()).map_err(|_| bad())?;
        serde_json::from_slice(&json).map_err(|_| bad())
    }
}

/// The answer to a cursor of another list.
pub(crate) fn wrong_cursor() -> ApiError {
    ApiError::bad_request("cursor belongs to another list")
}
