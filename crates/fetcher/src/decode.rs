//! Turning a page's bytes into text: finding the charset (Shift_JIS and EUC-JP
//! are common on the Japanese pages pagefeed started with) and decoding with
//! encoding_rs, bad bytes becoming U+FFFD rather than an error.
//!
//! The charset is taken from, in this order (the HTML standard's order, with
//! the site's word first):
//! 1. the site's `charset` in the configuration: the operator knows better
//!    than a page that lies about itself;
//! 2. a byte order mark (UTF-8, UTF-16LE, UTF-16BE): it cannot be there by
//!    accident, so it wins over what the page says, a header included;
//! 3. the `charset=` parameter of the `Content-Type` header: the server's word
//!    wins over the document's own `<meta>`;
//! 4. `<meta charset=...>` or `<meta http-equiv="Content-Type"
//!    content="...; charset=...">` in the first 1024 bytes;
//! 5. a guess by chardetng (Firefox's detector) over at most
//!    [`DETECT_BYTES`] from the first byte that is not ASCII, helped by the
//!    URL's top-level domain (`.jp`); a page all ASCII is UTF-8.
//!
//! A label encoding_rs does not know is skipped, and the next source is tried.

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1252, X_USER_DEFINED};

/// How far into the body `<meta>` is looked for (what browsers pre-scan).
const META_SCAN_BYTES: usize = 1024;

/// How far past [`META_SCAN_BYTES`] a `<meta>` tag that starts inside it may end.
const META_TAG_SLACK: usize = 512;

/// How many bytes the charset detector reads at most, from the first byte
/// that is not ASCII: enough for a confident guess, and a bound on its work.
pub const DETECT_BYTES: usize = 64 * 1024;

/// A decoded page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub text: String,
    /// The WHATWG name of the encoding used, e.g. `Shift_JIS`.
    pub encoding: &'static str,
    /// Where the encoding came from.
    pub source: Source,
    /// Whether some bytes were not valid in that encoding (they are U+FFFD now).
    pub had_errors: bool,
}

/// Where a page's encoding came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The site's `charset` setting.
    Forced,
    Bom,
    Header,
    Meta,
    /// Guessed from the bytes.
    Detected,
    /// All ASCII, nothing declared: UTF-8.
    Default,
}

impl Source {
    /// For messages: `the site's charset`, `detected`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Forced => "the site's charset",
            Source::Bom => "byte order mark",
            Source::Header => "Content-Type header",
            Source::Meta => "<meta> charset",
            Source::Detected => "detected",
            Source::Default => "default",
        }
    }
}

/// What decides a page's charset besides its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Charset<'a> {
    /// The site's `charset`: wins over everything.
    pub forced: Option<&'static Encoding>,
    /// The response's `Content-Type` header.
    pub content_type: Option<&'a str>,
    /// The page's URL, whose top-level domain weighs in a guess.
    pub url: &'a str,
}

impl Charset<'_> {
    /// Decodes `body`.
    pub fn decode(&self, body: &[u8]) -> Decoded {
        let (encoding, source, rest) = self.choose(body);
        let (text, had_errors) = encoding.decode_without_bom_handling(rest);
        Decoded {
            text: text.into_owned(),
            encoding: encoding.name(),
            source,
            had_errors,
        }
    }

    /// The encoding, its source, and the body without its byte order mark.
    fn choose<'b>(&self, body: &'b [u8]) -> (&'static Encoding, Source, &'b [u8]) {
        let bom = Encoding::for_bom(body);
        if let Some(forced) = self.forced {
            // The forced encoding's own BOM is not text.
            let rest = match bom {
                Some((encoding, len)) if encoding == forced => &body[len..],
                _ => body,
            };
            return (forced, Source::Forced, rest);
        }
        if let Some((encoding, len)) = bom {
            return (encoding, Source::Bom, &body[len..]);
        }
        if let Some(encoding) = self
            .content_type
            .and_then(header_charset)
            .and_then(Encoding::for_label)
        {
            return (encoding, Source::Header, body);
        }
        if let Some(encoding) = meta_charset(body) {
            return (encoding, Source::Meta, body);
        }
        match detect(body, top_level_domain(self.url).as_deref()) {
            Some(encoding) => (encoding, Source::Detected, body),
            None => (UTF_8, Source::Default, body),
        }
    }
}

/// Decodes `body`, whose `Content-Type` header is `content_type`, with
/// nothing forced and no URL to help a guess.
pub fn decode(body: &[u8], content_type: Option<&str>) -> Decoded {
    Charset {
        forced: None,
        content_type,
        url: "",
    }
    .decode(body)
}

/// chardetng's guess over at most [`DETECT_BYTES`] from the first byte that
/// is not ASCII (or the ESC of ISO-2022-JP), with the two bytes before it as
/// context; none when there is no such byte. The bytes before it are ASCII,
/// so the window starts on a character boundary in any encoding the web uses.
fn detect(body: &[u8], tld: Option<&[u8]>) -> Option<&'static Encoding> {
    let first = body.iter().position(|&b| b >= 0x80 || b == 0x1B)?;
    let start = first.saturating_sub(2);
    let end = body.len().min(start + DETECT_BYTES);
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Allow);
    detector.feed(&body[start..end], end == body.len());
    Some(detector.guess(tld, Utf8Detection::Allow))
}

/// The last label of the URL's host when it is a domain, as chardetng
/// wants it (lowercase ASCII, no dot); none for an IP address.
fn top_level_domain(url: &str) -> Option<Vec<u8>> {
    let url = url::Url::parse(url).ok()?;
    let url::Host::Domain(domain) = url.host()? else {
        return None;
    };
    let label = domain.rsplit('.').find(|label| !label.is_empty())?;
    label
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        .then(|| label.as_bytes().to_vec())
}

/// The `charset` parameter of a `Content-Type` value, unquoted.
fn header_charset(content_type: &str) -> Option<&[u8]> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches(['"', '\'']).as_bytes())
    })
}

/// The encoding a `<meta>` in the first bytes declares. As in the HTML
/// standard, a UTF-16 declaration means UTF-8 (the `<meta>` could not have
/// been read as ASCII otherwise) and `x-user-defined` means windows-1252.
fn meta_charset(body: &[u8]) -> Option<&'static Encoding> {
    let scan = &body[..body.len().min(META_SCAN_BYTES)];
    let mut from = 0;
    while let Some(at) = find_ci(&scan[from..], b"<meta") {
        let start = from + at + b"<meta".len();
        let limit = body.len().min(META_SCAN_BYTES + META_TAG_SLACK);
        let end = body[start..limit]
            .iter()
            .position(|&b| b == b'>')
            .map_or(limit, |p| start + p);
        if let Some(encoding) = charset_in_tag(&body[start..end]) {
            return Some(match encoding {
                e if e == UTF_16LE || e == UTF_16BE => UTF_8,
                e if e == X_USER_DEFINED => WINDOWS_1252,
                e => e,
            });
        }
        from = start;
    }
    None
}

/// The encoding named after `charset` (and optional spaces and `=`) in the
/// attributes of one tag; that covers `charset="EUC-JP"` and
/// `content="text/html; charset=ISO-2022-JP"` alike.
fn charset_in_tag(tag: &[u8]) -> Option<&'static Encoding> {
    let mut from = 0;
    while let Some(at) = find_ci(&tag[from..], b"charset") {
        let mut i = from + at + b"charset".len();
        from = i;
        while tag.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        if tag.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        while tag
            .get(i)
            .is_some_and(|b| b.is_ascii_whitespace() || *b == b'"' || *b == b'\'')
        {
            i += 1;
        }
        let len = tag[i..]
            .iter()
            .position(|b| b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b';' | b'/'))
            .unwrap_or(tag.len() - i);
        if let Some(encoding) = Encoding::for_label(&tag[i..i + len]) {
            return Some(encoding);
        }
    }
    None
}

/// The first position of `needle` (lowercase ASCII) in `haystack`, ignoring ASCII case.
fn find_ci(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::{EUC_JP, ISO_2022_JP, SHIFT_JIS};

    const TEXT: &str = "ユーザー42さんの最近の日記: 今日は渋谷でラーメンを食べました。";

    fn page(meta: &str) -> String {
        format!("<!DOCTYPE html><html><head>{meta}<title>{TEXT}</title></head><body><p>{TEXT}</p></body></html>")
    }

    fn encode(encoding: &'static Encoding, text: &str) -> Vec<u8> {
        let (bytes, _, unmappable) = encoding.encode(text);
        assert!(!unmappable);
        bytes.into_owned()
    }

    #[test]
    fn shift_jis_from_the_header() {
        let html = page("");
        let body = encode(SHIFT_JIS, &html);
        let d = decode(&body, Some("text/html; charset=Shift_JIS"));
        assert_eq!(
            (d.text.as_str(), d.encoding, d.had_errors),
            (html.as_str(), "Shift_JIS", false)
        );
        // Labels are case-insensitive and may be quoted.
        let d = decode(&body, Some("text/html;charset=\"shift_jis\""));
        assert_eq!(d.text, html);
    }

    #[test]
    fn euc_jp_from_meta_charset() {
        let html = page("<meta charset=\"EUC-JP\">");
        let d = decode(&encode(EUC_JP, &html), Some("text/html"));
        assert_eq!((d.text.as_str(), d.encoding), (html.as_str(), "EUC-JP"));
    }

    #[test]
    fn iso_2022_jp_from_meta_http_equiv() {
        let html =
            page("<META HTTP-EQUIV=\"Content-Type\" CONTENT=\"text/html; Charset=ISO-2022-JP\">");
        let d = decode(&encode(ISO_2022_JP, &html), None);
        assert_eq!(
            (d.text.as_str(), d.encoding),
            (html.as_str(), "ISO-2022-JP")
        );
    }

    #[test]
    fn utf8_is_the_default() {
        let html = page("");
        let d = decode(html.as_bytes(), Some("text/html"));
        assert_eq!(
            (d.text.as_str(), d.encoding, d.had_errors),
            (html.as_str(), "UTF-8", false)
        );
    }

    #[test]
    fn a_bom_wins_over_the_header_and_is_stripped() {
        let html = page("<meta charset=\"EUC-JP\">");
        let mut body = b"\xEF\xBB\xBF".to_vec();
        body.extend_from_slice(html.as_bytes());
        let d = decode(&body, Some("text/html; charset=Shift_JIS"));
        assert_eq!((d.text.as_str(), d.encoding), (html.as_str(), "UTF-8"));

        let mut body = vec![0xFF, 0xFE];
        body.extend(html.encode_utf16().flat_map(u16::to_le_bytes));
        let d = decode(&body, Some("text/html; charset=utf-8"));
        assert_eq!((d.text.as_str(), d.encoding), (html.as_str(), "UTF-16LE"));

        let mut body = vec![0xFE, 0xFF];
        body.extend(html.encode_utf16().flat_map(u16::to_be_bytes));
        let d = decode(&body, None);
        assert_eq!((d.text.as_str(), d.encoding), (html.as_str(), "UTF-16BE"));
    }

    #[test]
    fn the_header_wins_over_meta() {
        // The server says EUC-JP and is right; the page's meta is wrong.
        let html = page("<meta charset=\"Shift_JIS\">");
        let d = decode(&encode(EUC_JP, &html), Some("text/html; charset=EUC-JP"));
        assert_eq!((d.text.as_str(), d.encoding), (html.as_str(), "EUC-JP"));
    }

    #[test]
    fn an_unknown_header_label_falls_back_to_meta() {
        let html = page("<meta charset='euc-jp'>");
        let d = decode(&encode(EUC_JP, &html), Some("text/html; charset=klingon"));
        assert_eq!(d.encoding, "EUC-JP");
        assert_eq!(d.text, html);
    }

    #[test]
    fn meta_past_the_first_kilobyte_is_ignored() {
        let html = format!("<!-- {} --><meta charset=\"EUC-JP\">", "x".repeat(1100));
        assert_eq!(decode(html.as_bytes(), None).encoding, "UTF-8");
    }

    #[test]
    fn meta_utf16_means_utf8() {
        let html = page("<meta charset=\"utf-16\">");
        let d = decode(html.as_bytes(), None);
        assert_eq!((d.text.as_str(), d.encoding), (html.as_str(), "UTF-8"));
    }

    #[test]
    fn undeclared_shift_jis_and_euc_jp_are_detected() {
        let html = page("");
        for encoding in [SHIFT_JIS, EUC_JP] {
            for url in ["", "http://127.0.0.1:8700/p", "https://www.example.jp/p"] {
                let d = Charset {
                    forced: None,
                    content_type: Some("text/html"),
                    url,
                }
                .decode(&encode(encoding, &html));
                assert_eq!(
                    (d.text.as_str(), d.encoding, d.source),
                    (html.as_str(), encoding.name(), Source::Detected),
                    "{url}"
                );
            }
        }
        // A long ASCII head (scripts, styles) does not hide the text: the
        // window starts at the first byte that is not ASCII.
        let long = page(&format!(
            "<style>{}</style>",
            "p { margin: 0 }\n".repeat(8000)
        ));
        let d = decode(&encode(EUC_JP, &long), None);
        assert_eq!((d.text.as_str(), d.encoding), (long.as_str(), "EUC-JP"));
        let d = decode(&encode(ISO_2022_JP, &html), None);
        assert_eq!(
            (d.text.as_str(), d.encoding),
            (html.as_str(), "ISO-2022-JP")
        );
    }

    #[test]
    fn detection_reads_at_most_its_window() {
        // Shift_JIS text past the window, then bytes Shift_JIS never has (a
        // lead byte and a space): outside the window they change nothing,
        // inside it they rule Shift_JIS out.
        let invalid = b"\x81 ";
        assert!(SHIFT_JIS.decode_without_bom_handling(invalid).1);
        let mut text = String::new();
        while text.len() < 2 * DETECT_BYTES {
            text.push_str(TEXT);
        }
        let mut body = encode(SHIFT_JIS, &text);
        assert!(body.len() > DETECT_BYTES);
        body.extend_from_slice(invalid);
        assert_eq!(decode(&body, None).encoding, "Shift_JIS");
        let mut short = encode(SHIFT_JIS, TEXT);
        short.extend_from_slice(invalid);
        short.extend_from_slice(&encode(SHIFT_JIS, TEXT));
        assert_ne!(decode(&short, None).encoding, "Shift_JIS");
    }

    #[test]
    fn a_forced_charset_wins_over_everything() {
        let html = page("<meta charset=\"EUC-JP\">");
        let body = encode(SHIFT_JIS, &html);
        for content_type in [None, Some("text/html; charset=utf-8")] {
            let d = Charset {
                forced: Some(SHIFT_JIS),
                content_type,
                url: "http://127.0.0.1/",
            }
            .decode(&body);
            assert_eq!(
                (d.text.as_str(), d.encoding, d.source, d.had_errors),
                (html.as_str(), "Shift_JIS", Source::Forced, false)
            );
        }
        // Even a byte order mark; its own BOM is stripped.
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(&body);
        let forced = |encoding| Charset {
            forced: Some(encoding),
            content_type: None,
            url: "",
        };
        assert_eq!(forced(SHIFT_JIS).decode(&bom).encoding, "Shift_JIS");
        let mut utf8 = b"\xEF\xBB\xBF".to_vec();
        utf8.extend_from_slice(html.as_bytes());
        assert_eq!(forced(UTF_8).decode(&utf8).text, html);
    }

    #[test]
    fn the_top_level_domain_is_what_chardetng_accepts() {
        assert_eq!(
            top_level_domain("https://www.Example.JP/x"),
            Some(b"jp".to_vec())
        );
        assert_eq!(
            top_level_domain("http://example.com./"),
            Some(b"com".to_vec())
        );
        assert_eq!(
            top_level_domain("http://xn--wgv71a119e.xn--wgv71a/"),
            Some(b"xn--wgv71a".to_vec())
        );
        assert_eq!(top_level_domain("http://127.0.0.1:8700/"), None);
        assert_eq!(top_level_domain("http://[::1]/"), None);
        assert_eq!(top_level_domain("not a url"), None);
    }

    #[test]
    fn wrong_charset_gives_replacement_characters_not_a_panic() {
        let body = encode(SHIFT_JIS, TEXT);
        let d = decode(&body, Some("text/html; charset=utf-8"));
        assert!(d.had_errors);
        assert!(d.text.contains('\u{FFFD}'));
    }

    #[test]
    fn garbage_never_panics() {
        // splitmix64, so the bytes are the same on every run.
        let mut state = 0x5EED_u64;
        let mut next = || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let pieces: [&[u8]; 8] = [
            b"<meta charset=",
            b"\"",
            b"euc-jp",
            b"shift_jis",
            b"iso-2022-jp",
            b"\xEF\xBB\xBF",
            b"\xFF\xFE",
            b"<META http-equiv content='charset",
        ];
        let headers = [
            None,
            Some("text/html"),
            Some("text/html; charset=iso-2022-jp"),
            Some("charset="),
        ];
        for round in 0..2000 {
            let len = (next() % 600) as usize;
            let mut body = Vec::with_capacity(len + 64);
            while body.len() < len {
                let r = next();
                if r % 5 == 0 {
                    body.extend_from_slice(pieces[(r >> 8) as usize % pieces.len()]);
                } else {
                    body.extend_from_slice(&r.to_le_bytes()[..(r >> 60) as usize % 8 + 1]);
                }
            }
            let d = Charset {
                forced: None,
                content_type: headers[round % headers.len()],
                url: ["", "http://h.jp/", "http://h.ru/", "http://[::1]/"][round % 4],
            }
            .decode(&body);
            assert!(!d.encoding.is_empty());
        }
    }
}
