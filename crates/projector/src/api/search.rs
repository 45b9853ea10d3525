//! `/api/entries?q=`: a search, its query checked first, run under the
//! node's work budget ([`crate::store::SearchBudget`]) with a cursor to go on.

use crate::store::Window;

use super::cursor::{wrong_cursor, Cursor};
use super::entries::EntriesBody;
use super::error::ApiError;
use super::state::{read, ApiState};

/// The longest search a request may send, in characters: a search looks
/// up each of its bigrams before its budget starts counting.
pub(crate) const MAX_QUERY_CHARS: usize = 256;

/// Searches for `q`, after `cursor` (which must be a search's).
pub(crate) async fn search(
    state: &ApiState,
    q: String,
    cursor: Option<Cursor>,
    window: Window,
) -> Result<EntriesBody, ApiError> {
    check_query(&q)?;
    let after = match cursor {
        None => None,
        Some(Cursor::Search(at)) => Some(at),
        Some(_) => return Err(wrong_cursor()),
    };
    let budget = state.options.search_budget;
    let listed = read(state, move |s| s.search_after(&q, after, window, budget)).await?;
    Ok(EntriesBody::new(listed, Cursor::Search))
}

/// Refuses an empty search, and one longer than [`MAX_QUERY_CHARS`]
/// (searches of the API and of the feeds alike).
pub(crate) fn check_query(q: &str) -> Result<(), ApiError> {
    if q.is_empty() {
        return Err(ApiError::bad_request("q must not be empty"));
    }
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::bad_request(format!(
            "q must be at most {MAX_QUERY_CHARS} characters"
        )));
    }
    Ok(())
}
