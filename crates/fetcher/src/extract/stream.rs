//! Extraction without a tree, for the pages where building one changes
//! nothing: html5ever's tokenizer feeds a sink that keeps only the stack of
//! open elements, matches the site's selectors against it, and reads the
//! title and the entries (text, timestamp, link, and the id: the entry's
//! markup, serialised by html5ever's own serializer as scraper would) as the
//! tokens go by.
//!
//! html5ever's tree builder turns the tokens into a tree by rules that can
//! close, reopen or move elements the tokens never closed or opened in that
//! place (an unclosed `<p>` before a `<div>`, misnested `<b><i></b>`,
//! tables, forms, SVG). This path follows the tree builder only where the
//! tree is the plain nesting of the tokens: every element closed by its own
//! end tag as the current node (or a current `p` by a tag that closes it,
//! a later stray `</p>` being an empty p; a table's body or row that the
//! markup leaves out, or their end tags, opened and closed where the tree
//! builder does), none of the elements whose start
//! or end tag makes the tree builder close, reopen or move others. On any other token
//! it gives up, and the page is read with the tree (`Fallback`). Selectors
//! are taken only when made of type, class and id selectors with the
//! descendant and child combinators (no pseudo-classes, no attributes, no
//! sibling combinators); the others always take the tree.
//!
//! The test `stream_and_tree_agree` compares the two paths on many pages.

use std::cell::RefCell;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use html5ever::serialize::{HtmlSerializer, SerializeOpts, Serializer, TraversalScope};
use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};
use html5ever::{local_name, ns, LocalName, QualName, TokenizerResult};
use pagefeed_events::config::Extract;
use pagefeed_events::event::content_id;
use pagefeed_events::limits::MAX_URL_BYTES;

use super::link::absolute;
use super::text::Normalized;
use super::timestamp::{parse_timestamp, MAX_TIMESTAMP_TEXT_BYTES};
use super::{Entry, Extractor, Page};
use crate::deadline::Deadline;

/// Input fed to the tokenizer at a time.
const CHUNK_BYTES: usize = 16 * 1024;
/// Tokens between two looks at the clock.
const TOKENS_PER_CHECK: u32 = 64;
/// The room an entry's markup gets before it grows.
const ENTRY_MARKUP_BYTES: usize = 1024;
/// Open elements past which the page is left to the tree path (whose bound,
/// `MAX_OPEN_ELEMENTS`, counts formatting elements twice and a few more).
const MAX_DEPTH: usize = 480;

/// What the streaming path made of a page.
#[derive(Debug)]
pub(super) enum Streamed {
    /// The title and the entries, as the tree path would give them (none
    /// when no element matches the entry selector).
    Read(Page),
    /// The page has a token this path does not follow: read it with the tree.
    Fallback(&'static str),
    /// The deadline passed.
    Expired,
}

/// The site's selectors, when all of them are ones this path matches.
#[derive(Debug)]
pub(super) struct Selectors {
    title: Css,
    entry: Css,
    text: Option<Css>,
    timestamp: Option<Css>,
    link: Option<Css>,
}

impl Selectors {
    pub(super) fn new(extract: &Extract) -> Option<Selectors> {
        let optional = |css: &Option<String>| match css {
            Some(css) => Css::parse(css).map(Some),
            None => Some(None),
        };
        Some(Selectors {
            title: Css::parse(&extract.title)?,
            entry: Css::parse(&extract.entry)?,
            text: optional(&extract.text)?,
            timestamp: optional(&extract.timestamp)?,
            link: optional(&extract.link)?,
        })
    }
}

/// A selector list of compound selectors joined by descendant or child
/// combinators.
#[derive(Debug)]
struct Css(Vec<Complex>);

#[derive(Debug)]
struct Complex {
    /// Left to right.
    compounds: Vec<Compound>,
    /// `combinators[i]` joins `compounds[i]` and `compounds[i + 1]`.
    combinators: Vec<Combinator>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Combinator {
    Descendant,
    Child,
}

#[derive(Debug, Default)]
struct Compound {
    /// `None` for `*` or no type selector.
    name: Option<LocalName>,
    ids: Vec<String>,
    classes: Vec<String>,
}

impl Css {
    /// `None` unless `css` is in the subset (it was already parsed by
    /// scraper, so it is valid CSS).
    fn parse(css: &str) -> Option<Css> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.#*>, \t\n\r\x0c".contains(c);
        if !css.chars().all(allowed) {
            return None;
        }
        css.split(',')
            .map(Complex::parse)
            .collect::<Option<_>>()
            .map(Css)
    }

    /// Whether the last element of `stack` matches, its ancestors being
    /// the ones before it.
    fn matches(&self, stack: &[Open]) -> bool {
        self.0.iter().any(|c| c.matches(stack))
    }
}

impl Complex {
    fn parse(text: &str) -> Option<Complex> {
        let mut compounds = Vec::new();
        let mut combinators = Vec::new();
        let mut pending: Option<Combinator> = None;
        let mut rest = text.trim_matches(|c: char| c.is_ascii_whitespace());
        while let Some(c) = rest.chars().next() {
            if c == '>' || c.is_ascii_whitespace() {
                if c == '>' {
                    if pending == Some(Combinator::Child) || compounds.is_empty() {
                        return None;
                    }
                    pending = Some(Combinator::Child);
                } else if pending.is_none() {
                    pending = Some(Combinator::Descendant);
                }
                rest = &rest[1..];
                continue;
            }
            let end = rest
                .find(|c: char| c == '>' || c.is_ascii_whitespace())
                .unwrap_or(rest.len());
            if !compounds.is_empty() {
                combinators.push(pending.take()?);
            }
            compounds.push(Compound::parse(&rest[..end])?);
            rest = &rest[end..];
        }
        if compounds.is_empty() || pending.is_some() {
            return None;
        }
        Some(Complex {
            compounds,
            combinators,
        })
    }

    fn matches(&self, stack: &[Open]) -> bool {
        let Some((last, ancestors)) = stack.split_last() else {
            return false;
        };
        let n = self.compounds.len();
        self.compounds[n - 1].matches(last)
            && self.ancestors_match(n - 1, ancestors) == Matching::Matched
    }

    /// Whether `compounds[..i]` match among `ancestors` (nearest last),
    /// the way the `selectors` crate (Servo's) matches, so that a page of
    /// deep nesting costs no backtracking: a failure below a descendant
    /// combinator that ran out of ancestors fails the whole selector.
    fn ancestors_match(&self, i: usize, ancestors: &[Open]) -> Matching {
        if i == 0 {
            return Matching::Matched;
        }
        let compound = &self.compounds[i - 1];
        match self.combinators[i - 1] {
            Combinator::Child => {
                let Some((parent, up)) = ancestors.split_last() else {
                    return Matching::Globally;
                };
                if !compound.matches(parent) {
                    return Matching::RestartFromClosestDescendant;
                }
                self.ancestors_match(i - 1, up)
            }
            Combinator::Descendant => {
                for k in (0..ancestors.len()).rev() {
                    if !compound.matches(&ancestors[k]) {
                        continue;
                    }
                    match self.ancestors_match(i - 1, &ancestors[..k]) {
                        Matching::RestartFromClosestDescendant => continue,
                        done => return done,
                    }
                }
                Matching::Globally
            }
        }
    }
}

/// How a selector failed, as in the `selectors` crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Matching {
    Matched,
    /// Another ancestor for the nearest descendant combinator may match.
    RestartFromClosestDescendant,
    /// No element up the stack can make it match.
    Globally,
}

impl Compound {
    fn parse(text: &str) -> Option<Compound> {
        let mut compound = Compound::default();
        let mut rest = text;
        if let Some(after) = rest.strip_prefix('*') {
            rest = after;
        } else if rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '-') {
            let (name, after) = ident(rest)?;
            compound.name = Some(LocalName::from(name.to_ascii_lowercase()));
            rest = after;
        }
        while let Some(c) = rest.chars().next() {
            let (name, after) = ident(&rest[1..])?;
            match c {
                '.' => compound.classes.push(name.to_owned()),
                '#' => compound.ids.push(name.to_owned()),
                _ => return None,
            }
            rest = after;
        }
        Some(compound)
    }

    fn matches(&self, open: &Open) -> bool {
        if self.name.as_ref().is_some_and(|name| *name != open.name) {
            return false;
        }
        if !self
            .ids
            .iter()
            .all(|id| open.id.as_deref() == Some(id.as_str()))
        {
            return false;
        }
        self.classes.iter().all(|class| {
            open.class
                .as_deref()
                .is_some_and(|list| list.split_ascii_whitespace().any(|c| c == class))
        })
    }
}

/// A CSS identifier at the start of `text` (ASCII letters, digits, `-`,
/// `_`, not starting with a digit), and what follows it.
fn ident(text: &str) -> Option<(&str, &str)> {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .unwrap_or(text.len());
    let name = &text[..end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    Some((name, &text[end..]))
}

/// An open element, as the selectors see it.
#[derive(Debug)]
struct Open {
    name: LocalName,
    id: Option<StrTendril>,
    class: Option<StrTendril>,
    /// An SVG element.
    foreign: bool,
}

/// The tree builder's insertion modes this path follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Initial,
    BeforeHtml,
    BeforeHead,
    InHead,
    AfterHead,
    InBody,
    /// Inside a `title`, `script`, `style` ...: back to this mode after it.
    Text(TextOf),
    AfterBody,
    AfterAfterBody,
}

/// The mode a raw text element returns to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextOf {
    InHead,
    InBody,
}

/// A part of an entry the site's selector picks, looked for among the
/// entry's descendants in page order.
#[derive(Debug)]
enum Field<T> {
    Looking,
    /// Reading the text of the element at this stack depth.
    Reading(usize, Normalized),
    Found(T),
}

/// The entry being read.
struct Reading {
    /// Its element's index in the stack.
    depth: usize,
    markup: HtmlSerializer<Vec<u8>>,
    /// The entry's whole text, when the site has no text selector.
    all_text: Option<Normalized>,
    text: Field<String>,
    timestamp: Field<String>,
    link: Option<Option<String>>,
}

/// Why the tokens went the way this path does not follow.
type Abort = &'static str;

struct State<'e> {
    extractor: &'e Extractor,
    selectors: &'e Selectors,
    base: Option<url::Url>,
    now: DateTime<Utc>,
    zone: Tz,
    mode: Mode,
    stack: Vec<Open>,
    /// The next text loses a leading newline (after `<pre>`, `<listing>`).
    ignore_lf: bool,
    title: Field<String>,
    entries: Vec<Entry>,
    /// `max_entries` reached: later entries are dropped.
    full: bool,
    entry: Option<Reading>,
    abort: Option<Abort>,
}

struct Sink<'e, 'd> {
    state: RefCell<State<'e>>,
    deadline: &'d Deadline,
    tokens: std::cell::Cell<u32>,
    expired: std::cell::Cell<bool>,
}

impl Extractor {
    /// Extracts from `html` without building a tree, or says why not.
    pub(super) fn stream(
        &self,
        selectors: &Selectors,
        html: &str,
        page_url: &str,
        now: DateTime<Utc>,
        deadline: &Deadline,
    ) -> Streamed {
        let sink = Sink {
            state: RefCell::new(State {
                extractor: self,
                selectors,
                base: url::Url::parse(page_url).ok(),
                now,
                zone: self.zone,
                mode: Mode::Initial,
                stack: Vec::new(),
                ignore_lf: false,
                title: Field::Looking,
                entries: Vec::new(),
                full: false,
                entry: None,
                abort: None,
            }),
            deadline,
            tokens: std::cell::Cell::new(0),
            expired: std::cell::Cell::new(false),
        };
        let tokenizer = Tokenizer::new(sink, TokenizerOpts::default());
        let input = BufferQueue::default();
        let mut rest = html;
        while !rest.is_empty() {
            let mut end = rest.len().min(CHUNK_BYTES);
            while !rest.is_char_boundary(end) {
                end -= 1;
            }
            let (chunk, tail) = rest.split_at(end);
            rest = tail;
            input.push_back(StrTendril::from_slice(chunk));
            while !matches!(tokenizer.feed(&input), TokenizerResult::Done) {}
            if tokenizer.sink.expired.get() || deadline.passed() {
                return Streamed::Expired;
            }
            let state = tokenizer.sink.state.borrow();
            if let Some(reason) = state.abort {
                return Streamed::Fallback(reason);
            }
            if state.full && matches!(state.title, Field::Found(_)) {
                // Nothing later can change the result.
                break;
            }
        }
        tokenizer.end();
        let sink = tokenizer.sink;
        if sink.expired.get() {
            return Streamed::Expired;
        }
        let mut state = sink.state.into_inner();
        if let Some(reason) = state.abort {
            return Streamed::Fallback(reason);
        }
        // Whatever is still open ends with the page.
        while !state.stack.is_empty() {
            state.pop();
        }
        let title = match state.title {
            Field::Found(title) => title,
            Field::Reading(_, text) => text.finish(),
            Field::Looking => String::new(),
        };
        Streamed::Read(Page {
            title,
            entries: state.entries,
        })
    }
}

impl TokenSink for Sink<'_, '_> {
    type Handle = ();

    /// In SVG, `<![CDATA[` opens a CDATA section.
    fn adjusted_current_node_present_but_not_in_html_namespace(&self) -> bool {
        self.state.borrow().in_svg()
    }

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        if self.expired.get() {
            return TokenSinkResult::Continue;
        }
        let tokens = self.tokens.get().wrapping_add(1);
        self.tokens.set(tokens);
        if tokens.is_multiple_of(TOKENS_PER_CHECK) && self.deadline.passed() {
            self.expired.set(true);
            return TokenSinkResult::Continue;
        }
        let mut state = self.state.borrow_mut();
        if state.abort.is_some() {
            return TokenSinkResult::Continue;
        }
        match state.token(token) {
            Ok(result) => result,
            Err(reason) => {
                state.abort = Some(reason);
                TokenSinkResult::Continue
            }
        }
    }
}

fn is_html_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// `text` split after its leading whitespace.
fn split_whitespace(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !is_html_whitespace(c))
        .unwrap_or(text.len());
    text.split_at(end)
}

/// Elements whose start tag closes an open `p` (the tree builder's "close a
/// p element" when one is in button scope).
fn closes_p(name: &LocalName) -> bool {
    matches!(
        *name,
        local_name!("address")
            | local_name!("article")
            | local_name!("aside")
            | local_name!("blockquote")
            | local_name!("center")
            | local_name!("details")
            | local_name!("dialog")
            | local_name!("dir")
            | local_name!("div")
            | local_name!("dl")
            | local_name!("fieldset")
            | local_name!("figcaption")
            | local_name!("figure")
            | local_name!("footer")
            | local_name!("header")
            | local_name!("hgroup")
            | local_name!("main")
            | local_name!("menu")
            | local_name!("nav")
            | local_name!("ol")
            | local_name!("p")
            | local_name!("search")
            | local_name!("section")
            | local_name!("summary")
            | local_name!("ul")
            | local_name!("h1")
            | local_name!("h2")
            | local_name!("h3")
            | local_name!("h4")
            | local_name!("h5")
            | local_name!("h6")
            | local_name!("pre")
            | local_name!("listing")
            | local_name!("hr")
            | local_name!("li")
            | local_name!("dd")
            | local_name!("dt")
            | local_name!("form")
    )
}

/// Where the current element is, in a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TableContext {
    /// The current element is a table, its body, a row or a column group.
    Structure,
    /// Inside a cell or a caption: the body's rules, but for table parts.
    Cell,
}

/// A row, or a table's body, head or foot: what a table's end tag closes
/// when the markup leaves their ends out.
fn is_row_or_body(name: &LocalName) -> bool {
    matches!(
        *name,
        local_name!("tr") | local_name!("tbody") | local_name!("thead") | local_name!("tfoot")
    )
}

/// A table's parts, but the table itself.
fn is_table_part(name: &LocalName) -> bool {
    matches!(
        *name,
        local_name!("caption")
            | local_name!("col")
            | local_name!("colgroup")
            | local_name!("tbody")
            | local_name!("td")
            | local_name!("tfoot")
            | local_name!("th")
            | local_name!("thead")
            | local_name!("tr")
    )
}

fn is_heading(name: &LocalName) -> bool {
    matches!(
        *name,
        local_name!("h1")
            | local_name!("h2")
            | local_name!("h3")
            | local_name!("h4")
            | local_name!("h5")
            | local_name!("h6")
    )
}

fn is_formatting(name: &LocalName) -> bool {
    matches!(
        *name,
        local_name!("a")
            | local_name!("b")
            | local_name!("big")
            | local_name!("code")
            | local_name!("em")
            | local_name!("font")
            | local_name!("i")
            | local_name!("nobr")
            | local_name!("s")
            | local_name!("small")
            | local_name!("strike")
            | local_name!("strong")
            | local_name!("tt")
            | local_name!("u")
    )
}

/// The tree builder's "special" elements that stop its search for an open
/// `li`, `dd` or `dt` to close (address, div and p do not).
fn stops_list_item_search(name: &LocalName) -> bool {
    !matches!(
        *name,
        local_name!("address") | local_name!("div") | local_name!("p")
    ) && is_special(name)
}

fn is_special(name: &LocalName) -> bool {
    matches!(
        *name,
        local_name!("address")
            | local_name!("applet")
            | local_name!("area")
            | local_name!("article")
            | local_name!("aside")
            | local_name!("base")
            | local_name!("basefont")
            | local_name!("bgsound")
            | local_name!("blockquote")
            | local_name!("body")
            | local_name!("br")
            | local_name!("button")
            | local_name!("caption")
            | local_name!("center")
            | local_name!("col")
            | local_name!("colgroup")
            | local_name!("dd")
            | local_name!("details")
            | local_name!("dir")
            | local_name!("div")
            | local_name!("dl")
            | local_name!("dt")
            | local_name!("embed")
            | local_name!("fieldset")
            | local_name!("figcaption")
            | local_name!("figure")
            | local_name!("footer")
            | local_name!("form")
            | local_name!("frame")
            | local_name!("frameset")
            | local_name!("h1")
            | local_name!("h2")
            | local_name!("h3")
            | local_name!("h4")
            | local_name!("h5")
            | local_name!("h6")
            | local_name!("head")
            | local_name!("header")
            | local_name!("hgroup")
            | local_name!("hr")
            | local_name!("html")
            | local_name!("iframe")
            | local_name!("img")
            | local_name!("input")
            | local_name!("keygen")
            | local_name!("li")
            | local_name!("link")
            | local_name!("listing")
            | local_name!("main")
            | local_name!("marquee")
            | local_name!("menu")
            | local_name!("meta")
            | local_name!("nav")
            | local_name!("noembed")
            | local_name!("noframes")
            | local_name!("noscript")
            | local_name!("object")
            | local_name!("ol")
            | local_name!("p")
            | local_name!("param")
            | local_name!("plaintext")
            | local_name!("pre")
            | local_name!("script")
            | local_name!("search")
            | local_name!("section")
            | local_name!("select")
            | local_name!("source")
            | local_name!("style")
            | local_name!("summary")
            | local_name!("table")
            | local_name!("tbody")
            | local_name!("td")
            | local_name!("template")
            | local_name!("textarea")
            | local_name!("tfoot")
            | local_name!("th")
            | local_name!("thead")
            | local_name!("title")
            | local_name!("tr")
            | local_name!("track")
            | local_name!("ul")
            | local_name!("wbr")
            | local_name!("xmp")
    )
}

impl State<'_> {
    fn token(&mut self, token: Token) -> Result<TokenSinkResult<()>, Abort> {
        // As the tree builder: any token, a parse error too, ends the wait
        // for the newline to drop.
        let ignore_lf = std::mem::take(&mut self.ignore_lf);
        if matches!(token, Token::ParseError(_)) {
            return Ok(TokenSinkResult::Continue);
        }
        let token = match token {
            Token::CharacterTokens(mut text) if ignore_lf && text.starts_with('\n') => {
                text.pop_front(1);
                if text.is_empty() {
                    return Ok(TokenSinkResult::Continue);
                }
                Token::CharacterTokens(text)
            }
            token => token,
        };
        match token {
            Token::CharacterTokens(text) => {
                self.characters(&text)?;
                Ok(TokenSinkResult::Continue)
            }
            Token::TagToken(tag) => match tag.kind {
                TagKind::StartTag => self.start_tag(tag),
                TagKind::EndTag => {
                    self.end_tag(&tag.name)?;
                    Ok(TokenSinkResult::Continue)
                }
            },
            Token::CommentToken(text) => {
                if matches!(
                    self.mode,
                    Mode::BeforeHead | Mode::InHead | Mode::AfterHead | Mode::InBody
                ) {
                    if let Some(entry) = self.entry.as_mut() {
                        entry.markup.write_comment(&text).map_err(|_| "io")?;
                    }
                }
                Ok(TokenSinkResult::Continue)
            }
            Token::DoctypeToken(_) => {
                if self.mode == Mode::Initial {
                    self.mode = Mode::BeforeHtml;
                }
                Ok(TokenSinkResult::Continue)
            }
            Token::NullCharacterToken => Err("a NUL character"),
            Token::EOFToken | Token::ParseError(_) => Ok(TokenSinkResult::Continue),
        }
    }

    fn characters(&mut self, text: &str) -> Result<(), Abort> {
        let (space, rest) = split_whitespace(text);
        match self.mode {
            Mode::Initial | Mode::BeforeHtml | Mode::BeforeHead => {
                if rest.is_empty() {
                    return Ok(());
                }
                self.implied_up_to(Mode::InHead)?;
                self.characters(rest)
            }
            Mode::InHead => {
                self.text(space)?;
                if rest.is_empty() {
                    return Ok(());
                }
                self.pop_expecting(&local_name!("head"))?;
                self.mode = Mode::AfterHead;
                self.characters(rest)
            }
            Mode::AfterHead => {
                self.text(space)?;
                if rest.is_empty() {
                    return Ok(());
                }
                self.push_implied(local_name!("body"))?;
                self.mode = Mode::InBody;
                self.characters(rest)
            }
            Mode::InBody => {
                if !rest.is_empty() && self.table_context()? == Some(TableContext::Structure) {
                    return Err("text the tree builder moves out of a table");
                }
                self.text(text)
            }
            Mode::Text(_) => self.text(text),
            Mode::AfterBody | Mode::AfterAfterBody => {
                self.text(space)?;
                if rest.is_empty() {
                    return Ok(());
                }
                self.mode = Mode::InBody;
                self.text(rest)
            }
        }
    }

    /// The elements the tree builder makes up when a token comes before
    /// them: `html`, then `head`, up to `mode`.
    fn implied_up_to(&mut self, mode: Mode) -> Result<(), Abort> {
        if matches!(self.mode, Mode::Initial) {
            self.mode = Mode::BeforeHtml;
        }
        if self.mode == Mode::BeforeHtml && mode != Mode::BeforeHtml {
            self.push_implied(local_name!("html"))?;
            self.mode = Mode::BeforeHead;
        }
        if self.mode == Mode::BeforeHead && mode != Mode::BeforeHead {
            self.push_implied(local_name!("head"))?;
            self.mode = Mode::InHead;
        }
        Ok(())
    }

    fn start_tag(&mut self, tag: Tag) -> Result<TokenSinkResult<()>, Abort> {
        let name = tag.name.clone();
        match self.mode {
            Mode::Initial | Mode::BeforeHtml => {
                if self.mode == Mode::Initial {
                    self.mode = Mode::BeforeHtml;
                }
                if name == local_name!("html") {
                    self.push(tag)?;
                    self.mode = Mode::BeforeHead;
                    return Ok(TokenSinkResult::Continue);
                }
                self.implied_up_to(Mode::BeforeHead)?;
                self.start_tag(tag)
            }
            Mode::BeforeHead => match name {
                local_name!("html") => Err("a second html start tag"),
                local_name!("head") => {
                    self.push(tag)?;
                    self.mode = Mode::InHead;
                    Ok(TokenSinkResult::Continue)
                }
                _ => {
                    self.implied_up_to(Mode::InHead)?;
                    self.start_tag(tag)
                }
            },
            Mode::InHead => match name {
                local_name!("base")
                | local_name!("basefont")
                | local_name!("bgsound")
                | local_name!("link")
                | local_name!("meta") => {
                    self.void(tag)?;
                    Ok(TokenSinkResult::Continue)
                }
                local_name!("title")
                | local_name!("noscript")
                | local_name!("noframes")
                | local_name!("style")
                | local_name!("script") => self.raw(tag, TextOf::InHead),
                local_name!("html") | local_name!("head") | local_name!("template") => {
                    Err("html, head or template in head")
                }
                _ => {
                    self.pop_expecting(&local_name!("head"))?;
                    self.mode = Mode::AfterHead;
                    self.start_tag(tag)
                }
            },
            Mode::AfterHead => match name {
                local_name!("body") => {
                    self.push(tag)?;
                    self.mode = Mode::InBody;
                    Ok(TokenSinkResult::Continue)
                }
                local_name!("html")
                | local_name!("frameset")
                | local_name!("base")
                | local_name!("basefont")
                | local_name!("bgsound")
                | local_name!("link")
                | local_name!("meta")
                | local_name!("noframes")
                | local_name!("script")
                | local_name!("style")
                | local_name!("template")
                | local_name!("title")
                | local_name!("head") => Err("a head element after the head"),
                _ => {
                    self.push_implied(local_name!("body"))?;
                    self.mode = Mode::InBody;
                    self.start_tag(tag)
                }
            },
            Mode::InBody => self.start_tag_in_body(tag),
            Mode::AfterBody | Mode::AfterAfterBody => {
                if name == local_name!("html") {
                    return Err("html start tag after the body");
                }
                self.mode = Mode::InBody;
                self.start_tag_in_body(tag)
            }
            Mode::Text(_) => Err("a start tag in raw text"),
        }
    }

    fn start_tag_in_body(&mut self, tag: Tag) -> Result<TokenSinkResult<()>, Abort> {
        let name = tag.name.clone();
        if self.in_svg() {
            self.start_tag_in_svg(tag)?;
            return Ok(TokenSinkResult::Continue);
        }
        match self.table_context()? {
            Some(TableContext::Structure) => return self.start_tag_in_table(tag),
            // Outside a table the tree builder drops them; in a cell they
            // close it.
            _ if is_table_part(&name) => return Err("a table part out of its place"),
            _ => {}
        }
        match name {
            local_name!("base")
            | local_name!("basefont")
            | local_name!("bgsound")
            | local_name!("link")
            | local_name!("meta")
            | local_name!("area")
            | local_name!("br")
            | local_name!("embed")
            | local_name!("img")
            | local_name!("keygen")
            | local_name!("wbr")
            | local_name!("input")
            | local_name!("param")
            | local_name!("source")
            | local_name!("track") => {
                self.void(tag)?;
                return Ok(TokenSinkResult::Continue);
            }
            local_name!("title")
            | local_name!("noscript")
            | local_name!("noframes")
            | local_name!("noembed")
            | local_name!("iframe")
            | local_name!("style")
            | local_name!("script") => return self.raw(tag, TextOf::InBody),
            local_name!("html")
            | local_name!("body")
            | local_name!("head")
            | local_name!("frameset")
            | local_name!("frame")
            | local_name!("template")
            | local_name!("plaintext")
            | local_name!("xmp")
            | local_name!("applet")
            | local_name!("marquee")
            | local_name!("object")
            | local_name!("image")
            | local_name!("textarea")
            | local_name!("select")
            | local_name!("option")
            | local_name!("optgroup")
            | local_name!("rb")
            | local_name!("rp")
            | local_name!("rt")
            | local_name!("rtc")
            | local_name!("math")
            | local_name!("menuitem") => return Err("an element the tree builder moves or closes"),
            _ => {}
        }
        if name == local_name!("svg") {
            self.push_svg(tag)?;
            return Ok(TokenSinkResult::Continue);
        }
        if closes_p(&name) && self.in_button_scope(&local_name!("p")) {
            // The tree builder closes the p: where it is the current
            // element (`<p>text<div>`, common in generated pages), that is
            // only its end; below other elements it would close them too.
            if self
                .stack
                .last()
                .is_none_or(|top| top.name != local_name!("p"))
            {
                return Err("an open p the tag would close");
            }
            self.pop();
        }
        if is_heading(&name) && self.stack.last().is_some_and(|top| is_heading(&top.name)) {
            return Err("a heading in a heading");
        }
        match name {
            local_name!("li") | local_name!("dd") | local_name!("dt") => {
                let closes: &[LocalName] = if name == local_name!("li") {
                    &[local_name!("li")]
                } else {
                    &[local_name!("dd"), local_name!("dt")]
                };
                for open in self.stack.iter().rev() {
                    if closes.contains(&open.name) {
                        return Err("an open list item the tag would close");
                    }
                    if stops_list_item_search(&open.name) {
                        break;
                    }
                }
            }
            local_name!("button") if self.in_button_scope(&local_name!("button")) => {
                return Err("a button in a button");
            }
            local_name!("form") if self.stack.iter().any(|o| o.name == local_name!("form")) => {
                return Err("a form in a form");
            }
            local_name!("table") if self.in_button_scope(&local_name!("p")) => {
                return Err("an open p before a table");
            }
            local_name!("pre") | local_name!("listing") => self.ignore_lf = true,
            local_name!("hr") => {
                self.void(tag)?;
                return Ok(TokenSinkResult::Continue);
            }
            _ => {}
        }
        if is_formatting(&name) {
            let same = self.stack.iter().filter(|open| open.name == name).count();
            let nests = matches!(name, local_name!("a") | local_name!("nobr"));
            if (nests && same > 0) || same >= 2 {
                return Err("a formatting element in one of its kind");
            }
        }
        self.push(tag)?;
        Ok(TokenSinkResult::Continue)
    }

    /// Whether the current element is an SVG one (the tree builder's
    /// foreign content).
    fn in_svg(&self) -> bool {
        self.stack.last().is_some_and(|o| o.foreign)
    }

    /// A start tag in SVG: an SVG element, unless it is one of the HTML
    /// elements that end the SVG, or an HTML integration point.
    fn start_tag_in_svg(&mut self, tag: Tag) -> Result<(), Abort> {
        let breaks_out = matches!(
            tag.name,
            local_name!("b")
                | local_name!("big")
                | local_name!("blockquote")
                | local_name!("body")
                | local_name!("br")
                | local_name!("center")
                | local_name!("code")
                | local_name!("dd")
                | local_name!("div")
                | local_name!("dl")
                | local_name!("dt")
                | local_name!("em")
                | local_name!("embed")
                | local_name!("h1")
                | local_name!("h2")
                | local_name!("h3")
                | local_name!("h4")
                | local_name!("h5")
                | local_name!("h6")
                | local_name!("head")
                | local_name!("hr")
                | local_name!("i")
                | local_name!("img")
                | local_name!("li")
                | local_name!("listing")
                | local_name!("menu")
                | local_name!("meta")
                | local_name!("nobr")
                | local_name!("ol")
                | local_name!("p")
                | local_name!("pre")
                | local_name!("ruby")
                | local_name!("s")
                | local_name!("small")
                | local_name!("span")
                | local_name!("strong")
                | local_name!("strike")
                | local_name!("sub")
                | local_name!("sup")
                | local_name!("table")
                | local_name!("tt")
                | local_name!("u")
                | local_name!("ul")
                | local_name!("var")
                | local_name!("font")
                | local_name!("foreignobject")
                | local_name!("desc")
                | local_name!("title")
                | local_name!("math")
        );
        if breaks_out {
            return Err("HTML in SVG");
        }
        self.push_svg(tag)
    }

    /// Opens an SVG element. What is inside an SVG is left to the tree
    /// path when it matters: in an entry (its markup has namespaces and
    /// case-adjusted names), or matched by a selector.
    fn push_svg(&mut self, tag: Tag) -> Result<(), Abort> {
        if self.entry.is_some() {
            return Err("SVG in an entry");
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err("nested too deep");
        }
        let attr = |name: LocalName| {
            tag.attrs
                .iter()
                .find(|a| a.name.ns == ns!() && a.name.local == name)
                .map(|a| a.value.clone())
        };
        self.stack.push(Open {
            name: tag.name.clone(),
            id: attr(local_name!("id")),
            class: attr(local_name!("class")),
            foreign: true,
        });
        let s = self.selectors;
        let matched = [
            Some(&s.title),
            Some(&s.entry),
            s.text.as_ref(),
            s.timestamp.as_ref(),
            s.link.as_ref(),
        ]
        .into_iter()
        .flatten()
        .any(|css| css.matches(&self.stack));
        if matched {
            return Err("a selector matches in SVG");
        }
        if tag.self_closing {
            self.pop();
        }
        Ok(())
    }

    /// Where the current element is with respect to the nearest table:
    /// `None` outside tables.
    fn table_context(&self) -> Result<Option<TableContext>, Abort> {
        let Some((at, open)) = self
            .stack
            .iter()
            .enumerate()
            .rev()
            .find(|(_, o)| is_table_part(&o.name) || o.name == local_name!("table"))
        else {
            return Ok(None);
        };
        Ok(Some(match open.name {
            local_name!("td") | local_name!("th") | local_name!("caption") => TableContext::Cell,
            _ if at + 1 == self.stack.len() => TableContext::Structure,
            // Inside a table but not in a cell: the tree builder would
            // have moved it out.
            _ => return Err("an element in a table outside its cells"),
        }))
    }

    /// A start tag where the current element is a table, its body, a row
    /// or a column group: only the next part of the table, explicitly
    /// opened, follows the tokens as they are.
    fn start_tag_in_table(&mut self, tag: Tag) -> Result<TokenSinkResult<()>, Abort> {
        let current = self.stack.last().map(|o| o.name.clone());
        let fits = match (current, &tag.name) {
            (
                Some(local_name!("table")),
                &local_name!("caption")
                | &local_name!("colgroup")
                | &local_name!("tbody")
                | &local_name!("thead")
                | &local_name!("tfoot"),
            ) => true,
            (
                Some(local_name!("tbody") | local_name!("thead") | local_name!("tfoot")),
                &local_name!("tr"),
            )
            | (Some(local_name!("tr")), &local_name!("td") | &local_name!("th")) => true,
            (Some(local_name!("colgroup")), &local_name!("col")) => {
                self.void(tag)?;
                return Ok(TokenSinkResult::Continue);
            }
            // A row or a cell straight in a table: the tree builder opens
            // the body (and the row) the markup left out, as here.
            (Some(local_name!("table")), &local_name!("tr")) => {
                self.push_implied(local_name!("tbody"))?;
                true
            }
            (Some(local_name!("table")), &local_name!("td") | &local_name!("th")) => {
                self.push_implied(local_name!("tbody"))?;
                self.push_implied(local_name!("tr"))?;
                true
            }
            (
                Some(local_name!("tbody") | local_name!("thead") | local_name!("tfoot")),
                &local_name!("td") | &local_name!("th"),
            ) => {
                self.push_implied(local_name!("tr"))?;
                true
            }
            (_, &local_name!("script") | &local_name!("style")) => {
                return self.raw(tag, TextOf::InBody);
            }
            _ => false,
        };
        if !fits {
            return Err("a table part the tree builder implies or moves");
        }
        self.push(tag)?;
        Ok(TokenSinkResult::Continue)
    }

    /// Whether an open element `name` is in the tree builder's button scope
    /// (the elements this path lets in that bound it: html and button).
    fn in_button_scope(&self, name: &LocalName) -> bool {
        for open in self.stack.iter().rev() {
            if open.name == *name {
                return true;
            }
            if matches!(
                open.name,
                local_name!("html")
                    | local_name!("button")
                    | local_name!("table")
                    | local_name!("td")
                    | local_name!("th")
                    | local_name!("caption")
            ) {
                return false;
            }
        }
        false
    }

    fn end_tag(&mut self, name: &LocalName) -> Result<(), Abort> {
        match self.mode {
            Mode::Initial | Mode::BeforeHtml => match *name {
                local_name!("head")
                | local_name!("body")
                | local_name!("html")
                | local_name!("br") => {
                    self.implied_up_to(Mode::BeforeHead)?;
                    self.end_tag(name)
                }
                _ => Ok(()),
            },
            Mode::BeforeHead => match *name {
                local_name!("head")
                | local_name!("body")
                | local_name!("html")
                | local_name!("br") => {
                    self.implied_up_to(Mode::InHead)?;
                    self.end_tag(name)
                }
                _ => Ok(()),
            },
            Mode::InHead => match *name {
                local_name!("head") => {
                    self.pop_expecting(&local_name!("head"))?;
                    self.mode = Mode::AfterHead;
                    Ok(())
                }
                local_name!("body") | local_name!("html") | local_name!("br") => {
                    self.pop_expecting(&local_name!("head"))?;
                    self.mode = Mode::AfterHead;
                    self.end_tag(name)
                }
                local_name!("template") => Err("template"),
                _ => Ok(()),
            },
            Mode::AfterHead => match *name {
                local_name!("body") | local_name!("html") | local_name!("br") => {
                    self.push_implied(local_name!("body"))?;
                    self.mode = Mode::InBody;
                    self.end_tag(name)
                }
                local_name!("template") => Err("template"),
                _ => Ok(()),
            },
            Mode::InBody if self.in_svg() => {
                let current = self.stack.last().map(|o| &o.name);
                if current.is_some_and(|n| n.eq_ignore_ascii_case(name)) {
                    self.pop();
                    Ok(())
                } else {
                    Err("an end tag in SVG not of the current element")
                }
            }
            Mode::InBody => match *name {
                local_name!("body") | local_name!("html") => {
                    if self.table_context()?.is_some() {
                        return Err("body end tag in a table");
                    }
                    if !self.stack.iter().any(|o| o.name == local_name!("body")) {
                        return Err("body end tag without a body");
                    }
                    self.mode = Mode::AfterBody;
                    if *name == local_name!("html") {
                        self.mode = Mode::AfterAfterBody;
                    }
                    Ok(())
                }
                // A `</p>` with no p open (it was closed by a tag that
                // closes it) is an empty p to the tree builder.
                local_name!("p") if !self.in_button_scope(&local_name!("p")) => {
                    if self.table_context()?.is_some() {
                        return Err("a p end tag in a table");
                    }
                    self.push(Tag {
                        kind: TagKind::StartTag,
                        name: local_name!("p"),
                        self_closing: false,
                        attrs: Vec::new(),
                        had_duplicate_attributes: false,
                    })?;
                    self.pop();
                    Ok(())
                }
                // A table's end closes the row and the body left open
                // (implied, or whose end tags the markup left out).
                local_name!("table") if self.current_is(is_row_or_body) => {
                    while self.current_is(is_row_or_body) {
                        self.pop();
                    }
                    self.end_tag(name)
                }
                // A body's end closes the row left open in it.
                local_name!("tbody") | local_name!("thead") | local_name!("tfoot")
                    if self.current_is(|n| *n == local_name!("tr")) && self.parent_is(name) =>
                {
                    self.pop();
                    self.end_tag(name)
                }
                local_name!("br")
                | local_name!("template")
                | local_name!("applet")
                | local_name!("marquee")
                | local_name!("object") => Err("an end tag the tree builder treats apart"),
                _ => {
                    if self.stack.last().is_some_and(|top| top.name == *name)
                        && self.stack.len() > 2
                    {
                        self.pop();
                        Ok(())
                    } else {
                        Err("an end tag not of the current element")
                    }
                }
            },
            Mode::Text(of) => {
                self.pop();
                self.mode = match of {
                    TextOf::InHead => Mode::InHead,
                    TextOf::InBody => Mode::InBody,
                };
                Ok(())
            }
            Mode::AfterBody => {
                if *name == local_name!("html") {
                    self.mode = Mode::AfterAfterBody;
                    return Ok(());
                }
                self.mode = Mode::InBody;
                self.end_tag(name)
            }
            Mode::AfterAfterBody => {
                self.mode = Mode::InBody;
                self.end_tag(name)
            }
        }
    }

    /// A raw text element (`title`, `script`, `style`, ...): its text is
    /// read in the tokenizer state the tree builder would set.
    fn raw(&mut self, tag: Tag, of: TextOf) -> Result<TokenSinkResult<()>, Abort> {
        let kind = match tag.name {
            local_name!("title") => RawKind::Rcdata,
            local_name!("script") => RawKind::ScriptData,
            _ => RawKind::Rawtext,
        };
        self.push(tag)?;
        self.mode = Mode::Text(of);
        Ok(TokenSinkResult::RawData(kind))
    }

    fn void(&mut self, tag: Tag) -> Result<(), Abort> {
        self.push(tag)?;
        self.pop();
        Ok(())
    }

    /// Whether there is a current element and `test` holds for its name.
    fn current_is(&self, test: impl Fn(&LocalName) -> bool) -> bool {
        self.stack.last().is_some_and(|open| test(&open.name))
    }

    /// Whether the current element's parent is a `name`.
    fn parent_is(&self, name: &LocalName) -> bool {
        self.stack.len() >= 2 && self.stack[self.stack.len() - 2].name == *name
    }

    fn push_implied(&mut self, name: LocalName) -> Result<(), Abort> {
        self.push(Tag {
            kind: TagKind::StartTag,
            name,
            self_closing: false,
            had_duplicate_attributes: false,
            attrs: Vec::new(),
        })
    }

    fn pop_expecting(&mut self, name: &LocalName) -> Result<(), Abort> {
        if self.stack.last().is_some_and(|top| top.name == *name) {
            self.pop();
            Ok(())
        } else {
            Err("the head is not the current element")
        }
    }

    /// Opens the element of `tag`: as markup of the entry being read, or as
    /// a new entry, or as the title, or as a field of the entry.
    fn push(&mut self, tag: Tag) -> Result<(), Abort> {
        if self.stack.len() >= MAX_DEPTH {
            return Err("nested too deep");
        }
        let attr = |name: LocalName| {
            tag.attrs
                .iter()
                .find(|a| a.name.ns == ns!() && a.name.local == name)
                .map(|a| a.value.clone())
        };
        self.stack.push(Open {
            name: tag.name.clone(),
            id: attr(local_name!("id")),
            class: attr(local_name!("class")),
            foreign: false,
        });
        let top_level = self.stack.len() <= 2 || tag.name == local_name!("body");
        let depth = self.stack.len() - 1;
        if matches!(self.title, Field::Looking) && self.selectors.title.matches(&self.stack) {
            if top_level {
                return Err("the title selector matches html, head or body");
            }
            self.title = Field::Reading(
                depth,
                Normalized::new(self.extractor.limits.max_title_bytes),
            );
        }
        if let Some(entry) = self.entry.as_mut() {
            let mut attrs: Vec<_> = tag.attrs.iter().collect();
            attrs.sort_unstable_by(|a, b| a.name.cmp(&b.name));
            entry
                .markup
                .start_elem(
                    QualName::new(None, ns!(html), tag.name.clone()),
                    attrs.iter().map(|a| (&a.name, &a.value[..])),
                )
                .map_err(|_| "io")?;
            let selectors = self.selectors;
            let stack = &self.stack;
            if let (Some(css), Field::Looking) = (&selectors.text, &entry.text) {
                if css.matches(stack) {
                    entry.text = Field::Reading(
                        depth,
                        Normalized::new(self.extractor.limits.max_entry_text_bytes),
                    );
                }
            }
            if let (Some(css), Field::Looking) = (&selectors.timestamp, &entry.timestamp) {
                if css.matches(stack) {
                    entry.timestamp =
                        Field::Reading(depth, Normalized::new(MAX_TIMESTAMP_TEXT_BYTES));
                }
            }
            if let (Some(css), None) = (&selectors.link, &entry.link) {
                if css.matches(stack) {
                    if let Some(href) = attr(local_name!("href")) {
                        entry.link = Some(
                            absolute(&href, self.base.as_ref())
                                .filter(|link| link.len() <= MAX_URL_BYTES),
                        );
                    }
                }
            }
        } else if !self.full && self.selectors.entry.matches(&self.stack) {
            if top_level {
                return Err("the entry selector matches html, head or body");
            }
            if self.entries.len() == self.extractor.limits.max_entries {
                self.full = true;
            } else {
                // One entry is read at a time: room for a usual entry's
                // markup up front spares the serializer's regrowths.
                let mut markup = HtmlSerializer::new(
                    Vec::with_capacity(ENTRY_MARKUP_BYTES),
                    SerializeOpts {
                        scripting_enabled: false,
                        traversal_scope: TraversalScope::IncludeNode,
                        create_missing_parent: false,
                    },
                );
                let mut attrs: Vec<_> = tag.attrs.iter().collect();
                attrs.sort_unstable_by(|a, b| a.name.cmp(&b.name));
                markup
                    .start_elem(
                        QualName::new(None, ns!(html), tag.name.clone()),
                        attrs.iter().map(|a| (&a.name, &a.value[..])),
                    )
                    .map_err(|_| "io")?;
                let max_text = self.extractor.limits.max_entry_text_bytes;
                self.entry = Some(Reading {
                    depth,
                    markup,
                    all_text: self
                        .selectors
                        .text
                        .is_none()
                        .then(|| Normalized::new(max_text)),
                    text: Field::Looking,
                    timestamp: Field::Looking,
                    link: None,
                });
            }
        }
        Ok(())
    }

    /// Closes the current element.
    fn pop(&mut self) {
        let Some(open) = self.stack.pop() else {
            return;
        };
        let depth = self.stack.len();
        if let Field::Reading(at, _) = &self.title {
            if *at == depth {
                if let Field::Reading(_, text) = std::mem::replace(&mut self.title, Field::Looking)
                {
                    self.title = Field::Found(text.finish());
                }
            }
        }
        let Some(entry) = self.entry.as_mut() else {
            return;
        };
        let _ = entry
            .markup
            .end_elem(QualName::new(None, ns!(html), open.name));
        for field in [&mut entry.text, &mut entry.timestamp] {
            if matches!(field, Field::Reading(at, _) if *at == depth) {
                if let Field::Reading(_, text) = std::mem::replace(field, Field::Looking) {
                    *field = Field::Found(text.finish());
                }
            }
        }
        if entry.depth == depth {
            if let Some(entry) = self.entry.take() {
                self.entries.push(self.finish(entry));
            }
        }
    }

    fn finish(&self, entry: Reading) -> Entry {
        let found = |field: Field<String>| match field {
            Field::Found(text) => Some(text),
            Field::Reading(_, text) => Some(text.finish()),
            Field::Looking => None,
        };
        let text = match entry.all_text {
            Some(all) => all.finish(),
            None => found(entry.text).unwrap_or_default(),
        };
        let timestamp = self.selectors.timestamp.as_ref().and_then(|_| {
            let shown = found(entry.timestamp)?;
            let (_, items) = self.extractor.timestamp.as_ref()?;
            parse_timestamp(&shown, items, self.zone, self.now)
        });
        Entry {
            id: content_id(&entry.markup.writer),
            text,
            timestamp,
            link: entry.link.flatten(),
        }
    }

    /// Text in the current element.
    fn text(&mut self, text: &str) -> Result<(), Abort> {
        if text.is_empty() {
            return Ok(());
        }
        if let Field::Reading(_, title) = &mut self.title {
            title.push(text);
        }
        if let Some(entry) = self.entry.as_mut() {
            entry.markup.write_text(text).map_err(|_| "io")?;
            if let Some(all) = entry.all_text.as_mut() {
                all.push(text);
            }
            for field in [&mut entry.text, &mut entry.timestamp] {
                if let Field::Reading(_, reading) = field {
                    reading.push(text);
                }
            }
        }
        Ok(())
    }
}
