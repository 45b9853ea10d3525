//! The one TOML file every pagefeed service reads: NATS connection, scheduling
//! and the site definitions. Loading validates everything a service would
//! otherwise trip over later, and every error names the file, the site and the
//! field, so a bad config never publishes anything.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use encoding_rs::Encoding;
use http::{HeaderMap, HeaderValue};
use ipnet::IpNet;
use serde::Deserialize;

use crate::limits;
use crate::redact::Secret;

mod raw;
#[cfg(test)]
mod tests;
mod validate;

use raw::parse_raw;
use validate::validate;

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from, for messages.
    pub path: PathBuf,
    pub nats: NatsConfig,
    pub scheduler: SchedulerConfig,
    pub fetcher: FetcherConfig,
    pub sites: Vec<Site>,
    pub notifier: NotifierConfig,
    /// Where new entries are sent (`[[notify]]`); none by default.
    pub notify: Vec<Notify>,
}

/// Settings of the notifiers (`[notifier]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifierConfig {
    /// Deliveries in flight per destination, per notifier process.
    pub concurrency: usize,
    /// One HTTP request to a destination, answer included.
    pub timeout: Duration,
    /// How long a delivery may go without an ack (or an in-progress ack)
    /// before JetStream hands it to another notifier: how soon the
    /// deliveries of a killed notifier are taken over.
    pub ack_wait: Duration,
    /// The longest wait between two attempts at a failing delivery.
    pub retry_max: Duration,
}

impl Default for NotifierConfig {
    fn default() -> NotifierConfig {
        NotifierConfig {
            concurrency: 4,
            timeout: Duration::from_secs(10),
            ack_wait: Duration::from_secs(30),
            retry_max: Duration::from_secs(300),
        }
    }
}

/// One `[[notify]]` destination: new entries of one site, or of all, sent
/// to one place.
#[derive(Clone, PartialEq, Eq)]
pub struct Notify {
    /// `[a-z0-9_-]+`, unique: names the destination's durable consumer, its
    /// metrics and its log lines (never its URL, which may be a secret).
    pub name: String,
    /// Only this site's entries; every site's when `None`.
    pub site: Option<String>,
    pub target: NotifyTarget,
}

/// Where and how a destination is sent to.
#[derive(Clone, PartialEq, Eq)]
pub enum NotifyTarget {
    /// A JSON POST of the entry, its page and site.
    Webhook { url: String },
    /// ntfy's plain publish: the text POSTed to the topic URL, with an
    /// optional access token (bearer).
    Ntfy { url: String, token: Option<String> },
}

impl NotifyTarget {
    /// `webhook` or `ntfy`.
    pub fn kind(&self) -> &'static str {
        match self {
            NotifyTarget::Webhook { .. } => "webhook",
            NotifyTarget::Ntfy { .. } => "ntfy",
        }
    }
}

/// Shows the name, site and kind only: a destination's URL (a webhook's
/// path, an ntfy topic) and token are secrets.
impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notify")
            .field("name", &self.name)
            .field("site", &self.site)
            .field("kind", &self.target.kind())
            .finish_non_exhaustive()
    }
}

/// How to reach NATS and how to lay out the streams there. Its `Debug`
/// shows the password and token as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct NatsConfig {
    /// One URL or several separated by commas (a cluster's seed servers).
    pub url: String,
    /// JetStream replicas for every stream: 1 on one node, 3 on a cluster.
    pub replicas: usize,
    pub user: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
    /// A `.creds` file (JWT + nkey seed).
    pub creds: Option<PathBuf>,
    /// A CA certificate (PEM) to trust for the server's TLS certificate.
    pub tls_ca: Option<PathBuf>,
    /// A client certificate and key (PEM), for servers that verify clients.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Refuse to connect without TLS.
    pub tls_required: bool,
    /// How long a published task may wait in `PAGEFEED_TASKS` before it expires.
    pub task_ttl: Duration,
}

impl std::fmt::Debug for NatsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let masked = |secret: &Option<String>| {
            secret
                .as_ref()
                .map(|_| crate::redact::Secret::new(String::new()))
        };
        f.debug_struct("NatsConfig")
            .field("url", &crate::redact::redact_urls(&self.url))
            .field("replicas", &self.replicas)
            .field("user", &self.user)
            .field("password", &masked(&self.password))
            .field("token", &masked(&self.token))
            .field("creds", &self.creds)
            .field("tls_ca", &self.tls_ca)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("tls_required", &self.tls_required)
            .field("task_ttl", &self.task_ttl)
            .finish()
    }
}

/// Settings of the scheduler itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// How often each site's retention event is published.
    pub retention_every: Duration,
    /// How often the task sweeper looks at `PAGEFEED_TASKS` for tasks no
    /// fetcher will get (stranded, past `max_deliver`, about to expire).
    pub sweep_every: Duration,
}

/// Settings of the fetchers: how hard to crawl, how to behave on the web,
/// how long to insist on a failing page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetcherConfig {
    /// In-flight fetches per process (the original's "Parallels").
    pub concurrency: usize,
    /// Sent with every request; names pagefeed so site owners know who calls.
    pub user_agent: String,
    pub connect_timeout: Duration,
    /// Whole request, body included.
    pub timeout: Duration,
    /// A body larger than this ends the task as `too_large`.
    pub max_body_bytes: usize,
    pub max_redirects: usize,
    /// Requests in flight to one host, per process.
    pub per_host_concurrency: usize,
    /// Minimum time between two requests to one host, per process.
    pub per_host_delay: Duration,
    /// Attempts before a failing task ends as a `fetch_failed` event.
    pub max_attempts: u32,
    /// Delay before the first retry; doubles at each attempt (a longer
    /// `Retry-After` wins).
    pub retry_backoff: Duration,
    /// How long a task may go without an ack (or an in-progress ack) before
    /// JetStream gives it to another fetcher: how soon the tasks of a killed
    /// fetcher are taken over.
    pub ack_wait: Duration,
    /// Entries kept from one page, in page order; the rest are dropped.
    pub max_entries: usize,
    /// An entry's text is cut to this many bytes (on a character boundary).
    pub max_entry_text_bytes: usize,
    /// A page's title is cut to this many bytes (on a character boundary).
    pub max_title_bytes: usize,
    /// The most one page's decoding, parsing and extraction may take; past
    /// it the attempt fails as `parse_timeout`.
    pub parse_deadline: Duration,
    /// How long a host's robots.txt is kept (in the `pagefeed_robots`
    /// bucket and in each process) before it is fetched again.
    pub robots_ttl: Duration,
}

/// The most `[fetcher] max_entries` may be: a page's fetch state keeps the
/// id of every entry (about 35 bytes each in JSON) in one key-value entry,
/// which must fit in one NATS message ([`limits::MAX_EVENT_BYTES`]).
pub const MAX_ENTRIES_LIMIT: usize = 20_000;

/// The most `[fetcher] parse_deadline` may be.
pub const MAX_PARSE_DEADLINE: Duration = Duration::from_secs(600);

/// The most `[fetcher] robots_ttl` may be: RFC 9309 §2.4 says a cached
/// robots.txt should not be used for more than 24 hours.
pub const MAX_ROBOTS_TTL: Duration = Duration::from_secs(24 * 3600);

impl Default for FetcherConfig {
    fn default() -> FetcherConfig {
        FetcherConfig {
            concurrency: 64,
            user_agent: format!(
                "pagefeed/{} (+https://github.com/pagefeed/pagefeed)",
                env!("CARGO_PKG_VERSION")
            ),
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            max_body_bytes: 5 * 1024 * 1024,
            max_redirects: 5,
            per_host_concurrency: 8,
            per_host_delay: Duration::ZERO,
            max_attempts: 5,
            retry_backoff: Duration::from_secs(1),
            ack_wait: Duration::from_secs(30),
            max_entries: 10_000,
            max_entry_text_bytes: limits::MAX_TEXT_BYTES,
            max_title_bytes: limits::MAX_TITLE_BYTES,
            parse_deadline: Duration::from_secs(10),
            robots_ttl: MAX_ROBOTS_TTL,
        }
    }
}

/// One watched site: which pages, how often, how long to keep, how to extract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// `[a-z0-9_-]+`; the second token of every subject of this site.
    pub name: String,
    pub pages: Pages,
    /// How many pages one tick schedules (all of them for a page list).
    pub batch: u64,
    pub interval: Duration,
    pub retention: Duration,
    pub extract: Extract,
    /// Networks a redirect of this site may lead to, or another host may
    /// resolve to, although they are not global (loopback, private, ...).
    /// The site's own hosts are trusted whatever they resolve to.
    pub allow_networks: Vec<IpNet>,
    /// The zone the site's pages show their times in: a timestamp without
    /// an offset is read as local time there. UTC when not configured.
    pub timezone: Tz,
    /// What the site's requests carry beyond the `[fetcher]` defaults.
    pub request: SiteRequest,
    /// The encoding the site's pages are decoded in, whatever they declare
    /// (`charset = "shift_jis"`); when absent, the page's own word or a guess.
    pub charset: Option<&'static Encoding>,
    /// Whether the fetchers obey the site's robots.txt (`robots`).
    pub robots: Robots,
}

/// A site's `robots`: `"obey"` (the default) or `"ignore"`, for a site whose
/// operator allows pagefeed whatever its robots.txt says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Robots {
    #[default]
    Obey,
    Ignore,
}

/// A site's own request settings (`headers`, `cookies`, `timeout`,
/// `connect_timeout`). Headers other than `User-Agent`, `Accept` and
/// `Accept-Language`, and cookies, go only to the hosts the site's URLs name,
/// never across a redirect to another host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteRequest {
    /// Extra request headers; a `User-Agent` here replaces `[fetcher]
    /// user_agent`. Every value is marked sensitive: `Debug` shows none.
    pub headers: HeaderMap,
    /// Sent as one `Cookie` header, in name order.
    pub cookies: BTreeMap<String, Secret>,
    /// Replaces `[fetcher] timeout` for this site.
    pub timeout: Option<Duration>,
    /// Replaces `[fetcher] connect_timeout` for this site.
    pub connect_timeout: Option<Duration>,
}

impl SiteRequest {
    /// The `Cookie` header (`a=1; b=2`), marked sensitive; none without
    /// cookies. Validation admits only names and values that make a valid
    /// header.
    pub fn cookie_header(&self) -> Option<HeaderValue> {
        if self.cookies.is_empty() {
            return None;
        }
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .map(|(name, value)| format!("{name}={}", value.expose()))
            .collect();
        let mut value = HeaderValue::from_str(&pairs.join("; ")).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

impl Site {
    /// The configured URL of page `id`, or `None` if the site has no such
    /// page: in an id range, `id` is a number within `first..=last` written
    /// as the scheduler writes it (no sign, no leading zero); in a page list,
    /// one of the names.
    pub fn page_url(&self, id: &str) -> Option<String> {
        match &self.pages {
            Pages::Ids { url, first, last } => {
                let n: u64 = id.parse().ok()?;
                (n.to_string() == id && (*first..=*last).contains(&n))
                    .then(|| url.replace("{id}", id))
            }
            Pages::List(pages) => pages.get(id).cloned(),
        }
    }

    /// Every URL that names the site's hosts: the id range's URL (its host
    /// holds no `{id}`) or each listed page.
    pub fn host_urls(&self) -> Vec<String> {
        match &self.pages {
            Pages::Ids { url, first, .. } => vec![url.replace("{id}", &first.to_string())],
            Pages::List(pages) => pages.values().cloned().collect(),
        }
    }
}

/// The scheme and authority of `url` (`https://host:port`), where `{id}`
/// must not go.
fn origin_of(url: &str) -> &str {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..]
        .find(['/', '\\', '?', '#'])
        .map_or(url.len(), |i| start + i);
    &url[..end]
}

/// The pages of a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pages {
    /// A numeric range; `url` holds `{id}` where the id goes.
    Ids { url: String, first: u64, last: u64 },
    /// Named pages; the name is the page id.
    List(BTreeMap<String, String>),
}

impl Pages {
    /// How many pages the site has.
    pub fn len(&self) -> u64 {
        match self {
            Pages::Ids { first, last, .. } => last - first + 1,
            Pages::List(pages) => pages.len() as u64,
        }
    }

    /// Whether the site has no page (never true of a validated config).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// CSS selectors (and a timestamp format) that pull a page's entries out.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extract {
    /// Selects the page title; defaults to `title`.
    #[serde(default = "default_title")]
    pub title: String,
    /// Selects each entry block.
    pub entry: String,
    /// Within an entry: the text; the whole entry when absent.
    pub text: Option<String>,
    /// Within an entry: the timestamp text.
    pub timestamp: Option<String>,
    /// chrono format of the timestamp text, e.g. `%m月%d日 %H:%M`.
    pub timestamp_format: Option<String>,
    /// Within an entry: the link, whose `href` is made absolute.
    pub link: Option<String>,
}

fn default_title() -> String {
    "title".to_owned()
}

/// A configuration the services refuse, with where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line, when the TOML parser knows it.
    pub line: Option<usize>,
    /// The site's name (or `#N` when it has none yet).
    pub site: Option<String>,
    /// Dotted path of the field inside the site (or the file, for top-level fields).
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad config {}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        if let Some(site) = &self.site {
            write!(f, ": site \"{site}\"")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": field `{field}`")?;
        }
        // A URL in the message may carry credentials (`nats://u:pw@host`).
        write!(f, ": {}", crate::redact::redact_urls(&self.message))
    }
}

/// Fields whose values are secrets: an error about one never shows its value.
const SECRET_FIELDS: [&str; 2] = ["nats.password", "nats.token"];

/// Site fields whose values may be secrets (a cookie, an `Authorization`
/// header), the table and each of its keys alike.
const SECRET_SITE_FIELDS: [&str; 2] = ["cookies", "headers"];

/// Whether an error about `field` (a dotted path) must not show its value:
/// the NATS password and token, a site's cookies and headers, and a
/// destination's token and URL (a webhook's path or an ntfy topic is as
/// good as a password).
fn is_secret_field(field: &str) -> bool {
    SECRET_FIELDS.contains(&field)
        || SECRET_SITE_FIELDS.iter().any(|secret| {
            field
                .strip_prefix(secret)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
        })
        || field.strip_prefix("notify.").is_some_and(|rest| {
            [".token", ".webhook", ".ntfy"]
                .iter()
                .any(|f| rest.ends_with(f))
        })
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_owned(),
            line: None,
            site: None,
            field: None,
            message: format!("cannot read it: {e}"),
        })?;
        Config::parse(path, &text)
    }

    /// Parses and validates config text; `path` is used for messages and to
    /// resolve relative file names (creds, certificates).
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let raw = parse_raw(path, text)?;
        validate(path, raw)
    }

    /// The longest retention of any site: what `PAGEFEED_EVENTS` must keep, plus a margin.
    pub fn longest_retention(&self) -> Duration {
        self.sites
            .iter()
            .map(|s| s.retention)
            .max()
            .unwrap_or(Duration::ZERO)
    }

    /// The longest scheduling interval of any site.
    pub fn longest_interval(&self) -> Duration {
        self.sites
            .iter()
            .map(|s| s.interval)
            .max()
            .unwrap_or(Duration::ZERO)
    }

    /// The site of that name.
    pub fn site(&self, name: &str) -> Option<&Site> {
        self.sites.iter().find(|s| s.name == name)
    }
}
