//! Obeying robots.txt (RFC 9309). A host's file (one per scheme, host and
//! port) is fetched once for all the fetchers and kept in the
//! `pagefeed_robots` bucket until it expires, with each process's own copy in
//! front. One fetch of a host's file at a time: a process's tasks wait on one
//! lock, and across processes the first to claim the host's key fetches while
//! the others read its result. The file decides whether a page may be
//! fetched (`robots_disallowed`) and how far apart its host's requests start
//! (`Crawl-delay`). docs/DESIGN.md has the rules for each answer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_nats::jetstream::kv;
use chrono::{DateTime, Utc};
use pagefeed_events::redact::redact_url;
use serde::{Deserialize, Serialize};
use texting_robots::Robot;
use tokio::time::Instant;
use tracing::{info, warn};
use url::Url;

use crate::failure::{Failure, FailureReason};
use crate::http::{FetchError, HttpClient, Outcome};
use crate::politeness::Politeness;

/// The most of a robots.txt that is read and parsed (RFC 9309 §2.5 asks
/// for at least 500 KiB); the rest is ignored.
pub const MAX_ROBOTS_BYTES: usize = 500 * 1024;
/// Redirects followed to a robots.txt (RFC 9309 §2.3.1.2: at least five).
pub const MAX_ROBOTS_REDIRECTS: usize = 5;
/// The longest `Crawl-delay` honoured: a longer one is taken as this.
pub const MAX_CRAWL_DELAY: Duration = Duration::from_secs(60);
/// How long a robots.txt that answered a server error (or 429) is kept:
/// until then the host's pages fail at once, then the file is asked for
/// again.
pub const SERVER_ERROR_HOLD: Duration = Duration::from_secs(300);
/// How long a robots.txt that could not be fetched at all (connection,
/// DNS, timeout, address policy) is kept: only so that the tasks of a host
/// that arrive together share one attempt.
pub const UNREACHABLE_HOLD: Duration = Duration::from_secs(10);
/// How often a process waiting for another's fetch looks at the bucket.
const POLL: Duration = Duration::from_millis(100);

/// The robots.txt files of the hosts this process crawls.
pub struct Robots {
    bucket: kv::Store,
    /// How long a fetched file is kept (`[fetcher] robots_ttl`).
    ttl: Duration,
    /// One slot per origin; the origins are those of configured page URLs,
    /// so the map is bounded by the configuration.
    hosts: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Known>>>>>,
}

/// What this process knows of a host's file, until `until`.
struct Known {
    file: Arc<File>,
    until: Instant,
}

/// What the bucket holds for a host: a claim while one process fetches,
/// then the fetched file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum Stored {
    Fetching {
        origin: String,
        since: DateTime<Utc>,
    },
    Fetched(Record),
}

/// A host's robots.txt as one fetch found it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    origin: String,
    fetched_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    verdict: Verdict,
}

/// What a fetch of robots.txt means (RFC 9309 §2.3.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Verdict {
    /// A 2xx: these rules (the first [`MAX_ROBOTS_BYTES`] of the body).
    Rules { status: u16, body: String },
    /// A 4xx (but 429), or more redirects than followed: no rules at all.
    AllowAll { status: Option<u16>, detail: String },
    /// A 5xx or 429: everything disallowed for [`SERVER_ERROR_HOLD`].
    DisallowAll { status: u16, detail: String },
    /// Not fetched; the host's pages fail as the fetch did.
    Unreachable { reason: String, detail: String },
}

/// A host's file, parsed for each agent that asks.
struct File {
    record: Record,
    /// `None`: the file does not parse, and is taken as allowing all.
    robots: Mutex<HashMap<String, Option<Arc<Robot>>>>,
}

impl Robots {
    /// `ttl`: `[fetcher] robots_ttl`.
    pub fn new(bucket: kv::Store, ttl: Duration) -> Robots {
        Robots {
            bucket,
            ttl,
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `page` may be fetched by `agent` (a product token, see
    /// [`product_token`]); if so, the host's `Crawl-delay` (zero without
    /// one), at most [`MAX_CRAWL_DELAY`]. The file is fetched with `http`,
    /// the site's client, within `politeness` like any request to the host.
    pub async fn check(
        &self,
        page: &Url,
        agent: &str,
        http: &HttpClient,
        politeness: &Politeness,
    ) -> Result<Duration, Failure> {
        let Some(origin) = origin_of(page) else {
            return Ok(Duration::ZERO);
        };
        let file = self.file(&origin, page, http, politeness).await;
        let record = &file.record;
        match &record.verdict {
            Verdict::Rules { .. } => {
                let Some(robot) = file.robot(agent).await else {
                    return Ok(Duration::ZERO);
                };
                if !robot.allowed(page.as_str()) {
                    let path = &page[url::Position::BeforePath..];
                    return Err(Failure::new(
                        FailureReason::RobotsDisallowed,
                        format!("{origin}/robots.txt disallows {path} for \"{agent}\""),
                    ));
                }
                Ok(crawl_delay(robot.delay))
            }
            Verdict::AllowAll { .. } => Ok(Duration::ZERO),
            Verdict::DisallowAll { detail, .. } => {
                // Retried with the usual back-off, not held until the file is
                // due: a task waiting minutes would pile up behind the next
                // slots' tasks of its page in the shared consumer.
                let wait = (record.expires_at - Utc::now())
                    .to_std()
                    .unwrap_or_default()
                    .min(SERVER_ERROR_HOLD);
                Err(Failure::new(
                    FailureReason::RobotsUnavailable,
                    format!(
                        "{origin}/robots.txt answered {detail}: the host counts as \
                         disallowed until it is asked again, in {} s",
                        wait.as_secs()
                    ),
                ))
            }
            Verdict::Unreachable { reason, detail } => Err(Failure::new(
                reason_of(reason),
                format!("{origin}/robots.txt: {detail}"),
            )),
        }
    }

    /// The host's file: this process's copy while it lasts, otherwise the
    /// bucket's, otherwise fetched. A host's tasks wait here for one another.
    async fn file(
        &self,
        origin: &str,
        page: &Url,
        http: &HttpClient,
        politeness: &Politeness,
    ) -> Arc<File> {
        let slot = {
            let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(hosts.entry(origin.to_owned()).or_default())
        };
        let mut known = slot.lock().await;
        if let Some(known) = known.as_ref().filter(|k| k.until > Instant::now()) {
            return Arc::clone(&known.file);
        }
        let record = self.load(origin, page, http, politeness).await;
        // Never longer than this process's own `robots_ttl`, whatever the
        // bucket says (a value may have been written by hand).
        let left = (record.expires_at - Utc::now())
            .to_std()
            .unwrap_or_default()
            .min(self.ttl);
        let file = Arc::new(File {
            record,
            robots: Mutex::new(HashMap::new()),
        });
        *known = Some(Known {
            file: Arc::clone(&file),
            until: Instant::now() + left,
        });
        file
    }

    /// The host's file from the bucket, or fetched by this process once it
    /// holds the host's claim. A bucket that does not answer costs only the
    /// sharing: the file is fetched here.
    async fn load(
        &self,
        origin: &str,
        page: &Url,
        http: &HttpClient,
        politeness: &Politeness,
    ) -> Record {
        let key = key_of(origin);
        // A claim older than this was left by a process that stopped.
        let claim_life = http.settings().timeout.saturating_mul(2) + Duration::from_secs(10);
        let give_up = Instant::now() + claim_life;
        loop {
            match self.claim(&key, origin, claim_life).await {
                Ok(Claim::Fetched(record)) => return record,
                Ok(Claim::Ours) => {
                    let record = self.fetch(origin, page, http, politeness).await;
                    self.share(&key, &record).await;
                    return record;
                }
                Ok(Claim::Theirs) if Instant::now() < give_up => tokio::time::sleep(POLL).await,
                Ok(Claim::Theirs) => {
                    warn!(%origin, "another fetcher's robots.txt fetch is taking too long; fetching it here");
                    return self.fetch(origin, page, http, politeness).await;
                }
                Err(e) => {
                    warn!(%origin, error = %e, "the robots bucket does not answer; fetching robots.txt without sharing it");
                    return self.fetch(origin, page, http, politeness).await;
                }
            }
        }
    }

    /// Reads the host's key and claims it when there is nothing fresh to read
    /// and no live claim.
    async fn claim(
        &self,
        key: &str,
        origin: &str,
        claim_life: Duration,
    ) -> Result<Claim, async_nats::Error> {
        let now = Utc::now();
        let claim = serde_json::to_vec(&Stored::Fetching {
            origin: origin.to_owned(),
            since: now,
        })?;
        let entry = self
            .bucket
            .entry(key)
            .await?
            .filter(|e| e.operation == kv::Operation::Put);
        let Some(entry) = entry else {
            return match self.bucket.create(key, claim.into()).await {
                Ok(_) => Ok(Claim::Ours),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(Claim::Theirs),
                Err(e) => Err(e.into()),
            };
        };
        match serde_json::from_slice::<Stored>(&entry.value) {
            Ok(Stored::Fetched(record)) if record.expires_at > now && record.origin == origin => {
                return Ok(Claim::Fetched(record))
            }
            Ok(Stored::Fetching { since, .. })
                if (now - since).to_std().unwrap_or_default() < claim_life =>
            {
                return Ok(Claim::Theirs)
            }
            // Expired, left behind, or unreadable: claimed anew.
            _ => {}
        }
        match self.bucket.update(key, claim.into(), entry.revision).await {
            Ok(_) => Ok(Claim::Ours),
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(Claim::Theirs),
            Err(e) => Err(e.into()),
        }
    }

    /// Puts what this process fetched in the bucket for the others. If it
    /// cannot, the claim is withdrawn so that no one waits on it.
    async fn share(&self, key: &str, record: &Record) {
        let value = serde_json::to_vec(&Stored::Fetched(record.clone())).unwrap_or_default();
        if let Err(e) = self.bucket.put(key, value.into()).await {
            warn!(origin = %record.origin, error = %e, "robots.txt not shared");
            let _ = self.bucket.delete(key).await;
        }
    }

    /// Fetches the host's robots.txt and says what it means.
    async fn fetch(
        &self,
        origin: &str,
        page: &Url,
        http: &HttpClient,
        politeness: &Politeness,
    ) -> Record {
        // The page URL's credentials go to its own host's robots.txt too.
        let mut robots_url = page.clone();
        robots_url.set_path("/robots.txt");
        robots_url.set_query(None);
        robots_url.set_fragment(None);
        let outcome = {
            let _permit = politeness
                .acquire(page.host_str().unwrap_or_default())
                .await;
            http.fetch_prefix(robots_url.as_str(), MAX_ROBOTS_REDIRECTS, MAX_ROBOTS_BYTES)
                .await
        };
        let (verdict, hold) = verdict_of(outcome);
        let hold = hold.unwrap_or(self.ttl).min(self.ttl);
        let fetched_at = Utc::now();
        let expires_at = fetched_at
            + chrono::Duration::from_std(hold).unwrap_or_else(|_| chrono::Duration::hours(24));
        info!(
            %origin,
            url = %redact_url(robots_url.as_str()),
            verdict = verdict.kind(),
            keep_s = hold.as_secs(),
            "robots.txt fetched"
        );
        Record {
            origin: origin.to_owned(),
            fetched_at,
            expires_at,
            verdict,
        }
    }
}

/// How a look at the bucket went.
enum Claim {
    /// A fresh file, fetched by someone.
    Fetched(Record),
    /// The host is this process's to fetch.
    Ours,
    /// Another process is fetching it.
    Theirs,
}

impl File {
    /// The file parsed for `agent`, parsed once (off the async threads: a
    /// file may hold thousands of rules); `None` if it does not parse.
    async fn robot(&self, agent: &str) -> Option<Arc<Robot>> {
        if let Some(parsed) = self
            .robots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(agent)
        {
            return parsed.clone();
        }
        let Verdict::Rules { body, .. } = &self.record.verdict else {
            return None;
        };
        let (body, for_agent) = (body.clone(), agent.to_owned());
        let parsed = tokio::task::spawn_blocking(move || Robot::new(&for_agent, body.as_bytes()))
            .await
            .map_err(anyhow::Error::from)
            .and_then(|parsed| parsed);
        let parsed = match parsed {
            Ok(robot) => Some(Arc::new(robot)),
            Err(e) => {
                warn!(origin = %self.record.origin, error = %e, "robots.txt does not parse; taken as allowing all");
                None
            }
        };
        self.robots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(agent.to_owned(), parsed.clone());
        parsed
    }
}

impl Verdict {
    fn kind(&self) -> &'static str {
        match self {
            Verdict::Rules { .. } => "rules",
            Verdict::AllowAll { .. } => "allow_all",
            Verdict::DisallowAll { .. } => "disallow_all",
            Verdict::Unreachable { .. } => "unreachable",
        }
    }
}

/// What a fetch of robots.txt means, and how long to keep that when not
/// the full `robots_ttl` (RFC 9309 §2.3.1): a 2xx gives the rules; a 4xx,
/// or redirects past [`MAX_ROBOTS_REDIRECTS`], no rules; a 5xx or a 429
/// ("unreachable" in the RFC's words) disallows everything, for
/// [`SERVER_ERROR_HOLD`]; no answer at all fails the pages as it failed.
fn verdict_of(outcome: Result<Outcome, FetchError>) -> (Verdict, Option<Duration>) {
    match outcome {
        Ok(Outcome::Fetched(fetched)) => (
            Verdict::Rules {
                status: fetched.status,
                body: String::from_utf8_lossy(&fetched.body).into_owned(),
            },
            None,
        ),
        // Not asked conditionally, so not expected; nothing to go by.
        Ok(Outcome::NotModified { status, .. }) => (
            Verdict::AllowAll {
                status: Some(status),
                detail: "304 Not Modified".to_owned(),
            },
            None,
        ),
        Err(e @ FetchError::HttpStatus { status, .. }) if status == 429 || status >= 500 => (
            Verdict::DisallowAll {
                status,
                detail: e.detail(),
            },
            Some(SERVER_ERROR_HOLD),
        ),
        Err(e @ FetchError::HttpStatus { status, .. }) => (
            Verdict::AllowAll {
                status: Some(status),
                detail: e.detail(),
            },
            None,
        ),
        Err(e @ FetchError::TooManyRedirects { .. }) => (
            Verdict::AllowAll {
                status: None,
                detail: e.detail(),
            },
            None,
        ),
        Err(e) => (
            Verdict::Unreachable {
                reason: e.reason().to_owned(),
                detail: e.detail(),
            },
            Some(UNREACHABLE_HOLD),
        ),
    }
}

/// The failure reason a fetch error's wire name stands for.
fn reason_of(reason: &str) -> FailureReason {
    match reason {
        "timeout" => FailureReason::Timeout,
        "dns" => FailureReason::Dns,
        "connect" => FailureReason::Connect,
        "blocked_redirect" => FailureReason::BlockedRedirect,
        "blocked_address" => FailureReason::BlockedAddress,
        "bad_url" => FailureReason::BadUrl,
        "too_large" => FailureReason::TooLarge,
        _ => FailureReason::Other,
    }
}

/// A `Crawl-delay` in seconds as the spacing of a host's requests: at most
/// [`MAX_CRAWL_DELAY`]; zero when absent, negative or not a number.
fn crawl_delay(seconds: Option<f32>) -> Duration {
    seconds
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(Duration::ZERO, |s| {
            Duration::try_from_secs_f32(s)
                .unwrap_or(MAX_CRAWL_DELAY)
                .min(MAX_CRAWL_DELAY)
        })
}

/// The product token robots.txt groups are matched against (RFC 9309
/// §2.2.1): the user agent up to its first `/`, space or `(`, so
/// `pagefeed/0.1 (+https://…)` is `pagefeed`; `*` if that leaves nothing.
pub fn product_token(user_agent: &str) -> String {
    let token = user_agent
        .trim()
        .split(|c: char| c == '/' || c == '(' || c.is_whitespace())
        .next()
        .unwrap_or_default();
    if token.is_empty() {
        "*".to_owned()
    } else {
        token.to_owned()
    }
}

/// `scheme://host:port`, the port always written: whose robots.txt governs
/// `url` (RFC 9309 §2.3: one file per scheme, host and port).
fn origin_of(url: &Url) -> Option<String> {
    Some(format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str()?,
        url.port_or_known_default()?
    ))
}

/// The bucket key of an origin: `http.8080.example.com` when the host is
/// made of plain labels, otherwise (an IPv6 address, odd characters)
/// `http.8080.=` and the host in hex.
fn key_of(origin: &str) -> String {
    let (scheme, rest) = origin.split_once("://").unwrap_or(("", origin));
    let (host, port) = rest.rsplit_once(':').unwrap_or((rest, ""));
    let plain = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        });
    if plain {
        format!("{scheme}.{port}.{host}")
    } else {
        let hex: String = host.bytes().map(|b| format!("{b:02x}")).collect();
        format!("{scheme}.{port}.={hex}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_product_token_is_the_agent_name() {
        assert_eq!(
            product_token("pagefeed/0.1.0 (+https://x.invalid)"),
            "pagefeed"
        );
        assert_eq!(product_token("SiteAgent/1.0"), "SiteAgent");
        assert_eq!(product_token("Mozilla (compatible)"), "Mozilla");
        assert_eq!(product_token("  /1.0"), "*");
    }

    #[test]
    fn keys_are_valid_and_distinct() {
        let origins = [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8081",
            "https://127.0.0.1:8080",
            "https://shop.example:443",
            "http://[::1]:80",
            "http://a..b:80",
            "http://example.com.:80",
        ];
        let keys: Vec<String> = origins.iter().map(|o| key_of(o)).collect();
        assert_eq!(keys[0], "http.8080.127.0.0.1");
        assert_eq!(keys[3], "https.443.shop.example");
        for key in &keys {
            assert!(
                key.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_=./".contains(&b))
                    && !key.starts_with('.')
                    && !key.ends_with('.')
                    && !key.contains(".."),
                "{key}"
            );
        }
        let distinct: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(distinct.len(), keys.len(), "{keys:?}");
    }

    #[test]
    fn the_origin_always_names_the_port() {
        let url = |u: &str| Url::parse(u).unwrap();
        assert_eq!(
            origin_of(&url("https://me:pw@Shop.Example/a?b")).as_deref(),
            Some("https://shop.example:443")
        );
        assert_eq!(
            origin_of(&url("http://127.0.0.2:9/x")).as_deref(),
            Some("http://127.0.0.2:9")
        );
    }

    #[test]
    fn statuses_mean_what_rfc_9309_says() {
        let status = |status| FetchError::HttpStatus {
            status,
            retry_after: None,
        };
        for allowing in [400, 401, 403, 404, 410, 451] {
            let (verdict, hold) = verdict_of(Err(status(allowing)));
            assert!(matches!(verdict, Verdict::AllowAll { .. }), "{allowing}");
            assert_eq!(hold, None);
        }
        for refusing in [429, 500, 502, 503, 504] {
            let (verdict, hold) = verdict_of(Err(status(refusing)));
            assert!(matches!(verdict, Verdict::DisallowAll { .. }), "{refusing}");
            assert_eq!(hold, Some(SERVER_ERROR_HOLD));
        }
        let (verdict, _) = verdict_of(Err(FetchError::TooManyRedirects {
            limit: 5,
            detail: String::new(),
        }));
        assert!(matches!(verdict, Verdict::AllowAll { .. }));
        let (verdict, hold) = verdict_of(Err(FetchError::Connect {
            detail: "refused".to_owned(),
        }));
        assert_eq!(
            verdict,
            Verdict::Unreachable {
                reason: "connect".to_owned(),
                detail: "cannot connect: refused".to_owned()
            }
        );
        assert_eq!(reason_of("connect"), FailureReason::Connect);
        assert_eq!(hold, Some(UNREACHABLE_HOLD));
    }

    #[test]
    fn crawl_delays_are_bounded() {
        assert_eq!(crawl_delay(None), Duration::ZERO);
        assert_eq!(crawl_delay(Some(2.5)), Duration::from_millis(2500));
        assert_eq!(crawl_delay(Some(86_400.0)), MAX_CRAWL_DELAY);
        assert_eq!(crawl_delay(Some(f32::INFINITY)), Duration::ZERO);
        assert_eq!(crawl_delay(Some(f32::NAN)), Duration::ZERO);
        assert_eq!(crawl_delay(Some(-1.0)), Duration::ZERO);
    }

    #[test]
    fn groups_are_matched_by_product_token() {
        let txt = b"User-agent: pagefeed\nDisallow: /private\nCrawl-delay: 2\n\n\
                    User-agent: *\nDisallow: /\n";
        let ours = Robot::new("pagefeed", txt).unwrap();
        assert!(ours.allowed("http://h/recent?page_id=1"));
        assert!(!ours.allowed("http://h/private/1"));
        assert_eq!(crawl_delay(ours.delay), Duration::from_secs(2));
        let others = Robot::new("SiteAgent", txt).unwrap();
        assert!(!others.allowed("http://h/recent?page_id=1"));
    }
}
