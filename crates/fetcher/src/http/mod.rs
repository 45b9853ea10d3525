//! Fetching one page over HTTP the careful way: a user agent that names
//! pagefeed, connect and total timeouts, a cap on redirects and on the body
//! size (read chunk by chunk, never buffered whole), compression,
//! conditional GET, the site's own headers and cookies (site_headers.rs),
//! and the site's address policy on every connection (no proxy: a proxy
//! would connect on our behalf). Redirects are followed here, hop by hop, so
//! that each hop gets the policy's check and only the headers meant for its
//! host. Every failure is classified into a short reason code (error.rs); no
//! URL credential appears in one.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use chrono::Utc;
use pagefeed_events::config::{FetcherConfig, Site};
use pagefeed_events::redact::redact_url;
use reqwest::dns::Resolve;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tracing::debug;

use crate::policy::{AddressPolicy, SystemResolver};

mod error;
mod site_headers;

pub use error::FetchError;
pub use site_headers::SiteHeaders;

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
    /// The site's own headers and cookies, and the hosts they go to.
    pub site_headers: SiteHeaders,
}

impl FetchSettings {
    /// The `[fetcher]` settings with `site`'s own: its timeouts, headers
    /// and cookies (a `User-Agent` among its headers replaces the fetcher's
    /// on every request).
    pub fn for_site(cfg: &FetcherConfig, site: &Site) -> FetchSettings {
        FetchSettings {
            connect_timeout: site.request.connect_timeout.unwrap_or(cfg.connect_timeout),
            timeout: site.request.timeout.unwrap_or(cfg.timeout),
            site_headers: SiteHeaders::of(site),
            ..FetchSettings::from(cfg)
        }
    }
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
            site_headers: SiteHeaders::default(),
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
        let client = reqwest::Client::builder()
            .user_agent(settings.user_agent.clone())
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            // Followed in `fetch`, hop by hop.
            .redirect(reqwest::redirect::Policy::none())
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

    pub fn settings(&self) -> &FetchSettings {
        &self.settings
    }

    /// GETs `url`, conditionally when `validators` hold anything, following
    /// redirects. Only a 2xx is a page; a 304 is [`Outcome::NotModified`];
    /// anything else is an error. The timeout covers the whole fetch,
    /// redirects and body included.
    pub async fn fetch(&self, url: &str, validators: &Validators) -> Result<Outcome, FetchError> {
        let body = BodyLimit::Refuse(self.settings.max_body);
        self.get(url, validators, self.settings.max_redirects, body)
            .await
    }

    /// GETs `url` as [`HttpClient::fetch`] does (same client, same address
    /// policy, same headers), following up to `max_redirects` redirects and
    /// keeping the first `limit` bytes of a longer body rather than refusing
    /// it: for a robots.txt, of which RFC 9309 parses the first 500 KiB.
    pub async fn fetch_prefix(
        &self,
        url: &str,
        max_redirects: usize,
        limit: usize,
    ) -> Result<Outcome, FetchError> {
        let body = BodyLimit::Truncate(limit);
        self.get(url, &Validators::default(), max_redirects, body)
            .await
    }

    async fn get(
        &self,
        url: &str,
        validators: &Validators,
        max_redirects: usize,
        body_limit: BodyLimit,
    ) -> Result<Outcome, FetchError> {
        let first = check_url(url)?;
        self.policy.check_first(&first)?;
        let mut target = first.clone();
        let deadline = Instant::now() + self.settings.timeout;
        let mut redirects = 0;
        let mut response = loop {
            let request = self
                .client
                .get(target.clone())
                .timeout(deadline.saturating_duration_since(Instant::now()))
                .headers(self.settings.site_headers.for_url(&target))
                .headers(conditional(validators));
            let response = request.send().await.map_err(|e| self.classify(e))?;
            let Some(next) = redirect_target(&response) else {
                break response;
            };
            redirects += 1;
            if redirects > max_redirects {
                return Err(FetchError::TooManyRedirects {
                    limit: max_redirects,
                    detail: format!("the last one to {}", redact_url(next.as_str())),
                });
            }
            self.policy.check_redirect(&target, &next)?;
            let next = with_credentials_of(&first, next);
            debug!(
                from = %redact_url(target.as_str()),
                to = %redact_url(next.as_str()),
                site_host = self.settings.site_headers.is_site_host(&next),
                "following a redirect"
            );
            target = next;
        };

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
        let (limit, refuse) = match body_limit {
            BodyLimit::Refuse(limit) => (limit, true),
            BodyLimit::Truncate(limit) => (limit, false),
        };
        // A declared length over the cap fails before any byte is read
        // (reqwest drops Content-Length when it decompresses, so the chunk
        // loop below is what enforces the cap on compressed bodies).
        let declared = response.content_length();
        if refuse && declared.is_some_and(|len| len > limit as u64) {
            return Err(FetchError::TooLarge { limit });
        }
        let capacity = declared.map_or(64 * 1024, |len| len as usize).min(limit);
        let mut body = BytesMut::with_capacity(capacity);
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(e))? {
            if body.len() + chunk.len() > limit {
                if refuse {
                    // Dropping the response closes the connection mid-body.
                    return Err(FetchError::TooLarge { limit });
                }
                body.extend_from_slice(&chunk[..limit - body.len()]);
                break;
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
}

/// What to do with a body longer than a limit.
#[derive(Debug, Clone, Copy)]
enum BodyLimit {
    /// Fail with [`FetchError::TooLarge`].
    Refuse(usize),
    /// Keep its first bytes.
    Truncate(usize),
}

/// The validators of a conditional GET, as headers. A validator that is not
/// a valid header value (it came from a header, so it should be) is simply
/// not sent.
fn conditional(validators: &Validators) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let value = |v: &Option<String>| v.as_deref().and_then(|v| HeaderValue::from_str(v).ok());
    if let Some(etag) = value(&validators.etag) {
        headers.insert(header::IF_NONE_MATCH, etag);
    }
    if let Some(since) = value(&validators.last_modified) {
        headers.insert(header::IF_MODIFIED_SINCE, since);
    }
    headers
}

/// Where a redirect response leads: a 301, 302, 303, 307 or 308 with a
/// `Location` that resolves against the response's URL. Anything else is
/// not a redirect to follow (and, not being a 2xx, ends as `http_status`).
fn redirect_target(response: &reqwest::Response) -> Option<url::Url> {
    let followed = [
        StatusCode::MOVED_PERMANENTLY,
        StatusCode::FOUND,
        StatusCode::SEE_OTHER,
        StatusCode::TEMPORARY_REDIRECT,
        StatusCode::PERMANENT_REDIRECT,
    ];
    if !followed.contains(&response.status()) {
        return None;
    }
    let location = response.headers().get(header::LOCATION)?.to_str().ok()?;
    response.url().join(location).ok()
}

/// `next` with the credentials of the fetch's `first` URL, when it goes to
/// the same host and port and has none of its own: as reqwest and browsers
/// do, a URL's credentials stay on its host.
fn with_credentials_of(first: &url::Url, mut next: url::Url) -> url::Url {
    let same_host = first.host_str() == next.host_str()
        && first.port_or_known_default() == next.port_or_known_default();
    if same_host && next.username().is_empty() && next.password().is_none() {
        // Setting either fails only on a URL that cannot have credentials,
        // and `next` is an http(s) URL with a host.
        let _ = next.set_username(first.username());
        let _ = next.set_password(first.password());
    }
    next
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

#[cfg(test)]
mod tests;
