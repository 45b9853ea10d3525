//! Pages built to cost an extractor: entries nested inside one another (each
//! entry element opened inside the previous one, all closed at the end), and
//! a flat page of the same entries side by side, the same size to the byte,
//! to compare against. Both use the sample site's markup, with the sample
//! site's entry and text selectors (`div.feedEntry`, `p.comment`) and a plain
//! `a` for the link; an entry is about 100 bytes, as in the attack of issue 12.

/// The entry selector both pages are made for.
pub const ENTRY: &str = "div.feedEntry";

const HEAD: &str = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>nested</title></head><body>\n";
const TAIL: &str = "</body></html>\n";
const CLOSE: &str = "</div>";

/// An entry's markup up to (not including) its closing `</div>`.
fn open_entry(n: usize) -> String {
    format!(
        "<div class=\"feedEntry\"><p class=\"comment\">entry {n:07} says hello</p>\
         <a href=\"/view?id={n}\">view</a>\n"
    )
}

/// A page of about `bytes` bytes (never more) whose entries are nested: entry
/// `n + 1` is inside entry `n`. Returns the page and its number of entries;
/// only the first is outermost.
pub fn nested_entries(bytes: usize) -> (String, usize) {
    let count = entries_in(bytes);
    let mut page = String::with_capacity(bytes);
    page.push_str(HEAD);
    for n in 0..count {
        page.push_str(&open_entry(n));
    }
    for _ in 0..count {
        page.push_str(CLOSE);
    }
    page.push_str(TAIL);
    (page, count)
}

/// The same entries as [`nested_entries`] of the same `bytes`, side by side:
/// every one is outermost. Exactly as long as the nested page.
pub fn flat_entries(bytes: usize) -> (String, usize) {
    let count = entries_in(bytes);
    let mut page = String::with_capacity(bytes);
    page.push_str(HEAD);
    for n in 0..count {
        page.push_str(&open_entry(n));
        page.push_str(CLOSE);
    }
    page.push_str(TAIL);
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
    fn both_pages_are_the_same_size_and_within_the_budget() {
        let (nested, n) = nested_entries(100_000);
        let (flat, m) = flat_entries(100_000);
        assert_eq!(n, m);
        assert_eq!(nested.len(), flat.len());
        assert!(nested.len() <= 100_000 && nested.len() > 99_000);
        assert_eq!(nested.matches("class=\"feedEntry\"").count(), n);
    }
}
