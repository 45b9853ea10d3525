//! Why a fetch failed: [`FetchError`], and how a reqwest error is sorted
//! into one by reading its chain of causes.

use std::error::Error as _;
use std::time::Duration;

use pagefeed_events::redact::redact_url;
use reqwest::StatusCode;

use super::HttpClient;
use crate::failure::FailureReason;
use crate::policy::Blocked;

/// Why a fetch failed. [`FetchError::reason`] is the short code that goes
/// into a `fetch_failed` event.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("bad URL \"{url}\": {detail}")]
    BadUrl { url: String, detail: String },
    #[error("timed out: {detail}")]
    Timeout { detail: String },
    #[error("cannot resolve the host: {detail}")]
    Dns { detail: String },
    #[error("cannot connect: {detail}")]
    Connect { detail: String },
    #[error("HTTP {}", status_text(*status, *retry_after))]
    HttpStatus {
        status: u16,
        /// From `Retry-After`, on a 429 or a 503.
        retry_after: Option<Duration>,
    },
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("more than {limit} redirects: {detail}")]
    TooManyRedirects { limit: usize, detail: String },
    /// A redirect the address policy refuses.
    #[error("{detail}")]
    BlockedRedirect { detail: String },
    /// A host that resolves only to addresses the policy refuses.
    #[error("{detail}")]
    BlockedAddress { detail: String },
    #[error("{detail}")]
    Other { detail: String },
}

impl FetchError {
    /// One of `timeout`, `dns`, `connect`, `http_status`, `too_large`,
    /// `too_many_redirects`, `blocked_redirect`, `blocked_address`,
    /// `bad_url`, `other`.
    pub fn reason(&self) -> &'static str {
        FailureReason::from(self).as_str()
    }

    /// The HTTP status, when the server answered with an error status.
    pub fn status(&self) -> Option<u16> {
        match self {
            FetchError::HttpStatus { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// How long the server asked us to wait (429 and 503 only).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::HttpStatus { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A human-readable account, for logs and `fetch_failed` events:
    /// `404 Not Found`, `429 Too Many Requests (Retry-After: 1 s)`.
    pub fn detail(&self) -> String {
        match self {
            FetchError::HttpStatus {
                status,
                retry_after,
            } => status_text(*status, *retry_after),
            other => other.to_string(),
        }
    }

    /// Whether trying again later may succeed, as [`FailureReason`] decides:
    /// timeouts, network errors, 408, 429 and 5xx. A 404, a bad URL, a
    /// blocked address or an oversized page will not change.
    pub fn is_transient(&self) -> bool {
        FailureReason::from(self).is_transient()
    }
}

impl From<Blocked> for FetchError {
    fn from(blocked: Blocked) -> FetchError {
        let detail = blocked.to_string();
        match blocked {
            Blocked::Redirect { .. } => FetchError::BlockedRedirect { detail },
            Blocked::Address { .. } => FetchError::BlockedAddress { detail },
        }
    }
}

impl HttpClient {
    /// Sorts a reqwest error into a reason, reading the source chain: reqwest
    /// says "connect" for DNS failures, refused connections, TLS and our
    /// address policy alike. No URL (which may hold credentials) is kept.
    pub(super) fn classify(&self, err: reqwest::Error) -> FetchError {
        let url = err.url().map(|u| redact_url(u.as_str()).into_owned());
        let err = err.without_url();
        let mut source = err.source();
        while let Some(e) = source {
            if let Some(blocked) = e.downcast_ref::<Blocked>() {
                return blocked.clone().into();
            }
            source = e.source();
        }
        let detail = error_chain(&err);
        if err.is_timeout() {
            return FetchError::Timeout { detail };
        }
        if err.is_builder() {
            return FetchError::BadUrl {
                url: url.unwrap_or_default(),
                detail,
            };
        }
        let mut source = err.source();
        while let Some(e) = source {
            // hyper-util's ConnectError for a failed lookup displays as this.
            if e.to_string() == "dns error" {
                return FetchError::Dns { detail };
            }
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                match io.kind() {
                    std::io::ErrorKind::TimedOut => return FetchError::Timeout { detail },
                    std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::NetworkUnreachable
                    | std::io::ErrorKind::HostUnreachable => return FetchError::Connect { detail },
                    _ => {}
                }
            }
            source = e.source();
        }
        if err.is_connect() {
            return FetchError::Connect { detail };
        }
        FetchError::Other { detail }
    }
}

/// `503 Service Unavailable (Retry-After: 1 s)`.
fn status_text(status: u16, retry_after: Option<Duration>) -> String {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason());
    let mut text = match reason {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    };
    if let Some(wait) = retry_after {
        text.push_str(&format!(" (Retry-After: {} s)", wait.as_secs()));
    }
    text
}

/// The causes of `err`, outermost first, each once: `tcp connect error:
/// Connection refused (os error 111)`. reqwest's own message only repeats
/// the URL, which the caller has, so it is used only when there is no cause.
fn error_chain(err: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut source = err.source();
    while let Some(e) = source {
        let part = e.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
        source = e.source();
    }
    if text.is_empty() {
        text = err.to_string();
    }
    text
}
