//! The notifier's own HTTP: `/status` (JSON, each destination's figures)
//! and `/metrics` (Prometheus).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::stats::Stats;

/// The content type of `/metrics`.
const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves `/status` and `/metrics` on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    stats: Stats,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .with_state(stats);
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
