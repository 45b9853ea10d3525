//! Each site's time zone, from the config: what the web view and the feeds
//! show an entry's times in. The replica and the JSON API keep UTC.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset, Offset as _, TimeZone as _, Utc};
use chrono_tz::Tz;
use pagefeed_events::Config;

/// The site of page `key` (`<site>.<id>`).
pub fn site_of(key: &str) -> &str {
    key.split_once('.').map_or(key, |(site, _)| site)
}

/// Site name → the site's `timezone`; UTC for a site the config does not
/// name (one removed since its entries were stored). The default knows no
/// site.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Zones {
    by_site: HashMap<String, Tz>,
}

impl Zones {
    /// The zones of the sites of `cfg`.
    pub fn new(cfg: &Config) -> Zones {
        Zones {
            by_site: cfg
                .sites
                .iter()
                .map(|site| (site.name.clone(), site.timezone))
                .collect(),
        }
    }

    /// The zone of `site`, UTC if the config does not name it.
    pub fn zone(&self, site: &str) -> Tz {
        self.by_site.get(site).copied().unwrap_or(Tz::UTC)
    }

    /// `t` as the clocks of `site` showed it, with the offset they had then
    /// (`+09:00` in Tokyo; `-05:00` or `-04:00` in New York by the season).
    pub fn local(&self, site: &str, t: DateTime<Utc>) -> DateTime<FixedOffset> {
        let offset = self
            .zone(site)
            .offset_from_utc_datetime(&t.naive_utc())
            .fix();
        t.with_timezone(&offset)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn site(name: &str, timezone: Option<&str>) -> String {
        let timezone = timezone.map_or(String::new(), |z| format!("timezone = \"{z}\"\n"));
        format!(
            "[[site]]\nname = \"{name}\"\npages = {{ a = \"http://127.0.0.1:1/\" }}\n\
             interval = \"1h\"\nretention = \"7d\"\n{timezone}[site.extract]\nentry = \"div\"\n"
        )
    }

    fn zones() -> Zones {
        let text = [
            site("mixi", Some("Asia/Tokyo")),
            site("nyc", Some("America/New_York")),
            site("plain", None),
        ]
        .concat();
        Zones::new(&Config::parse(Path::new("t.toml"), &text).unwrap())
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_site_time_is_shown_in_its_zone() {
        let zones = zones();
        let t = at("2026-02-13T01:00:00Z");
        let tokyo = zones.local("mixi", t);
        assert_eq!(tokyo.to_rfc3339(), "2026-02-13T10:00:00+09:00");
        assert_eq!(tokyo, t, "the same instant");
        assert_eq!(zones.zone("mixi"), chrono_tz::Asia::Tokyo);
    }

    #[test]
    fn the_offset_follows_the_season() {
        let zones = zones();
        assert_eq!(
            zones.local("nyc", at("2026-01-15T12:00:00Z")).to_rfc3339(),
            "2026-01-15T07:00:00-05:00"
        );
        assert_eq!(
            zones.local("nyc", at("2026-07-15T12:00:00Z")).to_rfc3339(),
            "2026-07-15T08:00:00-04:00"
        );
        // Across New Year in Tokyo, still 31 December in UTC.
        assert_eq!(
            zones.local("mixi", at("2026-12-31T15:10:00Z")).to_rfc3339(),
            "2027-01-01T00:10:00+09:00"
        );
    }

    #[test]
    fn a_site_without_a_zone_or_unknown_is_utc() {
        let zones = zones();
        let t = at("2026-02-13T01:00:00Z");
        for site in ["plain", "gone", ""] {
            assert_eq!(
                zones.local(site, t).to_rfc3339(),
                "2026-02-13T01:00:00+00:00"
            );
            assert_eq!(zones.zone(site), Tz::UTC);
        }
        assert_eq!(
            Zones::default().local("mixi", t).offset().local_minus_utc(),
            0
        );
    }

    #[test]
    fn the_ends_of_the_calendar_do_not_panic() {
        let zones = zones();
        for site in ["mixi", "nyc", "plain"] {
            for t in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
                assert_eq!(zones.local(site, t), t);
            }
        }
    }
}
