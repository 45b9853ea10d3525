//! `/api/pages` and `/api/pages/{key}`: the pages the replica holds, in
//! key order with a cursor, and one page by its key.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Serialize;

use crate::store::PageView;

use super::cursor::{wrong_cursor, Cursor};
use super::error::ApiError;
use super::query::{ListQuery, DEFAULT_PAGES_LIMIT};
use super::state::{read, ApiState};

#[derive(Serialize)]
pub(super) struct PagesBody {
    pages: Vec<PageView>,
    /// The cursor of the next window; `null` at the end.
    next: Option<String>,
    partial: bool,
}

pub(super) async fn pages(
    State(state): State<ApiState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<PagesBody>, ApiError> {
    let Query(query) = query?;
    let window = query.window(DEFAULT_PAGES_LIMIT, &state)?;
    let after = match query.cursor()? {
        None => None,
        Some(Cursor::Page(key)) => Some(key),
        Some(_) => return Err(wrong_cursor()),
    };
    let listed = read(&state, move |s| s.pages_after(after.as_deref(), window)).await?;
    Ok(Json(PagesBody {
        pages: listed.items,
        next: listed.next.map(|key| Cursor::Page(key).encode()),
        partial: listed.partial,
    }))
}

pub(super) async fn page(
    State(state): State<ApiState>,
    key: Result<Path<String>, PathRejection>,
) -> Result<Json<PageView>, ApiError> {
    let Path(key) = key?;
    let lookup = key.clone();
    match read(&state, move |s| s.page(&lookup)).await? {
        Some(page) => Ok(Json(page)),
        None => Err(ApiError::not_found(format!("no page {key:?}"))),
    }
}
