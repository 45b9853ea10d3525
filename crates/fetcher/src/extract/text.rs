//! An element's text as an entry or a title shows it: whitespace
//! normalised, cut on a character boundary.

use scraper::ElementRef;

/// The element's text nodes joined as they are (no space is added between
/// elements: `今日は<b>渋谷</b>で` stays one word), with every run of
/// whitespace (Unicode's, so the ideographic space too) made one space, and
/// none at either end; at most `max` bytes, whole characters, read no
/// further than that.
pub(super) fn normalized_text(element: ElementRef<'_>, max: usize) -> String {
    let mut out = Normalized::new(max);
    for piece in element.text() {
        if !out.push(piece) {
            break;
        }
    }
    out.finish()
}

/// [`normalized_text`] fed one text node at a time, as a page streams by.
#[derive(Debug)]
pub(super) struct Normalized {
    out: String,
    max: usize,
    space: bool,
    /// A character did not fit: nothing more is read.
    full: bool,
}

impl Normalized {
    pub(super) fn new(max: usize) -> Normalized {
        Normalized {
            out: String::new(),
            max,
            space: false,
            full: false,
        }
    }

    /// Adds the text of the next text node; false once full.
    pub(super) fn push(&mut self, piece: &str) -> bool {
        if self.full {
            return false;
        }
        for c in piece.chars() {
            if c.is_whitespace() {
                self.space = true;
                continue;
            }
            let gap = self.space && !self.out.is_empty();
            if self.out.len() + usize::from(gap) + c.len_utf8() > self.max {
                self.full = true;
                return false;
            }
            if gap {
                self.out.push(' ');
            }
            self.space = false;
            self.out.push(c);
        }
        true
    }

    pub(super) fn finish(self) -> String {
        self.out
    }
}
