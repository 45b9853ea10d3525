//! The grams a text is indexed under and a query is looked up by.

use std::collections::BTreeSet;

/// A bigram, or a text's last character alone, packed in a `u64` (first
/// char high, second low, [`NO_CHAR`] for none), so that indexing a text
/// allocates no strings.
pub(in crate::store) type Gram = u64;
pub(in crate::store) const NO_CHAR: u64 = u32::MAX as u64;

/// Appends to `grams` those `text` is indexed under, lowercased as a
/// search lowercases it (`str::to_lowercase`): its character bigrams and its
/// last character alone (the end-of-text gram), in text order, a gram that
/// recurs appended again. Every character of the text thus begins one of
/// its grams, so a one-character query is answered by the grams that begin
/// with it, without a unigram posting per character (which made the index
/// about twice as big).
pub(in crate::store) fn text_grams(text: &str, grams: &mut Vec<Gram>) {
    let mut prev: Option<char> = None;
    let mut push = |c: char| {
        if let Some(p) = prev {
            grams.push((u64::from(p) << 32) | u64::from(c));
        }
        prev = Some(c);
    };
    if text.contains('Σ') {
        // Its lowercase depends on what follows it: the whole string's way.
        text.to_lowercase().chars().for_each(&mut push);
    } else {
        // One character at a time, with no string built, and no case table
        // looked up for kana and kanji, which have no case.
        for c in text.chars() {
            if CASELESS.contains(&c) {
                push(c);
            } else {
                c.to_lowercase().for_each(&mut push);
            }
        }
    }
    if let Some(last) = prev {
        grams.push((u64::from(last) << 32) | NO_CHAR);
    }
}

/// CJK punctuation, kana and the unified ideographs: no character here has
/// a lowercase other than itself (a unit test checks every one).
const CASELESS: std::ops::RangeInclusive<char> = '\u{3000}'..='\u{9fff}';

/// The text of a packed gram, as it is keyed in `postings`.
pub(in crate::store) fn gram_text(gram: Gram) -> String {
    let char_at = |bits: u64| char::from_u32(bits as u32);
    [char_at(gram >> 32), char_at(gram & NO_CHAR)]
        .into_iter()
        .flatten()
        .collect()
}

/// The grams a (lowercased) query must all appear under: its bigrams; for a
/// single character, that character (the prefix of the grams to read).
pub(in crate::store) fn query_grams(lower: &str) -> Vec<String> {
    let chars: Vec<char> = lower.chars().collect();
    match chars.len() {
        0 => Vec::new(),
        1 => vec![chars[0].to_string()],
        _ => {
            let set: BTreeSet<String> = chars
                .windows(2)
                .map(|w| w.iter().collect::<String>())
                .collect();
            set.into_iter().collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grams_are_those_of_the_whole_lowercased_text() {
        let whole = |text: &str| {
            let lower = text.to_lowercase();
            let chars: Vec<char> = lower.chars().collect();
            let mut grams: Vec<Gram> = chars
                .windows(2)
                .map(|w| (u64::from(w[0]) << 32) | u64::from(w[1]))
                .chain(chars.last().map(|&c| (u64::from(c) << 32) | NO_CHAR))
                .collect();
            grams.sort_unstable();
            grams.dedup();
            grams
        };
        for text in [
            "",
            "a",
            "Hello WORLD",
            "今日は渋谷でラーメン、ＡＢＣ全角",
            "ΟΔΟΣ ΟΔΟΣ. Σ",
            "İstanbul ǅ ẞ",
            "ｶﾀｶﾅ Ⅻ ①",
        ] {
            let mut grams = Vec::new();
            text_grams(text, &mut grams);
            grams.sort_unstable();
            grams.dedup();
            assert_eq!(grams, whole(text), "{text:?}");
        }
        for c in CASELESS {
            assert!(c.to_lowercase().eq([c]), "{c:?} has a lowercase");
        }
    }

    #[test]
    fn grams_come_in_text_order() {
        let mut grams = Vec::new();
        text_grams("abab", &mut grams);
        let g: Vec<String> = grams.into_iter().map(gram_text).collect();
        assert_eq!(
            g,
            ["ab", "ba", "ab", "b"],
            "text order, a recurring gram again"
        );
        assert_eq!(query_grams("渋谷区"), ["渋谷", "谷区"]);
    }
}
