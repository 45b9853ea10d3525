//! Pulling a page's title and entries out of its HTML with one site's CSS
//! selectors (scraper, an HTML5 parser, so broken markup parses as a browser
//! would). Synchronous and CPU-bound: run it on a blocking thread.
//!
//! A page rendered by JavaScript has no entries in its HTML, and a fetcher
//! that does not run scripts cannot see them: that is out of scope, and such
//! a page is reported as [`ExtractError::NoEntries`], never as an empty page.

use anyhow::{anyhow, Context as _};
use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{DateTime, Datelike as _, Days, NaiveTime, Utc};
use pagefeed_events::config::Extract;
use pagefeed_events::event::content_id;
use scraper::{ElementRef, Html, Selector};
use serde::Serialize;

/// One site's selectors, compiled once.
#[derive(Debug)]
pub struct Extractor {
    title: Selector,
    entry: Selector,
    entry_text: String,
    text: Option<Selector>,
    timestamp: Option<(Selector, Vec<Item<'static>>)>,
    link: Option<Selector>,
}

/// What a page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page {
    /// Whitespace-normalised; empty when the title selector matches nothing.
    pub title: String,
    /// In page order.
    pub entries: Vec<Entry>,
}

/// One entry of a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// [`content_id`] of the entry's markup as scraper serialises it: the
    /// same entry gives the same id in every process, whatever the page's
    /// charset; any change to its markup gives a new id.
    pub id: String,
    /// Whitespace-normalised.
    pub text: String,
    /// Read with the site's `timestamp_format`, as UTC; `None` when the
    /// entry has none or it does not parse.
    pub timestamp: Option<DateTime<Utc>>,
    /// The link's `href`, absolute.
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
}

impl ExtractError {
    /// The reason code of a `fetch_failed` event.
    pub fn reason(&self) -> &'static str {
        match self {
            ExtractError::NoEntries { .. } => "no_entries",
        }
    }

    pub fn detail(&self) -> String {
        self.to_string()
    }
}

fn selector(field: &str, css: &str) -> anyhow::Result<Selector> {
    Selector::parse(css).map_err(|e| anyhow!("extract.{field}: bad CSS selector \"{css}\": {e}"))
}

impl Extractor {
    pub fn new(extract: &Extract) -> anyhow::Result<Self> {
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
        })
    }

    /// Extracts from `html`; links are resolved against `page_url`, and
    /// timestamps without a year get one from `now`.
    pub fn extract(
        &self,
        html: &str,
        page_url: &str,
        now: DateTime<Utc>,
    ) -> Result<Page, ExtractError> {
        let document = Html::parse_document(html);
        let title = document
            .select(&self.title)
            .next()
            .map(normalized_text)
            .unwrap_or_default();
        let base = url::Url::parse(page_url).ok();
        let entries: Vec<Entry> = document
            .select(&self.entry)
            .map(|element| self.entry(element, base.as_ref(), now))
            .collect();
        if entries.is_empty() {
            return Err(ExtractError::NoEntries {
                selector: self.entry_text.clone(),
            });
        }
        Ok(Page { title, entries })
    }

    fn entry(&self, element: ElementRef<'_>, base: Option<&url::Url>, now: DateTime<Utc>) -> Entry {
        let text = match &self.text {
            Some(sel) => element
                .select(sel)
                .next()
                .map(normalized_text)
                .unwrap_or_default(),
            None => normalized_text(element),
        };
        let timestamp = self.timestamp.as_ref().and_then(|(sel, items)| {
            let shown = normalized_text(element.select(sel).next()?);
            parse_timestamp(&shown, items, now)
        });
        let link = self.link.as_ref().and_then(|sel| {
            let href = element.select(sel).find_map(|a| a.value().attr("href"))?;
            absolute(href, base)
        });
        Entry {
            id: content_id(element.html().as_bytes()),
            text,
            timestamp,
            link,
        }
    }
}

/// The element's text nodes joined as they are (no space is added between
/// elements: `今日は<b>渋谷</b>で` stays one word), with every run of
/// whitespace (Unicode's, so the ideographic space too) made one space, and
/// none at either end.
fn normalized_text(element: ElementRef<'_>) -> String {
    let mut out = String::new();
    let mut space = false;
    for piece in element.text() {
        for c in piece.chars() {
            if c.is_whitespace() {
                space = true;
            } else {
                if space && !out.is_empty() {
                    out.push(' ');
                }
                space = false;
                out.push(c);
            }
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

    fn extractor() -> Extractor {
        Extractor::new(&Extract {
            title: "title".into(),
            entry: "div.entry".into(),
            text: Some("p".into()),
            timestamp: Some("span.at".into()),
            timestamp_format: Some("%m月%d日 %H:%M".into()),
            link: Some("a".into()),
        })
        .unwrap()
    }

    const HTML: &str = "<html><head><title>\n  日記\t の  一覧 </title></head><body>\
        <div class=entry><span class=at> 2月13日 16:45 </span><p> 渋谷で\n  ラーメン </p>\
        <a name=x>no href</a><a href=\"/view?id=1&amp;k=2\">more</a></div>\
        <div class=entry><p>two</p><span class=at>nope</span><a href=\"https://other.example/x\">x</a></div>\
        <div class=entry>no paragraph</div></body></html>";

    #[test]
    fn title_text_timestamp_and_link() {
        let page = extractor()
            .extract(
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
        let e = Extractor::new(&Extract {
            title: "title".into(),
            entry: "div.entry".into(),
            text: None,
            timestamp: None,
            timestamp_format: None,
            link: None,
        })
        .unwrap();
        let page = e.extract(HTML, "http://site.example/", Utc::now()).unwrap();
        assert_eq!(page.entries[2].text, "no paragraph");
        // Text nodes are joined as they are (XPath's `string()`): no space
        // is invented between elements, which would split Japanese words.
        assert_eq!(page.entries[1].text, "twonopex");
    }

    #[test]
    fn ids_follow_the_markup() {
        let e = extractor();
        let now = Utc::now();
        let a = e.extract(HTML, "http://site.example/", now).unwrap();
        let b = e.extract(HTML, "http://elsewhere.example/", now).unwrap();
        let ids = |p: &Page| p.entries.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b));
        let changed = HTML.replace("two", "deux");
        let c = e.extract(&changed, "http://site.example/", now).unwrap();
        assert_eq!(ids(&a)[0], ids(&c)[0]);
        assert_ne!(ids(&a)[1], ids(&c)[1]);
    }

    #[test]
    fn no_entries_is_an_error_that_mentions_javascript() {
        let err = extractor()
            .extract(
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
        assert!(Extractor::new(&extract).is_err());
        extract.entry = "div".into();
        extract.timestamp = Some("span".into());
        assert!(
            Extractor::new(&extract).is_err(),
            "timestamp without format"
        );
    }

    #[test]
    fn an_extractor_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Extractor>();
    }
}
