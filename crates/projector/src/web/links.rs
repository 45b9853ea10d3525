//! Links: which URLs of the replica may become an `href` ([`web_href`]:
//! http and https only), and the web view's own paths, their parts
//! percent-encoded.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but the unreserved characters of RFC 3986.
const ENCODED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `part` as one path segment.
pub(super) fn path_segment(part: &str) -> String {
    utf8_percent_encode(part, ENCODED).to_string()
}

/// `value` as the value of a query parameter.
pub(super) fn query_value(value: &str) -> String {
    utf8_percent_encode(value, ENCODED).to_string()
}

/// `url` as an `href`, if it is an absolute http or https URL (as the URL
/// parser normalises it); `None` for anything else (`javascript:`,
/// `data:`, relative, unparsable), which is then shown as text or dropped.
pub(super) fn web_href(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    matches!(parsed.scheme(), "http" | "https").then(|| parsed.into())
}

/// `path` with the query parameters that have a value.
pub(super) fn with_query(path: &str, params: &[(&str, Option<&str>)]) -> String {
    let mut href = path.to_owned();
    let mut sep = '?';
    for (name, value) in params {
        if let Some(value) = value {
            href.push(sep);
            href.push_str(name);
            href.push('=');
            href.push_str(&query_value(value));
            sep = '&';
        }
    }
    href
}

/// The web view of page `key`.
pub(super) fn page_href(key: &str) -> String {
    format!("/pages/{}", path_segment(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_become_links() {
        assert_eq!(
            web_href("http://127.0.0.1:8700/a?b=1").as_deref(),
            Some("http://127.0.0.1:8700/a?b=1")
        );
        assert_eq!(
            web_href("HTTPS://example.invalid/x y").as_deref(),
            Some("https://example.invalid/x%20y")
        );
        for hostile in [
            "javascript:alert(1)",
            " javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "java\tscript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:x",
            "/relative",
            "//example.invalid/",
            "",
        ] {
            assert_eq!(web_href(hostile), None, "{hostile:?}");
        }
    }

    #[test]
    fn query_parameters_are_encoded() {
        assert_eq!(
            with_query(
                "/search",
                &[
                    ("q", Some("a&b=c #")),
                    ("cursor", None),
                    ("limit", Some("5"))
                ]
            ),
            "/search?q=a%26b%3Dc%20%23&limit=5"
        );
        assert_eq!(page_href("sample.1"), "/pages/sample.1");
    }
}
