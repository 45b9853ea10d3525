//! How the web view shows an instant: in the site's time, with its offset.

use chrono::{DateTime, FixedOffset, Utc};
use maud::{html, Markup};

/// `t` in the local time of `site`.
// zones: wired to Zones at merge
fn shown(site: &str, t: DateTime<Utc>) -> DateTime<FixedOffset> {
    let _ = site;
    t.fixed_offset()
}

/// A `<time>` of `t` in `site`'s time, offset included.
pub(super) fn time(site: &str, t: DateTime<Utc>) -> Markup {
    let local = shown(site, t);
    html! {
        time datetime=(local.to_rfc3339()) {
            span { (local.format("%Y-%m-%d")) } " " span { (local.format("%H:%M %:z")) }
        }
    }
}

/// The site of page `key` (`<site>.<id>`).
pub(super) fn site_of(key: &str) -> &str {
    key.split_once('.').map_or(key, |(site, _)| site)
}
