//! From the file as written ([`super::raw`]) to a [`Config`]: every check a
//! service would otherwise trip over later (ranges, selectors, formats,
//! networks, what goes together), one function a concept, each error naming
//! the file, the site and the field.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use chrono_tz::Tz;
use encoding_rs::Encoding;
use http::{HeaderMap, HeaderName, HeaderValue};
use ipnet::IpNet;

use super::raw::{
    RawConfig, RawFetcher, RawIds, RawNats, RawNotifier, RawNotify, RawScheduler, RawSite,
};
use super::{
    origin_of, Config, ConfigError, Extract, FetcherConfig, NatsConfig, NotifierConfig, Notify,
    NotifyTarget, Pages, Robots, SchedulerConfig, Site, SiteRequest, MAX_ENTRIES_LIMIT,
    MAX_PARSE_DEADLINE, MAX_ROBOTS_TTL,
};
use crate::limits::{self, MAX_URL_BYTES};
use crate::redact::{redact_url, Secret};
use crate::subject::is_token;

/// Where an error is: the file, and the site when it is one's field.
struct At<'a> {
    file: &'a Path,
    site: Option<&'a str>,
}

impl At<'_> {
    fn err(&self, field: &str, message: String) -> ConfigError {
        ConfigError {
            file: self.file.to_owned(),
            line: None,
            site: self.site.map(str::to_owned),
            field: (!field.is_empty()).then(|| field.to_owned()),
            message,
        }
    }
}

pub(super) fn validate(path: &Path, raw: RawConfig) -> Result<Config, ConfigError> {
    let at = At {
        file: path,
        site: None,
    };
    let nats = nats(&at, raw.nats.unwrap_or_default())?;
    let scheduler = scheduler(&at, raw.scheduler, nats.task_ttl)?;
    let fetcher = fetcher_config(raw.fetcher).map_err(|(field, message)| at.err(field, message))?;
    if raw.site.is_empty() {
        return Err(at.err(
            "site",
            "no [[site]] is defined: there is nothing to watch".to_owned(),
        ));
    }
    let mut names = HashSet::new();
    let mut sites = Vec::with_capacity(raw.site.len());
    for (i, s) in raw.site.into_iter().enumerate() {
        sites.push(site(path, i, s, &mut names)?);
    }
    let longest_interval = sites.iter().map(|s| s.interval).max().unwrap_or_default();
    if nats.task_ttl < longest_interval {
        return Err(at.err(
            "nats.task_ttl",
            format!(
                "{} is shorter than the longest site interval ({}): tasks would expire before the next tick",
                humantime::format_duration(nats.task_ttl),
                humantime::format_duration(longest_interval)
            ),
        ));
    }
    let notifier =
        notifier_config(raw.notifier).map_err(|(field, message)| at.err(field, message))?;
    let mut names = HashSet::new();
    let mut notify = Vec::with_capacity(raw.notify.len());
    for (i, n) in raw.notify.into_iter().enumerate() {
        notify.push(destination(&at, i, n, &sites, &mut names)?);
    }
    Ok(Config {
        path: path.to_owned(),
        nats,
        scheduler,
        fetcher,
        sites,
        notifier,
        notify,
    })
}

fn notifier_config(raw: Option<RawNotifier>) -> Result<NotifierConfig, (&'static str, String)> {
    let d = NotifierConfig::default();
    let Some(raw) = raw else { return Ok(d) };
    let concurrency = match raw.concurrency {
        Some(n) if !(1..=1000).contains(&n) => {
            return Err((
                "notifier.concurrency",
                format!("must be between 1 and 1000, got {n}"),
            ))
        }
        Some(n) => n,
        None => d.concurrency,
    };
    Ok(NotifierConfig {
        concurrency,
        timeout: raw.timeout.map_or(d.timeout, |t| t.0),
        ack_wait: raw.ack_wait.map_or(d.ack_wait, |t| t.0),
        retry_max: raw.retry_max.map_or(d.retry_max, |t| t.0),
    })
}

/// One `[[notify]]`, the `index`-th; `names` are those of the ones before
/// it. Errors name the field as `notify.<name>.<field>` and never show a
/// URL or token: either may be a secret.
fn destination(
    at: &At,
    index: usize,
    n: RawNotify,
    sites: &[Site],
    names: &mut HashSet<String>,
) -> Result<Notify, ConfigError> {
    let label = if is_token(&n.name) {
        n.name.clone()
    } else {
        format!("#{}", index + 1)
    };
    let field = |f: &str| format!("notify.{label}.{f}");
    if !is_token(&n.name) {
        return Err(at.err(
            &field("name"),
            format!("\"{}\" must match [a-z0-9_-]+", n.name.escape_default()),
        ));
    }
    if !names.insert(n.name.clone()) {
        return Err(at.err(
            &field("name"),
            format!(
                "duplicate destination name \"{}\": each [[notify]] needs its own",
                n.name
            ),
        ));
    }
    if let Some(site) = &n.site {
        if !sites.iter().any(|s| &s.name == site) {
            return Err(at.err(
                &field("site"),
                format!(
                    "no [[site]] is named \"{}\" (leave `site` out for every site)",
                    site.escape_default()
                ),
            ));
        }
    }
    let target = match (n.webhook, n.ntfy) {
        (Some(url), None) => {
            if n.token.is_some() {
                return Err(at.err(
                    &field("token"),
                    "`token` goes with `ntfy`; a webhook's secret goes in its URL".to_owned(),
                ));
            }
            check_destination_url(&url).map_err(|m| at.err(&field("webhook"), m))?;
            NotifyTarget::Webhook { url }
        }
        (None, Some(url)) => {
            check_destination_url(&url).map_err(|m| at.err(&field("ntfy"), m))?;
            if n.token
                .as_deref()
                .is_some_and(|t| t.is_empty() || t.bytes().any(|b| !b.is_ascii_graphic()))
            {
                return Err(at.err(
                    &field("token"),
                    "must be printable ASCII without spaces (not shown: it is a secret)".to_owned(),
                ));
            }
            NotifyTarget::Ntfy {
                url,
                token: n.token,
            }
        }
        (Some(_), Some(_)) => {
            return Err(at.err(
                &field("ntfy"),
                "give either `webhook` or `ntfy`, not both".to_owned(),
            ))
        }
        (None, None) => return Err(at.err(
            &field("webhook"),
            "a destination needs `webhook = \"https://...\"` or `ntfy = \"https://ntfy.sh/TOPIC\"`"
                .to_owned(),
        )),
    };
    Ok(Notify {
        name: n.name,
        site: n.site,
        target,
    })
}

/// An http(s) URL with a host. The message never shows the URL: its path
/// (a webhook's key, an ntfy topic) may be all the secret there is.
fn check_destination_url(url: &str) -> Result<(), String> {
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))
    else {
        return Err(
            "must be an http:// or https:// URL (not shown: it may be a secret)".to_owned(),
        );
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err("the URL has no host (not shown: it may be a secret)".to_owned());
    }
    if url.len() > MAX_URL_BYTES || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "must be a URL of at most {MAX_URL_BYTES} bytes, without spaces (not shown: it may be a secret)"
        ));
    }
    Ok(())
}

/// `[nats]`: relative file names resolve against the config's directory.
fn nats(at: &At, nats: RawNats) -> Result<NatsConfig, ConfigError> {
    let replicas = nats.replicas.unwrap_or(1);
    if !(1..=5).contains(&replicas) {
        return Err(at.err(
            "nats.replicas",
            format!("must be between 1 and 5, got {replicas}"),
        ));
    }
    if nats.user.is_some() != nats.password.is_some() {
        return Err(at.err(
            "nats.password",
            "`user` and `password` go together".to_owned(),
        ));
    }
    if nats.tls_cert.is_some() != nats.tls_key.is_some() {
        return Err(at.err(
            "nats.tls_key",
            "`tls_cert` and `tls_key` go together".to_owned(),
        ));
    }
    let base = at.file.parent().unwrap_or(Path::new("."));
    let resolve = |p: Option<std::path::PathBuf>| p.map(|p| base.join(p));
    Ok(NatsConfig {
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
    })
}

/// The sweeper's default period; at most a quarter of `task_ttl`, so that
/// it sees a task at least twice before the task would expire.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

fn scheduler(
    at: &At,
    raw: Option<RawScheduler>,
    task_ttl: Duration,
) -> Result<SchedulerConfig, ConfigError> {
    let raw = raw.unwrap_or_default();
    let scheduler = SchedulerConfig {
        retention_every: raw
            .retention_every
            .map_or(Duration::from_secs(3600), |d| d.0),
        sweep_every: raw
            .sweep_every
            .map_or(SWEEP_EVERY.min(task_ttl / 4), |d| d.0),
    };
    if scheduler.sweep_every > task_ttl / 4 {
        return Err(at.err(
            "scheduler.sweep_every",
            format!(
                "must be at most a quarter of nats.task_ttl ({})",
                humantime::format_duration(task_ttl)
            ),
        ));
    }
    if scheduler.retention_every.subsec_nanos() != 0 {
        return Err(at.err(
            "scheduler.retention_every",
            "must be a whole number of seconds".to_owned(),
        ));
    }
    Ok(scheduler)
}

/// One `[[site]]`, the `index`-th; `names` are those of the sites before it.
fn site(
    path: &Path,
    index: usize,
    s: RawSite,
    names: &mut HashSet<String>,
) -> Result<Site, ConfigError> {
    let label = if s.name.is_empty() {
        format!("#{}", index + 1)
    } else {
        s.name.clone()
    };
    let at = At {
        file: path,
        site: Some(&label),
    };
    if !is_token(&s.name) {
        return Err(at.err("name", format!("\"{}\" must match [a-z0-9_-]+", s.name)));
    }
    if !names.insert(s.name.clone()) {
        return Err(at.err(
            "name",
            format!(
                "duplicate site name \"{}\": each site needs its own",
                s.name
            ),
        ));
    }
    let pages = pages(&at, s.ids, s.pages, s.url)?;
    let batch = batch(&at, &pages, s.batch)?;
    check_extract(&at, &s.extract)?;
    for (field, duration) in [("interval", s.interval.0), ("retention", s.retention.0)] {
        if duration.subsec_nanos() != 0 {
            return Err(at.err(
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
        allow_networks.push(check_network(text).map_err(|m| at.err("allow_networks", m))?);
    }
    let timezone = match &s.timezone {
        Some(name) => timezone(name).map_err(|m| at.err("timezone", m))?,
        None => Tz::UTC,
    };
    let request = SiteRequest {
        headers: headers(&at, s.headers.unwrap_or_default())?,
        cookies: cookies(&at, s.cookies.unwrap_or_default())?,
        timeout: s.timeout.map(|t| t.0),
        connect_timeout: s.connect_timeout.map(|t| t.0),
    };
    let charset = match &s.charset {
        Some(label) => Some(charset(label).map_err(|m| at.err("charset", m))?),
        None => None,
    };
    let robots = match s.robots.as_deref() {
        None | Some("obey") => Robots::Obey,
        Some("ignore") => Robots::Ignore,
        Some(other) => {
            return Err(at.err(
                "robots",
                format!("\"{other}\" is neither \"obey\" nor \"ignore\""),
            ))
        }
    };
    Ok(Site {
        name: s.name,
        pages,
        batch,
        interval: s.interval.0,
        retention: s.retention.0,
        extract: s.extract,
        allow_networks,
        timezone,
        request,
        charset,
        robots,
    })
}

/// Headers a site may not set, and why.
const FORBIDDEN_HEADERS: [(&str, &str); 13] = [
    ("host", "the host is the URL's"),
    (
        "content-length",
        "the HTTP client frames the request itself",
    ),
    (
        "transfer-encoding",
        "the HTTP client frames the request itself",
    ),
    ("trailer", "the HTTP client frames the request itself"),
    ("te", "the HTTP client frames the request itself"),
    ("connection", "the HTTP client manages its connections"),
    ("keep-alive", "the HTTP client manages its connections"),
    ("upgrade", "the HTTP client manages its connections"),
    (
        "cookie",
        "write cookies in `cookies`, whose values are kept secret",
    ),
    (
        "accept-encoding",
        "the fetcher negotiates compression and decompresses the body itself",
    ),
    (
        "if-none-match",
        "the fetcher sends its own validators (conditional GET)",
    ),
    (
        "if-modified-since",
        "the fetcher sends its own validators (conditional GET)",
    ),
    ("range", "the fetcher reads whole pages"),
];

/// A site's `headers`: names and values valid for HTTP, none forbidden,
/// none twice. Values are never shown in an error (one may be a token).
fn headers(at: &At, raw: BTreeMap<String, String>) -> Result<HeaderMap, ConfigError> {
    let mut headers = HeaderMap::new();
    for (name, value) in raw {
        let field = format!("headers.{name}");
        let parsed = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            at.err(
                &field,
                format!(
                    "\"{name}\" is not a valid HTTP header name \
                     (letters, digits and !#$%&'*+-.^_`|~ only)"
                ),
            )
        })?;
        if let Some((_, why)) = FORBIDDEN_HEADERS
            .iter()
            .find(|(forbidden, _)| *forbidden == parsed.as_str())
        {
            return Err(at.err(&field, format!("`{name}` may not be set: {why}")));
        }
        let mut value = HeaderValue::from_str(&value).map_err(|_| {
            at.err(
                &field,
                "the value is not a valid HTTP header value: visible ASCII characters, \
                 spaces and tabs only (it is not shown: it may be a secret)"
                    .to_owned(),
            )
        })?;
        value.set_sensitive(true);
        if headers.insert(parsed.clone(), value).is_some() {
            return Err(at.err(
                &field,
                format!("`{parsed}` is given twice (header names ignore case)"),
            ));
        }
    }
    Ok(headers)
}

/// A site's `cookies`: names are HTTP tokens, values cookie octets
/// (RFC 6265 §4.1.1), optionally in double quotes. Values are secrets.
fn cookies(
    at: &At,
    raw: BTreeMap<String, String>,
) -> Result<BTreeMap<String, Secret>, ConfigError> {
    let mut cookies = BTreeMap::new();
    for (name, value) in raw {
        let field = format!("cookies.{name}");
        if name.is_empty() || HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(at.err(
                &field,
                format!(
                    "\"{name}\" is not a valid cookie name \
                     (letters, digits and !#$%&'*+-.^_`|~ only)"
                ),
            ));
        }
        let octets = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(&value);
        let is_octet =
            |b: u8| matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E);
        if !octets.bytes().all(is_octet) {
            return Err(at.err(
                &field,
                "the value holds a character a cookie may not: a space, a control or \
                 non-ASCII character, or one of \" , ; \\ (it is not shown: it is a secret)"
                    .to_owned(),
            ));
        }
        cookies.insert(name, Secret::new(value));
    }
    Ok(cookies)
}

/// The encoding a site's `charset` names, by its WHATWG label.
fn charset(label: &str) -> Result<&'static Encoding, String> {
    match Encoding::for_label(label.as_bytes()) {
        Some(encoding) if encoding == encoding_rs::REPLACEMENT => Err(format!(
            "\"{label}\" names an encoding that decodes every page as one replacement character"
        )),
        Some(encoding) => Ok(encoding),
        None => Err(format!(
            "\"{label}\" is not an encoding label; write one such as \"shift_jis\", \
             \"euc-jp\", \"iso-2022-jp\" or \"utf-8\""
        )),
    }
}

/// A site's pages: an id range with a `url` holding `{id}`, or a page list.
fn pages(
    at: &At,
    ids: Option<RawIds>,
    list: Option<BTreeMap<String, String>>,
    url: Option<String>,
) -> Result<Pages, ConfigError> {
    match (ids, list, url) {
        (Some(ids), None, Some(url)) => {
            if ids.first > ids.last {
                return Err(at.err(
                    "ids",
                    format!(
                        "empty id range: first = {} is after last = {}",
                        ids.first, ids.last
                    ),
                ));
            }
            if !url.contains("{id}") {
                return Err(at.err(
                    "url",
                    format!(
                        "\"{}\" has no {{id}} for the page id to go into",
                        redact_url(&url)
                    ),
                ));
            }
            if origin_of(&url).contains("{id}") {
                return Err(at.err(
                    "url",
                    format!(
                        "\"{}\": {{id}} goes in the path or the query, not the host \
                         (the host is what the fetchers trust for the site)",
                        redact_url(&url)
                    ),
                ));
            }
            // 20 bytes: the longest id, u64::MAX.
            check_url(&url, MAX_URL_BYTES.saturating_sub(20)).map_err(|m| at.err("url", m))?;
            Ok(Pages::Ids {
                url,
                first: ids.first,
                last: ids.last,
            })
        }
        (Some(_), None, None) => Err(at.err(
            "url",
            "an id range needs a `url` with {id} in it".to_owned(),
        )),
        (None, Some(pages), None) => {
            if pages.is_empty() {
                return Err(at.err("pages", "the page list is empty".to_owned()));
            }
            for (id, url) in &pages {
                if !is_token(id) {
                    return Err(at.err(
                        &format!("pages.{id}"),
                        format!("page name \"{id}\" must match [a-z0-9_-]+"),
                    ));
                }
                check_url(url, MAX_URL_BYTES).map_err(|m| at.err(&format!("pages.{id}"), m))?;
            }
            Ok(Pages::List(pages))
        }
        (None, Some(_), Some(_)) => Err(at.err(
            "url",
            "`url` goes with `ids`; a page list carries its own URLs".to_owned(),
        )),
        (Some(_), Some(_), _) => Err(at.err(
            "pages",
            "give either `ids` (with `url`) or `pages`, not both".to_owned(),
        )),
        (None, None, _) => Err(at.err(
            "ids",
            "a site needs `ids = { first, last }` with `url`, or `pages = { name = url }`"
                .to_owned(),
        )),
    }
}

/// How many pages a tick schedules: `batch` of an id range (at most all of
/// it), or the whole page list.
fn batch(at: &At, pages: &Pages, batch: Option<u64>) -> Result<u64, ConfigError> {
    match (pages, batch) {
        (_, Some(0)) => Err(at.err("batch", "must be at least 1".to_owned())),
        (Pages::Ids { .. }, Some(b)) => Ok(b.min(pages.len())),
        (Pages::Ids { .. }, None) | (Pages::List(_), None) => Ok(pages.len()),
        (Pages::List(_), Some(_)) => Err(at.err(
            "batch",
            "a page list is crawled whole every interval; `batch` is for id ranges".to_owned(),
        )),
    }
}

/// The selectors parse, and the timestamp comes with a valid format.
fn check_extract(at: &At, extract: &Extract) -> Result<(), ConfigError> {
    for (field, selector) in [
        ("extract.title", Some(&extract.title)),
        ("extract.entry", Some(&extract.entry)),
        ("extract.text", extract.text.as_ref()),
        ("extract.timestamp", extract.timestamp.as_ref()),
        ("extract.link", extract.link.as_ref()),
    ] {
        if let Some(selector) = selector {
            scraper::Selector::parse(selector).map_err(|e| {
                at.err(
                    field,
                    format!("bad CSS selector \"{selector}\": {}", selector_reason(&e)),
                )
            })?;
        }
    }
    if extract.timestamp.is_some() != extract.timestamp_format.is_some() {
        return Err(at.err(
            "extract.timestamp_format",
            "`timestamp` and `timestamp_format` go together".to_owned(),
        ));
    }
    if let Some(format) = &extract.timestamp_format {
        check_timestamp_format(format).map_err(|m| at.err("extract.timestamp_format", m))?;
    }
    Ok(())
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
    let robots_ttl = raw.robots_ttl.map_or(d.robots_ttl, |t| t.0);
    if robots_ttl > MAX_ROBOTS_TTL {
        return Err((
            "fetcher.robots_ttl",
            format!(
                "must be at most {}: RFC 9309 keeps a robots.txt no longer",
                humantime::format_duration(MAX_ROBOTS_TTL)
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
        robots_ttl,
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

/// An IANA time zone name, as the tz database spells it.
fn timezone(name: &str) -> Result<Tz, String> {
    name.parse().map_err(|_| {
        format!(
            "\"{name}\" is not a time zone of the IANA database; write a name such as \
             \"Asia/Tokyo\", \"Europe/Paris\" or \"UTC\""
        )
    })
}

fn check_timestamp_format(format: &str) -> Result<(), String> {
    use chrono::format::{Item, StrftimeItems};
    if StrftimeItems::new(format).any(|item| matches!(item, Item::Error)) {
        Err(format!("\"{format}\" is not a valid strftime format"))
    } else {
        Ok(())
    }
}
