//! A page's entry schedule and its HTML, mixi-like, padded to a real
//! page's size.

use super::*;

/// When the entries of one page are posted.
#[derive(Clone, Copy, Debug)]
pub(super) struct Schedule {
    pub(super) origin: i64,
    pub(super) period: i64,
}

impl Schedule {
    pub(super) fn of(id: u64, entry_period: Duration) -> Schedule {
        let base = entry_period.as_secs().max(1);
        let per_mille = 500 + mix64(id ^ 0x5045_5249_4f44) % 1001;
        let period = (base.saturating_mul(per_mille) / 1000).clamp(1, i64::MAX as u64 / 4) as i64;
        let offset = (mix64(id ^ 0x4f52_4947_494e) % (30 * 86_400)) as i64;
        Schedule {
            origin: EPOCH_2020 - offset,
            period,
        }
    }

    /// The newest entry posted at `now`, if any.
    pub(super) fn newest(&self, now: i64) -> Option<u64> {
        (now >= self.origin).then(|| (now.saturating_sub(self.origin) / self.period) as u64)
    }

    pub(super) fn posted_at(&self, k: u64) -> i64 {
        self.origin
            .saturating_add((k as i64).saturating_mul(self.period))
    }

    /// The entries shown at `now`, newest first.
    pub(super) fn shown(&self, now: i64) -> impl Iterator<Item = u64> {
        let range = match self.newest(now) {
            Some(n) => n.saturating_sub(ENTRIES_PER_PAGE as u64 - 1)..n.saturating_add(1),
            None => 0..0,
        };
        range.rev()
    }
}

/// What goes in `<head>` about the charset.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Head {
    Utf8Meta,
    NoCharset,
    MetaCharsetEucJp,
    HttpEquivIso2022Jp,
}

pub(super) const PAGE_END: &str = "</body></html>\n";

pub(super) const HEADER_NAV: &str =
    "<div id=\"headerArea\"><div class=\"logo\"><a href=\"/\">mixi</a></div>\
<ul class=\"globalNav\"><li><a href=\"/home\">ホーム</a></li><li><a href=\"/search\">検索</a></li>\
<li><a href=\"/list_friend\">友人</a></li><li><a href=\"/list_community\">コミュニティ</a></li>\
<li><a href=\"/list_diary\">日記</a></li><li><a href=\"/settings\">設定</a></li>\
<li><a href=\"/logout\">ログアウト</a></li></ul></div>\n";

pub(super) const FOOTER: &str =
    "<div class=\"footer\"><ul><li><a href=\"/about\">会社概要</a></li>\
<li><a href=\"/terms\">利用規約</a></li><li><a href=\"/privacy\">プライバシーポリシー</a></li>\
<li><a href=\"/help\">ヘルプ</a></li><li><a href=\"/inquiry\">お問い合わせ</a></li></ul>\
<p class=\"copyright\">Copyright (C) mixi, Inc. All rights reserved.</p></div>\n";

/// Writes the page up to (and including) the footer; the caller ends it with
/// [`PAGE_END`] unless `broken`. The text is padded with community links so a
/// page weighs about [`TARGET_PAGE_BYTES`]. Word lists hold no character that
/// needs escaping, so nothing is escaped.
pub(super) fn render_page(
    out: &mut String,
    id: u64,
    now: i64,
    schedule: &Schedule,
    head: Head,
    broken: bool,
) {
    out.push_str("<!DOCTYPE html>\n<html lang=\"ja\"><head>");
    match head {
        Head::Utf8Meta => out.push_str("<meta charset=\"utf-8\">"),
        Head::NoCharset => {}
        Head::MetaCharsetEucJp => out.push_str("<meta charset=\"EUC-JP\">"),
        Head::HttpEquivIso2022Jp => out.push_str(
            "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=ISO-2022-JP\">",
        ),
    }
    let _ = writeln!(
        out,
        "<title>ユーザー{id}さんの最近の日記</title>\
         <link rel=\"stylesheet\" href=\"/static/css/basic.css\"></head><body>"
    );
    if broken {
        // Before any <div> is open, so an HTML5 parser drops it.
        out.push_str("</div>\n");
    }
    out.push_str(HEADER_NAV);
    let _ = writeln!(
        out,
        "<div id=\"bodyArea\"><div class=\"pageTitle\"><h2>ユーザー{id}さんの最近の日記</h2></div>\
         <div class=\"feedStream\">"
    );
    for k in schedule.shown(now) {
        let (li_end, p_end) = if broken { ("", "") } else { ("</li>", "</p>") };
        out.push_str(
            "<div class=\"feedEntry\"><div class=\"entryHead\"><ul><li class=\"timeStamp\">",
        );
        write_timestamp(out, schedule.posted_at(k));
        let _ = write!(
            out,
            "{li_end}<li class=\"viewLink\"><a href=\"/view_entry?page_id={id}&amp;entry={k}\">\
             もっと見る</a>{li_end}</ul></div><p class=\"comment\">"
        );
        write_entry_text(out, id, k);
        let h = mix64(id.wrapping_mul(31).wrapping_add(k));
        let _ = writeln!(
            out,
            "{p_end}<div class=\"entryFoot\"><span class=\"commentCount\">コメント({})</span>\
             <span class=\"iine\">イイネ！({})</span></div></div>",
            h % 12,
            (h >> 8) % 30
        );
    }
    out.push_str(
        "</div>\n<div id=\"sideArea\"><h3>参加コミュニティ</h3><ul class=\"communityList\">\n",
    );
    let end_len = FOOTER.len() + PAGE_END.len() + 16;
    let mut i = 0u64;
    while out.len() + end_len < TARGET_PAGE_BYTES {
        let h = mix64(id ^ (i << 32) ^ 0x434f_4d4d);
        let name = COMMUNITIES[(h % COMMUNITIES.len() as u64) as usize];
        let li_end = if broken { "" } else { "</li>" };
        let _ = writeln!(
            out,
            "<li><a href=\"/view_community?id={}\">{name}</a><span class=\"members\">({}人)</span>{li_end}",
            100_000 + (h >> 16) % 900_000,
            1 + (h >> 40) % 50_000
        );
        i += 1;
    }
    out.push_str("</ul></div></div>\n");
    out.push_str(FOOTER);
}

/// `t` (unix seconds) as the page shows it: `2月13日 16:45`, in [`TIMEZONE`].
pub(super) fn write_timestamp(out: &mut String, t: i64) {
    if let Some(dt) = DateTime::from_timestamp(t, 0).map(|t| t.with_timezone(&TIMEZONE)) {
        let _ = write!(
            out,
            "{}月{}日 {:02}:{:02}",
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minute()
        );
    }
}
