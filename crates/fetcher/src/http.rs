//! Fetching one page over HTTP the careful way: a user agent that names
//! pagefeed, connect and total timeouts, a cap on redirects and on the body
//! size (read chunk by chunk, never buffered whole), compression,
//! conditional GET, and the site's address policy on every connection (no
//! proxy: a proxy would connect on our behalf). Every failure is classified
//! into a short reason code; no URL credential appears in one.

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use chrono::Utc;
use pagefeed_events::config::FetcherConfig;
use pagefeed_events::redact::redact_url;
use reqwest::dns::Resolve;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

use crate::failure::FailureReason;
use crate::policy::{AddressPolicy, Blocked, SystemResolver};

/// How a fetch behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchSettings {
    /// Sent with every request; it names pagefeed so a site's operator can
    /// tell who is calling.
    pub user_agent: String,
    /// For the TCP (and TLS) connection to be established.
    pub connect_timeout: Duration,
    /// For the whole fetch, body included.
    pub timeout: Duration,
    /// The largest (decompressed) body accepted, in bytes.
    pub max_body: usize,
    /// How many redirects are followed.
    pub max_redirects: usize,
}

impl Default for FetchSettings {
    /// The defaults of the config file's `[fetcher]` section.
    fn default() -> Self {
        FetchSettings::from(&FetcherConfig::default())
    }
}

impl From<&FetcherConfig> for FetchSettings {
    fn from(cfg: &FetcherConfig) -> Self {
        FetchSettings {
            user_agent: cfg.user_agent.clone(),
            connect_timeout: cfg.connect_timeout,
            timeout: cfg.timeout,
            max_body: cfg.max_body_bytes,
            max_redirects: cfg.max_redirects,
        }
    }
}

/// What a conditional GET sends back to the site: the `ETag` and the
/// `Last-Modified` of the last successful fetch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validators {
    fn from_headers(headers: &HeaderMap) -> Validators {
        let text = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        Validators {
            etag: text(header::ETAG),
            last_modified: text(header::LAST_MODIFIED),
        }
    }
}

/// A page that was fetched (status 2xx).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub status: u16,
    /// The final URL, after redirects, without userinfo.
    pub url: String,
    pub content_type: Option<String>,
    /// The body, decompressed, at most `max_body` bytes.
    pub body: Bytes,
    /// To send with the next fetch of the page.
    pub validators: Validators,
}

/// What a fetch gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Fetched(Fetched),
    /// The site answered the conditional GET with 304: nothing changed.
    /// `validators` are the new ones, or the ones sent if the 304 had none.
    NotModified {
        status: u16,
        validators: Validators,
    },
}

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

/// The redirect cap, as our redirect policy reports it.
#[derive(Debug, thiserror::Error)]
#[error("too many redirects")]
struct TooManyRedirects;

/// An HTTP client with pagefeed's settings and one address policy (a
/// site's); cheap to clone.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    settings: FetchSettings,
    policy: Arc<AddressPolicy>,
}

impl HttpClient {
    /// Builds the client. Installs ring as rustls' process-wide crypto
    /// provider if none is installed yet (reqwest is built without one, so
    /// that it shares async-nats' ring rather than bringing aws-lc-rs).
    pub fn new(settings: FetchSettings, policy: AddressPolicy) -> anyhow::Result<Self> {
        HttpClient::resolving_with(settings, policy, Arc::new(SystemResolver))
    }

    /// [`HttpClient::new`], looking names up with `names` instead of the
    /// system resolver.
    fn resolving_with(
        settings: FetchSettings,
        policy: AddressPolicy,
        names: Arc<dyn Resolve>,
    ) -> anyhow::Result<Self> {
        // Err means a provider is already installed, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let policy = Arc::new(policy);
        let redirects = Arc::clone(&policy);
        let max_redirects = settings.max_redirects;
        let client = reqwest::Client::builder()
            .user_agent(settings.user_agent.clone())
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                // `previous` starts with the first URL, which is no redirect.
                if attempt.previous().len() > max_redirects {
                    return attempt.error(TooManyRedirects);
                }
                let checked = match attempt.previous().last() {
                    Some(from) => redirects.check_redirect(from, attempt.url()),
                    None => Ok(()),
                };
                match checked {
                    Ok(()) => attempt.follow(),
                    Err(blocked) => attempt.error(blocked),
                }
            }))
            .dns_resolver(policy.resolver(names))
            .no_proxy()
            .gzip(true)
            .brotli(true)
            .deflate(true)
            .build()?;
        Ok(HttpClient {
            client,
            settings,
            policy,
        })
    }

    /// GETs `url`, conditionally when `validators` hold anything. Only a 2xx
    /// is a page; a 304 is [`Outcome::NotModified`]; anything else is an error.
    pub async fn fetch(&self, url: &str, validators: &Validators) -> Result<Outcome, FetchError> {
        let target = check_url(url)?;
        self.policy.check_first(&target)?;
        let mut request = self.client.get(target);
        // A validator that is not a valid header value (it came from a
        // header, so it should be) is simply not sent.
        if let Some(etag) = validators
            .etag
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        if let Some(since) = validators
            .last_modified
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            request = request.header(header::IF_MODIFIED_SINCE, since);
        }
        let mut response = request.send().await.map_err(|e| self.classify(e))?;

        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            let fresh = Validators::from_headers(response.headers());
            let validators = Validators {
                etag: fresh.etag.or_else(|| validators.etag.clone()),
                last_modified: fresh
                    .last_modified
                    .or_else(|| validators.last_modified.clone()),
            };
            return Ok(Outcome::NotModified {
                status: status.as_u16(),
                validators,
            });
        }
        if !status.is_success() {
            let retry_after = match status {
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => response
                    .headers()
                    .get(header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after),
                _ => None,
            };
            return Err(FetchError::HttpStatus {
                status: status.as_u16(),
                retry_after,
            });
        }

        let final_url = redact_url(response.url().as_str()).into_owned();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let new_validators = Validators::from_headers(response.headers());
        let limit = self.settings.max_body;
        // A declared length over the cap fails before any byte is read
        // (reqwest drops Content-Length when it decompresses, so the chunk
        // loop below is what enforces the cap on compressed bodies).
        let declared = response.content_length();
        if declared.is_some_and(|len| len > limit as u64) {
            return Err(FetchError::TooLarge { limit });
        }
        let capacity = declared.map_or(64 * 1024, |len| len as usize).min(limit);
        let mut body = BytesMut::with_capacity(capacity);
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(e))? {
            if body.len() + chunk.len() > limit {
                // Dropping the response closes the connection mid-body.
                return Err(FetchError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Outcome::Fetched(Fetched {
            status: status.as_u16(),
            url: final_url,
            content_type,
            body: body.freeze(),
            validators: new_validators,
        }))
    }

    /// Sorts a reqwest error into a reason, reading the source chain: reqwest
    /// says "connect" for DNS failures, refused connections, TLS and our
    /// address policy alike. No URL (which may hold credentials) is kept.
    fn classify(&self, err: reqwest::Error) -> FetchError {
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
        if err.is_redirect() {
            return FetchError::TooManyRedirects {
                limit: self.settings.max_redirects,
                detail,
            };
        }
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

/// Accepts absolute `http` and `https` URLs with a host, and nothing else.
fn check_url(url: &str) -> Result<url::Url, FetchError> {
    let bad = |detail: String| FetchError::BadUrl {
        url: redact_url(url).into_owned(),
        detail,
    };
    let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad(format!(
            "scheme \"{}\" is not http or https",
            parsed.scheme()
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host".to_owned()));
    }
    Ok(parsed)
}

/// `Retry-After` is delay-seconds or an HTTP-date (RFC 9110 §10.2.3); a date
/// in the past means "now".
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&Utc) - Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
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

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    use reqwest::dns::{Addrs, Name, Resolving};

    use super::*;

    fn client() -> HttpClient {
        HttpClient::new(
            FetchSettings {
                connect_timeout: Duration::from_secs(5),
                timeout: Duration::from_secs(10),
                ..FetchSettings::default()
            },
            AddressPolicy::allowing(["127.0.0.0/8".parse().unwrap()]),
        )
        .unwrap()
    }

    /// A loopback port whose every connection is read once and answered
    /// with `answer`.
    async fn answering(answer: &'static [u8]) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(answer).await;
            }
        });
        port
    }

    #[test]
    fn defaults_are_the_config_defaults() {
        let d = FetchSettings::default();
        assert!(d.user_agent.starts_with("pagefeed/"), "{}", d.user_agent);
        assert_eq!(d.connect_timeout, Duration::from_secs(10));
        assert_eq!(d.timeout, Duration::from_secs(30));
        assert_eq!(d.max_body, 5 * 1024 * 1024);
        assert_eq!(d.max_redirects, 5);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let later = (Utc::now() + chrono::Duration::seconds(3600))
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let wait = parse_retry_after(&later).unwrap();
        assert!(wait > Duration::from_secs(3500), "{wait:?}");
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[tokio::test]
    async fn non_http_schemes_are_refused_without_a_request() {
        let client = client();
        for url in [
            "ftp://x/",
            "file:///etc/passwd",
            "x",
            "http://",
            "mailto:a@b",
        ] {
            let err = client.fetch(url, &Validators::default()).await.unwrap_err();
            assert_eq!(err.reason(), "bad_url", "{url}: {err}");
        }
    }

    #[tokio::test]
    async fn https_to_a_plain_tcp_port_is_a_clean_error() {
        // Reads whatever the TLS client sends, answers garbage.
        let port = answering(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        let err = client()
            .fetch(
                &format!("https://127.0.0.1:{port}/"),
                &Validators::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "connect", "{err}");
    }

    #[tokio::test]
    async fn no_credential_shows_in_an_error() {
        let client = client();
        for url in [
            "ftp://me:secret@127.0.0.1/",
            "http://me:secret@/",
            "http://me:secret@127.0.0.1:1/",
        ] {
            let err = client.fetch(url, &Validators::default()).await.unwrap_err();
            assert!(
                !err.to_string().contains("secret") && !err.detail().contains("secret"),
                "{url}: {err}"
            );
        }
        let strict = HttpClient::new(FetchSettings::default(), AddressPolicy::default()).unwrap();
        let err = strict
            .fetch("http://me:secret@10.0.0.1/", &Validators::default())
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "blocked_address", "{err}");
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    /// Knows the names it is given and no other, as a hosts file would.
    struct KnownNames(Vec<(&'static str, IpAddr)>);

    impl Resolve for KnownNames {
        fn resolve(&self, name: Name) -> Resolving {
            let found = self.0.iter().find(|(known, _)| *known == name.as_str());
            let found = found.map(|(_, ip)| SocketAddr::new(*ip, 0));
            Box::pin(async move {
                let addr = found.ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("{}: no such host", name.as_str()),
                    )
                })?;
                Ok(Box::new(std::iter::once(addr)) as Addrs)
            })
        }
    }

    #[tokio::test]
    async fn an_unresolvable_host_is_a_dns_error() {
        let port =
            answering(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await;
        let names = KnownNames(vec![("site.test", IpAddr::V4(Ipv4Addr::LOCALHOST))]);
        let client = HttpClient::resolving_with(
            FetchSettings::default(),
            AddressPolicy::allowing(["127.0.0.0/8".parse().unwrap()]),
            Arc::new(names),
        )
        .unwrap();
        // The client asks that resolver: a name it knows is fetched...
        let known = client
            .fetch(&format!("http://site.test:{port}/"), &Validators::default())
            .await
            .unwrap();
        assert!(
            matches!(&known, Outcome::Fetched(page) if page.body == "ok"),
            "{known:?}"
        );
        // ...and one it does not know fails before any connection.
        let err = client
            .fetch(
                &format!("http://nonexistent.invalid:{port}/"),
                &Validators::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "dns", "{}", err.detail());
    }
}
