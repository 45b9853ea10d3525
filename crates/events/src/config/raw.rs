//! The config file as written: the TOML tables deserialised as they are
//! (durations in human form, everything optional that has a default), with
//! the line, site and field of any error. [`super::validate`] turns them into
//! a [`super::Config`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{is_secret_field, ConfigError, Extract};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) nats: Option<RawNats>,
    pub(super) scheduler: Option<RawScheduler>,
    pub(super) fetcher: Option<RawFetcher>,
    #[serde(default)]
    pub(super) site: Vec<RawSite>,
    pub(super) notifier: Option<RawNotifier>,
    #[serde(default)]
    pub(super) notify: Vec<RawNotify>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotifier {
    pub(super) concurrency: Option<usize>,
    pub(super) timeout: Option<HumanDuration>,
    pub(super) ack_wait: Option<HumanDuration>,
    pub(super) retry_max: Option<HumanDuration>,
}

/// One `[[notify]]` destination as written; exactly one of `webhook` and
/// `ntfy` is checked by validation, so that the error names the field.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    pub(super) name: String,
    pub(super) site: Option<String>,
    pub(super) webhook: Option<String>,
    pub(super) ntfy: Option<String>,
    pub(super) token: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFetcher {
    pub(super) concurrency: Option<usize>,
    pub(super) user_agent: Option<String>,
    pub(super) connect_timeout: Option<HumanDuration>,
    pub(super) timeout: Option<HumanDuration>,
    pub(super) max_body_bytes: Option<usize>,
    pub(super) max_redirects: Option<usize>,
    pub(super) per_host_concurrency: Option<usize>,
    pub(super) per_host_delay: Option<Delay>,
    pub(super) max_attempts: Option<u32>,
    pub(super) retry_backoff: Option<HumanDuration>,
    pub(super) ack_wait: Option<HumanDuration>,
    pub(super) max_entries: Option<usize>,
    pub(super) max_entry_text_bytes: Option<usize>,
    pub(super) max_title_bytes: Option<usize>,
    pub(super) parse_deadline: Option<HumanDuration>,
    pub(super) robots_ttl: Option<HumanDuration>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNats {
    pub(super) url: Option<String>,
    pub(super) replicas: Option<usize>,
    pub(super) user: Option<String>,
    pub(super) password: Option<String>,
    pub(super) token: Option<String>,
    pub(super) creds: Option<PathBuf>,
    pub(super) tls_ca: Option<PathBuf>,
    pub(super) tls_cert: Option<PathBuf>,
    pub(super) tls_key: Option<PathBuf>,
    #[serde(default)]
    pub(super) tls_required: bool,
    pub(super) task_ttl: Option<HumanDuration>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScheduler {
    pub(super) retention_every: Option<HumanDuration>,
    pub(super) sweep_every: Option<HumanDuration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSite {
    pub(super) name: String,
    pub(super) url: Option<String>,
    pub(super) ids: Option<RawIds>,
    pub(super) pages: Option<BTreeMap<String, String>>,
    pub(super) batch: Option<u64>,
    pub(super) interval: HumanDuration,
    pub(super) retention: HumanDuration,
    pub(super) extract: Extract,
    #[serde(default)]
    pub(super) allow_networks: Vec<String>,
    pub(super) timezone: Option<String>,
    pub(super) headers: Option<BTreeMap<String, String>>,
    pub(super) cookies: Option<BTreeMap<String, String>>,
    pub(super) timeout: Option<HumanDuration>,
    pub(super) connect_timeout: Option<HumanDuration>,
    pub(super) charset: Option<String>,
    pub(super) robots: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIds {
    pub(super) first: u64,
    pub(super) last: u64,
}

/// A duration written the human way: `10s`, `5m`, `7d`, `1h 30m`.
pub(super) struct HumanDuration(pub(super) Duration);

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
pub(super) struct Delay(pub(super) Duration);

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

pub(super) fn parse_raw(path: &Path, text: &str) -> Result<RawConfig, ConfigError> {
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
        if field.as_deref().is_some_and(is_secret_field) {
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
    if let Some(rest) = path.strip_prefix("notify[") {
        // `notify[0].token` becomes `notify.<its name>.token`.
        let (index, field) = rest.split_once(']').unwrap_or((rest, ""));
        let name = index
            .parse::<usize>()
            .ok()
            .map_or_else(|| index.to_owned(), |i| table_name_at(text, "notify", i));
        return (None, Some(format!("notify.{name}{field}")));
    }
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
    table_name_at(text, "site", index)
}

/// The `name` of the `index`-th `[[table]]`, or `#N` when it has none.
fn table_name_at(text: &str, table: &str, index: usize) -> String {
    let name = toml::from_str::<toml::Table>(text).ok().and_then(|t| {
        t.get(table)?
            .as_array()?
            .get(index)?
            .get("name")?
            .as_str()
            .map(str::to_owned)
    });
    name.unwrap_or_else(|| format!("#{}", index + 1))
}
