//! The one TOML file every pagefeed service reads: NATS connection, scheduling
//! and the site definitions. Loading validates everything a service would
//! otherwise trip over later, and every error names the file, the site and the
//! field, so a bad config never publishes anything.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use crate::limits::{self, MAX_URL_BYTES};
use crate::redact::redact_url;
use crate::subject::is_token;

/// The process exit code for a configuration the services refuse to run with.
pub const EXIT_BAD_CONFIG: i32 = 2;

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from, for messages.
    pub path: PathBuf,
    pub nats: NatsConfig,
    pub scheduler: SchedulerConfig,
    pub fetcher: FetcherConfig,
    pub sites: Vec<Site>,
}

/// How to reach NATS and how to lay out the streams there.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// Settings of the scheduler itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// How often each site's retention event is published.
    pub retention_every: Duration,
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
}

/// The most `[fetcher] max_entries` may be: a page's fetch state keeps the
/// id of every entry (about 35 bytes each in JSON) in one key-value entry,
/// which must fit in one NATS message ([`limits::MAX_EVENT_BYTES`]).
pub const MAX_ENTRIES_LIMIT: usize = 20_000;

/// The most `[fetcher] parse_deadline` may be.
pub const MAX_PARSE_DEADLINE: Duration = Duration::from_secs(600);

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    nats: Option<RawNats>,
    scheduler: Option<RawScheduler>,
    fetcher: Option<RawFetcher>,
    #[serde(default)]
    site: Vec<RawSite>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFetcher {
    concurrency: Option<usize>,
    user_agent: Option<String>,
    connect_timeout: Option<HumanDuration>,
    timeout: Option<HumanDuration>,
    max_body_bytes: Option<usize>,
    max_redirects: Option<usize>,
    per_host_concurrency: Option<usize>,
    per_host_delay: Option<Delay>,
    max_attempts: Option<u32>,
    retry_backoff: Option<HumanDuration>,
    ack_wait: Option<HumanDuration>,
    max_entries: Option<usize>,
    max_entry_text_bytes: Option<usize>,
    max_title_bytes: Option<usize>,
    parse_deadline: Option<HumanDuration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNats {
    url: Option<String>,
    replicas: Option<usize>,
    user: Option<String>,
    password: Option<String>,
    token: Option<String>,
    creds: Option<PathBuf>,
    tls_ca: Option<PathBuf>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    #[serde(default)]
    tls_required: bool,
    task_ttl: Option<HumanDuration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScheduler {
    retention_every: Option<HumanDuration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    name: String,
    url: Option<String>,
    ids: Option<RawIds>,
    pages: Option<BTreeMap<String, String>>,
    batch: Option<u64>,
    interval: HumanDuration,
    retention: HumanDuration,
    extract: Extract,
    #[serde(default)]
    allow_networks: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIds {
    first: u64,
    last: u64,
}

/// A duration written the human way: `10s`, `5m`, `7d`, `1h 30m`.
struct HumanDuration(Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let duration = humantime::parse_duration(&text).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration \"{text}\" ({e}); write it like \"10s\", \"5m\", \"7d\""
            ))
        })?;
        if duration.is_zero() {
            return Err(serde::de::Error::custom(format!(
                "duration \"{text}\" must be greater than zero"
            )));
        }
        Ok(HumanDuration(duration))
    }
}

/// Like [`HumanDuration`], but zero is allowed (`"0s"`: no delay).
struct Delay(Duration);

impl<'de> Deserialize<'de> for Delay {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map(Delay).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration \"{text}\" ({e}); write it like \"0s\", \"250ms\", \"1s\""
            ))
        })
    }
}

fn parse_raw(path: &Path, text: &str) -> Result<RawConfig, ConfigError> {
    let at = |line: Option<usize>, message: String| ConfigError {
        file: path.to_owned(),
        line,
        site: None,
        field: None,
        message,
    };
    let line_of = |span: Option<std::ops::Range<usize>>| {
        span.map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
    };
    let de = toml::Deserializer::parse(text)
        .map_err(|e| at(line_of(e.span()), e.message().trim().to_owned()))?;
    serde_path_to_error::deserialize::<_, RawConfig>(de).map_err(|e| {
        let path_text = e.path().to_string();
        let inner = e.inner();
        let message = inner.message().trim().to_owned();
        let mut err = at(line_of(inner.span()), message);
        let (site, field) = split_site_path(text, &path_text);
        if field.as_deref().is_some_and(|f| SECRET_FIELDS.contains(&f)) {
            // serde's message quotes the value ("invalid type: integer `…`").
            err.message = "invalid value (not shown: it is a secret); expected a string".to_owned();
        }
        err.site = site;
        err.field = field;
        err
    })
}

/// Splits a serde path such as `site[1].extract.entry` into the site (by
/// name, read from the raw TOML) and the field within it.
fn split_site_path(text: &str, path: &str) -> (Option<String>, Option<String>) {
    let path = if path == "." { "" } else { path };
    if let Some(rest) = path.strip_prefix("site[") {
        let (index, field) = match rest.split_once(']') {
            Some((index, field)) => (index, field.trim_start_matches('.')),
            None => (rest, ""),
        };
        let site = index.parse::<usize>().ok().map(|i| site_name_at(text, i));
        let field = (!field.is_empty()).then(|| field.to_owned());
        (site, field)
    } else {
        (None, (!path.is_empty()).then(|| path.to_owned()))
    }
}

fn site_name_at(text: &str, index: usize) -> String {
    let name = toml::from_str::<toml::Table>(text).ok().and_then(|t| {
        t.get("site")?
            .as_array()?
            .get(index)?
            .get("name")?
            .as_str()
            .map(str::to_owned)
    });
    name.unwrap_or_else(|| format!("#{}", index + 1))
}

fn validate(path: &Path, raw: RawConfig) -> Result<Config, ConfigError> {
    let err = |site: Option<&str>, field: &str, message: String| ConfigError {
        file: path.to_owned(),
        line: None,
        site: site.map(str::to_owned),
        field: (!field.is_empty()).then(|| field.to_owned()),
        message,
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let nats = raw.nats.unwrap_or(RawNats {
        url: None,
        replicas: None,
        user: None,
        password: None,
        token: None,
        creds: None,
        tls_ca: None,
        tls_cert: None,
        tls_key: None,
        tls_required: false,
        task_ttl: None,
    });
    let replicas = nats.replicas.unwrap_or(1);
    if !(1..=5).contains(&replicas) {
        return Err(err(
            None,
            "nats.replicas",
            format!("must be between 1 and 5, got {replicas}"),
        ));
    }
    if nats.user.is_some() != nats.password.is_some() {
        return Err(err(
            None,
            "nats.password",
            "`user` and `password` go together".to_owned(),
        ));
    }
    if nats.tls_cert.is_some() != nats.tls_key.is_some() {
        return Err(err(
            None,
            "nats.tls_key",
            "`tls_cert` and `tls_key` go together".to_owned(),
        ));
    }
    let resolve = |p: Option<PathBuf>| p.map(|p| base.join(p));
    let nats = NatsConfig {
        url: nats
            .url
            .unwrap_or_else(|| crate::connect::DEFAULT_URL.to_owned()),
        replicas,
        user: nats.user,
        password: nats.password,
        token: nats.token,
        creds: resolve(nats.creds),
        tls_ca: resolve(nats.tls_ca),
        tls_cert: resolve(nats.tls_cert),
        tls_key: resolve(nats.tls_key),
        tls_required: nats.tls_required,
        task_ttl: nats.task_ttl.map_or(Duration::from_secs(3600), |d| d.0),
    };
    let scheduler = SchedulerConfig {
        retention_every: raw
            .scheduler
            .and_then(|s| s.retention_every)
            .map_or(Duration::from_secs(3600), |d| d.0),
    };

    let fetcher =
        fetcher_config(raw.fetcher).map_err(|(field, message)| err(None, field, message))?;
    if scheduler.retention_every.subsec_nanos() != 0 {
        return Err(err(
            None,
            "scheduler.retention_every",
            "must be a whole number of seconds".to_owned(),
        ));
    }
    if raw.site.is_empty() {
        return Err(err(
            None,
            "site",
            "no [[site]] is defined: there is nothing to watch".to_owned(),
        ));
    }
    let mut names = HashSet::new();
    let mut sites = Vec::with_capacity(raw.site.len());
    for (i, s) in raw.site.into_iter().enumerate() {
        let label = if s.name.is_empty() {
            format!("#{}", i + 1)
        } else {
            s.name.clone()
        };
        let site = Some(label.as_str());
        if !is_token(&s.name) {
            return Err(err(
                site,
                "name",
                format!("\"{}\" must match [a-z0-9_-]+", s.name),
            ));
        }
        if !names.insert(s.name.clone()) {
            return Err(err(
                site,
                "name",
                format!(
                    "duplicate site name \"{}\": each site needs its own",
                    s.name
                ),
            ));
        }
        let pages =
            match (s.ids, s.pages, s.url) {
                (Some(ids), None, Some(url)) => {
                    if ids.first > ids.last {
                        return Err(err(
                            site,
                            "ids",
                            format!(
                                "empty id range: first = {} is after last = {}",
                                ids.first, ids.last
                            ),
                        ));
                    }
                    if !url.contains("{id}") {
                        return Err(err(
                            site,
                            "url",
                            format!(
                                "\"{}\" has no {{id}} for the page id to go into",
                                redact_url(&url)
                            ),
                        ));
                    }
                    if origin_of(&url).contains("{id}") {
                        return Err(err(
                            site,
                            "url",
                            format!(
                                "\"{}\": {{id}} goes in the path or the query, not the host \
                                 (the host is what the fetchers trust for the site)",
                                redact_url(&url)
                            ),
                        ));
                    }
                    // 20 bytes: the longest id, u64::MAX.
                    check_url(&url, MAX_URL_BYTES.saturating_sub(20))
                        .map_err(|m| err(site, "url", m))?;
                    Pages::Ids {
                        url,
                        first: ids.first,
                        last: ids.last,
                    }
                }
                (Some(_), None, None) => {
                    return Err(err(
                        site,
                        "url",
                        "an id range needs a `url` with {id} in it".to_owned(),
                    ))
                }
                (None, Some(pages), None) => {
                    if pages.is_empty() {
                        return Err(err(site, "pages", "the page list is empty".to_owned()));
                    }
                    for (id, url) in &pages {
                        if !is_token(id) {
                            return Err(err(
                                site,
                                &format!("pages.{id}"),
                                format!("page name \"{id}\" must match [a-z0-9_-]+"),
                            ));
                        }
                        check_url(url, MAX_URL_BYTES)
                            .map_err(|m| err(site, &format!("pages.{id}"), m))?;
                    }
                    Pages::List(pages)
                }
                (None, Some(_), Some(_)) => {
                    return Err(err(
                        site,
                        "url",
                        "`url` goes with `ids`; a page list carries its own URLs".to_owned(),
                    ))
                }
                (Some(_), Some(_), _) => {
                    return Err(err(
                        site,
                        "pages",
                        "give either `ids` (with `url`) or `pages`, not both".to_owned(),
                    ))
                }
                (None, None, _) => return Err(err(
                    site,
                    "ids",
                    "a site needs `ids = { first, last }` with `url`, or `pages = { name = url }`"
                        .to_owned(),
                )),
            };
        let batch = match (&pages, s.batch) {
            (_, Some(0)) => {
                return Err(err(site, "batch", "must be at least 1".to_owned()));
            }
            (Pages::Ids { .. }, Some(b)) => b.min(pages.len()),
            (Pages::Ids { .. }, None) => pages.len(),
            (Pages::List(_), Some(_)) => {
                return Err(err(
                    site,
                    "batch",
                    "a page list is crawled whole every interval; `batch` is for id ranges"
                        .to_owned(),
                ))
            }
            (Pages::List(_), None) => pages.len(),
        };
        let extract = s.extract;
        for (field, selector) in [
            ("extract.title", Some(&extract.title)),
            ("extract.entry", Some(&extract.entry)),
            ("extract.text", extract.text.as_ref()),
            ("extract.timestamp", extract.timestamp.as_ref()),
            ("extract.link", extract.link.as_ref()),
        ] {
            if let Some(selector) = selector {
                scraper::Selector::parse(selector).map_err(|e| {
                    err(
                        site,
                        field,
                        format!("bad CSS selector \"{selector}\": {}", selector_reason(&e)),
                    )
                })?;
            }
        }
        if extract.timestamp.is_some() != extract.timestamp_format.is_some() {
            return Err(err(
                site,
                "extract.timestamp_format",
                "`timestamp` and `timestamp_format` go together".to_owned(),
            ));
        }
        if let Some(format) = &extract.timestamp_format {
            check_timestamp_format(format).map_err(|m| err(site, "extract.timestamp_format", m))?;
        }
        for (field, duration) in [("interval", s.interval.0), ("retention", s.retention.0)] {
            if duration.subsec_nanos() != 0 {
                return Err(err(
                    site,
                    field,
                    format!(
                        "{} is not a whole number of seconds",
                        humantime::format_duration(duration)
                    ),
                ));
            }
        }
        let mut allow_networks = Vec::with_capacity(s.allow_networks.len());
        for text in &s.allow_networks {
            allow_networks.push(check_network(text).map_err(|m| err(site, "allow_networks", m))?);
        }
        sites.push(Site {
            name: s.name,
            pages,
            batch,
            interval: s.interval.0,
            retention: s.retention.0,
            extract,
            allow_networks,
        });
    }
    let longest_interval = sites.iter().map(|s| s.interval).max().unwrap_or_default();
    if nats.task_ttl < longest_interval {
        return Err(err(
            None,
            "nats.task_ttl",
            format!(
                "{} is shorter than the longest site interval ({}): tasks would expire before the next tick",
                humantime::format_duration(nats.task_ttl),
                humantime::format_duration(longest_interval)
            ),
        ));
    }
    Ok(Config {
        path: path.to_owned(),
        nats,
        scheduler,
        fetcher,
        sites,
    })
}

/// scraper's reason on one line, without its "report this to the developer"
/// boilerplate, which would send users to the wrong place: `div[[` gives
/// "no qualified name in attribute selector".
fn selector_reason(e: &scraper::error::SelectorErrorKind) -> String {
    use scraper::error::SelectorErrorKind;
    match e {
        SelectorErrorKind::UnexpectedSelectorParseError(kind) => {
            // The kind's name in words: `UnsupportedPseudoClassOrElement(..)`
            // becomes "unsupported pseudo class or element".
            let name = format!("{kind:?}");
            let name = name.split(['(', ' ', '{']).next().unwrap_or_default();
            let mut words = String::new();
            for (i, c) in name.chars().enumerate() {
                if c.is_uppercase() && i > 0 {
                    words.push(' ');
                }
                words.extend(c.to_lowercase());
            }
            if words.is_empty() {
                "invalid selector syntax".to_owned()
            } else {
                words
            }
        }
        other => other.to_string().to_lowercase(),
    }
}

fn fetcher_config(raw: Option<RawFetcher>) -> Result<FetcherConfig, (&'static str, String)> {
    let d = FetcherConfig::default();
    let Some(raw) = raw else { return Ok(d) };
    let at_least_one = |field: &'static str, value: Option<usize>, default: usize| match value {
        Some(0) => Err((field, "must be at least 1".to_owned())),
        Some(v) => Ok(v),
        None => Ok(default),
    };
    let user_agent = raw.user_agent.unwrap_or(d.user_agent);
    if user_agent.trim().is_empty() {
        return Err(("fetcher.user_agent", "must not be empty".to_owned()));
    }
    let max_attempts = match raw.max_attempts {
        Some(0) => return Err(("fetcher.max_attempts", "must be at least 1".to_owned())),
        Some(n) => n,
        None => d.max_attempts,
    };
    let between =
        |field: &'static str, value: Option<usize>, default: usize, max: usize| match value {
            Some(v) if !(1..=max).contains(&v) => {
                Err((field, format!("must be between 1 and {max}, got {v}")))
            }
            Some(v) => Ok(v),
            None => Ok(default),
        };
    let max_entries = between(
        "fetcher.max_entries",
        raw.max_entries,
        d.max_entries,
        MAX_ENTRIES_LIMIT,
    )?;
    let max_entry_text_bytes = between(
        "fetcher.max_entry_text_bytes",
        raw.max_entry_text_bytes,
        d.max_entry_text_bytes,
        limits::MAX_TEXT_BYTES,
    )?;
    let max_title_bytes = between(
        "fetcher.max_title_bytes",
        raw.max_title_bytes,
        d.max_title_bytes,
        limits::MAX_TITLE_BYTES,
    )?;
    let parse_deadline = raw.parse_deadline.map_or(d.parse_deadline, |t| t.0);
    if parse_deadline > MAX_PARSE_DEADLINE {
        return Err((
            "fetcher.parse_deadline",
            format!(
                "must be at most {}: a page that takes longer holds a parser",
                humantime::format_duration(MAX_PARSE_DEADLINE)
            ),
        ));
    }
    Ok(FetcherConfig {
        concurrency: at_least_one("fetcher.concurrency", raw.concurrency, d.concurrency)?,
        user_agent,
        connect_timeout: raw.connect_timeout.map_or(d.connect_timeout, |t| t.0),
        timeout: raw.timeout.map_or(d.timeout, |t| t.0),
        max_body_bytes: at_least_one(
            "fetcher.max_body_bytes",
            raw.max_body_bytes,
            d.max_body_bytes,
        )?,
        max_redirects: raw.max_redirects.unwrap_or(d.max_redirects),
        per_host_concurrency: at_least_one(
            "fetcher.per_host_concurrency",
            raw.per_host_concurrency,
            d.per_host_concurrency,
        )?,
        per_host_delay: raw.per_host_delay.map_or(d.per_host_delay, |t| t.0),
        max_attempts,
        retry_backoff: raw.retry_backoff.map_or(d.retry_backoff, |t| t.0),
        ack_wait: raw.ack_wait.map_or(d.ack_wait, |t| t.0),
        max_entries,
        max_entry_text_bytes,
        max_title_bytes,
        parse_deadline,
    })
}

fn check_url(url: &str, max_len: usize) -> Result<(), String> {
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(format!(
            "\"{}\" is not an http:// or https:// URL",
            redact_url(url)
        ));
    }
    if url.len() > max_len {
        return Err(format!(
            "the URL is {} bytes long, over the limit of {max_len}",
            url.len()
        ));
    }
    Ok(())
}

/// A network in CIDR notation, with no bit set after the prefix (a typo
/// such as `10.1.2.0/8` would allow far more than it seems to).
fn check_network(text: &str) -> Result<IpNet, String> {
    let net: IpNet = text.parse().map_err(|_| {
        format!("\"{text}\" is not a network in CIDR notation; write it like \"10.1.0.0/16\" or \"fd00::/8\"")
    })?;
    if net.trunc() != net {
        return Err(format!(
            "\"{text}\" has address bits set after the /{}: write \"{}\"",
            net.prefix_len(),
            net.trunc()
        ));
    }
    Ok(net)
}

fn check_timestamp_format(format: &str) -> Result<(), String> {
    use chrono::format::{Item, StrftimeItems};
    if StrftimeItems::new(format).any(|item| matches!(item, Item::Error)) {
        Err(format!("\"{format}\" is not a valid strftime format"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[nats]
url = "nats://127.0.0.1:4222"
replicas = 1

[[site]]
name = "sample"
url = "http://127.0.0.1:8700/recent_page_feed?page_id={id}"
ids = { first = 1, last = 500 }
batch = 100
interval = "10s"
retention = "7d"
[site.extract]
title = "title"
entry = "div.feedEntry"
text = "p.comment"
timestamp = "li.timeStamp"
timestamp_format = "%m月%d日 %H:%M"
link = "li.viewLink a"

[[site]]
name = "blogs"
pages = { rust = "https://blog.rust-lang.org/", nats = "https://nats.io/blog/" }
interval = "1h"
retention = "30d"
[site.extract]
entry = "article"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("pagefeed.toml"), text)
    }

    #[test]
    fn good_config_parses() {
        let cfg = parse(GOOD).unwrap();
        assert_eq!(cfg.sites.len(), 2);
        assert_eq!(cfg.sites[0].batch, 100);
        assert_eq!(cfg.sites[0].interval, Duration::from_secs(10));
        assert_eq!(cfg.sites[0].retention, Duration::from_secs(7 * 86400));
        assert_eq!(cfg.sites[1].batch, 2);
        assert_eq!(cfg.longest_retention(), Duration::from_secs(30 * 86400));
    }

    #[test]
    fn the_committed_example_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pagefeed.example.toml");
        let cfg = Config::load(&path).unwrap();
        assert!(cfg.site("sample").is_some());
    }

    #[test]
    fn unknown_key_in_a_site_names_site_and_field() {
        let text = GOOD.replace("batch = 100", "batch = 100\nbatchsize = 3");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.site.as_deref(), Some("sample"), "{e}");
        assert_eq!(e.field.as_deref(), Some("batchsize"), "{e}");
        let shown = e.to_string();
        assert!(shown.contains("pagefeed.toml"), "{shown}");
        assert!(shown.contains("site \"sample\""), "{shown}");
        assert!(shown.contains("unknown field `batchsize`"), "{shown}");
    }

    #[test]
    fn unknown_key_in_extract_names_the_nested_field() {
        let text = GOOD.replace("entry = \"article\"", "entry = \"article\"\ntitel = \"h1\"");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.site.as_deref(), Some("blogs"), "{e}");
        assert_eq!(e.field.as_deref(), Some("extract.titel"), "{e}");
    }

    #[test]
    fn unknown_top_level_key_is_refused() {
        let e = parse(&format!("verbose = true\n{GOOD}")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("verbose"), "{e}");
        assert_eq!(e.site, None);
    }

    #[test]
    fn bad_selector_names_site_and_field() {
        let text = GOOD.replace("entry = \"div.feedEntry\"", "entry = \"div..feedEntry[\"");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.site.as_deref(), Some("sample"), "{e}");
        assert_eq!(e.field.as_deref(), Some("extract.entry"), "{e}");
        assert!(e.message.contains("bad CSS selector"), "{e}");
    }

    #[test]
    fn bad_duration_names_site_and_field() {
        let text = GOOD.replace("interval = \"1h\"", "interval = \"every hour\"");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.site.as_deref(), Some("blogs"), "{e}");
        assert_eq!(e.field.as_deref(), Some("interval"), "{e}");
        assert!(e.message.contains("invalid duration"), "{e}");
        assert!(e.line.is_some(), "{e}");
    }

    #[test]
    fn zero_duration_is_refused() {
        let text = GOOD.replace("retention = \"7d\"", "retention = \"0s\"");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("retention"), "{e}");
    }

    #[test]
    fn empty_id_range_names_site_and_field() {
        let text = GOOD.replace("first = 1, last = 500", "first = 500, last = 1");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.site.as_deref(), Some("sample"), "{e}");
        assert_eq!(e.field.as_deref(), Some("ids"), "{e}");
        assert!(e.message.contains("empty id range"), "{e}");
    }

    #[test]
    fn duplicate_site_name_is_refused() {
        let text = GOOD.replace("name = \"blogs\"", "name = \"sample\"");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.site.as_deref(), Some("sample"), "{e}");
        assert_eq!(e.field.as_deref(), Some("name"), "{e}");
        assert!(e.message.contains("duplicate site name"), "{e}");
    }

    #[test]
    fn bad_site_name_is_refused() {
        let text = GOOD.replace("name = \"blogs\"", "name = \"My Blogs\"");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("name"), "{e}");
    }

    #[test]
    fn url_without_id_placeholder_is_refused() {
        let text = GOOD.replace("page_id={id}", "page_id=1");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("url"), "{e}");
    }

    #[test]
    fn non_http_url_is_refused() {
        let text = GOOD.replace("https://nats.io/blog/", "ftp://nats.io/blog/");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.site.as_deref(), Some("blogs"), "{e}");
        assert_eq!(e.field.as_deref(), Some("pages.nats"), "{e}");
    }

    #[test]
    fn toml_syntax_error_gives_the_line() {
        let e = parse("[nats]\nurl = \n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
    }

    #[test]
    fn bad_timestamp_format_is_refused() {
        let text = GOOD.replace("%m月%d日 %H:%M", "%m月%d日 %Q");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("extract.timestamp_format"), "{e}");
    }

    #[test]
    fn fetcher_settings_have_defaults_and_are_checked() {
        let cfg = parse(GOOD).unwrap();
        assert_eq!(cfg.fetcher, FetcherConfig::default());
        assert!(cfg.fetcher.user_agent.starts_with("pagefeed/"));
        let text = format!("[fetcher]\nconcurrency = 8\nper_host_delay = \"0s\"\n{GOOD}");
        let cfg = parse(&text).unwrap();
        assert_eq!(cfg.fetcher.concurrency, 8);
        assert_eq!(cfg.fetcher.per_host_delay, Duration::ZERO);
        let e = parse(&format!("[fetcher]\nconcurrency = 0\n{GOOD}")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("fetcher.concurrency"), "{e}");
        let e = parse(&format!("[fetcher]\ntimeout = \"soon\"\n{GOOD}")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("fetcher.timeout"), "{e}");
    }

    #[test]
    fn extraction_caps_have_defaults_and_are_checked() {
        let d = parse(GOOD).unwrap().fetcher;
        assert_eq!(d.max_entries, 10_000);
        assert_eq!(d.max_entry_text_bytes, limits::MAX_TEXT_BYTES);
        assert_eq!(d.max_title_bytes, limits::MAX_TITLE_BYTES);
        assert_eq!(d.parse_deadline, Duration::from_secs(10));

        let text = format!(
            "[fetcher]\nmax_entries = 50\nmax_entry_text_bytes = 1000\n\
             max_title_bytes = 100\nparse_deadline = \"250ms\"\n{GOOD}"
        );
        let f = parse(&text).unwrap().fetcher;
        assert_eq!(
            (f.max_entries, f.max_entry_text_bytes, f.max_title_bytes),
            (50, 1000, 100)
        );
        assert_eq!(f.parse_deadline, Duration::from_millis(250));

        let refused = [
            ("max_entries = 0", "fetcher.max_entries"),
            ("max_entries = 20001", "fetcher.max_entries"),
            ("max_entry_text_bytes = 0", "fetcher.max_entry_text_bytes"),
            (
                "max_entry_text_bytes = 65537",
                "fetcher.max_entry_text_bytes",
            ),
            ("max_title_bytes = 0", "fetcher.max_title_bytes"),
            ("max_title_bytes = 4097", "fetcher.max_title_bytes"),
            ("parse_deadline = \"0s\"", "fetcher.parse_deadline"),
            ("parse_deadline = \"soon\"", "fetcher.parse_deadline"),
            ("parse_deadline = \"11m\"", "fetcher.parse_deadline"),
            ("max_entries = -1", "fetcher.max_entries"),
        ];
        for (line, field) in refused {
            let e = parse(&format!("[fetcher]\n{line}\n{GOOD}")).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field), "{line}: {e}");
            assert!(e.to_string().contains(field), "{line}: {e}");
        }
    }

    #[test]
    fn batch_larger_than_the_range_is_the_whole_range() {
        let text = GOOD.replace("batch = 100", "batch = 1000");
        assert_eq!(parse(&text).unwrap().sites[0].batch, 500);
    }

    #[test]
    fn allow_networks_are_cidrs() {
        let cfg = parse(GOOD).unwrap();
        assert!(cfg.sites[0].allow_networks.is_empty());
        let text = GOOD.replace(
            "batch = 100",
            "batch = 100\nallow_networks = [\"127.0.0.0/8\", \"10.1.0.0/16\", \"fd00::/8\"]",
        );
        let nets = &parse(&text).unwrap().sites[0].allow_networks;
        assert_eq!(nets.len(), 3);
        assert!(nets[1].contains(&"10.1.2.3".parse::<std::net::IpAddr>().unwrap()));
        for bad in [
            "\"10.1.0.0\"",
            "\"intranet\"",
            "\"10.1.2.0/8\"",
            "\"10.0.0.0/33\"",
        ] {
            let text = GOOD.replace(
                "batch = 100",
                &format!("batch = 100\nallow_networks = [{bad}]"),
            );
            let e = parse(&text).unwrap_err();
            assert_eq!(e.site.as_deref(), Some("sample"), "{bad}: {e}");
            assert_eq!(e.field.as_deref(), Some("allow_networks"), "{bad}: {e}");
        }
    }

    #[test]
    fn page_urls_come_from_the_config() {
        let cfg = parse(GOOD).unwrap();
        let ids = &cfg.sites[0];
        assert_eq!(
            ids.page_url("42").as_deref(),
            Some("http://127.0.0.1:8700/recent_page_feed?page_id=42")
        );
        for bad in ["0", "501", "042", "+42", "-1", "4 2", "x", ""] {
            assert_eq!(ids.page_url(bad), None, "{bad}");
        }
        let list = &cfg.sites[1];
        assert_eq!(
            list.page_url("rust").as_deref(),
            Some("https://blog.rust-lang.org/")
        );
        assert_eq!(list.page_url("go"), None);
    }

    #[test]
    fn the_id_goes_in_the_path_or_query_not_the_host() {
        let text = GOOD.replace(
            "http://127.0.0.1:8700/recent_page_feed?page_id={id}",
            "https://p{id}.example.com/",
        );
        let e = parse(&text).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("url"), "{e}");
        assert!(e.message.contains("not the host"), "{e}");
    }

    #[test]
    fn urls_are_shown_without_credentials() {
        let text = GOOD.replace("https://nats.io/blog/", "ftp://me:secret@nats.io/blog/");
        let e = parse(&text).unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
        let text = GOOD
            .replace("page_id={id}", "page_id=1")
            .replace("http://", "http://me:secret@");
        let e = parse(&text).unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
    }

    #[test]
    fn relative_creds_resolve_against_the_config_dir() {
        let text = GOOD.replace("replicas = 1", "replicas = 1\ncreds = \"user.creds\"");
        let cfg = Config::parse(Path::new("/etc/pagefeed/pagefeed.toml"), &text).unwrap();
        assert_eq!(
            cfg.nats.creds.as_deref(),
            Some(Path::new("/etc/pagefeed/user.creds"))
        );
    }

    #[test]
    fn a_secret_is_never_shown_in_an_error() {
        for (bad, secret) in [
            ("password = 9876543210", "9876543210"),
            ("token = 9876543210", "9876543210"),
            ("password = [\"hunter2-secret\"]", "hunter2-secret"),
        ] {
            let text = GOOD.replace(
                "replicas = 1",
                &format!("replicas = 1\nuser = \"u\"\n{bad}"),
            );
            let shown = parse(&text).unwrap_err().to_string();
            assert!(!shown.contains(secret), "{shown}");
            assert!(shown.contains("nats."), "names the field: {shown}");
        }
        let text = GOOD.replace(
            "https://blog.rust-lang.org/",
            "ftp://reader:hunter2-secret@blog.rust-lang.org/",
        );
        let shown = parse(&text).unwrap_err().to_string();
        assert!(!shown.contains("hunter2-secret"), "{shown}");
        assert!(shown.contains("blog.rust-lang.org/"), "{shown}");
    }

    #[test]
    fn a_user_without_a_password_is_refused() {
        let text = GOOD.replace("replicas = 1", "replicas = 1\nuser = \"u\"");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("nats.password"), "{e}");
    }
}
