//! The sample site: a small axum server that imitates mixi's "recent page feed"
//! pages, with one page per numeric id, so the demo, the tests and the
//! benchmarks have something deterministic to crawl, including every way a
//! real site goes wrong.
//!
//! Routes: `GET /recent_page_feed?page_id=N` (the page; a missing or
//! non-numeric `page_id` is a 400), `GET /view_entry?page_id=N&entry=K` (the
//! page an entry links to), `GET /stats` (request counters as JSON) and `GET /`
//! (an index explaining the ids).
//!
//! What a page does depends on `id % 100` (see [`page_kind`]):
//!
//! | `id % 100` | kind | behaviour |
//! |---|---|---|
//! | 13 | [`PageKind::NotFound`] | 404 |
//! | 14 | [`PageKind::ServerError`] | 500, always |
//! | 15 | [`PageKind::TooManyRequests`] | 429 with `Retry-After: 1`, always |
//! | 16 | [`PageKind::Unavailable`] | 503 with `Retry-After: 1`, always |
//! | 17 | [`PageKind::SlowBody`] | 200, half the body, a pause of `slow_body`, the rest |
//! | 18 | [`PageKind::Oversized`] | 200 with a streamed body of more than 6 MiB |
//! | 19 | [`PageKind::ShiftJis`] | Shift_JIS, charset only in the `Content-Type` header |
//! | 20 | [`PageKind::EucJp`] | EUC-JP, charset only in `<meta charset>` |
//! | 21 | [`PageKind::Iso2022Jp`] | ISO-2022-JP, charset only in `<meta http-equiv>` |
//! | 22 | [`PageKind::BrokenMarkup`] | unclosed tags, a stray `</div>`, no `</body></html>` |
//! | 23 | [`PageKind::NoEntries`] | a JavaScript-rendered shell without entries, 200 |
//! | 24 | [`PageKind::Flaky`] | 500 for the first 2 requests of the id, then the page |
//! | 25 | [`PageKind::RateLimitedOnce`] | 429 (`Retry-After: 1`) on the first request, then the page |
//! | 26 | [`PageKind::RedirectLoop`] | 302 to itself with a growing `&hop=N`, forever |
//! | 27 | [`PageKind::Redirect`] | one 301 to the page of id `id - 26` (a normal page) |
//! | 28 | [`PageKind::Utf8Bom`] | UTF-8 with a BOM, no charset anywhere |
//! | other | [`PageKind::Normal`] | UTF-8, about 14.5 KiB, `Content-Type: text/html; charset=utf-8` |
//!
//! Page content is a function of (id, current time): entry `k` of page `id` is
//! posted at `origin(id) + k * period(id)` and a page shows the 20 newest
//! entries already posted, newest first ([`expected_entries`] says what a
//! correct extractor must find). The crawler's selectors are `title`,
//! `div.feedEntry`, `p.comment`, `li.timeStamp` (format `%m月%d日 %H:%M`, UTC,
//! month and day not zero-padded) and `li.viewLink a` (a relative href).
//!
//! Rendered pages carry an `ETag` and a `Last-Modified` and answer conditional
//! requests with 304. Responses are compressed (gzip, br, deflate) when asked,
//! except the slow and the oversized bodies, which are streamed as they are so
//! that their timing and size stay what the tests expect.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::future::IntoFuture as _;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, Extensions, HeaderMap, HeaderName, HeaderValue, StatusCode, Version};
use axum::response::Response;
use axum::routing::get;
use axum::serve::ListenerExt as _;
use axum::Router;
use bytes::Bytes;
use chrono::{DateTime, Datelike as _, NaiveDateTime, Timelike as _};
use futures::StreamExt as _;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower_http::compression::predicate::{DefaultPredicate, Predicate as _};
use tower_http::compression::{CompressionLayer, CompressionLevel};

/// How many entries a page shows.
pub const ENTRIES_PER_PAGE: usize = 20;

/// The size a rendered UTF-8 page is padded to (14.5 KiB), like a real one.
const TARGET_PAGE_BYTES: usize = 14_848;

/// The oversized page sends at least this many bytes.
const OVERSIZED_BYTES: usize = 6 * 1024 * 1024;

/// 2020-01-01T00:00:00Z: the epoch the entry schedules are anchored at.
const EPOCH_2020: i64 = 1_577_836_800;

/// How long [`SampleSite::shutdown`] waits for connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Knobs of the sample site.
#[derive(Clone, Debug)]
pub struct SampleSiteOptions {
    /// Added before each page response (`/recent_page_feed`, `/view_entry`).
    pub latency: Duration,
    /// The pause inside the body of a [`PageKind::SlowBody`] page.
    pub slow_body: Duration,
    /// Mean time between two new entries of a page; each page's own period is
    /// this scaled deterministically into [0.5, 1.5] × (see [`posting_period`]).
    pub entry_period: Duration,
    /// Where "now" comes from.
    pub clock: Clock,
}

impl Default for SampleSiteOptions {
    fn default() -> Self {
        SampleSiteOptions {
            latency: Duration::ZERO,
            slow_body: Duration::from_secs(10),
            entry_period: Duration::from_secs(600),
            clock: Clock::System,
        }
    }
}

/// The time source of the site, in unix seconds.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// A clock a test sets and advances by hand, so that new entries appear
    /// exactly when it wants them to.
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// The current time, in unix seconds.
    pub fn now_unix(&self) -> i64 {
        match self {
            Clock::System => chrono::Utc::now().timestamp(),
            Clock::Manual(t) => t.load(Ordering::SeqCst),
        }
    }
}

/// What kind of page an id serves, so that tests of the crawler can pick ids
/// by behaviour. See the table in the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PageKind {
    /// A well-formed UTF-8 page of about 14.5 KiB.
    Normal,
    /// 404.
    NotFound,
    /// 500, always.
    ServerError,
    /// 429 with `Retry-After: 1`, always.
    TooManyRequests,
    /// 503 with `Retry-After: 1`, always.
    Unavailable,
    /// 200; half the body, then a pause of `slow_body`, then the rest.
    SlowBody,
    /// 200 with a streamed body of more than 6 MiB.
    Oversized,
    /// Shift_JIS; the charset is only in the `Content-Type` header.
    ShiftJis,
    /// EUC-JP; `Content-Type: text/html`, the charset only in `<meta charset>`.
    EucJp,
    /// ISO-2022-JP; the charset only in `<meta http-equiv="Content-Type">`.
    Iso2022Jp,
    /// Unclosed `<p>` and `<li>`, a stray `</div>`, no `</body></html>`; an
    /// HTML5 parser still finds every entry.
    BrokenMarkup,
    /// A JavaScript-rendered shell: 200 but no entries in the HTML.
    NoEntries,
    /// 500 for the first 2 requests of the id (per server lifetime), then the page.
    Flaky,
    /// 429 with `Retry-After: 1` on the first request of the id, then the page.
    RateLimitedOnce,
    /// 302 to itself with a growing `&hop=N` parameter, forever.
    RedirectLoop,
    /// One 301 to the normal page of id `id - 26` (id 27 redirects to id 1).
    Redirect,
    /// UTF-8 with a byte order mark and no charset anywhere.
    Utf8Bom,
}

/// Every kind with its `id % 100` and what it does, for docs and the index page.
const KINDS: &[(u64, PageKind, &str)] = &[
    (13, PageKind::NotFound, "404"),
    (14, PageKind::ServerError, "500, always"),
    (
        15,
        PageKind::TooManyRequests,
        "429 with Retry-After: 1, always",
    ),
    (16, PageKind::Unavailable, "503 with Retry-After: 1, always"),
    (
        17,
        PageKind::SlowBody,
        "200, half the body, a pause, then the rest",
    ),
    (
        18,
        PageKind::Oversized,
        "200 with a streamed body of more than 6 MiB",
    ),
    (
        19,
        PageKind::ShiftJis,
        "Shift_JIS, charset only in the Content-Type header",
    ),
    (
        20,
        PageKind::EucJp,
        "EUC-JP, charset only in <meta charset>",
    ),
    (
        21,
        PageKind::Iso2022Jp,
        "ISO-2022-JP, charset only in <meta http-equiv>",
    ),
    (
        22,
        PageKind::BrokenMarkup,
        "unclosed tags, a stray </div>, no </body></html>",
    ),
    (
        23,
        PageKind::NoEntries,
        "a JavaScript-rendered shell without entries, 200",
    ),
    (
        24,
        PageKind::Flaky,
        "500 for the first 2 requests, then the page",
    ),
    (
        25,
        PageKind::RateLimitedOnce,
        "429 (Retry-After: 1) on the first request, then the page",
    ),
    (
        26,
        PageKind::RedirectLoop,
        "302 to itself with a growing &hop=N, forever",
    ),
    (
        27,
        PageKind::Redirect,
        "one 301 to the normal page of id - 26",
    ),
    (
        28,
        PageKind::Utf8Bom,
        "UTF-8 with a BOM and no charset anywhere",
    ),
];

impl PageKind {
    /// The smallest id that serves this kind (0 for [`PageKind::Normal`]);
    /// `first_id() + 100 * n` serves it too.
    pub fn first_id(self) -> u64 {
        KINDS
            .iter()
            .find(|(_, kind, _)| *kind == self)
            .map_or(0, |(suffix, _, _)| *suffix)
    }
}

/// What kind of page `id` serves.
pub fn page_kind(id: u64) -> PageKind {
    match id % 100 {
        13 => PageKind::NotFound,
        14 => PageKind::ServerError,
        15 => PageKind::TooManyRequests,
        16 => PageKind::Unavailable,
        17 => PageKind::SlowBody,
        18 => PageKind::Oversized,
        19 => PageKind::ShiftJis,
        20 => PageKind::EucJp,
        21 => PageKind::Iso2022Jp,
        22 => PageKind::BrokenMarkup,
        23 => PageKind::NoEntries,
        24 => PageKind::Flaky,
        25 => PageKind::RateLimitedOnce,
        26 => PageKind::RedirectLoop,
        27 => PageKind::Redirect,
        28 => PageKind::Utf8Bom,
        _ => PageKind::Normal,
    }
}

/// One entry as a correct extractor must find it on a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedEntry {
    /// The entry's number `k` within its page (0 is the first ever posted).
    pub index: u64,
    /// When it was posted, unix seconds.
    pub posted_at: i64,
    /// The text of `p.comment`.
    pub text: String,
    /// The text of `li.timeStamp` as shown, e.g. `2月13日 16:45` (UTC).
    pub timestamp: String,
    /// The `href` of `li.viewLink a` once HTML-decoded, relative, e.g.
    /// `/view_entry?page_id=42&entry=117`.
    pub href: String,
}

/// The title of page `id`, e.g. `ユーザー42さんの最近の日記`.
pub fn expected_title(id: u64) -> String {
    format!("ユーザー{id}さんの最近の日記")
}

/// The time between two entries of page `id`: `opts.entry_period` scaled
/// deterministically per id into [0.5, 1.5] ×, whole seconds, at least 1 s.
pub fn posting_period(id: u64, opts: &SampleSiteOptions) -> Duration {
    Duration::from_secs(Schedule::of(id, opts.entry_period).period as u64)
}

/// The entries page `id` shows at `now_unix`, newest first (at most 20; none
/// before the page's first entry). Pages that render no entries
/// ([`PageKind::NoEntries`], the error kinds) still have a schedule: this
/// says what they would show.
pub fn expected_entries(id: u64, now_unix: i64, opts: &SampleSiteOptions) -> Vec<ExpectedEntry> {
    let schedule = Schedule::of(id, opts.entry_period);
    schedule
        .shown(now_unix)
        .map(|k| {
            let posted_at = schedule.posted_at(k);
            let mut text = String::with_capacity(256);
            write_entry_text(&mut text, id, k);
            let mut timestamp = String::with_capacity(24);
            write_timestamp(&mut timestamp, posted_at);
            ExpectedEntry {
                index: k,
                posted_at,
                text,
                timestamp,
                href: format!("/view_entry?page_id={id}&entry={k}"),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Counters

const SHARDS: usize = 16;

#[derive(Clone, Copy, Default)]
struct Counts {
    requests: u64,
    not_modified: u64,
}

/// Per-id request counters of a running site, shared with its handlers
/// (cheap to clone).
#[derive(Clone)]
pub struct SiteStats {
    shards: Arc<[Mutex<HashMap<u64, Counts>>; SHARDS]>,
}

impl Default for SiteStats {
    fn default() -> Self {
        SiteStats {
            shards: Arc::new(std::array::from_fn(|_| Mutex::default())),
        }
    }
}

impl std::fmt::Debug for SiteStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteStats").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A counter is still meaningful after a panic elsewhere: ignore poisoning.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SiteStats {
    fn shard(&self, id: u64) -> &Mutex<HashMap<u64, Counts>> {
        &self.shards[(mix64(id) % SHARDS as u64) as usize]
    }

    /// Counts one page request and returns how many there have been, this one included.
    fn record_request(&self, id: u64) -> u64 {
        let mut shard = lock(self.shard(id));
        let counts = shard.entry(id).or_default();
        counts.requests += 1;
        counts.requests
    }

    fn record_not_modified(&self, id: u64) {
        lock(self.shard(id)).entry(id).or_default().not_modified += 1;
    }

    fn counts(&self, id: u64) -> Counts {
        lock(self.shard(id)).get(&id).copied().unwrap_or_default()
    }

    /// Page requests served for `id` so far, whatever their status.
    pub fn requests(&self, id: u64) -> u64 {
        self.counts(id).requests
    }

    /// How many of the page requests for `id` were answered 304.
    pub fn not_modified(&self, id: u64) -> u64 {
        self.counts(id).not_modified
    }

    /// `{"requests":{"42":3,...},"not_modified":{"42":1,...}}`, ids in order.
    pub fn to_json(&self) -> String {
        let mut all = BTreeMap::new();
        for shard in self.shards.iter() {
            all.extend(lock(shard).iter().map(|(id, c)| (*id, *c)));
        }
        let mut out = String::with_capacity(32 + all.len() * 24);
        out.push_str("{\"requests\":{");
        for (i, (id, c)) in all.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let _ = write!(out, "{sep}\"{id}\":{}", c.requests);
        }
        out.push_str("},\"not_modified\":{");
        let mut first = true;
        for (id, c) in all.iter().filter(|(_, c)| c.not_modified > 0) {
            let sep = if first { "" } else { "," };
            first = false;
            let _ = write!(out, "{sep}\"{id}\":{}", c.not_modified);
        }
        out.push_str("}}");
        out
    }
}

// ---------------------------------------------------------------------------
// The server

/// A running sample site. Dropping it (or [`SampleSite::shutdown`]) stops it.
#[derive(Debug)]
pub struct SampleSite {
    addr: SocketAddr,
    stats: SiteStats,
    shutdown: CancellationToken,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl SampleSite {
    /// Binds `listen` (port 0 picks a free port) and serves in a background task.
    pub async fn start(listen: SocketAddr, opts: SampleSiteOptions) -> io::Result<SampleSite> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let (app, stats) = build_router(opts, shutdown.clone());
        let listener = listener.tap_io(|tcp| {
            // Small responses must not wait for Nagle's algorithm.
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::trace!(%err, "cannot set TCP_NODELAY");
            }
        });
        let serve = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.clone().cancelled_owned())
            .into_future();
        let task = tokio::spawn(serve);
        tracing::debug!(%addr, "sample site started");
        Ok(SampleSite {
            addr,
            stats,
            shutdown,
            task: Some(task),
        })
    }

    /// The address the site is bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`, with a loopback host when bound to an unspecified address.
    pub fn base_url(&self) -> String {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.addr.port()))
    }

    /// `http://127.0.0.1:PORT/recent_page_feed?page_id=ID`.
    pub fn page_url(&self, id: u64) -> String {
        format!("{}/recent_page_feed?page_id={id}", self.base_url())
    }

    /// [`SampleSite::page_url`] with `{id}` in place of the id.
    pub fn url_template(&self) -> String {
        format!("{}/recent_page_feed?page_id={{id}}", self.base_url())
    }

    /// Page requests served for `id` so far, whatever their status.
    pub fn requests(&self, id: u64) -> u64 {
        self.stats.requests(id)
    }

    /// How many of the page requests for `id` were answered 304.
    pub fn not_modified(&self, id: u64) -> u64 {
        self.stats.not_modified(id)
    }

    /// The counters handle (what `/stats` shows).
    pub fn stats(&self) -> SiteStats {
        self.stats.clone()
    }

    /// Stops accepting, cuts in-flight slow bodies short, and waits (a few
    /// seconds at most) for the open connections to close.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(mut task) = self.task.take() {
            match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(err))) => tracing::warn!(%err, "sample site stopped with an error"),
                Ok(Err(err)) => tracing::warn!(%err, "sample site task failed"),
                Err(_) => {
                    tracing::warn!("sample site connections still open after the grace period");
                    task.abort();
                }
            }
        }
        tracing::debug!(addr = %self.addr, "sample site stopped");
    }
}

impl Drop for SampleSite {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The site's routes with compression, and the handle to its counters, to
/// serve it yourself. Without a [`SampleSite`] to stop it, its slow bodies
/// always run to the end.
pub fn router(opts: SampleSiteOptions) -> (Router, SiteStats) {
    build_router(opts, CancellationToken::new())
}

struct Site {
    opts: SampleSiteOptions,
    stats: SiteStats,
    shutdown: CancellationToken,
}

/// Marks a response that the compression layer must leave alone (streams
/// whose timing or size is the point).
#[derive(Clone, Copy)]
struct NoCompression;

fn build_router(opts: SampleSiteOptions, shutdown: CancellationToken) -> (Router, SiteStats) {
    let stats = SiteStats::default();
    let site = Arc::new(Site {
        opts,
        stats: stats.clone(),
        shutdown,
    });
    let compress = DefaultPredicate::new().and(
        |_: StatusCode, _: Version, _: &HeaderMap, extensions: &Extensions| {
            extensions.get::<NoCompression>().is_none()
        },
    );
    let app = Router::new()
        .route("/", get(index))
        .route("/recent_page_feed", get(recent_page_feed))
        .route("/view_entry", get(view_entry))
        .route("/stats", get(stats_json))
        .with_state(site)
        .layer(
            // The fastest level: compressing at the default level would make
            // the site, not the crawler, the bottleneck of a benchmark.
            CompressionLayer::new()
                .quality(CompressionLevel::Fastest)
                .compress_when(compress),
        );
    (app, stats)
}

impl Site {
    /// Sleeps `d` unless the site shuts down first; false if it did.
    async fn pause(&self, d: Duration) -> bool {
        if d.is_zero() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = self.shutdown.cancelled() => false,
        }
    }
}

const HTML_UTF8: &str = "text/html; charset=utf-8";

fn response(status: StatusCode, content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn set_header(resp: &mut Response, name: HeaderName, value: &str) {
    match HeaderValue::from_str(value) {
        Ok(v) => {
            resp.headers_mut().insert(name, v);
        }
        Err(err) => tracing::warn!(%name, %err, "invalid header value"),
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    response(status, "text/plain; charset=utf-8", text)
}

fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\"><title>{message}</title></head>\
         <body><h1>{message}</h1></body></html>\n"
    );
    response(status, HTML_UTF8, body)
}

fn retry_after(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

/// The value of `name` in a query string, undecoded (ids are plain digits).
fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}

fn numeric_param(query: &str, name: &str) -> Option<u64> {
    query_param(query, name)?.parse().ok()
}

async fn recent_page_feed(
    State(site): State<Arc<Site>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = query.unwrap_or_default();
    let Some(id) = numeric_param(&query, "page_id") else {
        return plain(
            StatusCode::BAD_REQUEST,
            "page_id must be a non-negative integer\n",
        );
    };
    let nth = site.stats.record_request(id);
    if !site.pause(site.opts.latency).await {
        return retry_after(error_page(StatusCode::SERVICE_UNAVAILABLE, "停止中です"));
    }
    let kind = page_kind(id);
    match kind {
        PageKind::NotFound => error_page(StatusCode::NOT_FOUND, "ページが見つかりません"),
        PageKind::ServerError => error_page(StatusCode::INTERNAL_SERVER_ERROR, "サーバーエラー"),
        PageKind::TooManyRequests => retry_after(error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "アクセスが集中しています",
        )),
        PageKind::Unavailable => retry_after(error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "ただいまメンテナンス中です",
        )),
        PageKind::Flaky if nth <= 2 => {
            error_page(StatusCode::INTERNAL_SERVER_ERROR, "サーバーエラー")
        }
        PageKind::RateLimitedOnce if nth == 1 => retry_after(error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "アクセスが集中しています",
        )),
        PageKind::RedirectLoop => {
            let hop = numeric_param(&query, "hop").unwrap_or(0).saturating_add(1);
            redirect(
                StatusCode::FOUND,
                &format!("/recent_page_feed?page_id={id}&hop={hop}"),
            )
        }
        PageKind::Redirect => redirect(
            StatusCode::MOVED_PERMANENTLY,
            &format!("/recent_page_feed?page_id={}", id - 26),
        ),
        PageKind::NoEntries => response(StatusCode::OK, HTML_UTF8, js_shell(id)),
        PageKind::SlowBody => slow_page(&site, id),
        PageKind::Oversized => oversized_page(&site, id),
        PageKind::Normal
        | PageKind::ShiftJis
        | PageKind::EucJp
        | PageKind::Iso2022Jp
        | PageKind::BrokenMarkup
        | PageKind::Flaky
        | PageKind::RateLimitedOnce
        | PageKind::Utf8Bom => feed_page(&site, id, kind, &headers),
    }
}

fn redirect(status: StatusCode, location: &str) -> Response {
    let mut resp = error_page(status, "移動しました");
    set_header(&mut resp, header::LOCATION, location);
    resp
}

/// A rendered page, with conditional GET.
fn feed_page(site: &Site, id: u64, kind: PageKind, headers: &HeaderMap) -> Response {
    let (head, content_type, broken) = match kind {
        PageKind::ShiftJis => (Head::NoCharset, "text/html; charset=Shift_JIS", false),
        PageKind::EucJp => (Head::MetaCharsetEucJp, "text/html", false),
        PageKind::Iso2022Jp => (Head::HttpEquivIso2022Jp, "text/html", false),
        PageKind::Utf8Bom => (Head::NoCharset, "text/html", false),
        PageKind::BrokenMarkup => (Head::Utf8Meta, HTML_UTF8, true),
        _ => (Head::Utf8Meta, HTML_UTF8, false),
    };
    let now = site.opts.clock.now_unix();
    let schedule = Schedule::of(id, site.opts.entry_period);
    let mut html = String::with_capacity(TARGET_PAGE_BYTES + 512);
    render_page(&mut html, id, now, &schedule, head, broken);
    if !broken {
        html.push_str(PAGE_END);
    }
    let body: Bytes = match kind {
        PageKind::ShiftJis => encoding_rs::SHIFT_JIS.encode(&html).0.into_owned().into(),
        PageKind::EucJp => encoding_rs::EUC_JP.encode(&html).0.into_owned().into(),
        PageKind::Iso2022Jp => encoding_rs::ISO_2022_JP.encode(&html).0.into_owned().into(),
        PageKind::Utf8Bom => {
            let mut bytes = Vec::with_capacity(3 + html.len());
            bytes.extend_from_slice(b"\xEF\xBB\xBF");
            bytes.extend_from_slice(html.as_bytes());
            bytes.into()
        }
        _ => html.into(),
    };
    let etag = format!("\"{:016x}\"", hash_bytes(&body));
    let last_modified = schedule.newest(now).map(|k| schedule.posted_at(k));
    let last_modified_text = last_modified.and_then(http_date);
    let fresh = is_not_modified(headers, &etag, last_modified);
    let mut resp = if fresh {
        site.stats.record_not_modified(id);
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        resp
    } else {
        response(StatusCode::OK, content_type, body)
    };
    set_header(&mut resp, header::ETAG, &etag);
    if let Some(text) = last_modified_text {
        set_header(&mut resp, header::LAST_MODIFIED, &text);
    }
    resp
}

/// RFC 9110 §13.2.2: If-None-Match wins over If-Modified-Since.
fn is_not_modified(headers: &HeaderMap, etag: &str, last_modified: Option<i64>) -> bool {
    let mut none_match = headers.get_all(header::IF_NONE_MATCH).iter().peekable();
    if none_match.peek().is_some() {
        return none_match
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag);
    }
    let since = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date);
    matches!((last_modified, since), (Some(modified), Some(since)) if modified <= since)
}

/// IMF-fixdate, the only HTTP-date form a current client sends.
fn http_date(t: i64) -> Option<String> {
    let dt = DateTime::from_timestamp(t, 0)?;
    Some(dt.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
}

fn parse_http_date(s: &str) -> Option<i64> {
    NaiveDateTime::parse_from_str(s.trim(), "%a, %d %b %Y %H:%M:%S GMT")
        .ok()
        .map(|dt| dt.and_utc().timestamp())
}

/// Headers, then the first half of the page, then (after `slow_body`, or at
/// shutdown, as an error) the rest.
fn slow_page(site: &Site, id: u64) -> Response {
    let now = site.opts.clock.now_unix();
    let schedule = Schedule::of(id, site.opts.entry_period);
    let mut html = String::with_capacity(TARGET_PAGE_BYTES + 512);
    render_page(&mut html, id, now, &schedule, Head::Utf8Meta, false);
    html.push_str(PAGE_END);
    // Split at a tag in the middle (a char boundary: the text is Japanese).
    let middle = (html.len() / 2..html.len())
        .find(|&i| html.is_char_boundary(i))
        .unwrap_or(html.len());
    let split = html[middle..].find('<').map_or(middle, |i| middle + i);
    let mut rest = Bytes::from(html);
    let first = rest.split_to(split);
    let pause = site.opts.slow_body;
    let shutdown = site.shutdown.clone();
    let stream = futures::stream::once(async move { Ok::<_, io::Error>(first) }).chain(
        futures::stream::once(async move {
            tokio::select! {
                _ = tokio::time::sleep(pause) => Ok(rest),
                _ = shutdown.cancelled() => Err(io::Error::other("sample site shutting down")),
            }
        }),
    );
    let mut resp = response(StatusCode::OK, HTML_UTF8, Body::from_stream(stream));
    resp.extensions_mut().insert(NoCompression);
    resp
}

/// A normal page with more than 6 MiB of filler before `</body></html>`,
/// streamed chunk by chunk (the chunk is built once and shared).
fn oversized_page(site: &Site, id: u64) -> Response {
    let now = site.opts.clock.now_unix();
    let schedule = Schedule::of(id, site.opts.entry_period);
    let mut html = String::with_capacity(TARGET_PAGE_BYTES + 512);
    render_page(&mut html, id, now, &schedule, Head::Utf8Meta, false);
    let filler = filler_chunk();
    let chunks = OVERSIZED_BYTES.div_ceil(filler.len());
    let parts = std::iter::once(Bytes::from(html))
        .chain(std::iter::repeat_n(filler, chunks))
        .chain(std::iter::once(Bytes::from_static(PAGE_END.as_bytes())));
    let stream = futures::stream::iter(parts.map(Ok::<_, io::Error>));
    let mut resp = response(StatusCode::OK, HTML_UTF8, Body::from_stream(stream));
    resp.extensions_mut().insert(NoCompression);
    resp
}

fn filler_chunk() -> Bytes {
    static FILLER: OnceLock<Bytes> = OnceLock::new();
    FILLER
        .get_or_init(|| {
            let mut s = String::with_capacity(70 * 1024);
            let mut i = 0usize;
            while s.len() < 64 * 1024 {
                s.push_str("<div class=\"filler\"><p>");
                for _ in 0..8 {
                    s.push_str(FEELING[i % FEELING.len()]);
                    i += 1;
                }
                s.push_str("</p></div>\n");
            }
            Bytes::from(s)
        })
        .clone()
}

fn js_shell(id: u64) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body><div id=\"app\"></div>\
         <noscript>このページを表示するにはJavaScriptを有効にしてください。</noscript>\
         <script src=\"/static/js/feed.bundle.js?page_id={id}\"></script></body></html>\n",
        expected_title(id)
    )
}

async fn view_entry(State(site): State<Arc<Site>>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    let (Some(id), Some(k)) = (
        numeric_param(&query, "page_id"),
        numeric_param(&query, "entry"),
    ) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "page_id and entry must be non-negative integers\n",
        );
    };
    if !site.pause(site.opts.latency).await {
        return retry_after(error_page(StatusCode::SERVICE_UNAVAILABLE, "停止中です"));
    }
    let schedule = Schedule::of(id, site.opts.entry_period);
    let mut html = String::with_capacity(2048);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\">\
         <title>ユーザー{id}さんの日記</title></head><body><div id=\"bodyArea\">\
         <div class=\"viewDiaryBox\"><p class=\"timeStamp\">"
    );
    write_timestamp(&mut html, schedule.posted_at(k));
    html.push_str("</p><div id=\"diary_body\">");
    write_entry_text(&mut html, id, k);
    let _ = writeln!(
        html,
        "</div></div><p><a href=\"/recent_page_feed?page_id={id}\">最近の日記に戻る</a></p>\
         </div></body></html>"
    );
    response(StatusCode::OK, HTML_UTF8, html)
}

async fn stats_json(State(site): State<Arc<Site>>) -> Response {
    response(StatusCode::OK, "application/json", site.stats.to_json())
}

async fn index() -> Response {
    let mut html = String::with_capacity(4096);
    html.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>pagefeed sample site</title></head><body><h1>pagefeed sample site</h1>\
         <p>Imitates mixi's recent page feed: <code>/recent_page_feed?page_id=N</code> \
         shows the 20 newest entries of page N, which gains an entry every few minutes. \
         What a page does depends on <code>N % 100</code>:</p>\n<table>\
         <tr><th>N % 100</th><th>kind</th><th>behaviour</th><th>example</th></tr>\n",
    );
    for (suffix, kind, what) in KINDS {
        let what = what.replace('<', "&lt;").replace('>', "&gt;");
        let _ = writeln!(
            html,
            "<tr><td>{suffix}</td><td>{kind:?}</td><td>{what}</td>\
             <td><a href=\"/recent_page_feed?page_id={suffix}\">{suffix}</a></td></tr>"
        );
    }
    html.push_str(
        "<tr><td>other</td><td>Normal</td><td>UTF-8, about 14.5 KiB</td>\
         <td><a href=\"/recent_page_feed?page_id=42\">42</a></td></tr>\n</table>\
         <p><a href=\"/stats\">/stats</a>: requests served per id, as JSON.</p></body></html>\n",
    );
    response(StatusCode::OK, HTML_UTF8, html)
}

// ---------------------------------------------------------------------------
// Content

/// When the entries of one page are posted.
#[derive(Clone, Copy, Debug)]
struct Schedule {
    origin: i64,
    period: i64,
}

impl Schedule {
    fn of(id: u64, entry_period: Duration) -> Schedule {
        let base = entry_period.as_secs().max(1);
        let per_mille = 500 + mix64(id ^ 0x5045_5249_4f44) % 1001;
        let period = (base.saturating_mul(per_mille) / 1000).clamp(1, i64::MAX as u64 / 4) as i64;
        let offset = (mix64(id ^ 0x4f52_4947_494e) % (30 * 86_400)) as i64;
        Schedule {
            origin: EPOCH_2020 - offset,
            period,
        }
    }

    /// The newest entry posted at `now`, if any.
    fn newest(&self, now: i64) -> Option<u64> {
        (now >= self.origin).then(|| (now.saturating_sub(self.origin) / self.period) as u64)
    }

    fn posted_at(&self, k: u64) -> i64 {
        self.origin
            .saturating_add((k as i64).saturating_mul(self.period))
    }

    /// The entries shown at `now`, newest first.
    fn shown(&self, now: i64) -> impl Iterator<Item = u64> {
        let range = match self.newest(now) {
            Some(n) => n.saturating_sub(ENTRIES_PER_PAGE as u64 - 1)..n.saturating_add(1),
            None => 0..0,
        };
        range.rev()
    }
}

/// What goes in `<head>` about the charset.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Head {
    Utf8Meta,
    NoCharset,
    MetaCharsetEucJp,
    HttpEquivIso2022Jp,
}

const PAGE_END: &str = "</body></html>\n";

const HEADER_NAV: &str = "<div id=\"headerArea\"><div class=\"logo\"><a href=\"/\">mixi</a></div>\
<ul class=\"globalNav\"><li><a href=\"/home\">ホーム</a></li><li><a href=\"/search\">検索</a></li>\
<li><a href=\"/list_friend\">友人</a></li><li><a href=\"/list_community\">コミュニティ</a></li>\
<li><a href=\"/list_diary\">日記</a></li><li><a href=\"/settings\">設定</a></li>\
<li><a href=\"/logout\">ログアウト</a></li></ul></div>\n";

const FOOTER: &str = "<div class=\"footer\"><ul><li><a href=\"/about\">会社概要</a></li>\
<li><a href=\"/terms\">利用規約</a></li><li><a href=\"/privacy\">プライバシーポリシー</a></li>\
<li><a href=\"/help\">ヘルプ</a></li><li><a href=\"/inquiry\">お問い合わせ</a></li></ul>\
<p class=\"copyright\">Copyright (C) mixi, Inc. All rights reserved.</p></div>\n";

/// Writes the page up to (and including) the footer; the caller ends it with
/// [`PAGE_END`] unless `broken`. The text is padded with community links so a
/// page weighs about [`TARGET_PAGE_BYTES`]. Word lists hold no character that
/// needs escaping, so nothing is escaped.
fn render_page(out: &mut String, id: u64, now: i64, schedule: &Schedule, head: Head, broken: bool) {
    out.push_str("<!DOCTYPE html>\n<html lang=\"ja\"><head>");
    match head {
        Head::Utf8Meta => out.push_str("<meta charset=\"utf-8\">"),
        Head::NoCharset => {}
        Head::MetaCharsetEucJp => out.push_str("<meta charset=\"EUC-JP\">"),
        Head::HttpEquivIso2022Jp => out.push_str(
            "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=ISO-2022-JP\">",
        ),
    }
    let _ = writeln!(
        out,
        "<title>ユーザー{id}さんの最近の日記</title>\
         <link rel=\"stylesheet\" href=\"/static/css/basic.css\"></head><body>"
    );
    if broken {
        // Before any <div> is open, so an HTML5 parser drops it.
        out.push_str("</div>\n");
    }
    out.push_str(HEADER_NAV);
    let _ = writeln!(
        out,
        "<div id=\"bodyArea\"><div class=\"pageTitle\"><h2>ユーザー{id}さんの最近の日記</h2></div>\
         <div class=\"feedStream\">"
    );
    for k in schedule.shown(now) {
        let (li_end, p_end) = if broken { ("", "") } else { ("</li>", "</p>") };
        out.push_str(
            "<div class=\"feedEntry\"><div class=\"entryHead\"><ul><li class=\"timeStamp\">",
        );
        write_timestamp(out, schedule.posted_at(k));
        let _ = write!(
            out,
            "{li_end}<li class=\"viewLink\"><a href=\"/view_entry?page_id={id}&amp;entry={k}\">\
             もっと見る</a>{li_end}</ul></div><p class=\"comment\">"
        );
        write_entry_text(out, id, k);
        let h = mix64(id.wrapping_mul(31).wrapping_add(k));
        let _ = writeln!(
            out,
            "{p_end}<div class=\"entryFoot\"><span class=\"commentCount\">コメント({})</span>\
             <span class=\"iine\">イイネ！({})</span></div></div>",
            h % 12,
            (h >> 8) % 30
        );
    }
    out.push_str(
        "</div>\n<div id=\"sideArea\"><h3>参加コミュニティ</h3><ul class=\"communityList\">\n",
    );
    let end_len = FOOTER.len() + PAGE_END.len() + 16;
    let mut i = 0u64;
    while out.len() + end_len < TARGET_PAGE_BYTES {
        let h = mix64(id ^ (i << 32) ^ 0x434f_4d4d);
        let name = COMMUNITIES[(h % COMMUNITIES.len() as u64) as usize];
        let li_end = if broken { "" } else { "</li>" };
        let _ = writeln!(
            out,
            "<li><a href=\"/view_community?id={}\">{name}</a><span class=\"members\">({}人)</span>{li_end}",
            100_000 + (h >> 16) % 900_000,
            1 + (h >> 40) % 50_000
        );
        i += 1;
    }
    out.push_str("</ul></div></div>\n");
    out.push_str(FOOTER);
}

fn write_timestamp(out: &mut String, t: i64) {
    if let Some(dt) = DateTime::from_timestamp(t, 0) {
        let _ = write!(
            out,
            "{}月{}日 {:02}:{:02}",
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minute()
        );
    }
}

// Word lists: every character is in JIS X 0208, so Shift_JIS, EUC-JP and
// ISO-2022-JP encode them without loss (a unit test checks).
const WHEN: &[&str] = &[
    "今日",
    "昨日",
    "週末",
    "日曜日",
    "土曜日",
    "今朝",
    "先週",
    "連休",
];
const WHO: &[&str] = &[
    "友達",
    "家族",
    "会社の先輩",
    "妹",
    "兄",
    "大学の同期",
    "彼女",
    "母",
    "同僚",
    "幼なじみ",
];
const PLACE: &[&str] = &[
    "渋谷",
    "新宿",
    "池袋",
    "横浜",
    "京都",
    "大阪",
    "札幌",
    "吉祥寺",
    "下北沢",
    "鎌倉",
    "福岡",
    "名古屋",
    "神戸",
    "仙台",
];
const FOOD: &[&str] = &[
    "ラーメン",
    "お寿司",
    "カレー",
    "焼き肉",
    "ケーキ",
    "うどん",
    "そば",
    "たこ焼き",
    "パスタ",
    "天ぷら",
    "お好み焼き",
    "ハンバーグ",
];
const ACTIVITY: &[&str] = &[
    "買い物をしました",
    "映画を見ました",
    "散歩をしました",
    "美術館に行きました",
    "カラオケで歌いました",
    "公園でのんびりしました",
];
const HOBBY: &[&str] = &[
    "写真",
    "料理",
    "ジョギング",
    "読書",
    "映画鑑賞",
    "ギター",
    "将棋",
    "英会話",
    "登山",
    "釣り",
    "温泉めぐり",
    "ヨガ",
];
const WEATHER: &[&str] = &[
    "いい天気",
    "雨",
    "雪",
    "曇り",
    "とても暑い日",
    "とても寒い日",
];
const SHOP: &[&str] = &["喫茶店", "本屋", "パン屋", "居酒屋", "雑貨屋", "古着屋"];
const TECH: &[&str] = &["Rust", "NATS", "Erlang", "Linux", "GitHub", "Python"];
const FEELING: &[&str] = &[
    "とても楽しかったです。",
    "また行きたいと思います。",
    "少し疲れました。",
    "明日も頑張ります。",
    "久しぶりにゆっくりできました。",
    "みんな元気そうでよかったです。",
    "写真をたくさん撮りました。",
    "来月もまた会う約束をしました。",
];
const COMMUNITIES: &[&str] = &[
    "ラーメン大好き",
    "写真部",
    "猫好きの集い",
    "京都が好き",
    "週末ランナー",
    "映画好き集まれ",
    "カレー同好会",
    "温泉めぐりの会",
    "読書の時間",
    "将棋を指そう",
    "ギター弾き語り",
    "登山部",
];

/// 2 to 4 sentences, chosen by a PRNG seeded from (id, k).
fn write_entry_text(out: &mut String, id: u64, k: u64) {
    let mut rng = SplitMix64(mix64(id) ^ k.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let sentences = 2 + rng.below(3);
    for _ in 0..sentences {
        match rng.below(10) {
            0 | 1 => {
                let (when, who, place, food) = (
                    rng.pick(WHEN),
                    rng.pick(WHO),
                    rng.pick(PLACE),
                    rng.pick(FOOD),
                );
                let _ = write!(out, "{when}は{who}と{place}で{food}を食べました。");
            }
            2 => {
                let (when, who, place, what) = (
                    rng.pick(WHEN),
                    rng.pick(WHO),
                    rng.pick(PLACE),
                    rng.pick(ACTIVITY),
                );
                let _ = write!(out, "{when}は{who}と{place}で{what}。");
            }
            3 => {
                let _ = write!(out, "最近は{}にはまっています。", rng.pick(HOBBY));
            }
            4 => {
                let (place, shop) = (rng.pick(PLACE), rng.pick(SHOP));
                let _ = write!(out, "{place}の{shop}はいつも混んでいますね。");
            }
            5 => {
                let (when, weather) = (rng.pick(WHEN), rng.pick(WEATHER));
                let _ = write!(out, "{when}は{weather}でした。");
            }
            6 | 7 => out.push_str(rng.pick(FEELING)),
            8 => {
                let _ = write!(out, "来週は{}に行く予定です。", rng.pick(PLACE));
            }
            _ => {
                let tech = rng.pick(TECH);
                if rng.below(2) == 0 {
                    let _ = write!(out, "仕事で{tech}を使ってみました。");
                } else {
                    let _ = write!(out, "{tech}の勉強会に参加しました。");
                }
            }
        }
    }
}

/// splitmix64: small, fast, and good enough to pick words.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick(&mut self, words: &[&'static str]) -> &'static str {
        words[self.below(words.len() as u64) as usize]
    }
}

/// The splitmix64 finalizer.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A fast, stable 64-bit hash of a body, for ETags.
fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = 0xCBF2_9CE4_8422_2325_u64 ^ bytes.len() as u64;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(w);
        h = (h ^ u64::from_le_bytes(buf))
            .wrapping_mul(0x0000_0100_0000_01B3)
            .rotate_left(29);
    }
    for &b in words.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3);
    }
    mix64(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_lists_survive_the_japanese_legacy_encodings() {
        let lists = [
            WHEN,
            WHO,
            PLACE,
            FOOD,
            ACTIVITY,
            HOBBY,
            WEATHER,
            SHOP,
            TECH,
            FEELING,
            COMMUNITIES,
        ];
        let mut all: Vec<&str> = lists.iter().flat_map(|l| l.iter().copied()).collect();
        all.extend([
            HEADER_NAV,
            FOOTER,
            "ユーザー42さんの最近の日記もっと見るコメントイイネ！",
        ]);
        for enc in [
            encoding_rs::SHIFT_JIS,
            encoding_rs::EUC_JP,
            encoding_rs::ISO_2022_JP,
        ] {
            for word in &all {
                let (bytes, _, unmappable) = enc.encode(word);
                assert!(!unmappable, "{word} is not in {}", enc.name());
                let (back, malformed) = enc.decode_without_bom_handling(&bytes);
                assert!(!malformed);
                assert_eq!(back, *word);
            }
        }
    }

    #[test]
    fn periods_stay_within_half_and_one_and_a_half_of_the_mean() {
        let opts = SampleSiteOptions::default();
        for id in 0..10_000 {
            let p = posting_period(id, &opts).as_secs();
            assert!((300..=900).contains(&p), "period {p} for {id}");
        }
    }

    #[test]
    fn timestamps_are_not_zero_padded_in_month_and_day() {
        let mut s = String::new();
        write_timestamp(&mut s, 1_581_612_300); // 2020-02-13T16:45:00Z
        assert_eq!(s, "2月13日 16:45");
        s.clear();
        write_timestamp(&mut s, 1_578_027_780); // 2020-01-03T05:03:00Z
        assert_eq!(s, "1月3日 05:03");
    }

    #[test]
    fn http_dates_round_trip() {
        let t = 1_700_000_000;
        let text = http_date(t).unwrap_or_default();
        assert_eq!(text, "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(parse_http_date(&text), Some(t));
    }

    #[test]
    fn some_entries_mention_ascii_keywords() {
        let opts = SampleSiteOptions::default();
        let with_ascii = (0..50)
            .flat_map(|id| expected_entries(id, 1_700_000_000, &opts))
            .filter(|e| TECH.iter().any(|t| e.text.contains(t)))
            .count();
        assert!((50..=500).contains(&with_ascii), "{with_ascii} of 1000");
    }
}
