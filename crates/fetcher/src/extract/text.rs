//! An element's text as an entry or a title shows it: whitespace
//! normalised, cut on a character boundary.

use scraper::ElementRef;

/// The element's text nodes joined as they are (no space is added between
/// elements: `今日は<b>渋谷</b>で` stays one word), with every run of
/// whitespace (Unicode's, so the ideographic space too) made one space, and
/// none at either end; at most `max` bytes, whole characters, read no
/// further than that.
pub(super) fn normalized_text(element: ElementRef<'_>, max: usize) -> String {
    let mut out = String::new();
    let mut space = false;
    for piece in element.text() {
        for c in piece.chars() {
            if c.is_whitespace() {
                space = true;
                continue;
            }
            let gap = space && !out.is_empty();
            if out.len() + usize::from(gap) + c.len_utf8() > max {
                return out;
            }
            if gap {
                out.push(' ');
            }
            space = false;
            out.push(c);
        }
    }
    out
}
