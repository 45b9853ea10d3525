//! The kinds of page an id serves, by `id % 100`.

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
pub(super) const KINDS: &[(u64, PageKind, &str)] = &[
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
