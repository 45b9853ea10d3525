//! The running site: its routes, the handlers of each kind of page,
//! conditional GET and the streamed (slow, oversized) bodies.

use super::*;

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

pub(super) struct Site {
    pub(super) opts: SampleSiteOptions,
    pub(super) stats: SiteStats,
    pub(super) shutdown: CancellationToken,
}

/// Marks a response that the compression layer must leave alone (streams
/// whose timing or size is the point).
#[derive(Clone, Copy)]
pub(super) struct NoCompression;

pub(super) fn build_router(
    opts: SampleSiteOptions,
    shutdown: CancellationToken,
) -> (Router, SiteStats) {
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
    pub(super) async fn pause(&self, d: Duration) -> bool {
        if d.is_zero() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = self.shutdown.cancelled() => false,
        }
    }
}

pub(super) const HTML_UTF8: &str = "text/html; charset=utf-8";

pub(super) fn response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Body>,
) -> Response {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

pub(super) fn set_header(resp: &mut Response, name: HeaderName, value: &str) {
    match HeaderValue::from_str(value) {
        Ok(v) => {
            resp.headers_mut().insert(name, v);
        }
        Err(err) => tracing::warn!(%name, %err, "invalid header value"),
    }
}

pub(super) fn plain(status: StatusCode, text: &'static str) -> Response {
    response(status, "text/plain; charset=utf-8", text)
}

pub(super) fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\"><title>{message}</title></head>\
         <body><h1>{message}</h1></body></html>\n"
    );
    response(status, HTML_UTF8, body)
}

pub(super) fn retry_after(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

/// The query of a page: `page_id`, and the redirect loop's `hop`.
#[derive(Deserialize)]
pub(super) struct PageQuery {
    page_id: u64,
    hop: Option<u64>,
}

/// The query of the page an entry links to.
#[derive(Deserialize)]
pub(super) struct EntryQuery {
    page_id: u64,
    entry: u64,
}

pub(super) async fn recent_page_feed(
    State(site): State<Arc<Site>>,
    query: Result<Query<PageQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let Ok(Query(PageQuery { page_id: id, hop })) = query else {
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
            let hop = hop.unwrap_or(0).saturating_add(1);
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

pub(super) fn redirect(status: StatusCode, location: &str) -> Response {
    let mut resp = error_page(status, "移動しました");
    set_header(&mut resp, header::LOCATION, location);
    resp
}

/// A rendered page, with conditional GET.
pub(super) fn feed_page(site: &Site, id: u64, kind: PageKind, headers: &HeaderMap) -> Response {
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
pub(super) fn is_not_modified(headers: &HeaderMap, etag: &str, last_modified: Option<i64>) -> bool {
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
pub(super) fn http_date(t: i64) -> Option<String> {
    let dt = DateTime::from_timestamp(t, 0)?;
    Some(dt.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
}

pub(super) fn parse_http_date(s: &str) -> Option<i64> {
    NaiveDateTime::parse_from_str(s.trim(), "%a, %d %b %Y %H:%M:%S GMT")
        .ok()
        .map(|dt| dt.and_utc().timestamp())
}

/// Headers, then the first half of the page, then (after `slow_body`, or at
/// shutdown, as an error) the rest.
pub(super) fn slow_page(site: &Site, id: u64) -> Response {
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
pub(super) fn oversized_page(site: &Site, id: u64) -> Response {
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

pub(super) fn filler_chunk() -> Bytes {
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

pub(super) fn js_shell(id: u64) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body><div id=\"app\"></div>\
         <noscript>このページを表示するにはJavaScriptを有効にしてください。</noscript>\
         <script src=\"/static/js/feed.bundle.js?page_id={id}\"></script></body></html>\n",
        expected_title(id)
    )
}

pub(super) async fn view_entry(
    State(site): State<Arc<Site>>,
    query: Result<Query<EntryQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(EntryQuery { page_id, entry })) = query else {
        return plain(
            StatusCode::BAD_REQUEST,
            "page_id and entry must be non-negative integers\n",
        );
    };
    if !site.pause(site.opts.latency).await {
        return retry_after(error_page(StatusCode::SERVICE_UNAVAILABLE, "停止中です"));
    }
    let (id, k) = (page_id, entry);
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

pub(super) async fn stats_json(State(site): State<Arc<Site>>) -> Json<Snapshot> {
    Json(site.stats.snapshot())
}

pub(super) async fn index() -> Response {
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
