//! What the trust-boundary scenarios share: tiny HTTP servers on loopback
//! addresses (127.0.0.2, 127.0.0.3 ... play other hosts) that record the
//! requests they get (path and headers), a page with entries, and a
//! `[[site]]` block.

#![allow(dead_code)] // each scenario uses its own part

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Path and query.
    pub path: String,
    pub headers: HeaderMap,
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
    stop: CancellationToken,
}

impl Server {
    /// Listens on `ip`, port chosen by the system, answering with `reply`.
    pub async fn start(
        ip: &str,
        reply: impl Fn(&str) -> Reply + Send + Sync + 'static,
    ) -> anyhow::Result<Server> {
        let listener = tokio::net::TcpListener::bind((ip, 0)).await?;
        let addr = listener.local_addr()?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let reply = Arc::new(reply);
        let recorded = seen.clone();
        let app = Router::new().fallback(move |req: Request| {
            let (seen, reply) = (recorded.clone(), reply.clone());
            async move {
                let path = req
                    .uri()
                    .path_and_query()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let headers = req.headers().clone();
                seen.lock().unwrap().push(Seen {
                    path: path.clone(),
                    headers: headers.clone(),
                });
                let response: Response = match reply(&path) {
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
        Ok(Server { addr, seen, stop })
    }

    /// `http://ip:port`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every request so far, by path.
    pub fn hits(&self) -> Vec<String> {
        self.seen().into_iter().map(|s| s.path).collect()
    }

    /// Every request so far.
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
