//! The handlers of the site's routes: a page by its kind, the page an
//! entry links to, the counters and the index.

use super::*;

/// The query of a page: `page_id`, and the redirect loop's `hop`.
#[derive(Deserialize)]
pub(super) struct PageQuery {
    page_id: u64,
    hop: Option<u64>,
}

/// The query of the page an entry links to.
#[derive(Deserialize)]
pub(super) struct EntryQuery {
    page_id: u64,
    entry: u64,
}

pub(super) async fn recent_page_feed(
    State(site): State<Arc<Site>>,
    query: Result<Query<PageQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let Ok(Query(PageQuery { page_id: id, hop })) = query else {
        return plain(
            StatusCode::BAD_REQUEST,
            "page_id must be a non-negative integer\n",
        );
    };
    let nth = site.stats.record_request(id);
    if !site.pause(site.opts.latency).await {
        return retry_after(error_page(StatusCode::SERVICE_UNAVAILABLE, "停止中です"));
    }
    let kind = page_kind(id);
    match kind {
        PageKind::NotFound => error_page(StatusCode::NOT_FOUND, "ページが見つかりません"),
        PageKind::ServerError => error_page(StatusCode::INTERNAL_SERVER_ERROR, "サーバーエラー"),
        PageKind::TooManyRequests => retry_after(error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "アクセスが集中しています",
        )),
        PageKind::Unavailable => retry_after(error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "ただいまメンテナンス中です",
        )),
        PageKind::Flaky if nth <= 2 => {
            error_page(StatusCode::INTERNAL_SERVER_ERROR, "サーバーエラー")
        }
        PageKind::RateLimitedOnce if nth == 1 => retry_after(error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "アクセスが集中しています",
        )),
        PageKind::RedirectLoop => {
            let hop = hop.unwrap_or(0).saturating_add(1);
            redirect(
                StatusCode::FOUND,
                &format!("/recent_page_feed?page_id={id}&hop={hop}"),
            )
        }
        PageKind::Redirect => redirect(
            StatusCode::MOVED_PERMANENTLY,
            &format!("/recent_page_feed?page_id={}", id - 26),
        ),
        PageKind::NoEntries => response(StatusCode::OK, HTML_UTF8, js_shell(id)),
        PageKind::SlowBody => slow_page(&site, id),
        PageKind::Oversized => oversized_page(&site, id),
        PageKind::Normal
        | PageKind::ShiftJis
        | PageKind::EucJp
        | PageKind::Iso2022Jp
        | PageKind::BrokenMarkup
        | PageKind::Flaky
        | PageKind::RateLimitedOnce
        | PageKind::Utf8Bom => feed_page(&site, id, kind, &headers),
    }
}

pub(super) fn redirect(status: StatusCode, location: &str) -> Response {
    let mut resp = error_page(status, "移動しました");
    set_header(&mut resp, header::LOCATION, location);
    resp
}

/// A rendered page, with conditional GET.
pub(super) fn feed_page(site: &Site, id: u64, kind: PageKind, headers: &HeaderMap) -> Response {
    let (head, content_type, broken) = match kind {
        PageKind::ShiftJis => (Head::NoCharset, "text/html; charset=Shift_JIS", false),
        PageKind::EucJp => (Head::MetaCharsetEucJp, "text/html", false),
        PageKind::Iso2022Jp => (Head::HttpEquivIso2022Jp, "text/html", false),
        PageKind::Utf8Bom => (Head::NoCharset, "text/html", false),
        PageKind::BrokenMarkup => (Head::Utf8Meta, HTML_UTF8, true),
        _ => (Head::Utf8Meta, HTML_UTF8, false),
    };
    let now = site.opts.clock.now_unix();
    let schedule = Schedule::of(id, site.opts.entry_period);
    let mut html = String::with_capacity(TARGET_PAGE_BYTES + 512);
    render_page(&mut html, id, now, &schedule, head, broken);
    if !broken {
        html.push_str(PAGE_END);
    }
    let body: Bytes = match kind {
        PageKind::ShiftJis => encoding_rs::SHIFT_JIS.encode(&html).0.into_owned().into(),
        PageKind::EucJp => encoding_rs::EUC_JP.encode(&html).0.into_owned().into(),
        PageKind::Iso2022Jp => encoding_rs::ISO_2022_JP.encode(&html).0.into_owned().into(),
        PageKind::Utf8Bom => {
            let mut bytes = Vec::with_capacity(3 + html.len());
            bytes.extend_from_slice(b"\xEF\xBB\xBF");
            bytes.extend_from_slice(html.as_bytes());
            bytes.into()
        }
        _ => html.into(),
    };
    let etag = format!("\"{:016x}\"", hash_bytes(&body));
    let last_modified = schedule.newest(now).map(|k| schedule.posted_at(k));
    let last_modified_text = last_modified.and_then(http_date);
    let fresh = is_not_modified(headers, &etag, last_modified);
    let mut resp = if fresh {
        site.stats.record_not_modified(id);
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        resp
    } else {
        response(StatusCode::OK, content_type, body)
    };
    set_header(&mut resp, header::ETAG, &etag);
    if let Some(text) = last_modified_text {
        set_header(&mut resp, header::LAST_MODIFIED, &text);
    }
    resp
}

pub(super) fn js_shell(id: u64) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body><div id=\"app\"></div>\
         <noscript>このページを表示するにはJavaScriptを有効にしてください。</noscript>\
         <script src=\"/static/js/feed.bundle.js?page_id={id}\"></script></body></html>\n",
        expected_title(id)
    )
}

pub(super) async fn view_entry(
    State(site): State<Arc<Site>>,
    query: Result<Query<EntryQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(EntryQuery { page_id, entry })) = query else {
        return plain(
            StatusCode::BAD_REQUEST,
            "page_id and entry must be non-negative integers\n",
        );
    };
    if !site.pause(site.opts.latency).await {
        return retry_after(error_page(StatusCode::SERVICE_UNAVAILABLE, "停止中です"));
    }
    let (id, k) = (page_id, entry);
    let schedule = Schedule::of(id, site.opts.entry_period);
    let mut html = String::with_capacity(2048);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\">\
         <title>ユーザー{id}さんの日記</title></head><body><div id=\"bodyArea\">\
         <div class=\"viewDiaryBox\"><p class=\"timeStamp\">"
    );
    write_timestamp(&mut html, schedule.posted_at(k));
    html.push_str("</p><div id=\"diary_body\">");
    write_entry_text(&mut html, id, k);
    let _ = writeln!(
        html,
        "</div></div><p><a href=\"/recent_page_feed?page_id={id}\">最近の日記に戻る</a></p>\
         </div></body></html>"
    );
    response(StatusCode::OK, HTML_UTF8, html)
}

pub(super) async fn stats_json(State(site): State<Arc<Site>>) -> Json<Snapshot> {
    Json(site.stats.snapshot())
}

/// Every crawler may fetch everything.
pub(super) async fn robots_txt() -> Response {
    plain(StatusCode::OK, "User-agent: *\nAllow: /\n")
}

pub(super) async fn index() -> Response {
    let mut html = String::with_capacity(4096);
    html.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>pagefeed sample site</title></head><body><h1>pagefeed sample site</h1>\
         <p>Imitates mixi's recent page feed: <code>/recent_page_feed?page_id=N</code> \
         shows the 20 newest entries of page N, which gains an entry every few minutes. \
         What a page does depends on <code>N % 100</code>:</p>\n<table>\
         <tr><th>N % 100</th><th>kind</th><th>behaviour</th><th>example</th></tr>\n",
    );
    for (suffix, kind, what) in KINDS {
        let what = what.replace('<', "&lt;").replace('>', "&gt;");
        let _ = writeln!(
            html,
            "<tr><td>{suffix}</td><td>{kind:?}</td><td>{what}</td>\
             <td><a href=\"/recent_page_feed?page_id={suffix}\">{suffix}</a></td></tr>"
        );
    }
    html.push_str(
        "<tr><td>other</td><td>Normal</td><td>UTF-8, about 14.5 KiB</td>\
         <td><a href=\"/recent_page_feed?page_id=42\">42</a></td></tr>\n</table>\
         <p><a href=\"/stats\">/stats</a>: requests served per id, as JSON.</p></body></html>\n",
    );
    response(StatusCode::OK, HTML_UTF8, html)
}
