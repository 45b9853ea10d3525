//! `/pages/{key}`: one page (its URL, title, last crawl, last failure and
//! why), its feeds, and its entries newest first, a window at a time.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use crate::api::entries::of_page;
use crate::api::error::ApiError;
use crate::api::query::ListQuery;
use crate::api::state::{read, ApiState};

use super::entries::{entry_list, pager};
use super::feed_links::visible_links;
use super::layout::{document, error_page, respond, Frame};
use super::links::{page_href, web_href, with_query};
use super::times::time;
use super::ENTRIES_SHOWN;
use crate::feeds::FeedTarget;
use crate::zones::site_of;

pub(super) async fn page(
    State(state): State<ApiState>,
    key: Result<Path<String>, PathRejection>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    match render(&state, key, query).await {
        Ok(answer) => answer,
        Err(e) => error_page(&e, None),
    }
}

async fn render(
    state: &ApiState,
    key: Result<Path<String>, PathRejection>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(key) = key?;
    let Query(query) = query?;
    let window = query.window(ENTRIES_SHOWN, state)?;
    let not_found = || ApiError::not_found(format!("no page {key:?}"));
    let lookup = key.clone();
    let page = read(state, move |s| s.page(&lookup))
        .await?
        .ok_or_else(not_found)?;
    let entries = of_page(state, key.clone(), &query, window)
        .await?
        .ok_or_else(not_found)?;
    let site = site_of(&key);
    let limit = query.limit.as_deref();
    let here = page_href(&key);
    let next = entries
        .next
        .as_deref()
        .map(|cursor| with_query(&here, &[("cursor", Some(cursor)), ("limit", limit)]));
    let first = query
        .cursor
        .is_some()
        .then(|| with_query(&here, &[("limit", limit)]));
    let title = if page.title.is_empty() {
        key.as_str()
    } else {
        page.title.as_str()
    };
    let frame = Frame {
        title,
        query: None,
        feed: Some(FeedTarget::Page(key.clone())),
    };
    let body = html! {
        h1 { (title) }
        dl.facts.page {
            dt { "Key" } dd { code { (key) } }
            dt { "URL" } dd {
                @match web_href(&page.url) {
                    Some(href) => a.url href=(href) rel="nofollow noopener noreferrer" { (page.url) },
                    None => code.url title="not an http(s) link, not followed" { (page.url) },
                }
            }
            dt { "Last crawled" } dd { (time(state.zones(), site, page.last_crawled)) }
            dt { "HTTP status" } dd { @if page.status == 0 { "none yet" } @else { (page.status) } }
            dt { "Entries at last crawl" } dd { (page.entries) }
            dt { "Last failure" } dd #failure {
                @match &page.failure {
                    Some(failure) => {
                        span.bad { (failure.reason) }
                        @if let Some(status) = failure.status { " (HTTP " (status) ")" }
                        " at " (time(state.zones(), site, failure.at))
                        @if !failure.detail.is_empty() { br; span.detail { (failure.detail) } }
                    },
                    None => { "none since the last successful crawl" }
                }
            }
        }
        p { (visible_links(&FeedTarget::Page(key.clone()), true)) }
        h2 { "Entries" }
        @if entries.entries.is_empty() {
            p { @if entries.partial { "None in this window; more may follow." } @else { "No entries." } }
        } @else {
            (entry_list(state.zones(), &entries.entries, None, false))
        }
        (pager(first, next, "Older entries"))
    };
    Ok(respond(StatusCode::OK, document(&frame, body)))
}
