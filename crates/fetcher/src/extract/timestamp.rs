//! An entry's timestamp read with the site's strftime format, as local time
//! in the site's zone; what the format leaves out (the year, the date) is
//! taken from the time of the crawl.

use chrono::format::{Item, Parsed};
use chrono::{
    DateTime, Datelike as _, Days, NaiveDate, NaiveDateTime, NaiveTime, Offset as _, TimeDelta,
    TimeZone as _, Utc,
};
use chrono_tz::Tz;

/// The most of a timestamp's text that is read: a longer one does not parse.
pub(super) const MAX_TIMESTAMP_TEXT_BYTES: usize = 256;

/// How far after the crawl a timestamp without a year may be: a page's
/// clock a little ahead of ours, or a zone ahead of the crawl's date.
const MAX_AHEAD: TimeDelta = TimeDelta::days(1);

/// How many years before the crawl's a timestamp without a year may be
/// placed: a `2月29日` needs a leap year, and leap years are at most eight
/// years apart (2096, 2104).
const MAX_YEARS_BACK: i32 = 8;

/// Reads `text` with the site's format. A time without an offset is local
/// time in `zone` (see [`local_to_utc`] for the times a change of clocks
/// skips or repeats). What the format leaves out is taken from `now`, in
/// `zone`, the way a reader of the page would:
/// - no year (`2月13日 16:45`): the latest year that puts it at most a day
///   after `now` (`1月1日 00:10` seen on 31 December at 23:30 is next year,
///   `1月5日` is this year); a date no such year has within
///   [`MAX_YEARS_BACK`] (`2月30日`) does not parse;
/// - no date at all (`16:45`): today, or yesterday when that is in the future;
/// - no time (`2026-02-13`): midnight.
///
/// A format with an offset (`%z`) keeps that offset; a `%s` timestamp is
/// taken as is.
pub(super) fn parse_timestamp(
    text: &str,
    items: &[Item<'static>],
    zone: Tz,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let mut parsed = Parsed::new();
    chrono::format::parse(&mut parsed, text, items.iter()).ok()?;
    if parsed.timestamp().is_some() {
        return parsed
            .to_naive_datetime_with_offset(0)
            .ok()
            .map(|utc| utc.and_utc());
    }
    if parsed.offset().is_some() {
        return parsed.to_datetime().ok().map(|t| t.with_timezone(&Utc));
    }
    let has_year =
        parsed.year().is_some() || parsed.year_mod_100().is_some() || parsed.isoyear().is_some();
    if has_year {
        return local_to_utc(naive(&parsed)?, zone);
    }
    // `now.with_timezone(&zone).date_naive()`, which panics past the end of
    // chrono's calendar.
    let utc = now.naive_utc();
    let today = utc
        .checked_add_offset(zone.offset_from_utc_datetime(&utc).fix())?
        .date();
    if parsed.month().is_some() {
        let latest = now
            .checked_add_signed(MAX_AHEAD)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        return (today.year() - MAX_YEARS_BACK..=today.year() + 1)
            .rev()
            .filter_map(|year| {
                let mut dated = parsed.clone();
                dated.set_year(i64::from(year)).ok()?;
                local_to_utc(naive(&dated)?, zone)
            })
            .find(|&at| at <= latest);
    }
    if parsed.day().is_some() {
        return None;
    }
    let on = |date: NaiveDate| {
        let mut dated = parsed.clone();
        dated.set_year(i64::from(date.year())).ok()?;
        dated.set_month(i64::from(date.month())).ok()?;
        dated.set_day(i64::from(date.day())).ok()?;
        local_to_utc(naive(&dated)?, zone)
    };
    match on(today)? {
        at if at > now => on(today.checked_sub_days(Days::new(1))?),
        at => Some(at),
    }
}

/// The date and time `parsed` holds, midnight when it has no time; `None`
/// when it names no valid date (`2月29日` of a common year).
fn naive(parsed: &Parsed) -> Option<NaiveDateTime> {
    match parsed.to_naive_datetime_with_offset(0) {
        Ok(naive) => Some(naive),
        Err(_) => Some(parsed.to_naive_date().ok()?.and_time(NaiveTime::MIN)),
    }
}

/// The instant a wall-clock time in `zone` names. A time that occurs twice
/// (clocks set back: 01:30 on the night New York leaves summer time) is the
/// first of the two, still in summer time; a time that never occurs (clocks
/// set forward: 02:30 on the night New York enters it) is read with the
/// offset in force before the jump, which lands as far past it as the time
/// was (03:30 summer time). These are the defaults of `java.time` and of
/// JavaScript's Temporal. `None` only past the ends of chrono's calendar.
fn local_to_utc(naive: NaiveDateTime, zone: Tz) -> Option<DateTime<Utc>> {
    if let Some(at) = zone.from_local_datetime(&naive).earliest() {
        return Some(at.with_timezone(&Utc));
    }
    // In a gap, the offsets before (the lower) and after it alternate: the
    // instant read with one has the other.
    let offset_at = |utc: NaiveDateTime| zone.offset_from_utc_datetime(&utc).fix();
    let first = offset_at(naive);
    let second = offset_at(naive.checked_sub_offset(first)?);
    let third = offset_at(naive.checked_sub_offset(second)?);
    let before = if second.local_minus_utc() <= third.local_minus_utc() {
        second
    } else {
        third
    };
    naive.checked_sub_offset(before).map(|utc| utc.and_utc())
}

#[cfg(test)]
mod tests {
    use chrono::format::StrftimeItems;
    use chrono_tz::{America, Asia, Australia, Europe, Pacific, UTC};

    use super::*;

    const JA: &str = "%m月%d日 %H:%M";

    fn items(format: &str) -> Vec<Item<'static>> {
        StrftimeItems::new(format).parse_to_owned().unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    /// `text` read in `zone` at `now` (RFC 3339, any offset), shown in `zone`.
    fn ts_in(zone: Tz, text: &str, format: &str, now: &str) -> Option<String> {
        parse_timestamp(text, &items(format), zone, at(now))
            .map(|t| t.with_timezone(&zone).to_rfc3339())
    }

    fn ts(text: &str, format: &str, now: &str) -> Option<String> {
        ts_in(UTC, text, format, now)
    }

    #[test]
    fn unpadded_month_and_day_parse() {
        let now = "2026-03-01T00:00:00Z";
        assert_eq!(
            ts("2月13日 16:45", JA, now).as_deref(),
            Some("2026-02-13T16:45:00+00:00")
        );
        assert_eq!(
            ts("1月3日 05:03", JA, now).as_deref(),
            Some("2026-01-03T05:03:00+00:00")
        );
        assert_eq!(
            ts("02月03日 05:03", JA, now).as_deref(),
            Some("2026-02-03T05:03:00+00:00")
        );
    }

    #[test]
    fn a_later_month_than_now_is_last_year() {
        let now = "2026-01-05T10:00:00Z";
        assert_eq!(
            ts("12月31日 23:59", JA, now).as_deref(),
            Some("2025-12-31T23:59:00+00:00")
        );
        assert_eq!(
            ts("1月5日 09:00", JA, now).as_deref(),
            Some("2026-01-05T09:00:00+00:00")
        );
        assert_eq!(
            ts("1月6日 09:00", JA, now).as_deref(),
            Some("2026-01-06T09:00:00+00:00"),
            "up to a day ahead is this year"
        );
        assert_eq!(
            ts("1月6日 10:01", JA, now).as_deref(),
            Some("2025-01-06T10:01:00+00:00"),
            "more than a day ahead is last year"
        );
    }

    #[test]
    fn the_year_is_the_crawl_year_in_the_site_zone_across_new_year() {
        let tokyo = Asia::Tokyo;
        // Seen at 23:30 on New Year's Eve: ten past midnight is tomorrow.
        let eve = "2026-12-31T23:30:00+09:00";
        assert_eq!(
            ts_in(tokyo, "1月1日 00:10", JA, eve).as_deref(),
            Some("2027-01-01T00:10:00+09:00")
        );
        assert_eq!(
            ts_in(tokyo, "12月31日 23:20", JA, eve).as_deref(),
            Some("2026-12-31T23:20:00+09:00")
        );
        // Five days ahead is too far: it was last January.
        assert_eq!(
            ts_in(tokyo, "1月5日 00:00", JA, eve).as_deref(),
            Some("2026-01-05T00:00:00+09:00")
        );
        assert_eq!(
            ts_in(tokyo, "1月5日", "%m月%d日", eve).as_deref(),
            Some("2026-01-05T00:00:00+09:00")
        );
        // Half past midnight on New Year's Day in Tokyo is still 2026 in
        // UTC: the year is Tokyo's.
        let new_year = "2027-01-01T00:30:00+09:00";
        assert_eq!(
            ts_in(tokyo, "12月31日 23:50", JA, new_year).as_deref(),
            Some("2026-12-31T23:50:00+09:00")
        );
        assert_eq!(
            ts_in(tokyo, "1月1日 00:20", JA, new_year).as_deref(),
            Some("2027-01-01T00:20:00+09:00")
        );
        assert_eq!(
            parse_timestamp("1月1日 00:20", &items(JA), tokyo, at(new_year)),
            Some(at("2026-12-31T15:20:00Z"))
        );
    }

    #[test]
    fn new_year_holds_in_zones_behind_and_far_ahead_of_utc() {
        for (zone, eve, next, earlier) in [
            (
                America::Los_Angeles,
                "2026-12-31T23:30:00-08:00",
                "2027-01-01T00:10:00-08:00",
                "2026-12-31T23:20:00-08:00",
            ),
            (
                Pacific::Kiritimati,
                "2026-12-31T23:30:00+14:00",
                "2027-01-01T00:10:00+14:00",
                "2026-12-31T23:20:00+14:00",
            ),
            (
                Pacific::Pago_Pago,
                "2026-12-31T23:30:00-11:00",
                "2027-01-01T00:10:00-11:00",
                "2026-12-31T23:20:00-11:00",
            ),
            (
                Australia::Sydney,
                "2026-12-31T23:30:00+11:00",
                "2027-01-01T00:10:00+11:00",
                "2026-12-31T23:20:00+11:00",
            ),
        ] {
            assert_eq!(
                ts_in(zone, "1月1日 00:10", JA, eve).as_deref(),
                Some(next),
                "{zone}"
            );
            assert_eq!(
                ts_in(zone, "12月31日 23:20", JA, eve).as_deref(),
                Some(earlier),
                "{zone}"
            );
            assert_eq!(
                ts_in(zone, "12月31日 23:20", JA, next).as_deref(),
                Some(earlier),
                "{zone}: seen just after midnight"
            );
        }
    }

    #[test]
    fn february_29_takes_the_nearest_leap_year_before() {
        let now = "2027-03-01T12:00:00+09:00";
        assert_eq!(
            ts_in(Asia::Tokyo, "2月29日 10:00", JA, now).as_deref(),
            Some("2024-02-29T10:00:00+09:00")
        );
        assert_eq!(
            ts_in(Asia::Tokyo, "2月28日 10:00", JA, now).as_deref(),
            Some("2027-02-28T10:00:00+09:00")
        );
        // In a leap year, this year's.
        let now = "2028-03-01T00:00:00+09:00";
        assert_eq!(
            ts_in(Asia::Tokyo, "2月29日 10:00", JA, now).as_deref(),
            Some("2028-02-29T10:00:00+09:00")
        );
        // Seen on 28 February of a leap year's eve: tomorrow.
        let now = "2028-02-28T23:00:00Z";
        assert_eq!(
            ts("2月29日 10:00", JA, now).as_deref(),
            Some("2028-02-29T10:00:00+00:00")
        );
        // 2100 is not a leap year: eight years back, 2096.
        let now = "2103-06-01T00:00:00Z";
        assert_eq!(
            ts("2月29日 10:00", JA, now).as_deref(),
            Some("2096-02-29T10:00:00+00:00")
        );
    }

    #[test]
    fn dates_no_year_has_do_not_parse() {
        let now = "2026-06-01T00:00:00Z";
        assert_eq!(ts("2月30日 10:00", JA, now), None);
        assert_eq!(ts("4月31日 10:00", JA, now), None);
        assert_eq!(ts("0月1日 10:00", JA, now), None);
        // At the ends of chrono's calendar: no panic.
        for zone in [Asia::Tokyo, America::New_York, Pacific::Kiritimati] {
            for now in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
                for text in ["2月29日 10:00", "12月31日 23:59", "1月1日 00:00", "23:59"] {
                    let format = if text.contains('月') { JA } else { "%H:%M" };
                    if let Some(t) = parse_timestamp(text, &items(format), zone, now) {
                        assert!(t <= now || t - now <= MAX_AHEAD, "{text} at {now}: {t}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_time_clocks_skip_is_read_with_the_offset_before_the_jump() {
        // New York springs forward at 02:00 on 8 March 2026: 02:30 never
        // happens, and is read as 02:30 EST, which is 03:30 EDT.
        let ny = America::New_York;
        let now = "2026-03-09T12:00:00Z";
        assert_eq!(
            ts_in(ny, "3月8日 02:30", JA, now).as_deref(),
            Some("2026-03-08T03:30:00-04:00")
        );
        assert_eq!(
            parse_timestamp("3月8日 02:30", &items(JA), ny, at(now)),
            Some(at("2026-03-08T07:30:00Z"))
        );
        assert_eq!(
            ts_in(ny, "3月8日 01:59", JA, now).as_deref(),
            Some("2026-03-08T01:59:00-05:00")
        );
        assert_eq!(
            ts_in(ny, "3月8日 03:00", JA, now).as_deref(),
            Some("2026-03-08T03:00:00-04:00")
        );
        // Sydney, ahead of UTC, springs forward at 02:00 on 4 October 2026.
        let now = "2026-10-05T00:00:00+11:00";
        assert_eq!(
            ts_in(Australia::Sydney, "10月4日 02:30", JA, now).as_deref(),
            Some("2026-10-04T03:30:00+11:00")
        );
    }

    #[test]
    fn a_time_clocks_repeat_is_the_first_of_the_two() {
        // New York falls back at 02:00 EDT on 1 November 2026: 01:30 happens
        // twice; the first is 01:30 EDT.
        let now = "2026-11-02T12:00:00Z";
        assert_eq!(
            ts_in(America::New_York, "11月1日 01:30", JA, now).as_deref(),
            Some("2026-11-01T01:30:00-04:00")
        );
        // Berlin falls back at 03:00 CEST on 25 October 2026.
        let now = "2026-10-26T00:00:00Z";
        assert_eq!(
            parse_timestamp("10月25日 02:30", &items(JA), Europe::Berlin, at(now)),
            Some(at("2026-10-25T00:30:00Z"))
        );
    }

    #[test]
    fn full_dates_are_local_and_offsets_are_kept() {
        let now = "2030-01-01T00:00:00Z";
        assert_eq!(
            ts("2024-07-01 12:30", "%Y-%m-%d %H:%M", now).as_deref(),
            Some("2024-07-01T12:30:00+00:00")
        );
        assert_eq!(
            parse_timestamp(
                "2024-07-01 12:30",
                &items("%Y-%m-%d %H:%M"),
                Asia::Tokyo,
                at(now)
            ),
            Some(at("2024-07-01T03:30:00Z"))
        );
        // An offset on the page wins over the site's zone.
        for zone in [UTC, Asia::Tokyo, America::New_York] {
            assert_eq!(
                parse_timestamp(
                    "2024-07-01T12:30:00+02:00",
                    &items("%Y-%m-%dT%H:%M:%S%:z"),
                    zone,
                    at(now)
                ),
                Some(at("2024-07-01T10:30:00Z")),
                "{zone}"
            );
            assert_eq!(
                parse_timestamp("1700000000", &items("%s"), zone, at(now)),
                Some(at("2023-11-14T22:13:20Z")),
                "{zone}"
            );
        }
        assert_eq!(
            ts_in(Asia::Tokyo, "2024年7月1日", "%Y年%m月%d日", now).as_deref(),
            Some("2024-07-01T00:00:00+09:00")
        );
    }

    #[test]
    fn a_time_alone_is_today_or_yesterday_in_the_site_zone() {
        let now = "2026-02-13T12:00:00Z";
        assert_eq!(
            ts("09:15", "%H:%M", now).as_deref(),
            Some("2026-02-13T09:15:00+00:00")
        );
        assert_eq!(
            ts("23:15", "%H:%M", now).as_deref(),
            Some("2026-02-12T23:15:00+00:00")
        );
        // 12:00 UTC is 21:00 in Tokyo, on the 13th.
        assert_eq!(
            ts_in(Asia::Tokyo, "20:15", "%H:%M", now).as_deref(),
            Some("2026-02-13T20:15:00+09:00")
        );
        assert_eq!(
            ts_in(Asia::Tokyo, "21:15", "%H:%M", now).as_deref(),
            Some("2026-02-12T21:15:00+09:00")
        );
    }

    #[test]
    fn unparsable_timestamps_are_none() {
        let now = "2026-03-01T00:00:00Z";
        assert_eq!(ts("昨日", JA, now), None);
        assert_eq!(ts("13月1日 00:00", JA, now), None);
        assert_eq!(ts("2月13日 16:45 投稿", JA, now), None);
        assert_eq!(ts("", JA, now), None);
        assert_eq!(ts("13日 16:45", "%d日 %H:%M", now), None);
    }
}
