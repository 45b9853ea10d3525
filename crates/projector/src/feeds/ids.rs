//! Stable ids: `tag:` URIs (RFC 4151) made of what names a feed or an
//! entry in the log (page key, site, query, entry id), never of a node, a
//! sequence or a time, so an entry has one id in every format, on every
//! node and after every rebuild.

use super::target::{encode, FeedTarget};

/// Every id's prefix. The authority is a name no one can own as a domain,
/// and the date is fixed: changing either would change every id.
const TAG: &str = "tag:pagefeed,2026:";

/// The id of entry `id` of page `page`.
pub(super) fn entry_id(page: &str, id: &str) -> String {
    format!("{TAG}entry/{}/{}", encode(page), encode(id))
}

/// The id of `target`'s feed (the same in every format).
pub(super) fn feed_id(target: &FeedTarget) -> String {
    match target {
        FeedTarget::Page(key) => format!("{TAG}page/{}", encode(key)),
        FeedTarget::Site(site) => format!("{TAG}site/{}", encode(site)),
        FeedTarget::Search(q) => format!("{TAG}search/{}", encode(q)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_encode_what_could_be_read_as_structure() {
        assert_eq!(
            entry_id("sample.1", "a/b c"),
            "tag:pagefeed,2026:entry/sample.1/a%2Fb%20c"
        );
        assert_ne!(entry_id("sample.1", "a/b"), entry_id("sample.1/a", "b"));
        assert_eq!(
            feed_id(&FeedTarget::Search("渋谷".into())),
            "tag:pagefeed,2026:search/%E6%B8%8B%E8%B0%B7"
        );
    }
}
