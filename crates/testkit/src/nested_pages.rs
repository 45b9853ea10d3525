//! Pages built to cost an extractor: entries nested inside one another (each
//! entry element opened inside the previous one, all closed at the end), and
//! a flat page of the same entries side by side, the same size to the byte,
//! to compare against. Both use the sample site's markup, with the sample
//! site's entry and text selectors (`div.feedEntry`, `p.comment`) and a plain
//! `a` for the link; an entry is about 100 bytes, as in the attack of issue 12.

/// The entry selector both pages are made for.
pub const ENTRY: &str = "div.feedEntry";

const HEAD: &str =
    "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>nested</title></head><body>\n";
const TAIL: &str = "</body></html>\n";
const CLOSE: &str = "</div>";

/// An entry's markup up to (not including) its closing `</div>`.
fn open_entry(n: usize) -> String {
    format!(
        "<div class=\"feedEntry\"><p class=\"comment\">entry {n:07} says hello</p>\
         <a href=\"/view?id={n}\">view</a>\n"
    )
}

/// A page of at most `bytes` bytes whose entries are nested `depth` deep:
/// entry `n + 1` is inside entry `n`, except that every `depth` entries a
/// nest is closed and the next one starts. Returns the page, its number of
/// entries and its number of outermost entries (one per nest).
pub fn nested_entries(bytes: usize, depth: usize) -> (String, usize, usize) {
    let depth = depth.max(1);
    let count = entries_in(bytes);
    let mut page = String::with_capacity(bytes);
    page.push_str(HEAD);
    let mut open = 0;
    let mut nests = 0;
    for n in 0..count {
        if open == depth {
            page.push_str(&CLOSE.repeat(open));
            open = 0;
        }
        if open == 0 {
            nests += 1;
        }
        page.push_str(&open_entry(n));
        open += 1;
    }
    page.push_str(&CLOSE.repeat(open));
    page.push_str(TAIL);
    (page, count, nests)
}

/// The same entries as [`nested_entries`] of the same `bytes`, side by side:
/// every one is outermost. Exactly as long as the nested pages.
pub fn flat_entries(bytes: usize) -> (String, usize) {
    let (page, count, _) = nested_entries(bytes, 1);
    (page, count)
}

/// How many entries fit in `bytes` with the head and tail.
fn entries_in(bytes: usize) -> usize {
    let mut count = 0;
    let mut used = HEAD.len() + TAIL.len();
    loop {
        let next = open_entry(count).len() + CLOSE.len();
        if used + next > bytes {
            return count;
        }
        used += next;
        count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_pages_are_the_same_size_and_within_the_budget() {
        let (flat, n) = flat_entries(100_000);
        assert!(flat.len() <= 100_000 && flat.len() > 99_000);
        assert_eq!(flat.matches("class=\"feedEntry\"").count(), n);
        for (depth, nests) in [(usize::MAX, 1), (100, n.div_ceil(100)), (1, n)] {
            let (nested, m, outermost) = nested_entries(100_000, depth);
            assert_eq!((nested.len(), m, outermost), (flat.len(), n, nests));
        }
    }
}
