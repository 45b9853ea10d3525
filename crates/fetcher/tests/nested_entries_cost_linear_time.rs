//! A page at the body cap made of entries nested inside one another (the
//! attack of issue 12: every entry re-serialised its whole subtree) is
//! extracted in time comparable to a flat page of the same size, measured in
//! the same run, and gives only its outermost entries. Both go through
//! `pagefeed-fetcher extract`'s own path (`extract_command::inspect`), with the
//! config's default caps and deadline.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use pagefeed_events::Config;
use pagefeed_fetcher::extract_command::{inspect, Report, Source};
use pagefeed_testkit::nested_pages::{flat_entries, nested_entries, ENTRY};
use tempfile::TempDir;

/// How much slower than the flat page a nested page may be.
const RATIO: u32 = 10;

fn config(dir: &Path) -> Config {
    let text = format!(
        "[[site]]\nname = \"nested\"\nurl = \"http://127.0.0.1:1/p?id={{id}}\"\n\
         ids = {{ first = 1, last = 1 }}\ninterval = \"1h\"\nretention = \"7d\"\n\
         [site.extract]\nentry = \"{ENTRY}\"\ntext = \"p.comment\"\nlink = \"a\"\n"
    );
    let path = dir.join("pagefeed.toml");
    std::fs::write(&path, &text).unwrap();
    Config::load(&path).unwrap()
}

/// Extracts the saved page on a thread of its own; `None` if that takes
/// longer than `limit` (the thread is left to finish on its own).
fn extract(cfg: &Config, page: PathBuf, limit: Duration) -> Option<(Report, Duration)> {
    let cfg = cfg.clone();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let started = Instant::now();
        let source = Source::File {
            path: page,
            base_url: Some("http://127.0.0.1/list".into()),
        };
        let report = runtime.block_on(inspect(&cfg, "nested", source));
        let _ = tx.send((report, started.elapsed()));
    });
    let (report, took) = rx.recv_timeout(limit).ok()?;
    Some((report.unwrap(), took))
}

#[test]
fn nested_entries_at_the_body_cap_cost_about_what_a_flat_page_costs() {
    let dir = TempDir::new().unwrap();
    let cfg = config(dir.path());
    let cap = cfg.fetcher.max_body_bytes;
    let save = |name: &str, page: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, page).unwrap();
        path
    };

    let (flat, count) = flat_entries(cap);
    let flat = save("flat.html", &flat);
    let (flat, flat_took) = extract(&cfg, flat, Duration::from_secs(600)).expect("the flat page");
    assert_eq!(flat.count, count.min(cfg.fetcher.max_entries));
    let limit = flat_took * RATIO;

    // One nest as deep as the page allows, then nests of a thousand side by side.
    for depth in [usize::MAX, 1000] {
        let shape = if depth == usize::MAX {
            "one nest".to_owned()
        } else {
            format!("nests of {depth}")
        };
        let (page, entries, outermost) = nested_entries(cap, depth);
        assert_eq!(entries, count);
        let path = save(&format!("nested-{depth}.html"), &page);
        let Some((nested, took)) = extract(&cfg, path, limit) else {
            panic!("{shape}: not extracted within {RATIO} times the flat page's {flat_took:?}");
        };
        eprintln!("{shape}: {took:?}; flat page: {flat_took:?}");
        let texts: Vec<String> = nested.entries.iter().map(|e| e.text.clone()).collect();
        let first_of_each_nest: Vec<String> = (0..outermost)
            .map(|nest| format!("entry {:07} says hello", nest * depth.min(entries)))
            .collect();
        assert_eq!(texts, first_of_each_nest, "{shape}");
    }
}
