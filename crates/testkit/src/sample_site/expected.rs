//! What a correct extractor must find on a page: its title and entries
//! at a given time.

use super::*;

/// One entry as a correct extractor must find it on a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedEntry {
    /// The entry's number `k` within its page (0 is the first ever posted).
    pub index: u64,
    /// When it was posted, unix seconds.
    pub posted_at: i64,
    /// The text of `p.comment`.
    pub text: String,
    /// The text of `li.timeStamp` as shown, e.g. `2月13日 16:45`, in
    /// Japan time ([`TIMEZONE`]).
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
