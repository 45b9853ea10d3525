//! The notifier's own HTTP: `/status` (JSON, each destination's figures),
//! `/metrics` (Prometheus), `/healthz` and `/readyz` (NATS and the events
//! stream there).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use pagefeed_cli::Readiness;

use crate::stats::Stats;

/// The content type of `/metrics`.
const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves `/status`, `/metrics`, `/healthz` and `/readyz` on `listener`
/// until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    stats: Stats,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app =
        Router::new()
            .route("/status", get(status))
            .route("/metrics", get(metrics))
            .with_state(stats)
            .route("/healthz", get(pagefeed_cli::observe::healthz))
            .route(
                "/readyz",
                get(move || async move {
                    pagefeed_cli::observe::readyz_answer(readiness.check().await)
                }),
            );
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

async fn status(State(stats): State<Stats>) -> Response {
    Json(stats.status()).into_response()
}

async fn metrics(State(stats): State<Stats>) -> Response {
    match stats.render() {
        Ok(text) => ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
