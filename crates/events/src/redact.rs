//! Keeping secrets out of messages: credentials written into a URL
//! (`nats://user:password@host`, `https://token@host/`) are masked before the
//! URL appears in an error or a log line, and a configured secret (a cookie
//! value) is a [`Secret`], which shows as `***`.

use std::borrow::Cow;
use std::fmt;

use percent_encoding::percent_decode_str;

/// What replaces a URL's credentials.
const MASK: &str = "***";

/// A value that must not be shown: its `Debug` is `***`, it has no
/// `Display`, and only [`Secret::expose`] gives it, to the one place that
/// sends it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The value itself, for the request that carries it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

/// `text` with the credentials of every URL in it masked:
/// `nats://u:secret@host:4222` becomes `nats://***@host:4222`. Text without
/// `://` comes back unchanged.
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        // The authority ends at the first '/', '?', '#', whitespace or quote;
        // its userinfo ends at its last '@'.
        let end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#' | '"' | '\'' | '`') || c.is_whitespace())
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(userinfo_end) => {
                out.push_str(MASK);
                rest = &tail[userinfo_end..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// `url` without its userinfo (`user:password@`), to be shown in an event,
/// a log line or an error: a configured URL may carry credentials.
pub fn redact_url(url: &str) -> Cow<'_, str> {
    match userinfo(url) {
        Some((_, stripped)) => Cow::Owned(stripped),
        None => Cow::Borrowed(url),
    }
}

/// `url` without its credentials, and the credentials it carried
/// (percent-decoded): a user and a password, or a token alone (NATS reads
/// `nats://token@host` so). A client is given them as options instead of in
/// an address that its own logs may print.
pub fn split_credentials(url: &str) -> (String, Option<(String, Option<String>)>) {
    let Some((info, stripped)) = userinfo(url) else {
        return (url.to_owned(), None);
    };
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    let credentials = match info.split_once(':') {
        Some((user, password)) => (decode(user), Some(decode(password))),
        None => (decode(info), None),
    };
    (stripped, Some(credentials))
}

/// The userinfo of `url` and the URL without it, if it has one. The
/// authority ends at the first `/`, `\`, `?` or `#`, and the userinfo at its
/// last `@`, as a browser reads them.
fn userinfo(url: &str) -> Option<(&str, String)> {
    let scheme_end = url.find("://")? + 3;
    let rest = &url[scheme_end..];
    let authority = &rest[..rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len())];
    let at = authority.rfind('@')?;
    Some((
        &rest[..at],
        format!("{}{}", &url[..scheme_end], &rest[at + 1..]),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_debugs_as_a_mask() {
        let secret = Secret::new("s3cret".to_owned());
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(***)");
        assert_eq!(secret.expose(), "s3cret");
    }

    #[test]
    fn credentials_in_urls_are_masked_wherever_they_are() {
        assert_eq!(
            redact_urls("cannot connect to nats://u:s3cret@127.0.0.1:4222, nats://h:4223"),
            "cannot connect to nats://***@127.0.0.1:4222, nats://h:4223"
        );
        assert_eq!(
            redact_urls("\"https://tok3n@example.com/a@b\" is bad"),
            "\"https://***@example.com/a@b\" is bad"
        );
        assert_eq!(redact_urls("no url here"), "no url here");
        assert_eq!(redact_urls("http://host/x"), "http://host/x");
        assert_eq!(redact_urls("trailing ://"), "trailing ://");
    }

    #[test]
    fn urls_are_shown_without_credentials() {
        assert_eq!(
            redact_url("https://user:secret@host/p?q=a@b"),
            "https://host/p?q=a@b"
        );
        assert_eq!(redact_url("http://token@host:8080"), "http://host:8080");
        assert_eq!(redact_url("http://a:b@c@host/"), "http://host/");
        assert_eq!(redact_url("http://host/path@x"), "http://host/path@x");
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn credentials_split_off_a_url() {
        assert_eq!(
            split_credentials("nats://u:p%40ss@127.0.0.1:4222"),
            (
                "nats://127.0.0.1:4222".to_owned(),
                Some(("u".to_owned(), Some("p@ss".to_owned())))
            )
        );
        assert_eq!(
            split_credentials("nats://127.0.0.1:4222"),
            ("nats://127.0.0.1:4222".to_owned(), None)
        );
        assert_eq!(
            split_credentials("tls://tok@h:1"),
            ("tls://h:1".to_owned(), Some(("tok".to_owned(), None)))
        );
    }
}
