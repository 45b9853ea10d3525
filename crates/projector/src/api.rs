//! The projector's HTTP API: JSON reads of the replica (status, pages,
//! entries, search) and Prometheus metrics. Every store call is a blocking
//! redb read, so it runs on the blocking pool.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::store::{EntryView, PageView, Store, StoreError};

/// Default number of entries an entries or search request returns.
pub const DEFAULT_LIMIT: usize = 20;
/// The largest `limit` a request may ask for.
pub const MAX_LIMIT: usize = 1000;

/// What the replication loop knows and the store does not: shared with the
/// API through an `Arc`.
#[derive(Debug, Default)]
pub struct Live {
    pub node: String,
    /// The last sequence of `PAGEFEED_EVENTS` as last seen by this node.
    pub stream_last_seq: AtomicU64,
    /// Events applied (not rejected, not skipped) since this process started.
    pub events_applied: AtomicU64,
    /// Committed batches since this process started.
    pub batch_commits: AtomicU64,
    /// Total time spent committing those batches, in nanoseconds.
    pub batch_commit_nanos: AtomicU64,
}

impl Live {
    pub fn new(node: impl Into<String>) -> Live {
        Live {
            node: node.into(),
            ..Live::default()
        }
    }

    /// Records one committed batch that took `d` and applied `events`.
    pub fn record_commit(&self, d: Duration, events: u64) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.batch_commits.fetch_add(1, Ordering::Relaxed);
        self.batch_commit_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.events_applied.fetch_add(events, Ordering::Relaxed);
    }
}

#[derive(Clone)]
pub struct ApiState {
    pub store: Arc<Store>,
    pub live: Arc<Live>,
}

/// The whole API, routes and fallbacks.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/status", get(status))
        .route("/api/pages", get(pages))
        .route("/api/pages/{key}", get(page))
        .route("/api/pages/{key}/entries", get(page_entries))
        .route("/api/entries", get(entries))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown`, then finishes the
/// requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: ApiState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

/// An error answer: a status and `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        tracing::error!(error = %e, "store read failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal store error")
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> ApiError {
        ApiError::bad_request(e.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> ApiError {
        ApiError::bad_request(e.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response()
    }
}

#[derive(Serialize)]
struct ErrorBody {
    error: String,
}

/// Runs a store read on the blocking pool.
async fn read<T, F>(state: &ApiState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
{
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || f(&store)).await {
        Ok(result) => Ok(result?),
        Err(e) => {
            tracing::error!(error = %e, "store read task failed");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
            ))
        }
    }
}

#[derive(Serialize)]
struct StatusBody {
    node: String,
    applied_seq: u64,
    stream_last_seq: u64,
    lag: u64,
    digest: String,
    pages: u64,
    entries: u64,
    rejected: u64,
}

async fn status(State(state): State<ApiState>) -> Result<Json<StatusBody>, ApiError> {
    let ((applied_seq, digest), counts) = read(&state, |s| Ok((s.digest()?, s.counts()?))).await?;
    let stream_last_seq = state.live.stream_last_seq.load(Ordering::Relaxed);
    Ok(Json(StatusBody {
        node: state.live.node.clone(),
        applied_seq,
        stream_last_seq,
        lag: stream_last_seq.saturating_sub(applied_seq),
        digest,
        pages: counts.pages,
        entries: counts.entries,
        rejected: counts.rejected,
    }))
}

#[derive(Serialize)]
struct PagesBody {
    pages: Vec<PageView>,
}

async fn pages(State(state): State<ApiState>) -> Result<Json<PagesBody>, ApiError> {
    let pages = read(&state, Store::pages).await?;
    Ok(Json(PagesBody { pages }))
}

async fn page(
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

#[derive(Debug, Deserialize)]
struct EntriesQuery {
    q: Option<String>,
    limit: Option<String>,
}

impl EntriesQuery {
    fn limit(&self) -> Result<usize, ApiError> {
        let Some(raw) = self.limit.as_deref() else {
            return Ok(DEFAULT_LIMIT);
        };
        match raw.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "limit must be a whole number from 1 to {MAX_LIMIT}, got {raw:?}"
            ))),
        }
    }
}

#[derive(Serialize)]
struct EntriesBody {
    entries: Vec<EntryView>,
}

async fn page_entries(
    State(state): State<ApiState>,
    key: Result<Path<String>, PathRejection>,
    query: Result<Query<EntriesQuery>, QueryRejection>,
) -> Result<Json<EntriesBody>, ApiError> {
    let Path(key) = key?;
    let Query(query) = query?;
    let limit = query.limit()?;
    let lookup = key.clone();
    let found = read(&state, move |s| match s.page(&lookup)? {
        Some(_) => s.page_entries(&lookup, limit).map(Some),
        None => Ok(None),
    })
    .await?;
    match found {
        Some(entries) => Ok(Json(EntriesBody { entries })),
        None => Err(ApiError::not_found(format!("no page {key:?}"))),
    }
}

async fn entries(
    State(state): State<ApiState>,
    query: Result<Query<EntriesQuery>, QueryRejection>,
) -> Result<Json<EntriesBody>, ApiError> {
    let Query(query) = query?;
    let limit = query.limit()?;
    let entries = match query.q {
        Some(q) if q.is_empty() => return Err(ApiError::bad_request("q must not be empty")),
        Some(q) => read(&state, move |s| s.search(&q, limit)).await?,
        None => read(&state, move |s| s.newest_entries(limit)).await?,
    };
    Ok(Json(EntriesBody { entries }))
}

async fn metrics(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let (applied, counts) = read(&state, |s| Ok((s.applied_seq()?, s.counts()?))).await?;
    let live = &state.live;
    let stream_last = live.stream_last_seq.load(Ordering::Relaxed);
    let commits = live.batch_commits.load(Ordering::Relaxed);
    let commit_secs =
        Duration::from_nanos(live.batch_commit_nanos.load(Ordering::Relaxed)).as_secs_f64();
    let node = escape_label(&live.node);
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, String)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (suffix, value) in samples {
            let _ = writeln!(out, "{name}{suffix}{{node=\"{node}\"}} {value}");
        }
    };
    metric(
        "pagefeed_projector_applied_seq",
        "gauge",
        "Last stream sequence applied to the replica.",
        &[("", applied.to_string())],
    );
    metric(
        "pagefeed_projector_lag",
        "gauge",
        "Stream sequences not yet applied (stream last sequence - applied sequence).",
        &[("", stream_last.saturating_sub(applied).to_string())],
    );
    metric(
        "pagefeed_projector_events_applied_total",
        "counter",
        "Events applied by this process.",
        &[("", live.events_applied.load(Ordering::Relaxed).to_string())],
    );
    metric(
        "pagefeed_projector_rejected_total",
        "counter",
        "Payloads recorded as rejected in the replica.",
        &[("", counts.rejected.to_string())],
    );
    metric(
        "pagefeed_projector_batch_commit_seconds",
        "summary",
        "Time to commit one batch of events.",
        &[
            ("_sum", commit_secs.to_string()),
            ("_count", commits.to_string()),
        ],
    );
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response())
}

/// Escapes a Prometheus label value.
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
}
