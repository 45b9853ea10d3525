//! The whole API put together ([`router`]): every route (the web view's
//! too), its limits, the token check and the fallbacks; and [`serve`],
//! which runs it.

use axum::http::StatusCode;
use axum::routing::{any, get};
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::validate_request::ValidateRequestHeaderLayer;

use crate::feeds::{page_feed, search_feed, site_feed};

use super::auth::Bearer;
use super::entries::{entries, page_entries};
use super::error::ApiError;
use super::pages::{page, pages};
use super::request_line::{LimitedListener, MAX_REQUEST_LINE, TOO_LONG_TARGET};
use super::shedding::limited;
use super::state::ApiState;
use super::status::{metrics, readyz, status};

/// The whole API, routes and fallbacks: status and metrics, and the reads
/// of pages and entries, their feeds and the web view's pages, each group
/// under its own concurrency limit (load shedding past it), every request
/// under a timeout and, with a token, authenticated first.
pub fn router(state: ApiState) -> Router {
    let options = state.options.clone();
    let light = Router::new()
        .route("/api/status", get(status))
        .route("/metrics", get(metrics))
        .route("/healthz", get(pagefeed_cli::observe::healthz))
        .route("/readyz", get(readyz))
        .route(TOO_LONG_TARGET, any(too_long));
    let heavy = Router::new()
        .route("/api/pages", get(pages))
        .route("/api/pages/{key}", get(page))
        .route("/api/pages/{key}/entries", get(page_entries))
        .route("/api/entries", get(entries))
        .route("/feeds/pages/{key}/{format}", get(page_feed))
        .route("/feeds/sites/{site}/{format}", get(site_feed))
        .route("/feeds/search/{format}", get(search_feed))
        .merge(crate::web::routes());
    let light = limited(light, options.light_requests, options.timeout);
    let heavy = limited(heavy, options.heavy_requests, options.timeout);
    let router = light
        .merge(heavy)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    match &options.token {
        Some(token) => router.layer(ValidateRequestHeaderLayer::custom(Bearer(token.clone()))),
        None => router,
    }
}

/// Serves the API on `listener` until `shutdown`, then finishes the
/// requests in flight. Request lines longer than [`MAX_REQUEST_LINE`] reach
/// the router as [`TOO_LONG_TARGET`] (see request_line.rs).
pub async fn serve(
    listener: TcpListener,
    state: ApiState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(LimitedListener(listener), router(state))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

/// A request whose line was longer than [`MAX_REQUEST_LINE`] bytes.
async fn too_long() -> ApiError {
    ApiError::bad_request(format!(
        "the request line is longer than {MAX_REQUEST_LINE} bytes (q must be at most {} characters)",
        super::search::MAX_QUERY_CHARS
    ))
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
}
