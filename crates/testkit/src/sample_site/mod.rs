//! The sample site: a small axum server that imitates mixi's "recent page feed"
//! pages, with one page per numeric id, so the demo, the tests and the
//! benchmarks have something deterministic to crawl, including every way a
//! real site goes wrong.
//!
//! Routes: `GET /recent_page_feed?page_id=N` (the page; a missing or
//! non-numeric `page_id` is a 400), `GET /view_entry?page_id=N&entry=K` (the
//! page an entry links to), `GET /stats` (request counters as JSON) and `GET /`
//! (an index explaining the ids).
//!
//! What a page does depends on `id % 100` (see [`page_kind`]):
//!
//! | `id % 100` | kind | behaviour |
//! |---|---|---|
//! | 13 | [`PageKind::NotFound`] | 404 |
//! | 14 | [`PageKind::ServerError`] | 500, always |
//! | 15 | [`PageKind::TooManyRequests`] | 429 with `Retry-After: 1`, always |
//! | 16 | [`PageKind::Unavailable`] | 503 with `Retry-After: 1`, always |
//! | 17 | [`PageKind::SlowBody`] | 200, half the body, a pause of `slow_body`, the rest |
//! | 18 | [`PageKind::Oversized`] | 200 with a streamed body of more than 6 MiB |
//! | 19 | [`PageKind::ShiftJis`] | Shift_JIS, charset only in the `Content-Type` header |
//! | 20 | [`PageKind::EucJp`] | EUC-JP, charset only in `<meta charset>` |
//! | 21 | [`PageKind::Iso2022Jp`] | ISO-2022-JP, charset only in `<meta http-equiv>` |
//! | 22 | [`PageKind::BrokenMarkup`] | unclosed tags, a stray `</div>`, no `</body></html>` |
//! | 23 | [`PageKind::NoEntries`] | a JavaScript-rendered shell without entries, 200 |
//! | 24 | [`PageKind::Flaky`] | 500 for the first 2 requests of the id, then the page |
//! | 25 | [`PageKind::RateLimitedOnce`] | 429 (`Retry-After: 1`) on the first request, then the page |
//! | 26 | [`PageKind::RedirectLoop`] | 302 to itself with a growing `&hop=N`, forever |
//! | 27 | [`PageKind::Redirect`] | one 301 to the page of id `id - 26` (a normal page) |
//! | 28 | [`PageKind::Utf8Bom`] | UTF-8 with a BOM, no charset anywhere |
//! | other | [`PageKind::Normal`] | UTF-8, about 14.5 KiB, `Content-Type: text/html; charset=utf-8` |
//!
//! Page content is a function of (id, current time): entry `k` of page `id` is
//! posted at `origin(id) + k * period(id)` and a page shows the 20 newest
//! entries already posted, newest first ([`expected_entries`] says what a
//! correct extractor must find). The crawler's selectors are `title`,
//! `div.feedEntry`, `p.comment`, `li.timeStamp` (format `%m月%d日 %H:%M`, UTC,
//! month and day not zero-padded) and `li.viewLink a` (a relative href).
//!
//! Rendered pages carry an `ETag` and a `Last-Modified` and answer conditional
//! requests with 304. Responses are compressed (gzip, br, deflate) when asked,
//! except the slow and the oversized bodies, which are streamed as they are so
//! that their timing and size stay what the tests expect.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::future::IntoFuture as _;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, Extensions, HeaderMap, HeaderName, HeaderValue, StatusCode, Version};
use axum::response::Response;
use axum::routing::get;
use axum::serve::ListenerExt as _;
use axum::{Json, Router};
use bytes::Bytes;
use chrono::{DateTime, Datelike as _, NaiveDateTime, Timelike as _};
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower_http::compression::predicate::{DefaultPredicate, Predicate as _};
use tower_http::compression::{CompressionLayer, CompressionLevel};

/// How many entries a page shows.
pub const ENTRIES_PER_PAGE: usize = 20;

/// The size a rendered UTF-8 page is padded to (14.5 KiB), like a real one.
const TARGET_PAGE_BYTES: usize = 14_848;

/// The oversized page sends at least this many bytes.
const OVERSIZED_BYTES: usize = 6 * 1024 * 1024;

/// 2020-01-01T00:00:00Z: the epoch the entry schedules are anchored at.
const EPOCH_2020: i64 = 1_577_836_800;

/// How long [`SampleSite::shutdown`] waits for connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Knobs of the sample site.
#[derive(Clone, Debug)]
pub struct SampleSiteOptions {
    /// Added before each page response (`/recent_page_feed`, `/view_entry`).
    pub latency: Duration,
    /// The pause inside the body of a [`PageKind::SlowBody`] page.
    pub slow_body: Duration,
    /// Mean time between two new entries of a page; each page's own period is
    /// this scaled deterministically into [0.5, 1.5] × (see [`posting_period`]).
    pub entry_period: Duration,
    /// Where "now" comes from.
    pub clock: Clock,
}

impl Default for SampleSiteOptions {
    fn default() -> Self {
        SampleSiteOptions {
            latency: Duration::ZERO,
            slow_body: Duration::from_secs(10),
            entry_period: Duration::from_secs(600),
            clock: Clock::System,
        }
    }
}

/// The time source of the site, in unix seconds.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// A clock a test sets and advances by hand, so that new entries appear
    /// exactly when it wants them to.
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// The current time, in unix seconds.
    pub fn now_unix(&self) -> i64 {
        match self {
            Clock::System => chrono::Utc::now().timestamp(),
            Clock::Manual(t) => t.load(Ordering::SeqCst),
        }
    }
}

/// What kind of page an id serves, so that tests of the crawler can pick ids
/// by behaviour. See the table in the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PageKind {
    /// A well-formed UTF-8 page of about 14.5 KiB.
    Normal,
    /// 404.
    NotFound,
    /// 500, always.
    ServerError,
    /// 429 with `Retry-After: 1`, always.
    TooManyRequests,
    /// 503 with `Retry-After: 1`, always.
    Unavailable,
    /// 200; half the body, then a pause of `slow_body`, then the rest.
    SlowBody,
    /// 200 with a streamed body of more than 6 MiB.
    Oversized,
    /// Shift_JIS; the charset is only in the `Content-Type` header.
    ShiftJis,
    /// EUC-JP; `Content-Type: text/html`, the charset only in `<meta charset>`.
    EucJp,
    /// ISO-2022-JP; the charset only in `<meta http-equiv="Content-Type">`.
    Iso2022Jp,
    /// Unclosed `<p>` and `<li>`, a stray `</div>`, no `</body></html>`; an
    /// HTML5 parser still finds every entry.
    BrokenMarkup,
    /// A JavaScript-rendered shell: 200 but no entries in the HTML.
    NoEntries,
    /// 500 for the first 2 requests of the id (per server lifetime), then the page.
    Flaky,
    /// 429 with `Retry-After: 1` on the first request of the id, then the page.
    RateLimitedOnce,
    /// 302 to itself with a growing `&hop=N` parameter, forever.
    RedirectLoop,
    /// One 301 to the normal page of id `id - 26` (id 27 redirects to id 1).
    Redirect,
    /// UTF-8 with a byte order mark and no charset anywhere.
    Utf8Bom,
}

/// Every kind with its `id % 100` and what it does, for docs and the index page.
const KINDS: &[(u64, PageKind, &str)] = &[
    (13, PageKind::NotFound, "404"),
    (14, PageKind::ServerError, "500, always"),
    (
        15,
        PageKind::TooManyRequests,
        "429 with Retry-After: 1, always",
    ),
    (16, PageKind::Unavailable, "503 with Retry-After: 1, always"),
    (
        17,
        PageKind::SlowBody,
        "200, half the body, a pause, then the rest",
    ),
    (
        18,
        PageKind::Oversized,
        "200 with a streamed body of more than 6 MiB",
    ),
    (
        19,
        PageKind::ShiftJis,
        "Shift_JIS, charset only in the Content-Type header",
    ),
    (
        20,
        PageKind::EucJp,
        "EUC-JP, charset only in <meta charset>",
    ),
    (
        21,
        PageKind::Iso2022Jp,
        "ISO-2022-JP, charset only in <meta http-equiv>",
    ),
    (
        22,
        PageKind::BrokenMarkup,
        "unclosed tags, a stray </div>, no </body></html>",
    ),
    (
        23,
        PageKind::NoEntries,
        "a JavaScript-rendered shell without entries, 200",
    ),
    (
        24,
        PageKind::Flaky,
        "500 for the first 2 requests, then the page",
    ),
    (
        25,
        PageKind::RateLimitedOnce,
        "429 (Retry-After: 1) on the first request, then the page",
    ),
    (
        26,
        PageKind::RedirectLoop,
        "302 to itself with a growing &hop=N, forever",
    ),
    (
        27,
        PageKind::Redirect,
        "one 301 to the normal page of id - 26",
    ),
    (
        28,
        PageKind::Utf8Bom,
        "UTF-8 with a BOM and no charset anywhere",
    ),
];

impl PageKind {
    /// The smallest id that serves this kind (0 for [`PageKind::Normal`]);
    /// `first_id() + 100 * n` serves it too.
    pub fn first_id(self) -> u64 {
        KINDS
            .iter()
            .find(|(_, kind, _)| *kind == self)
            .map_or(0, |(suffix, _, _)| *suffix)
    }
}

/// What kind of page `id` serves.
pub fn page_kind(id: u64) -> PageKind {
    match id % 100 {
        13 => PageKind::NotFound,
        14 => PageKind::ServerError,
        15 => PageKind::TooManyRequests,
        16 => PageKind::Unavailable,
        17 => PageKind::SlowBody,
        18 => PageKind::Oversized,
        19 => PageKind::ShiftJis,
        20 => PageKind::EucJp,
        21 => PageKind::Iso2022Jp,
        22 => PageKind::BrokenMarkup,
        23 => PageKind::NoEntries,
        24 => PageKind::Flaky,
        25 => PageKind::RateLimitedOnce,
        26 => PageKind::RedirectLoop,
        27 => PageKind::Redirect,
        28 => PageKind::Utf8Bom,
        _ => PageKind::Normal,
    }
}

/// One entry as a correct extractor must find it on a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedEntry {
    /// The entry's number `k` within its page (0 is the first ever posted).
    pub index: u64,
    /// When it was posted, unix seconds.
    pub posted_at: i64,
    /// The text of `p.comment`.
    pub text: String,
    /// The text of `li.timeStamp` as shown, e.g. `2月13日 16:45` (UTC).
    pub timestamp: String,
    /// The `href` of `li.viewLink a` once HTML-decoded, relative, e.g.
    /// `/view_entry?page_id=42&entry=117`.
    pub href: String,
}

/// The title of page `id`, e.g. `ユーザー42さんの最近の日記`.
pub fn expected_title(id: u64) -> String {
    format!("ユーザー{id}さんの最近の日記")
}

/// The time between two entries of page `id`: `opts.entry_period` scaled
/// deterministically per id into [0.5, 1.5] ×, whole seconds, at least 1 s.
pub fn posting_period(id: u64, opts: &SampleSiteOptions) -> Duration {
    Duration::from_secs(Schedule::of(id, opts.entry_period).period as u64)
}

/// The entries page `id` shows at `now_unix`, newest first (at most 20; none
/// before the page's first entry). Pages that render no entries
/// ([`PageKind::NoEntries`], the error kinds) still have a schedule: this
/// says what they would show.
pub fn expected_entries(id: u64, now_unix: i64, opts: &SampleSiteOptions) -> Vec<ExpectedEntry> {
    let schedule = Schedule::of(id, opts.entry_period);
    schedule
        .shown(now_unix)
        .map(|k| {
            let posted_at = schedule.posted_at(k);
            let mut text = String::with_capacity(256);
            write_entry_text(&mut text, id, k);
            let mut timestamp = String::with_capacity(24);
            write_timestamp(&mut timestamp, posted_at);
            ExpectedEntry {
                index: k,
                posted_at,
                text,
                timestamp,
                href: format!("/view_entry?page_id={id}&entry={k}"),
            }
        })
        .collect()
}

mod prng;
mod render;
mod server;
mod stats;
mod words;

use prng::*;
use render::*;
pub use server::SampleSite;
use stats::{SiteStats, Snapshot};
use words::*;

#[cfg(test)]
mod tests {
    use super::server::{http_date, parse_http_date};
    use super::*;

    #[test]
    fn word_lists_survive_the_japanese_legacy_encodings() {
        let lists = [
            WHEN,
            WHO,
            PLACE,
            FOOD,
            ACTIVITY,
            HOBBY,
            WEATHER,
            SHOP,
            TECH,
            FEELING,
            COMMUNITIES,
        ];
        let mut all: Vec<&str> = lists.iter().flat_map(|l| l.iter().copied()).collect();
        all.extend([
            HEADER_NAV,
            FOOTER,
            "ユーザー42さんの最近の日記もっと見るコメントイイネ！",
        ]);
        for enc in [
            encoding_rs::SHIFT_JIS,
            encoding_rs::EUC_JP,
            encoding_rs::ISO_2022_JP,
        ] {
            for word in &all {
                let (bytes, _, unmappable) = enc.encode(word);
                assert!(!unmappable, "{word} is not in {}", enc.name());
                let (back, malformed) = enc.decode_without_bom_handling(&bytes);
                assert!(!malformed);
                assert_eq!(back, *word);
            }
        }
    }

    #[test]
    fn periods_stay_within_half_and_one_and_a_half_of_the_mean() {
        let opts = SampleSiteOptions::default();
        for id in 0..10_000 {
            let p = posting_period(id, &opts).as_secs();
            assert!((300..=900).contains(&p), "period {p} for {id}");
        }
    }

    #[test]
    fn timestamps_are_not_zero_padded_in_month_and_day() {
        let mut s = String::new();
        write_timestamp(&mut s, 1_581_612_300); // 2020-02-13T16:45:00Z
        assert_eq!(s, "2月13日 16:45");
        s.clear();
        write_timestamp(&mut s, 1_578_027_780); // 2020-01-03T05:03:00Z
        assert_eq!(s, "1月3日 05:03");
    }

    #[test]
    fn http_dates_round_trip() {
        let t = 1_700_000_000;
        let text = http_date(t).unwrap_or_default();
        assert_eq!(text, "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(parse_http_date(&text), Some(t));
    }

    #[test]
    fn stats_show_requests_and_not_modified_per_id_in_order() {
        let stats = SiteStats::default();
        for id in [42, 7, 42, 1000] {
            stats.record_request(id);
        }
        stats.record_not_modified(42);
        let json = serde_json::to_string(&stats.snapshot()).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"requests":{"7":1,"42":2,"1000":1},"not_modified":{"42":1}}"#
        );
    }

    #[test]
    fn some_entries_mention_ascii_keywords() {
        let opts = SampleSiteOptions::default();
        let with_ascii = (0..50)
            .flat_map(|id| expected_entries(id, 1_700_000_000, &opts))
            .filter(|e| TECH.iter().any(|t| e.text.contains(t)))
            .count();
        assert!((50..=500).contains(&with_ascii), "{with_ascii} of 1000");
    }
}
