//! Sending one notification over HTTP: a webhook's JSON POST, or ntfy's
//! plain publish. Every request carries the `Idempotency-Key` header. An
//! error says what went wrong without the destination's URL or token.

use std::time::Duration;

use pagefeed_events::config::{NotifierConfig, NotifyTarget};
use pagefeed_events::redact::redact_urls;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};

use crate::notification::Notification;

/// The header that carries a delivery's idempotency key.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// Why a delivery attempt failed (it is tried again).
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// The destination answered, with something other than 2xx, and
    /// perhaps how long to wait (`Retry-After` in seconds, as ntfy sends
    /// with 429).
    #[error("the destination answered HTTP {status}")]
    Status {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// No answer: timeout, refused connection, TLS, ...
    #[error("{0}")]
    Request(String),
}

/// The one HTTP client of a notifier process.
pub struct Sender {
    client: reqwest::Client,
}

impl Sender {
    pub fn new(cfg: &NotifierConfig) -> anyhow::Result<Sender> {
        // Err means a provider is already installed, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .user_agent(concat!("pagefeed-notifier/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
            .timeout(cfg.timeout)
            // A redirect would resend the entry (and a token) elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Sender { client })
    }

    /// One attempt at sending `n` to `target` (destination `name`).
    pub async fn send(
        &self,
        name: &str,
        target: &NotifyTarget,
        n: &Notification,
    ) -> Result<(), SendError> {
        let request = match target {
            NotifyTarget::Webhook { url } => self
                .client
                .post(url)
                .header(CONTENT_TYPE, "application/json")
                .body(n.webhook_json(name)),
            NotifyTarget::Ntfy { url, token } => {
                let mut request = self
                    .client
                    .post(url)
                    .header(CONTENT_TYPE, "text/plain; charset=utf-8")
                    .header("Title", n.title())
                    .header("Tags", n.tags())
                    .body(n.text());
                if let Some(click) = n.click() {
                    request = request.header("Click", click);
                }
                if let Some(token) = token {
                    let mut bearer =
                        HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                            SendError::Request("the token is not a header value".into())
                        })?;
                    bearer.set_sensitive(true);
                    request = request.header(AUTHORIZATION, bearer);
                }
                request
            }
        };
        let response = request
            .header(IDEMPOTENCY_KEY, &n.key)
            .send()
            .await
            .map_err(|e| SendError::Request(describe(e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        Err(SendError::Status {
            status: status.as_u16(),
            retry_after,
        })
    }
}

impl SendError {
    /// How long the destination asked to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SendError::Status { retry_after, .. } => *retry_after,
            SendError::Request(_) => None,
        }
    }
}

/// A request error and its causes on one line, without the URL (its path
/// may be the destination's secret).
fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let e = e.without_url();
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    redact_urls(&text)
}
