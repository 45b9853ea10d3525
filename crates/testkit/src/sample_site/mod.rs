//! The sample site: a small axum server that imitates mixi's "recent page feed"
//! pages, with one page per numeric id, so the demo, the tests and the
//! benchmarks have something deterministic to crawl, including every way a
//! real site goes wrong.
//!
//! Routes: `GET /recent_page_feed?page_id=N` (the page; a missing or
//! non-numeric `page_id` is a 400), `GET /view_entry?page_id=N&entry=K` (the
//! page an entry links to), `GET /stats` (request counters as JSON), `GET /`
//! (an index explaining the ids) and `GET /robots.txt` (every page allowed to
//! every crawler; not counted in the stats, which count pages).
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
//! `div.feedEntry`, `p.comment`, `li.timeStamp` (format `%m月%d日 %H:%M`, in
//! Japan time like mixi's, [`TIMEZONE`]; month and day not zero-padded) and `li.viewLink a` (a relative href).
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

/// The zone the site shows its times in, like the Japanese pages it
/// imitates: a config reading it says `timezone = "Asia/Tokyo"`.
pub const TIMEZONE: chrono_tz::Tz = chrono_tz::Asia::Tokyo;

/// 2020-01-01T00:00:00Z: the epoch the entry schedules are anchored at.
const EPOCH_2020: i64 = 1_577_836_800;

/// How long [`SampleSite::shutdown`] waits for connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

mod conditional;
mod expected;
mod kinds;
mod options;
mod pages;
mod prng;
mod render;
mod server;
mod stats;
mod streamed;
mod words;

use conditional::*;
pub use expected::{expected_entries, expected_title, posting_period, ExpectedEntry};
use kinds::KINDS;
pub use kinds::{page_kind, PageKind};
pub use options::{Clock, SampleSiteOptions};
use pages::*;
use prng::*;
use render::*;
pub use server::SampleSite;
use server::*;
use stats::{SiteStats, Snapshot};
use streamed::*;
use words::*;

#[cfg(test)]
mod tests {
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
        write_timestamp(&mut s, 1_581_579_900); // 2020-02-13T07:45:00Z
        assert_eq!(s, "2月13日 16:45");
        s.clear();
        write_timestamp(&mut s, 1_577_995_380); // 2020-01-02T20:03:00Z
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
