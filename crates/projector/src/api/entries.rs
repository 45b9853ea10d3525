//! `/api/entries` and `/api/pages/{key}/entries`: entries newest first,
//! overall or of one page, with a cursor; `/api/entries?q=` goes to
//! [`super::search`]. [`EntriesBody`] is the answer of all three.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Serialize;

use crate::store::{EntryView, Listed};

use super::cursor::{wrong_cursor, Cursor};
use super::error::ApiError;
use super::query::{ListQuery, DEFAULT_LIMIT};
use super::search::search;
use super::state::{read, ApiState};

#[derive(Serialize)]
pub(crate) struct EntriesBody {
    pub(crate) entries: Vec<EntryView>,
    /// The cursor of the next window; `null` at the end.
    pub(crate) next: Option<String>,
    /// The answer stopped short of its limit (its byte budget, or a
    /// search's work budget, ran out): `next` goes on from there.
    pub(crate) partial: bool,
}

impl EntriesBody {
    pub(super) fn new<P>(
        listed: Listed<EntryView, P>,
        cursor: impl FnOnce(P) -> Cursor,
    ) -> EntriesBody {
        EntriesBody {
            entries: listed.items,
            next: listed.next.map(|p| cursor(p).encode()),
            partial: listed.partial,
        }
    }
}

pub(super) async fn page_entries(
    State(state): State<ApiState>,
    key: Result<Path<String>, PathRejection>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<EntriesBody>, ApiError> {
    let Path(key) = key?;
    let Query(query) = query?;
    let window = query.window(DEFAULT_LIMIT, &state)?;
    match of_page(&state, key.clone(), &query, window).await? {
        Some(body) => Ok(Json(body)),
        None => Err(ApiError::not_found(format!("no page {key:?}"))),
    }
}

/// The entries of page `key` within `window`, after `query`'s cursor
/// (which must be one of this page's); `None` if there is no such page.
pub(crate) async fn of_page(
    state: &ApiState,
    key: String,
    query: &ListQuery,
    window: crate::store::Window,
) -> Result<Option<EntriesBody>, ApiError> {
    let after = match query.cursor()? {
        None => None,
        Some(Cursor::Entry(at)) if at.page == key => Some(at),
        Some(_) => return Err(wrong_cursor()),
    };
    let found = read(state, move |s| match s.page(&key)? {
        Some(_) => s.page_entries_after(&key, after.as_ref(), window).map(Some),
        None => Ok(None),
    })
    .await?;
    Ok(found.map(|listed| EntriesBody::new(listed, Cursor::Entry)))
}

/// The newest entries overall or, with `q`, a search.
pub(super) async fn entries(
    State(state): State<ApiState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<EntriesBody>, ApiError> {
    let Query(query) = query?;
    let window = query.window(DEFAULT_LIMIT, &state)?;
    let cursor = query.cursor()?;
    let body = match query.q {
        Some(q) => search(&state, q, cursor, window).await?,
        None => {
            let after = match cursor {
                None => None,
                Some(Cursor::Entry(at)) => Some(at),
                Some(_) => return Err(wrong_cursor()),
            };
            let listed = read(&state, move |s| s.newest_after(after.as_ref(), window)).await?;
            EntriesBody::new(listed, Cursor::Entry)
        }
    };
    Ok(Json(body))
}
