//! A list request's parameters ([`ListQuery`]: `q`, `limit`, `cursor`),
//! checked against their bounds before any read.

use serde::Deserialize;

use crate::store::Window;

use super::cursor::Cursor;
use super::error::ApiError;
use super::state::ApiState;

/// Default number of entries an entries or search request returns.
pub(crate) const DEFAULT_LIMIT: usize = 20;
/// Default number of pages `/api/pages` returns.
pub(crate) const DEFAULT_PAGES_LIMIT: usize = 100;
/// The largest `limit` a request may ask for.
const MAX_LIMIT: usize = 1000;

#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    pub(crate) q: Option<String>,
    pub(crate) limit: Option<String>,
    pub(crate) cursor: Option<String>,
}

impl ListQuery {
    fn limit(&self, default: usize) -> Result<usize, ApiError> {
        let Some(raw) = self.limit.as_deref() else {
            return Ok(default);
        };
        match raw.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "limit must be a whole number from 1 to {MAX_LIMIT}, got {raw:?}"
            ))),
        }
    }

    pub(crate) fn cursor(&self) -> Result<Option<Cursor>, ApiError> {
        self.cursor.as_deref().map(Cursor::decode).transpose()
    }

    /// The window to read: the limit asked (or `default`), and the node's
    /// byte budget of an answer.
    pub(crate) fn window(&self, default: usize, state: &ApiState) -> Result<Window, ApiError> {
        Ok(Window {
            limit: self.limit(default)?,
            max_bytes: state.options.max_bytes,
        })
    }
}
