//! The running site: starting and stopping it, its routes, and the
//! response helpers its pages share.

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
                    // Aborting only asks: the listener closes when the task
                    // is dropped, which this waits for.
                    let _ = task.await;
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
    let close_connections = opts.close_connections;
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
        .route("/robots.txt", get(robots_txt))
        .with_state(site)
        .layer(
            // The fastest level: compressing at the default level would make
            // the site, not the crawler, the bottleneck of a benchmark.
            CompressionLayer::new()
                .quality(CompressionLevel::Fastest)
                .compress_when(compress),
        );
    let app = if close_connections {
        app.layer(axum::middleware::map_response(close_connection))
    } else {
        app
    };
    (app, stats)
}

/// Asks the client to close the connection after this response.
async fn close_connection(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
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
