//! Pulling a page's title and entries out of its HTML with one site's CSS
//! selectors (scraper, an HTML5 parser, so broken markup parses as a browser
//! would). Synchronous and CPU-bound: run it on a blocking thread.
//!
//! What a page may cost is bounded: the work stops at a [`Deadline`], the
//! entries are found in one walk of the tree that does not enter an entry
//! (an entry inside another is part of the outer one's markup, not an entry
//! of its own), and entries, texts, titles and links are capped
//! ([`Limits`]), so that every event built from a page is within
//! `pagefeed_events::limits`.
//!
//! A page rendered by JavaScript has no entries in its HTML, and a fetcher
//! that does not run scripts cannot see them: that is out of scope, and such
//! a page is reported as [`ExtractError::NoEntries`], never as an empty page.

use std::time::Duration;

use anyhow::{anyhow, Context as _};
use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{DateTime, Datelike as _, Days, NaiveTime, Utc};
use ego_tree::NodeRef;
use pagefeed_events::config::{Extract, FetcherConfig};
use pagefeed_events::event::content_id;
use pagefeed_events::limits::{truncate_to, MAX_DETAIL_BYTES, MAX_URL_BYTES};
use scraper::{ElementRef, Node, Selector};
use serde::Serialize;
use tracing::{debug, info};

use crate::deadline::{Deadline, Expired};
use crate::failure::FailureReason;
use crate::parse::{parse_document, MAX_OPEN_ELEMENTS};

/// Nodes visited between two looks at the clock while looking for matches.
const NODES_PER_CHECK: usize = 1024;

/// The most of a timestamp's text that is read: a longer one does not parse.
const MAX_TIMESTAMP_TEXT_BYTES: usize = 256;

/// What one page may cost and hold, from `[fetcher]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Entries kept, in page order; the rest are dropped.
    pub max_entries: usize,
    /// An entry's text is cut to this many bytes.
    pub max_entry_text_bytes: usize,
    /// The title is cut to this many bytes.
    pub max_title_bytes: usize,
    /// Decoding, parsing and extracting one page.
    pub parse_deadline: Duration,
}

impl From<&FetcherConfig> for Limits {
    fn from(f: &FetcherConfig) -> Limits {
        Limits {
            max_entries: f.max_entries,
            max_entry_text_bytes: f.max_entry_text_bytes,
            max_title_bytes: f.max_title_bytes,
            parse_deadline: f.parse_deadline,
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::from(&FetcherConfig::default())
    }
}

/// One site's selectors, compiled once, and the limits of a page.
#[derive(Debug)]
pub struct Extractor {
    title: Selector,
    entry: Selector,
    entry_text: String,
    text: Option<Selector>,
    timestamp: Option<(Selector, Vec<Item<'static>>)>,
    link: Option<Selector>,
    limits: Limits,
}

/// What a page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page {
    /// Whitespace-normalised, at most `max_title_bytes`; empty when the
    /// title selector matches nothing.
    pub title: String,
    /// In page order, at most `max_entries`, none inside another.
    pub entries: Vec<Entry>,
}

/// One entry of a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// [`content_id`] of the entry's markup as scraper serialises it: the
    /// same entry gives the same id in every process, whatever the page's
    /// charset; any change to its markup gives a new id.
    pub id: String,
    /// Whitespace-normalised, at most `max_entry_text_bytes`.
    pub text: String,
    /// Read with the site's `timestamp_format`, as UTC; `None` when the
    /// entry has none or it does not parse.
    pub timestamp: Option<DateTime<Utc>>,
    /// The link's `href`, absolute; `None` when longer than
    /// [`MAX_URL_BYTES`].
    pub link: Option<String>,
}

/// Why a page gave nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    #[error(
        "no element matches the entry selector `{selector}`; if the page builds its \
         content with JavaScript, it is out of scope: pagefeed reads the HTML as served"
    )]
    NoEntries { selector: String },
    #[error(
        "decoding, parsing and extracting the page took longer than parse_deadline ({deadline:?})"
    )]
    Timeout { deadline: Duration },
}

impl ExtractError {
    /// The reason code of a `fetch_failed` event.
    pub fn reason(&self) -> &'static str {
        FailureReason::from(self).as_str()
    }

    /// The message, within [`MAX_DETAIL_BYTES`].
    pub fn detail(&self) -> String {
        let mut detail = self.to_string();
        truncate_to(&mut detail, MAX_DETAIL_BYTES);
        detail
    }
}

fn selector(field: &str, css: &str) -> anyhow::Result<Selector> {
    Selector::parse(css).map_err(|e| anyhow!("extract.{field}: bad CSS selector \"{css}\": {e}"))
}

impl Extractor {
    pub fn new(extract: &Extract, limits: Limits) -> anyhow::Result<Self> {
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
            limits,
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The deadline of a page whose work starts now.
    pub fn deadline(&self) -> Deadline {
        Deadline::after(self.limits.parse_deadline)
    }

    /// Extracts from `html`; links are resolved against `page_url`, and
    /// timestamps without a year get one from `now`. Only the outermost
    /// entries count: an element the entry selector matches inside another
    /// one is left in the outer one's markup and text. The deadline starts
    /// now.
    pub fn extract(
        &self,
        html: &str,
        page_url: &str,
        now: DateTime<Utc>,
    ) -> Result<Page, ExtractError> {
        self.extract_within(html, page_url, now, &self.deadline())
    }

    /// [`Extractor::extract`], within a deadline started before (for the
    /// decoding to count too).
    pub fn extract_within(
        &self,
        html: &str,
        page_url: &str,
        now: DateTime<Utc>,
        deadline: &Deadline,
    ) -> Result<Page, ExtractError> {
        let timeout = |Expired| ExtractError::Timeout {
            deadline: deadline.budget(),
        };
        let parsed = parse_document(html, deadline).map_err(timeout)?;
        if parsed.cut {
            info!(
                page = page_url,
                max_open_elements = MAX_OPEN_ELEMENTS,
                "the page nests elements too deep; read up to there"
            );
        }
        let root = parsed.html.tree.root();
        let title = find_under(root, None, &self.title, deadline, Some)
            .map_err(timeout)?
            .map(|title| normalized_text(title, self.limits.max_title_bytes))
            .unwrap_or_default();
        let base = url::Url::parse(page_url).ok();
        let mut entries = Vec::new();
        // Depth first, in page order, without entering an entry: each node
        // is visited once, whatever the nesting.
        let mut next = root.first_child();
        let mut visited = 0_usize;
        while let Some(node) = next {
            visited = visited.wrapping_add(1);
            if visited.is_multiple_of(NODES_PER_CHECK) && deadline.passed() {
                return Err(timeout(Expired));
            }
            let Some(element) = ElementRef::wrap(node).filter(|e| self.entry.matches(e)) else {
                next = node.first_child().or_else(|| after(node));
                continue;
            };
            if entries.len() == self.limits.max_entries {
                debug!(
                    page = page_url,
                    max_entries = self.limits.max_entries,
                    "entries past max_entries dropped"
                );
                break;
            }
            entries.push(
                self.entry(element, base.as_ref(), now, deadline)
                    .map_err(timeout)?,
            );
            next = after(node);
        }
        if entries.is_empty() {
            return Err(ExtractError::NoEntries {
                selector: self.entry_text.clone(),
            });
        }
        Ok(Page { title, entries })
    }

    fn entry(
        &self,
        element: ElementRef<'_>,
        base: Option<&url::Url>,
        now: DateTime<Utc>,
        deadline: &Deadline,
    ) -> Result<Entry, Expired> {
        let max_text = self.limits.max_entry_text_bytes;
        let text = match &self.text {
            Some(sel) => find_under(*element, Some(element), sel, deadline, Some)?
                .map(|text| normalized_text(text, max_text))
                .unwrap_or_default(),
            None => normalized_text(element, max_text),
        };
        let timestamp = match &self.timestamp {
            Some((sel, items)) => find_under(*element, Some(element), sel, deadline, Some)?
                .and_then(|shown| {
                    let shown = normalized_text(shown, MAX_TIMESTAMP_TEXT_BYTES);
                    parse_timestamp(&shown, items, now)
                }),
            None => None,
        };
        let link = match &self.link {
            Some(sel) => find_under(*element, Some(element), sel, deadline, |a| {
                a.value().attr("href")
            })?
            .and_then(|href| absolute(href, base))
            .filter(|link| link.len() <= MAX_URL_BYTES),
            None => None,
        };
        Ok(Entry {
            id: content_id(element.html().as_bytes()),
            text,
            timestamp,
            link,
        })
    }
}

/// The node that follows `node`'s subtree in page order: its next sibling,
/// or the next sibling of its nearest ancestor that has one.
fn after(node: NodeRef<'_, Node>) -> Option<NodeRef<'_, Node>> {
    let mut node = node;
    loop {
        if let Some(sibling) = node.next_sibling() {
            return Some(sibling);
        }
        node = node.parent()?;
    }
}

/// The first `found(element)` that is `Some`, over the elements below
/// `under` (not itself) that `selector` matches, in page order. `scope` is
/// what `:scope` means, as in `ElementRef::select`.
fn find_under<'a, T>(
    under: NodeRef<'a, Node>,
    scope: Option<ElementRef<'a>>,
    selector: &Selector,
    deadline: &Deadline,
    mut found: impl FnMut(ElementRef<'a>) -> Option<T>,
) -> Result<Option<T>, Expired> {
    for (visited, node) in under.descendants().skip(1).enumerate() {
        if visited % NODES_PER_CHECK == NODES_PER_CHECK - 1 && deadline.passed() {
            return Err(Expired);
        }
        let Some(element) = ElementRef::wrap(node) else {
            continue;
        };
        if selector.matches_with_scope(&element, scope) {
            if let Some(value) = found(element) {
                return Ok(Some(value));
            }
        }
    }
    Ok(None)
}

/// The element's text nodes joined as they are (no space is added between
/// elements: `今日は<b>渋谷</b>で` stays one word), with every run of
/// whitespace (Unicode's, so the ideographic space too) made one space, and
/// none at either end; at most `max` bytes, whole characters, read no
/// further than that.
fn normalized_text(element: ElementRef<'_>, max: usize) -> String {
    let mut out = String::new();
    let mut space = false;
    for piece in element.text() {
        for c in piece.chars() {
            if c.is_whitespace() {
                space = true;
                continue;
            }
            let gap = space && !out.is_empty();
            if out.len() + usize::from(gap) + c.len_utf8() > max {
                return out;
            }
            if gap {
                out.push(' ');
            }
            space = false;
            out.push(c);
        }
    }
    out
}

fn absolute(href: &str, base: Option<&url::Url>) -> Option<String> {
    let url = match base {
        Some(base) => base.join(href),
        None => url::Url::parse(href),
    };
    url.ok().map(String::from)
}

/// Reads `text` with the site's format, as UTC. What the format leaves out
/// is taken from `now`, the way a reader of the page would:
/// - no year (`2月13日 16:45`): this year, or last year when the month is
///   after the current one (a December entry seen in January);
/// - no date at all (`16:45`): today, or yesterday when that is in the future;
/// - no time (`2026-02-13`): midnight.
///
/// A format with an offset (`%z`) is converted to UTC; a `%s` timestamp is
/// taken as is.
fn parse_timestamp(
    text: &str,
    items: &[Item<'static>],
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let mut parsed = Parsed::new();
    chrono::format::parse(&mut parsed, text, items.iter()).ok()?;
    if parsed.offset().is_some() && parsed.timestamp().is_none() {
        return parsed.to_datetime().ok().map(|t| t.with_timezone(&Utc));
    }
    let has_year = parsed.year().is_some()
        || parsed.year_mod_100().is_some()
        || parsed.isoyear().is_some()
        || parsed.timestamp().is_some();
    let mut yesterday_if_future = false;
    if !has_year {
        match parsed.month() {
            Some(month) => {
                let year = now.year() - i32::from(month > now.month());
                parsed.set_year(i64::from(year)).ok()?;
            }
            None if parsed.day().is_none() => {
                parsed.set_year(i64::from(now.year())).ok()?;
                parsed.set_month(i64::from(now.month())).ok()?;
                parsed.set_day(i64::from(now.day())).ok()?;
                yesterday_if_future = true;
            }
            None => return None,
        }
    }
    let naive = match parsed.to_naive_datetime_with_offset(0) {
        Ok(naive) => naive,
        Err(_) => parsed.to_naive_date().ok()?.and_time(NaiveTime::MIN),
    };
    let at = naive.and_utc();
    if yesterday_if_future && at > now {
        return at.checked_sub_days(Days::new(1));
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use scraper::Html;

    fn items(format: &str) -> Vec<Item<'static>> {
        StrftimeItems::new(format).parse_to_owned().unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn ts(text: &str, format: &str, now: &str) -> Option<String> {
        parse_timestamp(text, &items(format), at(now)).map(|t| t.to_rfc3339())
    }

    #[test]
    fn unpadded_month_and_day_parse() {
        let f = "%m月%d日 %H:%M";
        let now = "2026-03-01T00:00:00Z";
        assert_eq!(
            ts("2月13日 16:45", f, now).as_deref(),
            Some("2026-02-13T16:45:00+00:00")
        );
        assert_eq!(
            ts("1月3日 05:03", f, now).as_deref(),
            Some("2026-01-03T05:03:00+00:00")
        );
        assert_eq!(
            ts("02月03日 05:03", f, now).as_deref(),
            Some("2026-02-03T05:03:00+00:00")
        );
    }

    #[test]
    fn a_later_month_than_now_is_last_year() {
        let f = "%m月%d日 %H:%M";
        let now = "2026-01-05T10:00:00Z";
        assert_eq!(
            ts("12月31日 23:59", f, now).as_deref(),
            Some("2025-12-31T23:59:00+00:00")
        );
        assert_eq!(
            ts("1月5日 09:00", f, now).as_deref(),
            Some("2026-01-05T09:00:00+00:00")
        );
    }

    #[test]
    fn full_dates_and_offsets_parse_as_they_are() {
        let now = "2030-01-01T00:00:00Z";
        assert_eq!(
            ts("2024-07-01 12:30", "%Y-%m-%d %H:%M", now).as_deref(),
            Some("2024-07-01T12:30:00+00:00")
        );
        assert_eq!(
            ts("2024-07-01T12:30:00+09:00", "%Y-%m-%dT%H:%M:%S%:z", now).as_deref(),
            Some("2024-07-01T03:30:00+00:00")
        );
        assert_eq!(
            ts("2024年7月1日", "%Y年%m月%d日", now).as_deref(),
            Some("2024-07-01T00:00:00+00:00")
        );
        assert_eq!(
            ts("1700000000", "%s", now).as_deref(),
            Some("2023-11-14T22:13:20+00:00")
        );
    }

    #[test]
    fn a_time_alone_is_today_or_yesterday() {
        let now = "2026-02-13T12:00:00Z";
        assert_eq!(
            ts("09:15", "%H:%M", now).as_deref(),
            Some("2026-02-13T09:15:00+00:00")
        );
        assert_eq!(
            ts("23:15", "%H:%M", now).as_deref(),
            Some("2026-02-12T23:15:00+00:00")
        );
    }

    #[test]
    fn unparsable_timestamps_are_none() {
        let f = "%m月%d日 %H:%M";
        let now = "2026-03-01T00:00:00Z";
        assert_eq!(ts("昨日", f, now), None);
        assert_eq!(ts("13月1日 00:00", f, now), None);
        assert_eq!(ts("2月13日 16:45 投稿", f, now), None);
        assert_eq!(ts("", f, now), None);
    }

    fn extract(
        e: &Extractor,
        html: &str,
        page_url: &str,
        now: DateTime<Utc>,
    ) -> Result<Page, ExtractError> {
        e.extract(html, page_url, now)
    }

    /// Entries whose text is all of their text, without timestamp or link.
    fn whole_entries(entry: &str) -> Extract {
        Extract {
            title: "title".into(),
            entry: entry.into(),
            text: None,
            timestamp: None,
            timestamp_format: None,
            link: None,
        }
    }

    fn extractor() -> Extractor {
        Extractor::new(
            &Extract {
                title: "title".into(),
                entry: "div.entry".into(),
                text: Some("p".into()),
                timestamp: Some("span.at".into()),
                timestamp_format: Some("%m月%d日 %H:%M".into()),
                link: Some("a".into()),
            },
            Limits::default(),
        )
        .unwrap()
    }

    const HTML: &str = "<html><head><title>\n  日記\t の  一覧 </title></head><body>\
        <div class=entry><span class=at> 2月13日 16:45 </span><p> 渋谷で\n  ラーメン </p>\
        <a name=x>no href</a><a href=\"/view?id=1&amp;k=2\">more</a></div>\
        <div class=entry><p>two</p><span class=at>nope</span><a href=\"https://other.example/x\">x</a></div>\
        <div class=entry>no paragraph</div></body></html>";

    #[test]
    fn title_text_timestamp_and_link() {
        let page = extract(
            &extractor(),
            HTML,
            "http://site.example/list?page=1",
            at("2026-03-01T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(page.title, "日記 の 一覧");
        assert_eq!(page.entries.len(), 3);
        let first = &page.entries[0];
        assert_eq!(first.text, "渋谷で ラーメン");
        assert_eq!(first.timestamp, Some(at("2026-02-13T16:45:00Z")));
        assert_eq!(
            first.link.as_deref(),
            Some("http://site.example/view?id=1&k=2")
        );
        assert_eq!(first.id.len(), 32);
        let second = &page.entries[1];
        assert_eq!((second.text.as_str(), second.timestamp), ("two", None));
        assert_eq!(second.link.as_deref(), Some("https://other.example/x"));
        let third = &page.entries[2];
        assert_eq!((third.text.as_str(), third.link.as_deref()), ("", None));
    }

    #[test]
    fn without_a_text_selector_the_whole_entry_is_the_text() {
        let e = Extractor::new(&whole_entries("div.entry"), Limits::default()).unwrap();
        let page = extract(&e, HTML, "http://site.example/", Utc::now()).unwrap();
        assert_eq!(page.entries[2].text, "no paragraph");
        // Text nodes are joined as they are (XPath's `string()`): no space
        // is invented between elements, which would split Japanese words.
        assert_eq!(page.entries[1].text, "twonopex");
    }

    #[test]
    fn ids_follow_the_markup() {
        let e = extractor();
        let now = Utc::now();
        let a = extract(&e, HTML, "http://site.example/", now).unwrap();
        let b = extract(&e, HTML, "http://elsewhere.example/", now).unwrap();
        let ids = |p: &Page| p.entries.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b));
        let changed = HTML.replace("two", "deux");
        let c = extract(&e, &changed, "http://site.example/", now).unwrap();
        assert_eq!(ids(&a)[0], ids(&c)[0]);
        assert_ne!(ids(&a)[1], ids(&c)[1]);
    }

    #[test]
    fn no_entries_is_an_error_that_mentions_javascript() {
        let err = extract(
            &extractor(),
            "<html><body><div id=app></div></body></html>",
            "http://x/",
            Utc::now(),
        )
        .unwrap_err();
        assert_eq!(err.reason(), "no_entries");
        assert!(err.detail().contains("JavaScript"), "{err}");
        assert!(err.detail().contains("div.entry"), "{err}");
    }

    #[test]
    fn bad_selectors_are_refused() {
        let mut extract = Extract {
            title: "title".into(),
            entry: "div..x[".into(),
            text: None,
            timestamp: None,
            timestamp_format: None,
            link: None,
        };
        assert!(Extractor::new(&extract, Limits::default()).is_err());
        extract.entry = "div".into();
        extract.timestamp = Some("span".into());
        assert!(
            Extractor::new(&extract, Limits::default()).is_err(),
            "timestamp without format"
        );
    }

    #[test]
    fn an_entry_inside_an_entry_is_part_of_the_outer_one() {
        let html =
            "<body><div class=entry>one<div class=entry>two<div class=entry>three</div></div>\
            </div><p><div class=entry>four</div></p><div class=entry>five</div></body>";
        let e = Extractor::new(&whole_entries("div.entry"), Limits::default()).unwrap();
        let page = extract(&e, html, "http://x/", Utc::now()).unwrap();
        let texts: Vec<&str> = page.entries.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(texts, ["onetwothree", "four", "five"]);
        let document = Html::parse_document(html);
        let outer = document
            .select(&Selector::parse("div.entry").unwrap())
            .next()
            .unwrap();
        assert_eq!(page.entries[0].id, content_id(outer.html().as_bytes()));
    }

    #[test]
    fn ids_of_a_page_without_nesting_are_the_markup_hashes_they_always_were() {
        // What extraction did before nesting was handled: every match of the
        // entry selector, its id the hash of scraper's serialisation.
        let document = Html::parse_document(HTML);
        let before: Vec<String> = document
            .select(&Selector::parse("div.entry").unwrap())
            .map(|e| content_id(e.html().as_bytes()))
            .collect();
        let page = extract(&extractor(), HTML, "http://x/", Utc::now()).unwrap();
        let now: Vec<String> = page.entries.into_iter().map(|e| e.id).collect();
        assert_eq!(now, before);
    }

    fn with_limits(extract: &Extract, change: impl FnOnce(&mut Limits)) -> Extractor {
        let mut limits = Limits::default();
        change(&mut limits);
        Extractor::new(extract, limits).unwrap()
    }

    #[test]
    fn entries_past_max_entries_are_dropped() {
        let html: String = (0..10)
            .map(|n| format!("<div class=entry>{n}</div>"))
            .collect();
        let e = with_limits(&whole_entries("div.entry"), |l| l.max_entries = 3);
        let page = extract(&e, &html, "http://x/", Utc::now()).unwrap();
        let texts: Vec<&str> = page.entries.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(texts, ["0", "1", "2"]);
    }

    #[test]
    fn text_and_title_are_cut_on_a_character_boundary() {
        let html = "<title>渋谷 新宿</title><div class=entry>渋谷で  ラーメン</div>";
        let e = with_limits(&whole_entries("div.entry"), |l| {
            l.max_entry_text_bytes = 8;
            l.max_title_bytes = 7;
        });
        let page = extract(&e, html, "http://x/", Utc::now()).unwrap();
        assert_eq!(page.entries[0].text, "渋谷");
        // The space would fit, the next character would not: neither is kept.
        assert_eq!(page.title, "渋谷");
        let e = with_limits(&whole_entries("div.entry"), |l| l.max_entry_text_bytes = 10);
        let page = extract(&e, html, "http://x/", Utc::now()).unwrap();
        assert_eq!(page.entries[0].text, "渋谷で");
    }

    #[test]
    fn a_link_longer_than_a_url_may_be_is_dropped() {
        let long = format!("/view?q={}", "a".repeat(MAX_URL_BYTES));
        let html = format!(
            "<div class=entry><p>long</p><a href=\"{long}\">x</a></div>\
             <div class=entry><p>short</p><a href=\"/view?q=1\">x</a></div>"
        );
        let page = extract(&extractor(), &html, "http://x/", Utc::now()).unwrap();
        assert_eq!(page.entries[0].link, None);
        assert_eq!(page.entries[1].link.as_deref(), Some("http://x/view?q=1"));
    }

    #[test]
    fn whatever_the_page_holds_its_events_are_within_the_limits() {
        use pagefeed_events::event::{EntryObserved, Event, PageRecord};
        let huge = "渋谷".repeat(200_000);
        let html = format!(
            "<title>{huge}</title><div class=entry><span class=at>{huge}</span><p>{huge}</p>\
             <a href=\"/{huge}\">x</a></div><div class=entry>{huge}</div>"
        );
        let now = Utc::now();
        let page = extract(&extractor(), &html, "http://x/", now).unwrap();
        let key: pagefeed_events::PageKey = "site.1".parse().unwrap();
        let mut events = vec![Event::PageCrawled(PageRecord {
            page: key.clone(),
            url: "http://x/".into(),
            title: page.title.clone(),
            crawled_at: now,
            status: 200,
            entries: 2,
        })];
        for entry in &page.entries {
            events.push(Event::EntryObserved(EntryObserved {
                page: key.clone(),
                id: entry.id.clone(),
                text: entry.text.clone(),
                timestamp: entry.timestamp,
                link: entry.link.clone(),
                observed_at: now,
            }));
        }
        for event in &events {
            assert_eq!(event.check_limits(), Ok(()));
        }
        assert_eq!(
            page.entries[0].text.len(),
            pagefeed_events::limits::MAX_TEXT_BYTES - 1
        );
        assert_eq!(page.entries[0].link, None);
    }

    #[test]
    fn a_passed_deadline_is_a_parse_timeout() {
        let e = with_limits(&whole_entries("div.entry"), |l| {
            l.parse_deadline = Duration::ZERO
        });
        let err = extract(&e, HTML, "http://x/", Utc::now()).unwrap_err();
        assert_eq!(err.reason(), "parse_timeout");
        assert!(err.detail().contains("parse_deadline"), "{err}");
    }

    #[test]
    fn an_extractor_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Extractor>();
    }
}
