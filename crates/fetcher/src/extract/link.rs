//! An entry's link made absolute: an `href` resolved against the page's
//! URL.

/// `href` resolved against `base`, or parsed alone without one; `None` when
/// it is not a URL.
pub(super) fn absolute(href: &str, base: Option<&url::Url>) -> Option<String> {
    let url = match base {
        Some(base) => base.join(href),
        None => url::Url::parse(href),
    };
    url.ok().map(String::from)
}
