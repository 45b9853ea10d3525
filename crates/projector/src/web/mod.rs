//! The web view: server-rendered HTML of the replica next to `/api` (the
//! overview, the pages, one page, a search), complete without scripts;
//! every text escaped, only http(s) links followed.

mod entries;
mod feed_links;
mod highlight;
mod layout;
mod links;
mod overview;
mod page;
mod pages;
mod search;
mod times;

use axum::routing::get;
use axum::Router;

use crate::api::ApiState;

/// Entries a page or a search shows at once, unless `limit` says otherwise.
const ENTRIES_SHOWN: usize = 10;

/// The web view's routes, for the API's router to put under its limits.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/", get(overview::overview))
        .route("/pages", get(pages::pages))
        .route("/pages/{key}", get(page::page))
        .route("/search", get(search::search))
}
