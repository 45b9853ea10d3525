//! The frame of every page ([`document`]: head, stylesheet, the search
//! box), and how a page is answered ([`respond`]): as HTML with a strict
//! Content-Security-Policy (no script at all, the one stylesheet by its
//! hash), or as an error page.

use std::sync::LazyLock;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use data_encoding::BASE64;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use sha2::{Digest as _, Sha256};

use crate::api::error::ApiError;

use super::feed_links::head_links;
use crate::feeds::FeedTarget;

/// The whole stylesheet, inline: a page needs nothing else.
const STYLE: &str = "\
:root{color-scheme:light dark;--muted:#5b6470;--line:#d5d9de;--bad:#b42318;--accent:#0b57d0}
@media (prefers-color-scheme:dark){:root{--muted:#a3acb8;--line:#3a4048;--bad:#ff8a80;--accent:#8ab4f8}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI','Hiragino Sans','Noto Sans CJK JP',sans-serif;overflow-wrap:break-word}
header{border-bottom:1px solid var(--line);padding:.5rem 1rem;display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center}
header .home{font-weight:700;text-decoration:none}
form.search{display:flex;gap:.4rem;flex:1 1 16rem;align-items:center}
form.search input{flex:1;min-width:0;font:inherit;padding:.35rem .5rem;border:1px solid var(--muted);border-radius:4px}
button{font:inherit;padding:.35rem .8rem;border:1px solid var(--muted);border-radius:4px;cursor:pointer}
main{max-width:62rem;margin:0 auto;padding:1rem}
h1{font-size:1.4rem;margin:.2rem 0 .8rem}h2{font-size:1.15rem;margin:1.6rem 0 .6rem}
a{color:var(--accent)}
a:focus-visible,button:focus-visible,input:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.muted,.meta{color:var(--muted);font-size:.9rem}
.bad{color:var(--bad);font-weight:600}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:0}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid var(--line);vertical-align:top;overflow-wrap:normal}
ol.entries{list-style:none;padding:0;margin:0}
ol.entries li{border-bottom:1px solid var(--line);padding:.6rem 0}
ol.entries p{margin:0 0 .2rem;white-space:pre-wrap;overflow-wrap:anywhere}
time span{white-space:nowrap}
dd{overflow-wrap:anywhere}
mark{background:#ffe066;color:#000;border-radius:2px}
.feeds{font-size:.9rem}
nav.pager{display:flex;gap:1.5rem;margin:1rem 0}
code{font-size:.85em;overflow-wrap:anywhere}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
";

/// No script may run, nothing may load but the page itself and its one
/// stylesheet (by hash); forms go only to this node.
static POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
    let hash = BASE64.encode(&Sha256::digest(STYLE.as_bytes()));
    let policy = format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; \
         base-uri 'none'; frame-ancestors 'none'"
    );
    // Base64 and ASCII text: always a valid header value.
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
});

/// What a page's frame holds besides its body.
pub(super) struct Frame<'a> {
    pub title: &'a str,
    /// The search the box shows.
    pub query: Option<&'a str>,
    /// The feed the page offers, as `<link rel="alternate">`.
    pub feed: Option<FeedTarget>,
}

/// A whole HTML document: `frame` around `body`.
pub(super) fn document(frame: &Frame<'_>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (frame.title) " · pagefeed" }
                style { (PreEscaped(STYLE)) }
                @if let Some(feed) = &frame.feed { (head_links(feed)) }
            }
            body {
                header {
                    a.home href="/" { "pagefeed" }
                    form.search role="search" action="/search" method="get" {
                        label.visually-hidden for="q" { "Search entries" }
                        input #q type="search" name="q" maxlength="256"
                            placeholder="Search entries" value=[frame.query];
                        button type="submit" { "Search" }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// `page` as an HTML answer with `status`.
pub(super) fn respond(status: StatusCode, page: Markup) -> Response {
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CONTENT_SECURITY_POLICY, POLICY.clone()),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        ],
        page.into_string(),
    )
        .into_response()
}

/// An error as a page, with the error's status; the search box keeps `query`.
pub(super) fn error_page(e: &ApiError, query: Option<&str>) -> Response {
    let status = e.status();
    let title = status.canonical_reason().unwrap_or("Error");
    let frame = Frame {
        title,
        query,
        feed: None,
    };
    let body = html! {
        h1 { (status.as_u16()) " " (title) }
        p { (e.message()) }
        p { a href="/" { "Back to the overview" } }
    };
    let mut answer = respond(status, document(&frame, body));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        answer
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    answer
}
