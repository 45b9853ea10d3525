//! The `pagefeed-fetcher extract` command: fetches one page (or reads a
//! saved one), decodes and extracts it with a site's selectors, and reports
//! what was found (the binary prints it as JSON), to tune selectors the way
//! `scrapy parse` does. Nothing is published.

use std::path::PathBuf;

use anyhow::Context as _;
use chrono::Utc;
use pagefeed_events::redact::redact_url;
use pagefeed_events::Config;
use serde::Serialize;

use crate::decode::Charset;
use crate::extract::{Entry, Extractor, Limits};
use crate::http::{FetchSettings, HttpClient, Outcome, Validators};
use crate::policy::AddressPolicy;

/// Where the page comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Fetched with the fetcher's HTTP client, the config's `[fetcher]`
    /// settings and the site's own (headers and cookies to its hosts only).
    Url(String),
    /// A saved page; links are resolved against `base_url`, by default the
    /// file's own `file://` URL.
    File {
        path: PathBuf,
        base_url: Option<String>,
    },
}

/// The site named on the command line is not in the config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no site \"{name}\" in {file}; its sites are: {}", known.join(", "))]
pub struct UnknownSite {
    pub name: String,
    pub file: String,
    pub known: Vec<String>,
}

/// What the command prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub site: String,
    /// The final URL (after redirects), or the base URL of a file.
    pub url: String,
    /// The HTTP status; none for a file.
    pub status: Option<u16>,
    pub encoding: &'static str,
    pub title: String,
    pub entries: Vec<Entry>,
    pub count: usize,
}

/// Fetches or reads the page, decodes and extracts it. An unknown site is
/// an [`UnknownSite`] error; a failed fetch or a page without entries is an
/// error too.
pub async fn inspect(cfg: &Config, site: &str, source: Source) -> anyhow::Result<Report> {
    let Some(site_cfg) = cfg.site(site) else {
        return Err(UnknownSite {
            name: site.to_owned(),
            file: cfg.path.display().to_string(),
            known: cfg.sites.iter().map(|s| s.name.clone()).collect(),
        }
        .into());
    };
    // The fetcher's own caps and deadline: what is shown here is what a
    // crawl would publish.
    let extractor = Extractor::new(
        &site_cfg.extract,
        site_cfg.timezone,
        Limits::from(&cfg.fetcher),
    )
    .with_context(|| format!("site \"{site}\""))?;

    let (url, status, content_type, body) = match source {
        Source::Url(url) => {
            // The URL on the command line is the operator's word, like the
            // site's own hosts; redirects elsewhere follow the site's policy.
            let policy = AddressPolicy::for_site(site_cfg).trusting_host_of(&url);
            let client = HttpClient::new(FetchSettings::for_site(&cfg.fetcher, site_cfg), policy)?;
            let shown = redact_url(&url).into_owned();
            let outcome = client
                .fetch(&url, &Validators::default())
                .await
                .map_err(|e| anyhow::anyhow!("fetching {shown}: {}: {}", e.reason(), e.detail()))?;
            match outcome {
                Outcome::Fetched(page) => {
                    (page.url, Some(page.status), page.content_type, page.body)
                }
                Outcome::NotModified { status, .. } => {
                    anyhow::bail!("fetching {shown}: the server answered {status} Not Modified to an unconditional GET")
                }
            }
        }
        Source::File { path, base_url } => {
            let body = tokio::fs::read(&path)
                .await
                .with_context(|| format!("reading {}", path.display()))?;
            let url = match base_url {
                Some(url) => url,
                None => file_url(&path)?,
            };
            (url, None, None, body.into())
        }
    };

    let deadline = extractor.deadline();
    let decoded = Charset {
        forced: site_cfg.charset,
        content_type: content_type.as_deref(),
        url: &url,
    }
    .decode(&body);
    let page = extractor
        .extract_within(&decoded.text, &url, Utc::now(), &deadline)
        .map_err(|e| anyhow::anyhow!("{url}: {}: {}", e.reason(), e.detail()))?;
    Ok(Report {
        site: site.to_owned(),
        url,
        status,
        encoding: decoded.encoding,
        title: page.title,
        count: page.entries.len(),
        entries: page.entries,
    })
}

fn file_url(path: &std::path::Path) -> anyhow::Result<String> {
    let absolute =
        std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))?;
    url::Url::from_file_path(&absolute)
        .map(String::from)
        .map_err(|()| anyhow::anyhow!("{} cannot be made a file:// URL", absolute.display()))
}
