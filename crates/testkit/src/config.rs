//! Configs for tests: `[[site]]` blocks, whole config files pointing at a
//! test nats-server, and the sample site's extract settings and time zone.

use std::path::Path;

use pagefeed_events::config::Extract;
use pagefeed_events::Config;

use crate::sample_site;

/// The `[site.extract]` table that reads the sample site's pages.
pub const SAMPLE_EXTRACT: &str = "[site.extract]\ntitle = \"title\"\nentry = \"div.feedEntry\"\n\
     text = \"p.comment\"\ntimestamp = \"li.timeStamp\"\ntimestamp_format = \"%m月%d日 %H:%M\"\n\
     link = \"li.viewLink a\"\n";

/// [`SAMPLE_EXTRACT`] as the config type, for tests that extract in-process.
pub fn sample_extract() -> Extract {
    Extract {
        title: "title".into(),
        entry: "div.feedEntry".into(),
        text: Some("p.comment".into()),
        timestamp: Some("li.timeStamp".into()),
        timestamp_format: Some("%m月%d日 %H:%M".into()),
        link: Some("li.viewLink a".into()),
    }
}

/// A `[[site]]` block over an id range, read with [`SAMPLE_EXTRACT`] in the
/// sample site's time zone.
pub fn id_site(name: &str, url: &str, first: u64, last: u64, batch: u64, interval: &str) -> String {
    format!(
        "[[site]]\nname = \"{name}\"\nurl = \"{url}\"\nids = {{ first = {first}, last = {last} }}\n\
         batch = {batch}\ninterval = \"{interval}\"\nretention = \"7d\"\ntimezone = \"{}\"\n{SAMPLE_EXTRACT}",
        sample_site::TIMEZONE.name()
    )
}

/// A whole config: `[nats]` at `nats_url` with `replicas`, then the sites.
pub fn config(nats_url: &str, replicas: usize, sites: &[String]) -> Config {
    config_with(nats_url, &format!("replicas = {replicas}"), "", sites)
}

/// The text of a config: `[nats]` at `nats_url` plus `nats_extra` lines,
/// then `sections` (e.g. a `[fetcher]` table), then the sites.
pub fn config_text(nats_url: &str, nats_extra: &str, sections: &str, sites: &[String]) -> String {
    format!(
        "[nats]\nurl = \"{nats_url}\"\n{nats_extra}\n\n{sections}\n\n{}",
        sites.join("\n")
    )
}

/// [`config_text`], parsed.
pub fn config_with(nats_url: &str, nats_extra: &str, sections: &str, sites: &[String]) -> Config {
    let text = config_text(nats_url, nats_extra, sections, sites);
    match Config::parse(Path::new("test.toml"), &text) {
        Ok(cfg) => cfg,
        Err(e) => panic!("test config is invalid: {e}\n{text}"),
    }
}
