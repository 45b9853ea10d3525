//! What is sent for one new entry: the entry with its page and site, and
//! its idempotency key (the event's message id), as a webhook's JSON body
//! or as ntfy's text and headers.

use chrono::{DateTime, Utc};
use pagefeed_events::event::EntryObserved;
use serde::Serialize;

/// The most of an entry's text an ntfy message carries: ntfy turns a
/// longer body into an attachment.
pub const NTFY_TEXT_BYTES: usize = 4000;

/// One entry to send.
#[derive(Debug, Clone)]
pub struct Notification {
    /// The event's `Nats-Msg-Id`: the same entry always has the same key,
    /// so a receiver drops what it already has.
    pub key: String,
    /// The event's sequence in `PAGEFEED_EVENTS`.
    pub seq: u64,
    pub entry: EntryObserved,
    /// The page's configured URL (without credentials), when this
    /// notifier's config has the page.
    pub page_url: Option<String>,
}

/// The webhook's JSON body (docs: README, "Notifications").
#[derive(Serialize)]
struct WebhookBody<'a> {
    idempotency_key: &'a str,
    destination: &'a str,
    stream_seq: u64,
    site: &'a str,
    page: PageBody<'a>,
    entry: EntryBody<'a>,
}

#[derive(Serialize)]
struct PageBody<'a> {
    key: String,
    id: &'a str,
    url: Option<&'a str>,
}

#[derive(Serialize)]
struct EntryBody<'a> {
    id: &'a str,
    text: &'a str,
    timestamp: Option<DateTime<Utc>>,
    link: Option<&'a str>,
    observed_at: DateTime<Utc>,
}

impl Notification {
    /// The JSON a webhook receives, as sent to `destination`.
    pub fn webhook_json(&self, destination: &str) -> Vec<u8> {
        let e = &self.entry;
        let body = WebhookBody {
            idempotency_key: &self.key,
            destination,
            stream_seq: self.seq,
            site: e.page.site(),
            page: PageBody {
                key: e.page.to_string(),
                id: e.page.id(),
                url: self.page_url.as_deref(),
            },
            entry: EntryBody {
                id: &e.id,
                text: &e.text,
                timestamp: e.timestamp,
                link: e.link.as_deref(),
                observed_at: e.observed_at,
            },
        };
        serde_json::to_vec(&body).expect("strings, integers and timestamps always serialise")
    }

    /// ntfy's `Title`: the page.
    pub fn title(&self) -> String {
        format!("New entry on {}", self.entry.page)
    }

    /// ntfy's message: the entry's text, cut to [`NTFY_TEXT_BYTES`] on a
    /// character boundary.
    pub fn text(&self) -> String {
        let text = self.entry.text.trim();
        if text.is_empty() {
            return "(an entry without text)".to_owned();
        }
        let mut end = text.len().min(NTFY_TEXT_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        if end < text.len() {
            format!("{}…", &text[..end])
        } else {
            text.to_owned()
        }
    }

    /// ntfy's `Tags`: pagefeed and the site.
    pub fn tags(&self) -> String {
        format!("pagefeed,{}", self.entry.page.site())
    }

    /// ntfy's `Click`: the entry's link, if it is an http(s) URL a header
    /// can carry (a page's link is the page's word, not ours).
    pub fn click(&self) -> Option<&str> {
        let link = self.entry.link.as_deref()?;
        let lower = link.get(..8)?.to_ascii_lowercase();
        let web = lower.starts_with("http://") || lower.starts_with("https://");
        (web && link.bytes().all(|b| b.is_ascii_graphic())).then_some(link)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notification(text: &str, link: Option<&str>) -> Notification {
        Notification {
            key: "entry_observed:sample.42:ab12".into(),
            seq: 7,
            entry: EntryObserved {
                page: "sample.42".parse().unwrap(),
                id: "ab12".into(),
                text: text.into(),
                timestamp: None,
                link: link.map(Into::into),
                observed_at: "2026-11-24T03:00:00Z".parse().unwrap(),
                first_crawl: false,
            },
            page_url: Some("http://127.0.0.1:8700/p?id=42".into()),
        }
    }

    #[test]
    fn the_webhook_json_carries_entry_page_site_and_key() {
        let json: serde_json::Value =
            serde_json::from_slice(&notification("渋谷", None).webhook_json("ops")).unwrap();
        assert_eq!(json["idempotency_key"], "entry_observed:sample.42:ab12");
        assert_eq!(json["destination"], "ops");
        assert_eq!(json["stream_seq"], 7);
        assert_eq!(json["site"], "sample");
        assert_eq!(json["page"]["key"], "sample.42");
        assert_eq!(json["page"]["id"], "42");
        assert_eq!(json["page"]["url"], "http://127.0.0.1:8700/p?id=42");
        assert_eq!(json["entry"]["text"], "渋谷");
        assert_eq!(json["entry"]["link"], serde_json::Value::Null);
    }

    #[test]
    fn ntfy_text_is_cut_on_a_character_boundary() {
        let long = "渋".repeat(2000); // 6000 bytes
        let text = notification(&long, None).text();
        assert!(text.len() <= NTFY_TEXT_BYTES + "…".len(), "{}", text.len());
        assert!(text.ends_with('…'));
        assert_eq!(notification("  ", None).text(), "(an entry without text)");
    }

    #[test]
    fn only_a_web_link_is_a_click() {
        let click = |link| notification("t", Some(link)).click().map(str::to_owned);
        assert_eq!(click("https://x/e?1"), Some("https://x/e?1".into()));
        assert_eq!(click("HTTP://x/e"), Some("HTTP://x/e".into()));
        assert_eq!(click("javascript:alert(1)"), None);
        assert_eq!(click("http://x/a\r\nSet-Cookie: y"), None);
        assert_eq!(click("http://x/渋谷"), None);
        assert_eq!(notification("t", None).click(), None);
    }
}
