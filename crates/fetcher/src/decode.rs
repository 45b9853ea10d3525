//! Turning a page's bytes into text: finding the charset (Shift_JIS and EUC-JP
//! are common on the Japanese pages pagefeed started with) and decoding with
//! encoding_rs, bad bytes becoming U+FFFD rather than an error.
//!
//! The charset is taken from, in this order (the HTML standard's order, less
//! its statistical guessing):
//! 1. a byte order mark (UTF-8, UTF-16LE, UTF-16BE): it cannot be there by
//!    accident, so it wins over everything, a header saying otherwise included;
//! 2. the `charset=` parameter of the `Content-Type` header: the server's word
//!    wins over the document's own `<meta>`;
//! 3. `<meta charset=...>` or `<meta http-equiv="Content-Type"
//!    content="...; charset=...">` in the first 1024 bytes;
//! 4. UTF-8.
//!
//! A label encoding_rs does not know is skipped, and the next source is tried.

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1252, X_USER_DEFINED};

/// How far into the body `<meta>` is looked for (what browsers pre-scan).
const META_SCAN_BYTES: usize = 1024;

/// How far past [`META_SCAN_BYTES`] a `<meta>` tag that starts inside it may end.
const META_TAG_SLACK: usize = 512;

/// A decoded page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub text: String,
    /// The WHATWG name of the encoding used, e.g. `Shift_JIS`.
    pub encoding: &'static str,
    /// Whether some bytes were not valid in that encoding (they are U+FFFD now).
    pub had_errors: bool,
}

/// Decodes `body`; `content_type` is the response's `Content-Type` header.
pub fn decode(body: &[u8], content_type: Option<&str>) -> Decoded {
    let (encoding, rest) = match Encoding::for_bom(body) {
        Some((encoding, bom_len)) => (encoding, &body[bom_len..]),
        None => {
            let encoding = content_type
                .and_then(header_charset)
                .and_then(Encoding::for_label)
                .or_else(|| meta_charset(body))
                .unwrap_or(UTF_8);
            (encoding, body)
        }
    };
    let (text, had_errors) = encoding.decode_without_bom_handling(rest);
    Decoded {
        text: text.into_owned(),
        encoding: encoding.name(),
        had_errors,
    }
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
            let d = decode(&body, headers[round % headers.len()]);
            assert!(!d.encoding.is_empty());
        }
    }
}
