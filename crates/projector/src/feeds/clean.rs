//! What an entry may put into a feed, whatever its page or a publisher
//! sent: text only of characters XML 1.0 can hold (the same text in every
//! format), links only to `http` and `https` URLs, and HTML only escaped.

/// `s` without the characters a feed must not carry: control characters
/// other than tab and newline (XML 1.0 cannot hold most of them, even
/// escaped), and U+FFFE and U+FFFF; line ends become `\n`.
pub(super) fn text(s: &str) -> String {
    s.replace("\r\n", "\n")
        .chars()
        .map(|c| if c == '\r' { '\n' } else { c })
        .filter(|&c| {
            (!c.is_control() || c == '\t' || c == '\n') && c != '\u{FFFE}' && c != '\u{FFFF}'
        })
        .collect()
}

/// `link` if it is an absolute `http` or `https` URL, as the URL parser
/// writes it (ASCII, anything odd percent-encoded); else nothing
/// (`javascript:`, `data:`, a relative or broken link).
pub(super) fn link(link: &str) -> Option<String> {
    let url = url::Url::parse(link).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.into())
}

/// The origin of `link` (`https://host:port/`), if it is an `http` or
/// `https` URL.
pub(super) fn origin(link: &str) -> Option<String> {
    let mut url = url::Url::parse(link).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    url.set_path("/");
    url.set_query(None);
    url.set_fragment(None);
    // The userinfo of a page's URL is no business of a reader.
    url.set_username("").ok()?;
    url.set_password(None).ok()?;
    Some(url.into())
}

/// The longest headline, in characters.
const HEADLINE_CHARS: usize = 100;

/// A one-line headline of `text` (cleaned): its words, cut to
/// [`HEADLINE_CHARS`] with an ellipsis.
pub(super) fn headline(text: &str) -> String {
    let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match words.char_indices().nth(HEADLINE_CHARS) {
        Some((cut, _)) => format!("{}…", &words[..cut]),
        None => words,
    }
}

/// `text` (cleaned) as HTML: escaped, its line ends kept as `<br>`. For
/// RSS's `description`, which readers take as HTML.
pub(super) fn html(text: &str) -> String {
    quick_xml::escape::escape(text).replace('\n', "<br>\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_keeps_only_what_xml_can_hold() {
        assert_eq!(text("a\u{0}b\u{1b}c\u{7f}d\u{85}e\u{FFFF}f"), "abcdef");
        assert_eq!(text("a\r\nb\rc\td\n"), "a\nb\nc\td\n");
        assert_eq!(text("渋谷 <b>]]>"), "渋谷 <b>]]>");
    }

    #[test]
    fn only_http_links_are_kept() {
        assert_eq!(
            link("https://example.invalid/a b").as_deref(),
            Some("https://example.invalid/a%20b")
        );
        assert_eq!(link("javascript:alert(1)"), None);
        assert_eq!(link(" JavaScript:alert(1)"), None);
        assert_eq!(link("data:text/html,<script>"), None);
        assert_eq!(link("/relative"), None);
        assert_eq!(
            origin("http://u:p@example.invalid:8080/x?y#z").as_deref(),
            Some("http://example.invalid:8080/")
        );
    }

    #[test]
    fn headlines_are_one_short_line() {
        assert_eq!(headline("  a\n b\tc "), "a b c");
        let long = "あ".repeat(150);
        assert_eq!(headline(&long), format!("{}…", "あ".repeat(100)));
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            html("<script>alert(1)</script>\n&"),
            "&lt;script&gt;alert(1)&lt;/script&gt;<br>\n&amp;"
        );
    }
}
