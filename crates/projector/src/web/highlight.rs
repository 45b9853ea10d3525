//! Marking what a search matched in an entry's text: the text is escaped
//! as any other (maud), and each match is wrapped in `<mark>`. A match is
//! found as the search finds it, ignoring case (Unicode lowercase).

use maud::{html, Markup};

/// `text`, escaped, with every match of `query` in `<mark>`.
pub(super) fn highlighted(text: &str, query: &str) -> Markup {
    html! {
        @for (marked, part) in spans(text, query) {
            @if marked { mark { (part) } } @else { (part) }
        }
    }
}

/// `c` as a search compares it: lowercased, the final sigma as any sigma
/// (a whole string's lowercase depends on what follows a `Σ`; one
/// character's cannot).
fn fold(c: char) -> impl Iterator<Item = char> {
    c.to_lowercase().map(|l| if l == 'ς' { 'σ' } else { l })
}

/// `text` cut into its runs, each marked or not, in order; together they
/// are the whole text. A match is widened to whole characters of `text`.
fn spans<'t>(text: &'t str, query: &str) -> Vec<(bool, &'t str)> {
    let needle: String = query.chars().flat_map(fold).collect();
    if needle.is_empty() {
        return vec![(false, text)];
    }
    // The folded text, and where each of the text's characters starts in
    // the folded text and in the text.
    let mut folded = String::with_capacity(text.len());
    let mut starts: Vec<(usize, usize)> = Vec::with_capacity(text.len());
    for (at, c) in text.char_indices() {
        starts.push((folded.len(), at));
        folded.extend(fold(c));
    }
    starts.push((folded.len(), text.len()));
    // The text's offset of the character that holds folded byte `i`.
    let start_of = |i: usize| starts[starts.partition_point(|&(f, _)| f <= i) - 1].1;
    // The text's offset just past the character that holds folded byte `i - 1`.
    let end_of = |i: usize| starts[starts.partition_point(|&(f, _)| f < i)].1;

    let mut out = Vec::new();
    let mut done = 0;
    for (i, m) in folded.match_indices(&needle) {
        let (from, to) = (start_of(i).max(done), end_of(i + m.len()));
        if from >= to {
            continue;
        }
        if from > done {
            out.push((false, &text[done..from]));
        }
        out.push((true, &text[from..to]));
        done = to;
    }
    if done < text.len() {
        out.push((false, &text[done..]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(text: &str, query: &str) -> String {
        highlighted(text, query).into_string()
    }

    #[test]
    fn marks_every_match_ignoring_case() {
        assert_eq!(
            marked("今日は渋谷へ、明日も渋谷", "渋谷"),
            "今日は<mark>渋谷</mark>へ、明日も<mark>渋谷</mark>"
        );
        assert_eq!(
            marked("Rust and RUST", "rust"),
            "<mark>Rust</mark> and <mark>RUST</mark>"
        );
        assert_eq!(marked("ΟΔΟΣ", "οδος"), "<mark>ΟΔΟΣ</mark>");
        assert_eq!(marked("İstanbul", "i̇s"), "<mark>İs</mark>tanbul");
        assert_eq!(marked("nothing here", "渋谷"), "nothing here");
        assert_eq!(marked("aaa", "aa"), "<mark>aa</mark>a");
    }

    #[test]
    fn escapes_the_text_before_marking() {
        assert_eq!(
            marked("<script>alert('渋谷')</script>", "渋谷"),
            "&lt;script&gt;alert('<mark>渋谷</mark>')&lt;/script&gt;"
        );
        assert_eq!(marked("a<b", "<"), "a<mark>&lt;</mark>b");
        assert_eq!(marked("<mark>", "mark"), "&lt;<mark>mark</mark>&gt;");
    }

    #[test]
    fn the_runs_are_the_whole_text() {
        for (text, query) in [
            ("ǅǅx", "ǆ"),
            ("ßS", "ss"),
            ("İİ", "i"),
            ("", "a"),
            ("abc", ""),
        ] {
            let whole: String = spans(text, query).into_iter().map(|(_, s)| s).collect();
            assert_eq!(whole, text, "{text:?} / {query:?}");
        }
    }
}
