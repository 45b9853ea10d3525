//! One task, start to end of its work: find the page's configured URL (a
//! task's own URL is never fetched), fetch it (conditionally, politely, if
//! its host's robots.txt allows, with the site's address policy), decode and
//! extract off the async threads, compare with the page's last crawl, and
//! say what is news: the events to publish, the `fetch_failed` that ends a
//! task, and the fetch state recorded once the events are acked. Publishing
//! and acking are `tasks.rs`'s.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::kv;
use chrono::{DateTime, Utc};
use pagefeed_events::config::Robots as RobotsPolicy;
use pagefeed_events::event::{EntryObserved, Event, FetchFailed, PageRecord};
use pagefeed_events::redact::redact_url;
use pagefeed_events::{Config, PageKey, Task};
use tokio::sync::Semaphore;
use tracing::info;

use crate::decode::Charset;
use crate::extract::{ExtractError, Extractor, Limits, Page};
use crate::failure::{Failure, FailureReason};
use crate::fetch_state::{FetchState, PageState};
use crate::http::{FetchError, FetchSettings, HttpClient, Outcome, Validators};
use crate::metrics::Metrics;
use crate::policy::AddressPolicy;
use crate::politeness::Politeness;
use crate::robots::{product_token, Robots};

/// What a successful crawl produced: the events to publish, then the state
/// that [`Crawler::record`] keeps once they are acked.
#[derive(Debug, Clone)]
pub struct Crawled {
    pub events: Vec<Event>,
    pub state: PageState,
    /// How many of the events are new entries.
    pub new_entries: usize,
}

/// Crawls pages: everything a fetcher process needs, shared by its tasks.
pub struct Crawler {
    sites: HashMap<String, SiteCrawler>,
    politeness: Politeness,
    robots: Robots,
    state: FetchState,
    /// Parses at once: one per core. More would only time-share the cores
    /// with the async worker, delaying every NATS round trip behind them.
    /// A permit is held by the parse itself, on its blocking thread.
    parsers: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

/// What crawling one site takes: its pages, and a client with its own
/// address policy.
struct SiteCrawler {
    site: pagefeed_events::Site,
    http: HttpClient,
    extractor: Arc<Extractor>,
    /// The product token the site's robots.txt is read for (from its
    /// `User-Agent` header, or the fetcher's); `None` for a site that
    /// ignores robots.txt.
    robots_agent: Option<String>,
}

impl Crawler {
    /// The crawler of `cfg`'s sites, asking `robots` what they allow and
    /// keeping its figures in `metrics`.
    pub fn new(
        cfg: &Config,
        state: FetchState,
        robots: Robots,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Crawler> {
        let f = &cfg.fetcher;
        let sites = cfg
            .sites
            .iter()
            .map(|site| {
                let settings = FetchSettings::for_site(f, site);
                let robots_agent = (site.robots == RobotsPolicy::Obey).then(|| {
                    let user_agent = site
                        .request
                        .headers
                        .get(reqwest::header::USER_AGENT)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or(&settings.user_agent);
                    product_token(user_agent)
                });
                let crawler = SiteCrawler {
                    site: site.clone(),
                    http: HttpClient::new(settings, AddressPolicy::for_site(site))?,
                    extractor: Arc::new(Extractor::new(
                        &site.extract,
                        site.timezone,
                        Limits::from(f),
                    )?),
                    robots_agent,
                };
                Ok((site.name.clone(), crawler))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Crawler {
            sites,
            politeness: Politeness::new(f.per_host_concurrency, f.per_host_delay),
            robots,
            state,
            parsers: Arc::new(Semaphore::new(
                2 * std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            )),
            metrics,
        })
    }

    /// Where this crawler's figures are kept.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Records what `crawled` saw of `page`, for its next crawl. Call it only
    /// once JetStream has acked the crawl's events: a crash before then means
    /// a recrawl, whose entries de-duplicate by message id.
    pub async fn record(&self, page: &PageKey, crawled: &Crawled) -> Result<(), kv::PutError> {
        self.state.put(page, &crawled.state).await
    }

    /// The `fetch_failed` event that ends the task of `page` after `attempts`
    /// attempts.
    pub fn failed(&self, page: &PageKey, failure: &Failure, attempts: u32) -> Event {
        let url = self
            .page_url(page)
            .map(|url| redact_url(&url).into_owned())
            .unwrap_or_default();
        Event::FetchFailed(FetchFailed {
            page: page.clone(),
            url,
            failed_at: Utc::now(),
            reason: failure.reason.as_str().to_owned(),
            detail: failure.detail.clone(),
            status: failure.reason.status(),
            attempts,
        })
    }

    /// The configured URL of `page`: the only URL a task for it may fetch.
    pub fn page_url(&self, page: &PageKey) -> Result<String, Failure> {
        self.locate(page).map(|(_, url)| url)
    }

    /// The page's site and configured URL.
    fn locate(&self, page: &PageKey) -> Result<(&SiteCrawler, String), Failure> {
        let site = self.sites.get(page.site()).ok_or_else(|| {
            Failure::new(
                FailureReason::UnknownSite,
                format!("no site \"{}\" in this fetcher's config", page.site()),
            )
        })?;
        let url = site.site.page_url(page.id()).ok_or_else(|| {
            Failure::new(
                FailureReason::UnknownPage,
                format!(
                    "site \"{}\" has no page \"{}\" in this fetcher's config",
                    page.site(),
                    page.id()
                ),
            )
        })?;
        Ok((site, url))
    }

    /// One attempt at a task: its page's configured URL is fetched, never
    /// the task's own `url`.
    pub async fn crawl(&self, task: &Task) -> Result<Crawled, Failure> {
        let (site, url) = self.locate(&task.page)?;
        // What events, logs and the fetch state show of the URL.
        let shown = redact_url(&url).into_owned();
        if task.url != shown {
            info!(
                page = %task.page,
                task_url = %redact_url(&task.url),
                url = %shown,
                "the task names another URL; fetching the configured one"
            );
        }
        let extractor = Arc::clone(&site.extractor);
        let charset = site.site.charset;
        let previous = self.state.get(&task.page).await.map_err(|e| {
            Failure::new(
                FailureReason::State,
                format!("cannot read the fetch state: {e}"),
            )
        })?;
        // Validators only make sense for the URL they came from.
        let validators = previous
            .as_ref()
            .filter(|p| p.url == shown)
            .map(PageState::validators)
            .unwrap_or_default();

        let parsed = url::Url::parse(&url).ok();
        let host = parsed
            .as_ref()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        // The host's Crawl-delay, when its robots.txt allows the page.
        let spacing = match (&site.robots_agent, &parsed) {
            (Some(agent), Some(page)) => {
                self.robots
                    .check(page, agent, &site.http, &self.politeness)
                    .await?
            }
            _ => Duration::ZERO,
        };
        let outcome = {
            let asked = Instant::now();
            let _permit = self.politeness.acquire_spaced(&host, spacing).await;
            self.metrics.politeness_wait(asked.elapsed());
            let started = Instant::now();
            let outcome = site.http.fetch(&url, &validators).await;
            let took = started.elapsed();
            match &outcome {
                Ok(Outcome::NotModified { status, .. }) => self.metrics.response(*status, took, 0),
                Ok(Outcome::Fetched(f)) => self.metrics.response(f.status, took, f.body.len()),
                Err(FetchError::HttpStatus { status, .. }) => {
                    self.metrics.response(*status, took, 0);
                }
                Err(_) => self.metrics.no_response(took),
            }
            outcome
        };
        let now = Utc::now();
        let page_key = &task.page;
        match outcome {
            Ok(Outcome::NotModified { status, validators }) => match previous {
                Some(previous) => Ok(unchanged(
                    page_key, &shown, previous, status, validators, now,
                )),
                // Validators without a record cannot happen; be safe anyway.
                None => Err(Failure::new(
                    FailureReason::Other,
                    "304 without a previous crawl",
                )),
            },
            Ok(Outcome::Fetched(fetched)) => {
                let status = fetched.status;
                let validators = fetched.validators.clone();
                let page_url = fetched.url.clone();
                let parser = self.parsers.clone().acquire_owned().await.map_err(|e| {
                    Failure::new(FailureReason::Other, format!("the parsers stopped: {e}"))
                })?;
                // The parse checks its own deadline; this one only guards
                // against a parse that fails to. The permit stays with the
                // parse, so a parse given up on still counts until it ends.
                let guard = extractor.limits().parse_deadline.saturating_mul(2);
                let metrics = Arc::clone(&self.metrics);
                let parse = tokio::task::spawn_blocking(move || {
                    let began = Instant::now();
                    let page = parse(
                        &extractor,
                        &fetched.body,
                        Charset {
                            forced: charset,
                            content_type: fetched.content_type.as_deref(),
                            url: &page_url,
                        },
                        now,
                    );
                    metrics.parsed(began.elapsed());
                    drop(parser);
                    page
                });
                let page = tokio::time::timeout(guard, parse)
                    .await
                    .map_err(|_| {
                        Failure::new(
                            FailureReason::ParseTimeout,
                            format!("the parse went on past twice parse_deadline ({guard:?})"),
                        )
                    })?
                    .map_err(|e| {
                        Failure::new(FailureReason::Other, format!("the parser stopped: {e}"))
                    })??;
                Ok(news(
                    page_key, &shown, previous, page, status, validators, now,
                ))
            }
            Err(e) => Err(Failure::from(e)),
        }
    }
}

/// Decodes and extracts (CPU work: runs on a blocking thread), within the
/// extractor's `parse_deadline`.
fn parse(
    extractor: &Extractor,
    body: &[u8],
    charset: Charset<'_>,
    now: DateTime<Utc>,
) -> Result<Page, Failure> {
    let deadline = extractor.deadline();
    let decoded = charset.decode(body);
    match extractor.extract_within(&decoded.text, charset.url, now, &deadline) {
        Ok(page) => Ok(page),
        Err(e @ ExtractError::Timeout { .. }) => {
            Err(Failure::new(FailureReason::from(&e), e.detail()))
        }
        Err(e @ ExtractError::NoEntries { .. }) => {
            // Mostly replacement characters: the bytes were not text in the
            // charset the page claimed (or not text at all).
            let replaced = decoded.text.chars().filter(|&c| c == '\u{FFFD}').count();
            if decoded.had_errors && replaced * 20 > decoded.text.chars().count() {
                Err(Failure::new(
                    FailureReason::Undecodable,
                    format!(
                        "the body does not decode as {} ({})",
                        decoded.encoding,
                        decoded.source.as_str()
                    ),
                ))
            } else {
                Err(Failure::new(FailureReason::NoEntries, e.to_string()))
            }
        }
    }
}

/// Every entry already known: one small event with the page record.
fn unchanged(
    page: &PageKey,
    url: &str,
    previous: PageState,
    status: u16,
    validators: Validators,
    now: DateTime<Utc>,
) -> Crawled {
    let record = PageRecord {
        page: page.clone(),
        url: url.to_owned(),
        title: previous.title.clone(),
        crawled_at: now,
        status,
        entries: u32::try_from(previous.ids.len()).unwrap_or(u32::MAX),
    };
    Crawled {
        events: vec![Event::PageUnchanged(record)],
        state: PageState {
            url: url.to_owned(),
            etag: validators.etag,
            last_modified: validators.last_modified,
            ..previous
        },
        new_entries: 0,
    }
}

/// The entries not seen in the last crawl become events, followed by the page
/// record; no news is a `page_unchanged`.
fn news(
    key: &PageKey,
    url: &str,
    previous: Option<PageState>,
    page: Page,
    status: u16,
    validators: Validators,
    now: DateTime<Utc>,
) -> Crawled {
    // Never crawled before: its entries are what the page already showed.
    let first_crawl = previous.is_none();
    let known: HashSet<&str> = previous
        .iter()
        .flat_map(|p| p.ids.iter().map(String::as_str))
        .collect();
    let record = PageRecord {
        page: key.clone(),
        url: url.to_owned(),
        title: page.title.clone(),
        crawled_at: now,
        status,
        entries: u32::try_from(page.entries.len()).unwrap_or(u32::MAX),
    };
    // The entries move into their events; only the ids are kept twice.
    let mut events = Vec::with_capacity(page.entries.len() + 1);
    let mut ids = Vec::with_capacity(page.entries.len());
    for entry in page.entries {
        if !known.contains(entry.id.as_str()) {
            events.push(Event::EntryObserved(EntryObserved {
                page: key.clone(),
                id: entry.id.clone(),
                text: entry.text,
                timestamp: entry.timestamp,
                link: entry.link,
                observed_at: now,
                first_crawl,
            }));
        }
        ids.push(entry.id);
    }
    let new_entries = events.len();
    let title_changed = previous.as_ref().is_some_and(|p| p.title != page.title);
    if new_entries == 0 && !title_changed && previous.is_some() {
        events.push(Event::PageUnchanged(record));
    } else {
        events.push(Event::PageCrawled(record));
    }
    Crawled {
        events,
        state: PageState {
            url: url.to_owned(),
            title: page.title,
            ids,
            etag: validators.etag,
            last_modified: validators.last_modified,
        },
        new_entries,
    }
}
