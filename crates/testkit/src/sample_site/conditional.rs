//! Conditional GET: a page's validators against the request's
//! `If-None-Match` and `If-Modified-Since`, and HTTP dates.

use super::*;

/// RFC 9110 §13.2.2: If-None-Match wins over If-Modified-Since.
pub(super) fn is_not_modified(headers: &HeaderMap, etag: &str, last_modified: Option<i64>) -> bool {
    let mut none_match = headers.get_all(header::IF_NONE_MATCH).iter().peekable();
    if none_match.peek().is_some() {
        return none_match
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag);
    }
    let since = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date);
    matches!((last_modified, since), (Some(modified), Some(since)) if modified <= since)
}

/// IMF-fixdate, the only HTTP-date form a current client sends.
pub(super) fn http_date(t: i64) -> Option<String> {
    let dt = DateTime::from_timestamp(t, 0)?;
    Some(dt.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
}

pub(super) fn parse_http_date(s: &str) -> Option<i64> {
    NaiveDateTime::parse_from_str(s.trim(), "%a, %d %b %Y %H:%M:%S GMT")
        .ok()
        .map(|dt| dt.and_utc().timestamp())
}
