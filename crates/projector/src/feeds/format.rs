//! The three formats ([`FeedFormat`]): their names in the URLs, their MIME
//! types, and which writer renders each.

use super::content::FeedContent;
use super::target::FeedTarget;

/// A feed's format, as named in its URL (`atom`, `rss`, `json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeedFormat {
    /// Atom 1.0 (RFC 4287).
    Atom,
    /// RSS 2.0.
    Rss,
    /// JSON Feed 1.1.
    Json,
}

impl FeedFormat {
    /// Every format, in the order the links list them.
    pub const ALL: [FeedFormat; 3] = [FeedFormat::Atom, FeedFormat::Rss, FeedFormat::Json];

    /// The format named `name` in a URL.
    pub fn parse(name: &str) -> Option<FeedFormat> {
        FeedFormat::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Its name in a URL.
    pub fn name(self) -> &'static str {
        match self {
            FeedFormat::Atom => "atom",
            FeedFormat::Rss => "rss",
            FeedFormat::Json => "json",
        }
    }

    /// Its MIME type, for a `<link type>`.
    pub fn mime(self) -> &'static str {
        match self {
            FeedFormat::Atom => "application/atom+xml",
            FeedFormat::Rss => "application/rss+xml",
            FeedFormat::Json => "application/feed+json",
        }
    }

    /// What a reader would call it, for a `<link title>`.
    pub fn title(self) -> &'static str {
        match self {
            FeedFormat::Atom => "Atom",
            FeedFormat::Rss => "RSS",
            FeedFormat::Json => "JSON Feed",
        }
    }

    /// The `Content-Type` of its answers (JSON is UTF-8 by definition).
    pub(super) fn content_type(self) -> &'static str {
        match self {
            FeedFormat::Atom => "application/atom+xml; charset=utf-8",
            FeedFormat::Rss => "application/rss+xml; charset=utf-8",
            FeedFormat::Json => "application/feed+json",
        }
    }

    /// `content` in this format.
    pub(super) fn render(
        self,
        target: &FeedTarget,
        content: &FeedContent,
    ) -> Result<Vec<u8>, String> {
        match self {
            FeedFormat::Atom => super::atom::render(content).map_err(|e| e.to_string()),
            FeedFormat::Rss => super::rss::render(target, content).map_err(|e| e.to_string()),
            FeedFormat::Json => super::json::render(content).map_err(|e| e.to_string()),
        }
    }
}
