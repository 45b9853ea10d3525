//! `/search?q=`: the search box, and the entries whose text contains `q`
//! (any case, Japanese included) newest first, the match marked, a window
//! at a time; the same search and limits as `/api/entries?q=`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use crate::api::error::ApiError;
use crate::api::query::ListQuery;
use crate::api::search::search as run_search;
use crate::api::state::ApiState;

use super::entries::{entry_list, pager};
use super::feed_links::visible_links;
use super::layout::{document, error_page, respond, Frame};
use super::links::with_query;
use super::ENTRIES_SHOWN;
use crate::feeds::FeedTarget;

pub(super) async fn search(
    State(state): State<ApiState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let q = query.as_ref().ok().and_then(|Query(query)| query.q.clone());
    match render(&state, query).await {
        Ok(answer) => answer,
        Err(e) => error_page(&e, q.as_deref()),
    }
}

async fn render(
    state: &ApiState,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let Some(q) = query.q.clone().filter(|q| !q.is_empty()) else {
        let frame = Frame {
            title: "Search",
            query: None,
            feed: None,
        };
        let body = html! {
            h1 { "Search" }
            p { "Type a word in the box above: entries whose text contains it, in any case, newest first." }
        };
        return Ok(respond(StatusCode::OK, document(&frame, body)));
    };
    let window = query.window(ENTRIES_SHOWN, state)?;
    let found = run_search(state, q.clone(), query.cursor()?, window).await?;
    let limit = query.limit.as_deref();
    let next = found.next.as_deref().map(|cursor| {
        with_query(
            "/search",
            &[("q", Some(&q)), ("cursor", Some(cursor)), ("limit", limit)],
        )
    });
    let first = query
        .cursor
        .is_some()
        .then(|| with_query("/search", &[("q", Some(&q)), ("limit", limit)]));
    let title = format!("Search “{q}”");
    let frame = Frame {
        title: &title,
        query: Some(&q),
        feed: Some(FeedTarget::Search(q.clone())),
    };
    let body = html! {
        h1 { "Entries with “" (q) "”" }
        p { (visible_links(&FeedTarget::Search(q.clone()), true)) }
        @if found.entries.is_empty() {
            p.results-none {
                @if found.partial { "None found yet in this window; the search stopped at its budget and may go on." }
                @else { "No entries found." }
            }
        } @else {
            (entry_list(state.zones(), &found.entries, Some(&q), true))
            @if found.partial { p.muted { "The search stopped at its budget; more may follow." } }
        }
        (pager(first, next, if found.partial { "Search on" } else { "Older entries" }))
    };
    Ok(respond(StatusCode::OK, document(&frame, body)))
}
