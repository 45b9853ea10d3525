//! The streaming path against the tree path: on the sample site's pages
//! (every kind with a body), the nested and flat pages of issue 12, real
//! documentation pages when the machine has them, and 2,000 generated
//! pages (under five selector sets) full of what makes the tree builder
//! move things, both
//! paths give the same result (title, entries, ids, texts, timestamps,
//! links, or the same error), and the streaming path does read the pages it
//! is meant for.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use pagefeed_events::config::Extract;
use pagefeed_testkit::config::sample_extract;
use pagefeed_testkit::nested_pages::{flat_entries, nested_entries};
use pagefeed_testkit::sample_site::{self, page_kind, PageKind, SampleSite, SampleSiteOptions};

use super::stream::Streamed;
use super::*;
use crate::deadline::Deadline;
use crate::decode::decode;
use crate::http::{FetchSettings, HttpClient, Outcome, Validators};
use crate::policy::AddressPolicy;

fn now() -> DateTime<Utc> {
    "2026-03-01T12:00:00Z".parse().unwrap()
}

/// Both paths on `html`; true when the streaming path read it itself.
fn agree(extractor: &Extractor, html: &str, url: &str) -> bool {
    let deadline = || Deadline::after(Duration::from_secs(600));
    let tree = extractor.extract_with_tree(html, url, now(), &deadline());
    let both = extractor.extract_within(html, url, now(), &deadline());
    assert_eq!(both, tree, "the paths differ on:\n{html}");
    let selectors = extractor.stream.as_ref().expect("streamable selectors");
    match extractor.stream(selectors, html, url, now(), &deadline()) {
        Streamed::Read(page) => {
            // Read by the stream: the very result the tree gives.
            match &tree {
                Ok(tree) => assert_eq!(&page, tree, "{html}"),
                Err(ExtractError::NoEntries { .. }) => assert!(page.entries.is_empty()),
                Err(e) => panic!("the tree path failed with {e} where the stream read"),
            }
            true
        }
        Streamed::Fallback(_) => false,
        Streamed::Expired => panic!("no deadline could pass"),
    }
}

#[test]
fn sample_pages_agree_and_stream() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let opts = SampleSiteOptions::at(1_700_000_000);
    let extractor =
        Extractor::new(&sample_extract(), sample_site::TIMEZONE, Limits::default()).unwrap();
    let (mut normal, mut broken) = (0, 0);
    runtime.block_on(async {
        let site = SampleSite::start("127.0.0.1:0".parse().unwrap(), opts)
            .await
            .unwrap();
        let client = HttpClient::new(
            FetchSettings::default(),
            AddressPolicy::allowing(["127.0.0.0/8".parse().unwrap()]),
        )
        .unwrap();
        for id in 1..400 {
            let kind = page_kind(id);
            if !matches!(
                kind,
                PageKind::Normal
                    | PageKind::ShiftJis
                    | PageKind::EucJp
                    | PageKind::Iso2022Jp
                    | PageKind::BrokenMarkup
                    | PageKind::NoEntries
            ) {
                continue;
            }
            let Ok(Outcome::Fetched(page)) = client
                .fetch(&site.page_url(id), &Validators::default())
                .await
            else {
                panic!("page {id} did not come");
            };
            let decoded = decode(&page.body, page.content_type.as_deref());
            let streamed = agree(&extractor, &decoded.text, &site.page_url(id));
            match kind {
                PageKind::Normal => {
                    assert!(streamed, "a normal page {id} left to the tree");
                    normal += 1;
                }
                PageKind::BrokenMarkup => {
                    assert!(!streamed, "broken page {id} read by the stream");
                    broken += 1;
                }
                _ => {}
            }
        }
    });
    assert!(
        normal > 50 && broken > 0,
        "{normal} normal, {broken} broken"
    );
}

#[test]
fn nested_and_flat_pages_agree() {
    let extract = Extract {
        title: "title".into(),
        entry: pagefeed_testkit::nested_pages::ENTRY.into(),
        text: Some("p.comment".into()),
        timestamp: None,
        timestamp_format: None,
        link: Some("a".into()),
    };
    let extractor = Extractor::new(&extract, Tz::UTC, Limits::default()).unwrap();
    let (flat, _) = flat_entries(200_000);
    assert!(agree(&extractor, &flat, "http://127.0.0.1/flat"));
    let (nested, _, _) = nested_entries(200_000, 100);
    agree(&extractor, &nested, "http://127.0.0.1/nested");
    // Deeper than the stream follows: left to the tree, which cuts it.
    let (deep, _, _) = nested_entries(200_000, 5_000);
    assert!(!agree(&extractor, &deep, "http://127.0.0.1/deep"));
    // More entries than max_entries.
    let few = Limits {
        max_entries: 7,
        max_entry_text_bytes: 10,
        ..Limits::default()
    };
    let extractor = Extractor::new(&extract, Tz::UTC, few).unwrap();
    assert!(agree(&extractor, &flat, "http://127.0.0.1/flat"));
}

#[test]
fn real_pages_agree_when_installed() {
    let dir = Path::new("/usr/share/doc/python3.11/html/library");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<_> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
    paths.sort();
    let extract = Extract {
        title: "title".into(),
        entry: "h1, h2, h3".into(),
        text: None,
        timestamp: None,
        timestamp_format: None,
        link: Some("a.headerlink".into()),
    };
    let extractor = Extractor::new(&extract, Tz::UTC, Limits::default()).unwrap();
    // The first 25, and large pages where a tag closes an open p (read
    // with the tree before the stream followed that).
    let closing_p = ["functions.html", "os.html", "socket.html", "sys.html"];
    let pages: Vec<_> = paths
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "html"))
        .enumerate()
        .filter(|(i, p)| {
            *i < 25
                || p.file_name()
                    .is_some_and(|name| closing_p.iter().any(|c| name == *c))
        })
        .map(|(_, p)| p)
        .collect();
    // An index page: rows straight in tables (an implied tbody).
    let index = dir.join("../genindex-A.html");
    let pages: Vec<_> = pages.into_iter().chain([&index]).collect();
    let mut streamed = 0;
    for path in &pages {
        let html = std::fs::read_to_string(path).unwrap();
        let url = "http://127.0.0.1/doc/x.html";
        if agree(&extractor, &html, url) {
            streamed += 1;
        } else if let Some(selectors) = &extractor.stream {
            let deadline = Deadline::after(Duration::from_secs(600));
            if let Streamed::Fallback(reason) =
                extractor.stream(selectors, &html, url, now(), &deadline)
            {
                eprintln!("{}: {reason}", path.display());
            }
        }
    }
    eprintln!("{streamed} of {} real pages streamed", pages.len());
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// A page made of random pieces: well nested or not, with what the tree
/// builder treats apart (unclosed p and li, misnested formatting, tables,
/// forms, raw text, pre's newline, comments, character references, SVG).
fn random_page(rng: &mut Rng) -> String {
    const OPEN: &[&str] = &[
        "<div class=\"entry\">",
        "<div class=\"entry x\" id=\"e\">",
        "<div>",
        "<p>",
        "<p class=\"c\">",
        "<ul>",
        "<li>",
        "<b>",
        "<i>",
        "<a href=\"/x?a=1&amp;b=2\">",
        "<a title='q\"uote'>",
        "<span class=\"at\">",
        "<section>",
        "<dl>",
        "<dt>",
        "<dd>",
        "<pre>",
        "<h2>",
        "<h3>",
        "<button>",
        "<em>",
        "<nobr>",
        "<font color=red>",
        "<table>",
        "<tr>",
        "<td>",
        "<form>",
        "<select>",
        "<option>",
        "<svg>",
        "<textarea>",
        "<listing>",
    ];
    const CLOSE: &[&str] = &[
        "</div>",
        "</p>",
        "</ul>",
        "</li>",
        "</b>",
        "</i>",
        "</a>",
        "</span>",
        "</section>",
        "</dl>",
        "</dt>",
        "</dd>",
        "</pre>",
        "</h2>",
        "</h3>",
        "</button>",
        "</em>",
        "</table>",
        "</td>",
        "</body>",
        "</html>",
        "</br>",
        "</form>",
    ];
    const LEAF: &[&str] = &[
        "text",
        " ",
        "\n",
        "\nafter newline",
        "&lt;tag&gt; &amp; &nbsp;x&#12354;",
        "&notin; &notit &copy",
        "3月8日 02:30",
        "2月13日 16:45",
        "<br>",
        "<img src=x alt=\"a<b\">",
        "<hr>",
        "<!-- comment -->",
        "<script>if (a < b) { document.write('<p>') }</script>",
        "<style>p > a { x: '</p>' }</style>",
        "<title>in body</title>",
        "<noscript><p>no</p></noscript>",
        "<input type=text><wbr>",
        "渋谷　新宿\u{3000}",
        "\r\n",
        "<!DOCTYPE html>",
        "<iframe><b>x</b></iframe>",
        "<svg viewBox=\"0 0 1 1\" class=\"icon\"><path d=\"M1\"/><g><![CDATA[x<y]]></g></svg>",
        "<svg><p>breaks out</p></svg>",
        "<table class=\"t\"><colgroup><col width=1></colgroup><thead><tr><th>h</th></tr></thead>\n<tbody><tr><td><p>cell <a href=\"#c\">c</a></p></td></tr></tbody></table>",
        "<table><tr><td>implied tbody</td></tr></table>",
        "<table>foster<td>x</table>",
        "<form action=/s><input name=q></form>",
        "<meta charset=utf-8>",
        "\u{a0}",
    ];
    let mut page = String::new();
    match rng.next() % 4 {
        0 => page.push_str("<!DOCTYPE html><html><head><title>T &amp; t</title></head><body>"),
        1 => page.push_str(
            "<html>\n<head>\n<meta charset=\"utf-8\"><title>t</title>\n</head>\n<body>\n",
        ),
        2 => page.push_str("<title>only</title>"),
        _ => {}
    }
    // Half the pages well nested, of the elements the stream follows.
    let tidy = rng.next().is_multiple_of(2);
    let open_tags = if tidy { &OPEN[..12] } else { OPEN };
    let mut open: Vec<&str> = Vec::new();
    for _ in 0..(rng.next() % 60) {
        match rng.next() % 10 {
            0..=3 => {
                let tag = rng.pick(open_tags);
                page.push_str(tag);
                open.push(tag);
            }
            4..=6 => {
                // Mostly the right end tag, sometimes another.
                if !tidy && rng.next().is_multiple_of(8) {
                    page.push_str(rng.pick(CLOSE));
                } else if let Some(tag) = open.pop() {
                    let name: String = tag[1..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric())
                        .collect();
                    page.push_str(&format!("</{name}>"));
                }
            }
            _ => page.push_str(rng.pick(LEAF)),
        }
    }
    if rng.next().is_multiple_of(2) {
        page.push_str("</body></html>\n");
    }
    page
}

#[test]
fn generated_pages_agree() {
    let extractors: Vec<Extractor> = [
        ("title", "div.entry", Some("p"), Some("span.at"), Some("a")),
        ("title", "div.entry", None, None, Some("li a")),
        ("h2", "li, dd", Some("b"), None, Some("a")),
        (
            "title",
            "div > p.c, section",
            None,
            Some("span"),
            Some("body div > div a"),
        ),
        ("title", "#e", Some("*"), None, Some("a")),
        (
            "title",
            "div div.entry",
            Some("div > p b, li"),
            None,
            Some("div > * a"),
        ),
    ]
    .into_iter()
    .map(|(title, entry, text, timestamp, link)| {
        let extract = Extract {
            title: title.into(),
            entry: entry.into(),
            text: text.map(Into::into),
            timestamp: timestamp.map(Into::into),
            timestamp_format: timestamp.map(|_| "%m月%d日 %H:%M".into()),
            link: link.map(Into::into),
        };
        let limits = Limits {
            max_entries: 5,
            max_entry_text_bytes: 40,
            max_title_bytes: 12,
            ..Limits::default()
        };
        Extractor::new(&extract, Tz::Asia__Tokyo, limits).unwrap()
    })
    .collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut streamed, mut pages) = (0, 0);
    for _ in 0..2_000 {
        let page = random_page(&mut rng);
        for extractor in &extractors {
            pages += 1;
            streamed += usize::from(agree(extractor, &page, "http://127.0.0.1/base/page"));
        }
    }
    // Both paths were exercised.
    assert!(
        streamed * 10 > pages && streamed * 10 < pages * 9,
        "{streamed} of {pages}"
    );
}

/// Tables whose markup leaves out a body, a row or their end tags (as
/// Sphinx's index pages do): the stream opens and closes them where the
/// tree builder does, and reads the page itself.
#[test]
fn tables_with_implied_parts_stream() {
    let extract = Extract {
        title: "title".into(),
        entry: "div.e, tr.e".into(),
        text: Some("td".into()),
        timestamp: None,
        timestamp_format: None,
        link: Some("a".into()),
    };
    let extractor = Extractor::new(&extract, Tz::UTC, Limits::default()).unwrap();
    let tables = [
        "<table><tr><td><a href=/a>a</a></td></tr></table>",
        "<table>\n <tr><td>b</td><td>c</td></tr>\n <tr><th>d</th></tr>\n</table>",
        "<table><td>e</td></table>",
        "<table><tbody><td>f</td></tbody></table>",
        "<table><tbody><tr><td>g</td></table>",
        "<table><thead><tr><th>h</th></thead><tr><td>i</td></tr></table>",
        "<table><tr class=e><td><a href=/r>row</a></td></tr><tr class=e><td>r2</td></table>",
        "<table><colgroup><col></colgroup><tr><td><table><tr><td>inner</td></tr></table></td></tr></table>",
    ];
    for table in tables {
        let html = format!(
            "<!DOCTYPE html><html><head><title>t</title></head><body>\
             <div class=e>{table}</div><div class=e><p>after</p></div></body></html>"
        );
        assert!(
            agree(&extractor, &html, "http://127.0.0.1/t"),
            "left to the tree: {html}"
        );
    }
    // Still left to the tree: a cell whose end the markup leaves out
    // before the table's, and text the tree builder moves out of a table.
    for html in [
        "<div class=e><table><tr><td>x</table></div>",
        "<div class=e><table>moved<tr><td>y</td></tr></table></div>",
    ] {
        assert!(!agree(&extractor, html, "http://127.0.0.1/t"), "{html}");
    }
}

#[test]
fn selectors_outside_the_subset_take_the_tree() {
    let with = |entry: &str| {
        let mut extract = sample_extract();
        extract.entry = entry.into();
        super::stream::Selectors::new(&extract).is_some()
    };
    assert!(with("div.feedEntry"));
    assert!(with("div#main > ul li.x.y, section"));
    assert!(!with("div:first-child"));
    assert!(!with("div[data-x]"));
    assert!(!with("h2 + p"));
    assert!(!with("h2 ~ p"));
    assert!(!with("div.日本"));
}
