//! An entry's timestamp read with the site's strftime format, what the
//! format leaves out (the year, the date) taken from the time of the crawl.

use chrono::format::{Item, Parsed};
use chrono::{DateTime, Datelike as _, Days, NaiveTime, Utc};

/// The most of a timestamp's text that is read: a longer one does not parse.
pub(super) const MAX_TIMESTAMP_TEXT_BYTES: usize = 256;

/// Reads `text` with the site's format, as UTC. What the format leaves out
/// is taken from `now`, the way a reader of the page would:
/// - no year (`2月13日 16:45`): this year, or last year when the month is
///   after the current one (a December entry seen in January);
/// - no date at all (`16:45`): today, or yesterday when that is in the future;
/// - no time (`2026-02-13`): midnight.
///
/// A format with an offset (`%z`) is converted to UTC; a `%s` timestamp is
/// taken as is.
pub(super) fn parse_timestamp(
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
    use chrono::format::StrftimeItems;

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
}
