//! How the web view shows an instant: in the site's time, with its offset.

use chrono::{DateTime, Utc};
use maud::{html, Markup};

use crate::zones::Zones;

/// A `<time>` of `t` in `site`'s time, offset included.
pub(super) fn time(zones: &Zones, site: &str, t: DateTime<Utc>) -> Markup {
    let local = zones.local(site, t);
    html! {
        time datetime=(local.to_rfc3339()) {
            span { (local.format("%Y-%m-%d")) } " " span { (local.format("%H:%M %:z")) }
        }
    }
}
