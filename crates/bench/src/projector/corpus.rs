//! Real text for the projector's index: the Japanese manual pages of
//! Debian's `manpages-ja` and `manpages-ja-dev` and some English ones of
//! `manpages`, their groff markup stripped, cut into entry-sized texts
//! (docs/BENCHMARKS.md, "Real text"). Nobody here wrote them, and a batch
//! of them holds tens of thousands of distinct bigrams where the sample
//! site's vocabulary holds about 480.

use std::collections::HashSet;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use flate2::read::GzDecoder;

/// Where `manpages-ja` and `manpages-ja-dev` install their pages.
pub const JA_DIR: &str = "/usr/share/man/ja";
/// Where `manpages` installs its sections 5 and 7 (file formats,
/// overviews: the most prose).
pub const EN_DIRS: [&str; 2] = ["/usr/share/man/man5", "/usr/share/man/man7"];
/// The command that installs the corpus (scripts/bench-corpus.sh runs it).
pub const INSTALL: &str = "apt-get install -y manpages-ja manpages-ja-dev manpages";

/// One entry in this many is English.
const ENGLISH_EVERY: u64 = 5;
/// An entry's text is this long at least, and at most [`LONGEST`]
/// characters, spread log-uniformly (a median about 80).
const SHORTEST: f64 = 16.0;
const LONGEST: f64 = 400.0;

/// The corpus's text, one stream of characters per language, paragraphs
/// joined by a space.
pub struct Corpus {
    ja: Vec<char>,
    en: Vec<char>,
    /// Manual pages read, Japanese and English.
    pub files: (usize, usize),
}

impl Corpus {
    /// Reads every page under [`JA_DIR`] and [`EN_DIRS`], in name order.
    pub fn load() -> anyhow::Result<Corpus> {
        let ja_files = pages(Path::new(JA_DIR))?;
        anyhow::ensure!(
            ja_files.len() > 100,
            "the Japanese manual pages are not installed under {JA_DIR} \
             (found {} pages): run `{INSTALL}` (scripts/bench-corpus.sh)",
            ja_files.len()
        );
        let mut en_files = Vec::new();
        for dir in EN_DIRS {
            en_files.extend(pages(Path::new(dir))?);
        }
        anyhow::ensure!(
            en_files.len() > 50,
            "the English manual pages are not installed under {EN_DIRS:?}: run `{INSTALL}`"
        );
        Ok(Corpus {
            ja: read_all(&ja_files)?,
            en: read_all(&en_files)?,
            files: (ja_files.len(), en_files.len()),
        })
    }

    /// Characters of text, Japanese and English.
    pub fn chars(&self) -> (usize, usize) {
        (self.ja.len(), self.en.len())
    }

    /// The entry texts, in order, endless: each pass over a language's
    /// stream starts at another offset and cuts other lengths, so no two
    /// passes give the same texts.
    pub fn texts(&self) -> Texts<'_> {
        Texts {
            corpus: self,
            n: 0,
            at: [0, 0],
            pass: [0, 0],
            rng: 0x2545_f491_4f6c_dd1d,
        }
    }
}

/// The endless entry texts of a [`Corpus`].
pub struct Texts<'a> {
    corpus: &'a Corpus,
    n: u64,
    at: [usize; 2],
    pass: [usize; 2],
    rng: u64,
}

impl Texts<'_> {
    fn next_random(&mut self) -> u64 {
        // xorshift64*: a fixed, reproducible spread.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

impl Iterator for Texts<'_> {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        let lang = usize::from(self.n % ENGLISH_EVERY == ENGLISH_EVERY - 1);
        self.n += 1;
        let unit = (self.next_random() >> 11) as f64 / (1u64 << 53) as f64;
        let want = (SHORTEST * (LONGEST / SHORTEST).powf(unit)) as usize;
        let stream = if lang == 0 {
            &self.corpus.ja
        } else {
            &self.corpus.en
        };
        if stream.len() < 2 * LONGEST as usize {
            return None;
        }
        loop {
            let start = self.at[lang];
            if start + want > stream.len() {
                // The next pass starts a little further in.
                self.pass[lang] += 1;
                self.at[lang] = (self.pass[lang] * 7919) % 1000;
                continue;
            }
            let piece = &stream[start..start + want];
            // End at the last sentence end in the second half, if any.
            let cut = piece
                .iter()
                .rposition(|&c| matches!(c, '。' | '.' | '！' | '？'))
                .filter(|&i| i >= want / 2)
                .map_or(want, |i| i + 1);
            self.at[lang] = start + cut;
            let text: String = piece[..cut].iter().collect();
            let text = text.trim();
            if !text.is_empty() {
                return Some(text.to_owned());
            }
        }
    }
}

/// Distinct lowercased character bigrams of `texts`, as the index keys
/// them (its end-of-text grams left out).
pub fn distinct_bigrams<'a>(texts: impl IntoIterator<Item = &'a str>) -> usize {
    let mut set = HashSet::new();
    for text in texts {
        let lower: Vec<char> = text.to_lowercase().chars().collect();
        for w in lower.windows(2) {
            set.insert((w[0], w[1]));
        }
    }
    set.len()
}

/// The `.gz` manual pages under `dir` (one level of `manN` folders, or the
/// folder itself), sorted.
fn pages(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let Ok(read) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    for item in read {
        let item = item?;
        // An alias of another page (a symbolic link) is read once, as it.
        if item.file_type()?.is_symlink() {
            continue;
        }
        let path = item.path();
        if path.is_dir() {
            out.extend(pages(&path)?);
        } else if path.extension().is_some_and(|e| e == "gz") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn read_all(files: &[PathBuf]) -> anyhow::Result<Vec<char>> {
    let mut out = Vec::new();
    let mut raw = Vec::new();
    for path in files {
        raw.clear();
        GzDecoder::new(std::fs::File::open(path)?)
            .read_to_end(&mut raw)
            .with_context(|| format!("reading {}", path.display()))?;
        // A page or two is in EUC-JP or Latin-1: lossy keeps its ASCII.
        let source = String::from_utf8_lossy(&raw);
        let text = strip_groff(&source);
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(text.chars());
    }
    Ok(out)
}

/// The prose of a groff page: comments and requests dropped, the text
/// arguments of font macros (`.B word`) kept, escapes removed, whitespace
/// runs as one space.
pub fn strip_groff(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut skipping = false;
    for line in source.lines() {
        let text = if let Some(request) = line.strip_prefix('.').or(line.strip_prefix('\'')) {
            let request = request.trim_start();
            let (name, args) = request.split_once([' ', '\t']).unwrap_or((request, ""));
            match name {
                "de" | "ig" | "TS" => {
                    skipping = name != "TS";
                    continue;
                }
                // `..`, the end of a definition.
                "." => {
                    skipping = false;
                    continue;
                }
                "SH" | "SS" | "B" | "I" | "BI" | "BR" | "IB" | "IR" | "RB" | "RI" | "SM" | "SB"
                | "IP" | "TP" | "Nm" | "Nd" | "Sh" | "Ss" | "Ar" | "Fl" | "Pa" => {
                    args.replace('"', " ")
                }
                _ => continue,
            }
        } else {
            line.to_owned()
        };
        if skipping {
            continue;
        }
        unescape(&text, &mut out);
        out.push(' ');
    }
    let mut collapsed = String::with_capacity(out.len());
    for word in out.split_whitespace() {
        if !collapsed.is_empty() {
            collapsed.push(' ');
        }
        collapsed.push_str(word);
    }
    collapsed
}

/// Appends `line` without its groff escapes (`\fB`, `\-`, `\(em`, `\*(lq`,
/// `\"` comments ...).
fn unescape(line: &str, out: &mut String) {
    let mut chars = line.chars().peekable();
    // The argument of an escape: one character, `(xx` or `[name]`.
    fn name(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> String {
        match chars.next() {
            Some('(') => chars.by_ref().take(2).collect(),
            Some('[') => chars.by_ref().take_while(|&c| c != ']').collect(),
            Some(c) => c.to_string(),
            None => String::new(),
        }
    }
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('"') => return,
            Some('f' | 'n' | 'F' | 'g' | 'k' | 'm' | 'M' | 'V' | 'Y') => {
                name(&mut chars);
            }
            Some('*') => match name(&mut chars).as_str() {
                "lq" | "rq" | "q" => out.push('"'),
                "R" => out.push('®'),
                _ => {}
            },
            Some('(') => {
                let special: String = chars.by_ref().take(2).collect();
                out.push_str(match special.as_str() {
                    "em" | "en" | "hy" => "-",
                    "aq" | "cq" | "oq" => "'",
                    "lq" | "rq" | "dq" => "\"",
                    "bu" => "•",
                    "co" => "©",
                    "mu" => "×",
                    "<=" => "≤",
                    ">=" => "≥",
                    "ti" => "~",
                    "ha" => "^",
                    "rs" => "\\",
                    _ => "",
                });
            }
            Some('[') => {
                chars.by_ref().take_while(|&c| c != ']').for_each(drop);
            }
            Some('s') => {
                if matches!(chars.peek(), Some('+' | '-')) {
                    chars.next();
                }
                while chars.peek().is_some_and(char::is_ascii_digit) {
                    chars.next();
                }
            }
            Some('h' | 'v' | 'w' | 'o' | 'l' | 'L' | 'D' | 'X' | 'Z' | 'b' | 'x' | 'N' | 'R') => {
                skip_quoted(&mut chars);
            }
            Some('-') => out.push('-'),
            Some('e' | '\\') => out.push('\\'),
            Some(' ' | '~' | '0') => out.push(' '),
            Some(
                '&' | '|' | '^' | '%' | ',' | '/' | ')' | 'c' | 'a' | 'd' | 'u' | 'p' | 'z' | 't'
                | '{' | '}' | ':',
            ) => {}
            Some(other) => out.push(other),
            None => {}
        }
    }
}

/// Skips an escape's quoted argument (`'...'`).
fn skip_quoted(chars: &mut impl Iterator<Item = char>) {
    if chars.next() == Some('\'') {
        chars.take_while(|&c| c != '\'').for_each(drop);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_stripped_and_prose_kept() {
        let page = ".\\\" a comment\n.TH ACHFILE 1 \"26 Feb 1998\"\n.SH 名前\n\
                    achfile \\- Apple のタイプを変更する\n.B -t\n.I type\n.br\n\
                    \\fBbold\\fP and \\(lqquoted\\(rq\\s-1 small\\s0 \\*(lqq\\*(rq\n\
                    .de XX\nhidden\n..\nafter";
        assert_eq!(
            strip_groff(page),
            "名前 achfile - Apple のタイプを変更する -t type bold and \"quoted\" small \"q\" after"
        );
    }

    #[test]
    fn texts_are_cut_at_sentence_ends_and_vary_by_pass() {
        let ja: Vec<char> = "今日は晴れ。明日は雨でしょう。"
            .repeat(200)
            .chars()
            .collect();
        let en: Vec<char> = "It rains. It pours. ".repeat(200).chars().collect();
        let corpus = Corpus {
            ja,
            en,
            files: (1, 1),
        };
        let texts: Vec<String> = corpus.texts().take(2000).collect();
        for (i, t) in texts.iter().enumerate() {
            let n = t.chars().count();
            assert!(n > 0 && n <= LONGEST as usize, "{i}: {n}");
            assert_eq!(t.is_ascii(), i as u64 % ENGLISH_EVERY == ENGLISH_EVERY - 1);
        }
        assert!(distinct_bigrams(texts.iter().map(String::as_str)) > 10);
    }
}
