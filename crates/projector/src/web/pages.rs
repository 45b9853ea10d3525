//! `/pages`: every page the replica holds, in key order with a cursor
//! (as `/api/pages`); and the table of pages the overview shows too.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};

use crate::api::cursor::{wrong_cursor, Cursor};
use crate::api::error::ApiError;
use crate::api::query::{ListQuery, DEFAULT_PAGES_LIMIT};
use crate::api::state::{read, ApiState};
use crate::store::PageView;

use super::layout::{document, error_page, respond, Frame};
use super::links::{page_href, with_query};
use super::times::time;
use crate::zones::{site_of, Zones};

/// A row a page: its key and title, whether its last fetch failed (and
/// why), when it was last crawled, how many entries it showed.
pub(super) fn page_table(zones: &Zones, pages: &[PageView]) -> Markup {
    html! {
        div.scroll {
            table.pages {
                thead { tr { th { "Page" } th { "Status" } th { "Last crawled" } th { "Entries" } } }
                tbody {
                    @for page in pages {
                        tr.page data-key=(page.key) {
                            td {
                                a href=(page_href(&page.key)) { (page.key) }
                                @if !page.title.is_empty() { br; span.muted { (page.title) } }
                            }
                            td {
                                @match &page.failure {
                                    Some(failure) => span.bad { "failing: " (failure.reason) },
                                    None => { "ok" }
                                }
                            }
                            td { (time(zones, site_of(&page.key), page.last_crawled)) }
                            td { (page.entries) }
                        }
                    }
                }
            }
        }
    }
}

pub(super) async fn pages(
    State(state): State<ApiState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    match render(&state, query).await {
        Ok(answer) => answer,
        Err(e) => error_page(&e, None),
    }
}

async fn render(
    state: &ApiState,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let window = query.window(DEFAULT_PAGES_LIMIT, state)?;
    let after = match query.cursor()? {
        None => None,
        Some(Cursor::Page(key)) => Some(key),
        Some(_) => return Err(wrong_cursor()),
    };
    let listed = read(state, move |s| s.pages_after(after.as_deref(), window)).await?;
    let limit = query.limit.as_deref();
    let next = listed.next.map(|key| {
        with_query(
            "/pages",
            &[
                ("cursor", Some(&Cursor::Page(key).encode())),
                ("limit", limit),
            ],
        )
    });
    let first = query
        .cursor
        .is_some()
        .then(|| with_query("/pages", &[("limit", limit)]));
    let frame = Frame {
        title: "Pages",
        query: None,
        feed: None,
    };
    let body = html! {
        h1 { "Pages" }
        p.muted { "Every page this node holds, by key." }
        @if listed.items.is_empty() { p { "No pages." } } @else { (page_table(state.zones(), &listed.items)) }
        @if first.is_some() || next.is_some() {
            nav.pager aria-label="More pages" {
                @if let Some(href) = first { a.first href=(href) { "← First" } }
                @if let Some(href) = next { a.next rel="next" href=(href) { "Next pages →" } }
            }
        }
    };
    Ok(respond(StatusCode::OK, document(&frame, body)))
}
