//! The projector's HTTP API: JSON reads of the replica (status, pages,
//! entries, search) and Prometheus metrics, and what bounds their cost:
//! store reads run on the API's own read threads ([`crate::reads`]), lists
//! stop at a limit, a byte budget and (search) a work budget with a cursor
//! to go on, and requests are under a timeout, concurrency limits and an
//! optional bearer token.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{BoxError, Json, Router};
use data_encoding::BASE64URL_NOPAD;
use prometheus_client::metrics::histogram::Histogram;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::validate_request::{ValidateRequest, ValidateRequestHeaderLayer};

use crate::reads::{ReadError, ReadPool};
use crate::store::search::postings::Posting;
use crate::store::{
    EntryPos, EntryView, Listed, PageView, SearchBudget, Store, StoreError, Window,
};

/// Default number of entries an entries or search request returns.
pub const DEFAULT_LIMIT: usize = 20;
/// Default number of pages `/api/pages` returns.
pub const DEFAULT_PAGES_LIMIT: usize = 100;
/// The largest `limit` a request may ask for.
pub const MAX_LIMIT: usize = 1000;
/// The longest search a request may send, in characters: a search looks
/// up each of its bigrams before its budget starts counting.
pub const MAX_QUERY_CHARS: usize = 256;
/// The longest cursor a request may send.
const MAX_CURSOR_CHARS: usize = 1024;

/// How much a client may cost the node. The defaults suit a node on a
/// small machine; tests shrink them to reach them quickly.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// Every request must carry `Authorization: Bearer <token>`.
    pub token: Option<ApiToken>,
    /// Threads for the reads of pages and entries (see [`crate::reads`]).
    /// Each thread that allocates keeps a malloc arena of its own: few
    /// threads keep a node's memory bounded (a search for one common
    /// character reads tens of megabytes of postings; docs/BENCHMARKS.md,
    /// "Projector", has the peaks measured).
    pub read_threads: usize,
    /// Requests of pages and entries in flight at once; past it they are
    /// refused at once with 503 (load shedding), never queued.
    pub heavy_requests: usize,
    /// Requests of status and metrics in flight at once, counted apart
    /// from the heavy ones, so that a node busy searching still answers
    /// them.
    pub light_requests: usize,
    /// The longest a request may take before it is answered 503.
    pub timeout: Duration,
    /// The most JSON a list answer holds: it stops before and gives a
    /// cursor for the rest (its first item always goes).
    pub max_bytes: usize,
    /// The most candidate entries a search checks, and the longest it
    /// runs; past either the answer is `partial`, with a cursor to go on.
    pub search_budget: SearchBudget,
}

impl Default for ApiOptions {
    fn default() -> ApiOptions {
        ApiOptions {
            token: None,
            read_threads: 2,
            heavy_requests: 8,
            light_requests: 64,
            timeout: Duration::from_secs(5),
            max_bytes: 4 * 1024 * 1024,
            search_budget: SearchBudget::default(),
        }
    }
}

/// The API's bearer token. Its `Debug` never shows it.
#[derive(Clone)]
pub struct ApiToken(Arc<[u8; 32]>);

impl ApiToken {
    /// `None` for an empty token (surrounding whitespace is not part of
    /// it: a token file ends with a newline).
    pub fn new(token: &str) -> Option<ApiToken> {
        let token = token.trim();
        (!token.is_empty()).then(|| ApiToken(Arc::new(Sha256::digest(token.as_bytes()).into())))
    }

    /// Compares the digests, in constant time: how long it takes says
    /// nothing of how much of the token was right, nor of its length.
    fn matches(&self, presented: &[u8]) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented).into();
        bool::from(presented.ct_eq(&self.0[..]))
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(..)")
    }
}

/// What `/api/status` and `/metrics` show of the replica, published by the
/// replication loop after each commit ([`Live::publish`]), so that they
/// never read the file nor wait for a read thread.
#[derive(Debug, Clone, Default)]
pub struct ReplicaStatus {
    pub applied_seq: u64,
    pub digest: String,
    pub pages: u64,
    pub entries: u64,
    pub rejected: u64,
}

/// What the replication loop knows and the store does not: shared with the
/// API through an `Arc`.
#[derive(Debug)]
pub struct Live {
    pub node: String,
    /// The last sequence of `PAGEFEED_EVENTS` as last seen by this node.
    pub stream_last_seq: AtomicU64,
    /// Events applied (not rejected, not skipped) since this process started.
    pub events_applied: AtomicU64,
    /// How long the batches committed since this process started took.
    pub batch_commit: Histogram,
    /// The replica as of the last [`Live::publish`].
    replica: RwLock<ReplicaStatus>,
}

impl Live {
    pub fn new(node: impl Into<String>) -> Live {
        Live {
            node: node.into(),
            stream_last_seq: AtomicU64::new(0),
            events_applied: AtomicU64::new(0),
            batch_commit: crate::metrics::commit_time_histogram(),
            replica: RwLock::default(),
        }
    }

    /// Records one committed batch that took `d` and applied `events`.
    pub fn record_commit(&self, d: Duration, events: u64) {
        self.batch_commit.observe(d.as_secs_f64());
        self.events_applied.fetch_add(events, Ordering::Relaxed);
    }

    /// Reads the replica's applied sequence, digest and counts (O(1), a
    /// blocking read) for the status to show.
    pub fn publish(&self, store: &Store) -> Result<(), StoreError> {
        let (applied_seq, digest) = store.digest()?;
        let counts = store.counts()?;
        let status = ReplicaStatus {
            applied_seq,
            digest,
            pages: counts.pages,
            entries: counts.entries,
            rejected: counts.rejected,
        };
        *self
            .replica
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = status;
        Ok(())
    }

    /// The replica as last published.
    pub fn replica(&self) -> ReplicaStatus {
        self.replica
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[derive(Clone)]
pub struct ApiState {
    store: Arc<Store>,
    live: Arc<Live>,
    reads: ReadPool,
    options: Arc<ApiOptions>,
}

impl ApiState {
    /// The API's state, and its read threads started.
    pub fn new(
        store: Arc<Store>,
        live: Arc<Live>,
        options: ApiOptions,
    ) -> std::io::Result<ApiState> {
        // Enough queue for every admitted request, and as many again for
        // reads whose request timed out before a thread took them (they
        // are skipped when their turn comes).
        let reads = ReadPool::start(options.read_threads, 2 * options.heavy_requests.max(1))?;
        Ok(ApiState {
            store,
            live,
            reads,
            options: Arc::new(options),
        })
    }
}

/// The whole API, routes and fallbacks: status and metrics, and the reads
/// of pages and entries, each group under its own concurrency limit (load
/// shedding past it), every request under a timeout and, with a token,
/// authenticated first.
pub fn router(state: ApiState) -> Router {
    let options = state.options.clone();
    let light = Router::new()
        .route("/api/status", get(status))
        .route("/metrics", get(metrics));
    let heavy = Router::new()
        .route("/api/pages", get(pages))
        .route("/api/pages/{key}", get(page))
        .route("/api/pages/{key}/entries", get(page_entries))
        .route("/api/entries", get(entries));
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

/// `router` under a timeout and a concurrency limit shared by all its
/// routes (one semaphore however many routes it is layered on), refusing
/// at once what is over it.
fn limited<S>(router: Router<S>, requests: usize, timeout: Duration) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(refused))
            .timeout(timeout)
            .load_shed()
            .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
                requests.max(1),
            )),
    )
}

/// The answer to a request the limits refused.
async fn refused(e: BoxError) -> Response {
    let message = if e.is::<tower::timeout::error::Elapsed>() {
        "the request took too long"
    } else if e.is::<tower::load_shed::error::Overloaded>() {
        "too many requests at once; try again"
    } else {
        tracing::error!(error = %e, "request failed");
        "internal error"
    };
    ApiError::unavailable(message).into_response()
}

/// Checks `Authorization: Bearer <token>`.
#[derive(Clone)]
struct Bearer(ApiToken);

impl<B> ValidateRequest<B> for Bearer {
    type ResponseBody = Body;

    fn validate(&mut self, request: &mut Request<B>) -> Result<(), Response> {
        // The scheme is case-insensitive (RFC 9110, 11.1).
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.as_bytes().split_at_checked(7))
            .and_then(|(scheme, token)| scheme.eq_ignore_ascii_case(b"Bearer ").then_some(token));
        match presented {
            Some(token) if self.0.matches(token) => Ok(()),
            _ => {
                let mut answer = ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "this API needs `Authorization: Bearer <token>` with the node's token",
                )
                .into_response();
                answer
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                Err(answer)
            }
        }
    }
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

    fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message)
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
        let unavailable = self.status == StatusCode::SERVICE_UNAVAILABLE;
        let mut answer = (
            self.status,
            Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response();
        if unavailable {
            answer
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        answer
    }
}

#[derive(Serialize)]
struct ErrorBody {
    error: String,
}

/// Runs a store read on the API's read threads.
async fn read<T, F>(state: &ApiState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
{
    let store = state.store.clone();
    match state.reads.run(move || f(&store)).await {
        Ok(result) => Ok(result?),
        Err(ReadError::Busy) => Err(ApiError::unavailable("too many reads at once; try again")),
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

/// From what the replication loop published: never waits for a read.
async fn status(State(state): State<ApiState>) -> Json<StatusBody> {
    let replica = state.live.replica();
    let stream_last_seq = state.live.stream_last_seq.load(Ordering::Relaxed);
    Json(StatusBody {
        node: state.live.node.clone(),
        applied_seq: replica.applied_seq,
        stream_last_seq,
        lag: stream_last_seq.saturating_sub(replica.applied_seq),
        digest: replica.digest,
        pages: replica.pages,
        entries: replica.entries,
        rejected: replica.rejected,
    })
}

/// Where a list answer left off: opaque to clients (base64url of JSON),
/// tagged with the list it belongs to.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Cursor {
    /// After this page key.
    Page(String),
    /// After this entry, newest first.
    Entry(EntryPos),
    /// After this search index position.
    Search(Posting),
}

impl Cursor {
    fn encode(&self) -> String {
        // A cursor is plain strings and integers: it always serialises.
        BASE64URL_NOPAD.encode(&serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(raw: &str) -> Result<Cursor, ApiError> {
        let bad = || ApiError::bad_request("cursor is not one this node gave");
        if raw.len() > MAX_CURSOR_CHARS {
            return Err(bad());
        }
        let json = BASE64URL_NOPAD.decode(raw.as_bytes()).map_err(|_| bad())?;
        serde_json::from_slice(&json).map_err(|_| bad())
    }
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    q: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

impl ListQuery {
    fn limit(&self, default: usize) -> Result<usize, ApiError> {
        let Some(raw) = self.limit.as_deref() else {
            return Ok(default);
        };
        match raw.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "limit must be a whole number from 1 to {MAX_LIMIT}, got {raw:?}"
            ))),
        }
    }

    fn cursor(&self) -> Result<Option<Cursor>, ApiError> {
        self.cursor.as_deref().map(Cursor::decode).transpose()
    }

    fn window(&self, default: usize, state: &ApiState) -> Result<Window, ApiError> {
        Ok(Window {
            limit: self.limit(default)?,
            max_bytes: state.options.max_bytes,
        })
    }
}

fn wrong_cursor() -> ApiError {
    ApiError::bad_request("cursor belongs to another list")
}

#[derive(Serialize)]
struct PagesBody {
    pages: Vec<PageView>,
    /// The cursor of the next window; `null` at the end.
    next: Option<String>,
    partial: bool,
}

async fn pages(
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

#[derive(Serialize)]
struct EntriesBody {
    entries: Vec<EntryView>,
    /// The cursor of the next window; `null` at the end.
    next: Option<String>,
    /// The answer stopped short of its limit (its byte budget, or a
    /// search's work budget, ran out): `next` goes on from there.
    partial: bool,
}

impl EntriesBody {
    fn new<P>(listed: Listed<EntryView, P>, cursor: impl FnOnce(P) -> Cursor) -> EntriesBody {
        EntriesBody {
            entries: listed.items,
            next: listed.next.map(|p| cursor(p).encode()),
            partial: listed.partial,
        }
    }
}

async fn page_entries(
    State(state): State<ApiState>,
    key: Result<Path<String>, PathRejection>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<EntriesBody>, ApiError> {
    let Path(key) = key?;
    let Query(query) = query?;
    let window = query.window(DEFAULT_LIMIT, &state)?;
    let after = match query.cursor()? {
        None => None,
        Some(Cursor::Entry(at)) if at.page == key => Some(at),
        Some(_) => return Err(wrong_cursor()),
    };
    let lookup = key.clone();
    let found = read(&state, move |s| match s.page(&lookup)? {
        Some(_) => s
            .page_entries_after(&lookup, after.as_ref(), window)
            .map(Some),
        None => Ok(None),
    })
    .await?;
    match found {
        Some(listed) => Ok(Json(EntriesBody::new(listed, Cursor::Entry))),
        None => Err(ApiError::not_found(format!("no page {key:?}"))),
    }
}

async fn entries(
    State(state): State<ApiState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<EntriesBody>, ApiError> {
    let Query(query) = query?;
    let window = query.window(DEFAULT_LIMIT, &state)?;
    let cursor = query.cursor()?;
    let body = match query.q {
        Some(q) if q.is_empty() => return Err(ApiError::bad_request("q must not be empty")),
        Some(q) if q.chars().count() > MAX_QUERY_CHARS => {
            return Err(ApiError::bad_request(format!(
                "q must be at most {MAX_QUERY_CHARS} characters"
            )))
        }
        Some(q) => {
            let after = match cursor {
                None => None,
                Some(Cursor::Search(at)) => Some(at),
                Some(_) => return Err(wrong_cursor()),
            };
            let budget = state.options.search_budget;
            let listed = read(&state, move |s| s.search_after(&q, after, window, budget)).await?;
            EntriesBody::new(listed, Cursor::Search)
        }
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

/// From what the replication loop published, like the status.
async fn metrics(State(state): State<ApiState>) -> Response {
    match crate::metrics::render(&state.live) {
        Ok(text) => ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "encoding the metrics failed");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
}
