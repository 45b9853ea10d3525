//! Parsing a page's HTML into scraper's tree under a [`Deadline`]: what
//! `scraper::Html::parse_document` does (html5ever's tokenizer feeding its
//! tree builder, which builds into scraper's sink), but fed in chunks, with
//! the deadline checked between chunks and every few tokens.
//!
//! html5ever's tree builder walks its stack of open elements on most start
//! tags ("is there a `p` element in button scope?"), so a token costs time in
//! proportion to the nesting depth, and a page of nested elements costs time
//! in the square of its size. Hence two bounds, checked every few tokens:
//! - a page whose open elements exceed [`MAX_OPEN_ELEMENTS`] is read no
//!   further than that point, as if it ended there (browsers stop nesting at
//!   512: Blink's `kMaximumHTMLParserDOMTreeDepth`);
//! - past the deadline, the parse stops and fails.

use std::cell::Cell;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{
    BufferQueue, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};
use html5ever::tree_builder::{Tracer, TreeBuilder, TreeBuilderOpts, TreeSink};
use html5ever::TokenizerResult;
use scraper::{Html, HtmlTreeSink};

use crate::deadline::{Deadline, Expired};

/// Input fed to the tokenizer at a time.
const CHUNK_BYTES: usize = 16 * 1024;

/// Tokens built between two looks at the clock and the depth.
const TOKENS_PER_CHECK: u32 = 64;

/// The most elements the tree builder may hold open (formatting elements to
/// reopen included) before the rest of the page is left unread.
pub const MAX_OPEN_ELEMENTS: usize = 1024;

type Handle = <HtmlTreeSink as TreeSink>::Handle;

/// The tree builder scraper's `parse_document` uses.
type Builder = TreeBuilder<Handle, HtmlTreeSink>;

/// A parsed page.
#[derive(Debug)]
pub struct Parsed {
    pub html: Html,
    /// The page nested deeper than [`MAX_OPEN_ELEMENTS`]: what follows that
    /// point was not read.
    pub cut: bool,
}

/// Parses `html` as a document, as `Html::parse_document` does, unless
/// `deadline` passes first; a page that nests too deep is read up to there.
pub fn parse_document(html: &str, deadline: &Deadline) -> Result<Parsed, Expired> {
    let builder = TreeBuilder::new(
        HtmlTreeSink::new(Html::new_document()),
        TreeBuilderOpts::default(),
    );
    let tokenizer = Tokenizer::new(
        Timed {
            builder,
            deadline,
            tokens: Cell::new(0),
            expired: Cell::new(false),
            cut: Cell::new(false),
        },
        TokenizerOpts::default(),
    );
    let input = BufferQueue::default();
    let mut rest = html;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(chunk_end(rest));
        rest = tail;
        input.push_back(StrTendril::from_slice(chunk));
        // A script or a `<meta charset>` only pauses the tokenizer (there is
        // no script to run, and the page is decoded already): go on to the end.
        while !matches!(tokenizer.feed(&input), TokenizerResult::Done) {}
        if tokenizer.sink.expired.get() || deadline.passed() {
            return Err(Expired);
        }
        if tokenizer.sink.cut.get() {
            break;
        }
    }
    tokenizer.end();
    if tokenizer.sink.expired.get() {
        return Err(Expired);
    }
    let cut = tokenizer.sink.cut.get();
    Ok(Parsed {
        html: tokenizer.sink.builder.sink.finish(),
        cut,
    })
}

/// Where the next chunk of `text` ends: [`CHUNK_BYTES`] in, or a little
/// before, on a character boundary.
fn chunk_end(text: &str) -> usize {
    if text.len() <= CHUNK_BYTES {
        return text.len();
    }
    let mut end = CHUNK_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// The tree builder, behind a look at the clock and the depth.
struct Timed<'d> {
    builder: Builder,
    deadline: &'d Deadline,
    tokens: Cell<u32>,
    /// The deadline passed: tokens are dropped from then on.
    expired: Cell<bool>,
    /// Too many open elements: tokens are dropped from then on.
    cut: Cell<bool>,
}

impl Timed<'_> {
    /// The handles the tree builder holds: its open elements, the formatting
    /// elements it may reopen, and a few more (the document, head, form).
    fn open_elements(&self) -> usize {
        let count = Count(Cell::new(0));
        self.builder.trace_handles(&count);
        count.0.get()
    }
}

struct Count(Cell<usize>);

impl Tracer for Count {
    type Handle = Handle;

    fn trace_handle(&self, _: &Handle) {
        self.0.set(self.0.get() + 1);
    }
}

impl TokenSink for Timed<'_> {
    type Handle = <Builder as TokenSink>::Handle;

    fn process_token(&self, token: Token, line_number: u64) -> TokenSinkResult<Self::Handle> {
        if self.expired.get() || self.cut.get() {
            return TokenSinkResult::Continue;
        }
        let tokens = self.tokens.get().wrapping_add(1);
        self.tokens.set(tokens);
        if tokens.is_multiple_of(TOKENS_PER_CHECK) {
            if self.deadline.passed() {
                self.expired.set(true);
                return TokenSinkResult::Continue;
            }
            if self.open_elements() > MAX_OPEN_ELEMENTS {
                self.cut.set(true);
                return TokenSinkResult::Continue;
            }
        }
        self.builder.process_token(token, line_number)
    }

    fn end(&self) {
        if !self.expired.get() {
            self.builder.end();
        }
    }

    fn adjusted_current_node_present_but_not_in_html_namespace(&self) -> bool {
        self.builder
            .adjusted_current_node_present_but_not_in_html_namespace()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn parse(html: &str) -> Parsed {
        parse_document(html, &Deadline::after(Duration::from_secs(60))).unwrap()
    }

    fn parsed(html: &str) -> String {
        let parsed = parse(html);
        assert!(!parsed.cut);
        parsed.html.html()
    }

    #[test]
    fn the_tree_is_the_one_scraper_builds() {
        // Charset declarations, a script, and chunk boundaries inside tags,
        // attributes, character references, a CR LF pair, multi-byte characters.
        let mut html = String::from(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>t</title>\
             <meta http-equiv=\"Content-Type\" content=\"text/html; charset=EUC-JP\">",
        );
        html.push_str("<script>if (a < b) { document.write('<p>') }</script></head><body>");
        let mut n = 0;
        while html.len() < 3 * CHUNK_BYTES {
            html.push_str(&format!(
                "<div class=\"e{n}\" title='渋谷 &amp; 新宿'>text\r\n{n} &lt;ラーメン&gt; <b>bold<i>mis</b>nested</i><p>para<table><td>cell</table>\r\n"
            ));
            n += 1;
        }
        html.push_str("</body></html>");
        assert_eq!(parsed(&html), Html::parse_document(&html).html());
        // A page of one chunk, with the charset declaration in it.
        let end = (2000..).find(|&i| html.is_char_boundary(i)).unwrap();
        let small = &html[..end];
        assert_eq!(parsed(small), Html::parse_document(small).html());
        // One byte in, so that every boundary falls elsewhere.
        let shifted = format!(" {html}");
        assert_eq!(parsed(&shifted), Html::parse_document(&shifted).html());
    }

    #[test]
    fn a_passed_deadline_stops_the_parse() {
        let html = "<div>".repeat(10_000);
        assert_eq!(
            parse_document(&html, &Deadline::after(Duration::ZERO)).err(),
            Some(Expired)
        );
    }

    #[test]
    fn a_page_nested_too_deep_is_read_up_to_there() {
        let deep = |n: usize| {
            format!(
                "<html><body>{}<p>after</p></body></html>",
                "<div>x".repeat(n)
            )
        };
        // As deep as may be: read whole, as scraper reads it.
        let fits = deep(MAX_OPEN_ELEMENTS - 16);
        assert_eq!(parsed(&fits), Html::parse_document(&fits).html());
        let parsed = parse(&deep(4 * MAX_OPEN_ELEMENTS));
        assert!(parsed.cut);
        let divs = parsed
            .html
            .select(&scraper::Selector::parse("div").unwrap())
            .count();
        assert!(
            (MAX_OPEN_ELEMENTS - 8..=MAX_OPEN_ELEMENTS).contains(&divs),
            "{divs}"
        );
        assert!(!parsed.html.html().contains("after"));
    }

    #[test]
    fn chunks_end_on_character_boundaries() {
        let text = "渋".repeat(CHUNK_BYTES);
        let end = chunk_end(&text);
        assert!(end <= CHUNK_BYTES && text.is_char_boundary(end) && end > 0);
    }
}
