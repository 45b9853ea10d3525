//! One site's selectors and timestamp format, compiled once from its
//! `[site.extract]` section, with its time zone and the limits of a page.

use anyhow::{anyhow, Context as _};
use chrono::format::{Item, StrftimeItems};
use chrono_tz::Tz;
use pagefeed_events::config::Extract;
use scraper::Selector;

use super::Limits;
use crate::deadline::Deadline;

/// One site's selectors, compiled once, and the limits of a page.
#[derive(Debug)]
pub struct Extractor {
    pub(super) title: Selector,
    pub(super) entry: Selector,
    /// The entry selector as configured, for [`super::ExtractError::NoEntries`].
    pub(super) entry_text: String,
    pub(super) text: Option<Selector>,
    pub(super) timestamp: Option<(Selector, Vec<Item<'static>>)>,
    pub(super) link: Option<Selector>,
    /// The site's `timezone`: what a timestamp without an offset is read in.
    pub(super) zone: Tz,
    pub(super) limits: Limits,
    /// The selectors again, when the page can be read without a tree
    /// (see `stream`).
    pub(super) stream: Option<super::stream::Selectors>,
}

fn selector(field: &str, css: &str) -> anyhow::Result<Selector> {
    Selector::parse(css).map_err(|e| anyhow!("extract.{field}: bad CSS selector \"{css}\": {e}"))
}

impl Extractor {
    /// `zone` is the site's `timezone`, where its pages' times are local.
    pub fn new(extract: &Extract, zone: Tz, limits: Limits) -> anyhow::Result<Self> {
        let timestamp = match (&extract.timestamp, &extract.timestamp_format) {
            (Some(css), Some(format)) => {
                let items = StrftimeItems::new(format)
                    .parse_to_owned()
                    .with_context(|| {
                        format!(
                            "extract.timestamp_format: \"{format}\" is not a valid strftime format"
                        )
                    })?;
                Some((selector("timestamp", css)?, items))
            }
            (None, None) => None,
            _ => anyhow::bail!("extract: `timestamp` and `timestamp_format` go together"),
        };
        Ok(Extractor {
            title: selector("title", &extract.title)?,
            entry: selector("entry", &extract.entry)?,
            entry_text: extract.entry.clone(),
            text: extract
                .text
                .as_deref()
                .map(|css| selector("text", css))
                .transpose()?,
            timestamp,
            link: extract
                .link
                .as_deref()
                .map(|css| selector("link", css))
                .transpose()?,
            zone,
            limits,
            stream: super::stream::Selectors::new(extract),
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The deadline of a page whose work starts now.
    pub fn deadline(&self) -> Deadline {
        Deadline::after(self.limits.parse_deadline)
    }
}
