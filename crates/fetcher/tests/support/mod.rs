//! What the trust-boundary scenarios share: tiny HTTP servers on loopback
//! addresses (127.0.0.2, 127.0.0.3 ... play other hosts) that record the
//! requests they get (path, headers, time), a page with entries, and a
//! `[[site]]` block. A server answers `/robots.txt` on its own (404 unless
//! told otherwise) and keeps those requests apart from the pages'.

#![allow(dead_code)] // each scenario uses its own part

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use pagefeed_events::event::Event;
use pagefeed_events::Config;
use pagefeed_testkit::in_process::Running;
use tokio_util::sync::CancellationToken;

/// What a server answers to a path.
pub enum Reply {
    Page(String),
    Redirect(String),
    /// The page with an `ETag`; a 304 to a request that names it.
    Tagged {
        html: String,
        etag: String,
    },
    /// These bytes, with this `Content-Type`.
    Bytes {
        content_type: &'static str,
        body: Vec<u8>,
    },
    /// Nothing, for ten minutes.
    Hang,
    /// An empty body with this status.
    Status(u16),
    /// Plain text.
    Text(String),
    /// Plain text, after a pause.
    SlowText(Duration, String),
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Path and query.
    pub path: String,
    pub headers: HeaderMap,
    /// When the request arrived.
    pub at: Instant,
}

impl Seen {
    /// The value of header `name`, if it came (and is text).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An HTTP server that records every request.
pub struct Server {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    robots_seen: Arc<Mutex<Vec<Seen>>>,
    stop: CancellationToken,
}

impl Server {
    /// Listens on `ip`, port chosen by the system, answering with `reply`.
    pub async fn start(
        ip: &str,
        reply: impl Fn(&str) -> Reply + Send + Sync + 'static,
    ) -> anyhow::Result<Server> {
        Server::with_robots(ip, |_| Reply::Status(404), reply).await
    }

    /// [`Server::start`], answering `/robots.txt` with `robots`, which is
    /// given how many times it was asked before.
    pub async fn with_robots(
        ip: &str,
        robots: impl Fn(usize) -> Reply + Send + Sync + 'static,
        reply: impl Fn(&str) -> Reply + Send + Sync + 'static,
    ) -> anyhow::Result<Server> {
        let listener = tokio::net::TcpListener::bind((ip, 0)).await?;
        let addr = listener.local_addr()?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let robots_seen = Arc::new(Mutex::new(Vec::new()));
        let reply = Arc::new(reply);
        let robots = Arc::new(robots);
        let recorded = seen.clone();
        let robots_recorded = robots_seen.clone();
        let app = Router::new().fallback(move |req: Request| {
            let (seen, reply) = (recorded.clone(), reply.clone());
            let (robots_seen, robots) = (robots_recorded.clone(), robots.clone());
            async move {
                let path = req
                    .uri()
                    .path_and_query()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let headers = req.headers().clone();
                let request = Seen {
                    path: path.clone(),
                    headers: headers.clone(),
                    at: Instant::now(),
                };
                let answer = if path == "/robots.txt" {
                    let mut robots_seen = robots_seen.lock().unwrap();
                    robots_seen.push(request);
                    robots(robots_seen.len() - 1)
                } else {
                    seen.lock().unwrap().push(request);
                    reply(&path)
                };
                let response: Response = match answer {
                    Reply::Page(html) => {
                        ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
                    }
                    Reply::Redirect(to) => {
                        (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
                    }
                    Reply::Tagged { html, etag } => {
                        let named = headers
                            .get(header::IF_NONE_MATCH)
                            .is_some_and(|v| v.as_bytes() == etag.as_bytes());
                        if named {
                            (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response()
                        } else {
                            (
                                [
                                    (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
                                    (header::ETAG, etag),
                                ],
                                html,
                            )
                                .into_response()
                        }
                    }
                    Reply::Bytes { content_type, body } => {
                        ([(header::CONTENT_TYPE, content_type)], body).into_response()
                    }
                    Reply::Hang => {
                        tokio::time::sleep(Duration::from_secs(600)).await;
                        StatusCode::GATEWAY_TIMEOUT.into_response()
                    }
                    Reply::Status(status) => StatusCode::from_u16(status)
                        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                        .into_response(),
                    Reply::Text(text) => {
                        ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text)
                            .into_response()
                    }
                    Reply::SlowText(pause, text) => {
                        tokio::time::sleep(pause).await;
                        ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text)
                            .into_response()
                    }
                };
                response
            }
        });
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stopped.cancelled().await })
                .await
        });
        Ok(Server {
            addr,
            seen,
            robots_seen,
            stop,
        })
    }

    /// `http://ip:port`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The requests for `/robots.txt` so far.
    pub fn robots_requests(&self) -> Vec<Seen> {
        self.robots_seen.lock().unwrap().clone()
    }

    /// Every request so far but those for `/robots.txt`, by path.
    pub fn hits(&self) -> Vec<String> {
        self.seen().into_iter().map(|s| s.path).collect()
    }

    /// Every request so far but those for `/robots.txt`.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The requests for `path`.
    pub fn seen_at(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path == path).collect()
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A page whose entries are `div.entry` blocks.
pub fn page(title: &str, entries: &[&str]) -> String {
    let mut html = format!("<html><head><title>{title}</title></head><body>");
    for entry in entries {
        html.push_str(&format!("<div class=\"entry\">{entry}</div>"));
    }
    html.push_str("</body></html>");
    html
}

/// A `[[site]]` block: `pages` is its `url` + `ids` or its `pages` line,
/// `extra` any other line (`allow_networks = [...]`).
pub fn site(name: &str, pages: &str, extra: &str) -> String {
    format!(
        "[[site]]\nname = \"{name}\"\n{pages}\ninterval = \"1h\"\nretention = \"7d\"\n{extra}\n\
         [site.extract]\nentry = \"div.entry\"\n"
    )
}

/// Three attempts 100 ms apart: a failure that ends after one attempt was
/// refused as permanent, not retried.
pub const RETRYING_FETCHER: &str =
    "[fetcher]\nmax_attempts = 3\nretry_backoff = \"100ms\"\ntimeout = \"5s\"\nack_wait = \"5s\"\n";

/// Runs a fetcher in-process until it is stopped.
pub fn spawn_fetcher(cfg: Config) -> Running {
    Running::spawn(|token| {
        pagefeed_fetcher::run(
            pagefeed_fetcher::Options {
                cfg,
                concurrency: None,
            },
            token,
        )
    })
}

/// The `fetch_failed` event of `page`, if the stream holds one.
pub fn failure_of<'a>(
    events: &'a [Event],
    page: &str,
) -> Option<&'a pagefeed_events::event::FetchFailed> {
    events.iter().find_map(|e| match e {
        Event::FetchFailed(f) if f.page.to_string() == page => Some(f),
        _ => None,
    })
}

/// The `page_unchanged` events of `page`.
pub fn unchanged(events: &[Event], page: &str) -> Vec<pagefeed_events::event::PageRecord> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::PageUnchanged(p) if p.page.to_string() == page => Some(p.clone()),
            _ => None,
        })
        .collect()
}

/// The texts of the entries observed on `page`, in stream order.
pub fn entry_texts(events: &[Event], page: &str) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::EntryObserved(o) if o.page.to_string() == page => Some(o.text.clone()),
            _ => None,
        })
        .collect()
}

/// Whether the stream holds a `page_crawled` for `page`.
pub fn crawled(events: &[Event], page: &str) -> Option<pagefeed_events::event::PageRecord> {
    events.iter().find_map(|e| match e {
        Event::PageCrawled(p) if p.page.to_string() == page => Some(p.clone()),
        _ => None,
    })
}

/// How long a scenario waits for its events.
pub const PATIENCE: Duration = Duration::from_secs(30);
