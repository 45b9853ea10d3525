//! A person reads a node fed by a real crawl in a real browser: nats-server,
//! the sample site, a scheduler, a fetcher and a projector as processes,
//! headless Chromium through chromedriver. From the overview (the node's
//! figures, its sites, its pages) they click to a page (its entries newest
//! first, its feeds, its older entries a click away), then type a Japanese
//! word in the search box and submit it (the matches marked, newest first).
//! The same at a phone's width, with no sideways scrolling. Screenshots of
//! each step are saved and their paths printed.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use fantoccini::key::Key;
use fantoccini::Locator;
use pagefeed_events::Event;
use pagefeed_testkit::browser::{screenshot_dir, Browser};
use pagefeed_testkit::config::{config_text, id_site};
use pagefeed_testkit::projector_api::{http_client, wait_applied};
use pagefeed_testkit::sample_site::{page_kind, PageKind, ENTRIES_PER_PAGE};
use pagefeed_testkit::services::{workspace_bin, Services};
use pagefeed_testkit::streams::{events_last_seq, stored_events, wait_tasks_settled};
use pagefeed_testkit::wait::wait_for;

const IDS: std::ops::RangeInclusive<u64> = 1..=3;
/// Entries the web view shows at once.
const SHOWN: usize = 10;

/// The times of the entries listed, in order.
async fn entry_times(browser: &Browser) -> anyhow::Result<Vec<DateTime<FixedOffset>>> {
    browser
        .attrs("ol.entries li time", "datetime")
        .await?
        .into_iter()
        .map(|t| Ok(DateTime::parse_from_rfc3339(&t.unwrap_or_default())?))
        .collect()
}

fn assert_newest_first(times: &[DateTime<FixedOffset>], what: &str) {
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "{what}: entries newest first: {times:?}"
    );
    // The sample site is in Asia/Tokyo (its config says so): its times are
    // shown on Tokyo's clocks.
    assert!(
        times.iter().all(|t| t.offset().local_minus_utc() == 9 * 3600),
        "{what}: shown in Japan time (+09:00): {times:?}"
    );
}

/// The ids of the entries listed, in order; and checks that the page
/// holds no script (it works with scripts off) and labels its search box.
async fn entry_ids(browser: &Browser) -> anyhow::Result<Vec<String>> {
    let c = browser.client();
    assert!(
        c.find_all(Locator::Css("script")).await?.is_empty(),
        "no script in {}",
        c.current_url().await?
    );
    assert_eq!(
        browser.texts("label[for=q]").await?.len(),
        1,
        "the search box has its label"
    );
    Ok(browser
        .attrs("ol.entries li", "data-id")
        .await?
        .into_iter()
        .flatten()
        .collect())
}

/// The feeds the head offers: (type, href).
async fn head_feeds(browser: &Browser) -> anyhow::Result<Vec<(String, String)>> {
    let kinds = browser.attrs("link[rel=alternate]", "type").await?;
    let hrefs = browser.attrs("link[rel=alternate]", "href").await?;
    Ok(kinds
        .into_iter()
        .zip(hrefs)
        .map(|(k, h)| (k.unwrap_or_default(), h.unwrap_or_default()))
        .collect())
}

fn feeds_of(base: &str, query: &str) -> Vec<(String, String)> {
    [
        ("application/atom+xml", "atom"),
        ("application/rss+xml", "rss"),
        ("application/feed+json", "json"),
    ]
    .into_iter()
    .map(|(kind, format)| {
        let href = if base == "/feeds/search" {
            format!("{base}/{format}?q={query}")
        } else {
            format!("{base}/{format}")
        };
        (kind.to_owned(), href)
    })
    .collect()
}

/// Japanese words of the sample site's entries, 渋谷 first: the search
/// types the first one the crawled entries hold.
const WORDS: [&str; 10] = [
    "渋谷",
    "新宿",
    "大阪",
    "仙台",
    "横浜",
    "鎌倉",
    "名古屋",
    "日曜日",
    "先週",
    "今日",
];

/// How a search is submitted.
enum Submit {
    /// Tab to the box, type, Enter.
    Keyboard,
    /// Click in the box, type, click the button.
    Click,
}

/// Types `word` in the search box, submits it, and walks through every
/// window of the answer, checking each (the match marked in every entry,
/// newest first, the search's feeds); saves a screenshot of the first
/// window to `shot`. The ids found, each once.
async fn search_in_the_box(
    browser: &Browser,
    word: &str,
    how: Submit,
    shot: Option<&Path>,
) -> anyhow::Result<BTreeSet<String>> {
    let c = browser.client();
    let url = match how {
        Submit::Keyboard => {
            // Tab to the box (past the link home), type, Enter.
            let before = c.current_url().await?;
            let search_box = browser.tab_to("q", 3).await?;
            if let Some(shot) = shot {
                browser
                    .screenshot(shot.with_file_name("4-search-box-focused.png"))
                    .await?;
            }
            search_box
                .send_keys(&format!("{word}{}", Key::Enter))
                .await?;
            browser.wait_left(&before, "/search").await?
        }
        Submit::Click => {
            let search_box = c.find(Locator::Id("q")).await?;
            search_box.clear().await?;
            search_box.send_keys(word).await?;
            browser
                .click_to("form.search button[type=submit]", "/search")
                .await?
        }
    };
    let q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(q, [("q".to_owned(), word.to_owned())], "{url}");
    assert_eq!(
        c.find(Locator::Id("q"))
            .await?
            .prop("value")
            .await?
            .as_deref(),
        Some(word),
        "the box keeps the search"
    );
    let encoded: String = url::form_urlencoded::byte_serialize(word.as_bytes()).collect();
    let encoded = encoded.replace('+', "%20");
    assert_eq!(
        head_feeds(browser).await?,
        feeds_of("/feeds/search", &encoded)
    );
    let mut found = Vec::new();
    let mut last_time = None;
    loop {
        let ids = entry_ids(browser).await?;
        let texts = browser.texts("ol.entries li p.text").await?;
        let marks = browser.texts("ol.entries li p.text mark").await?;
        let times = entry_times(browser).await?;
        assert!(!ids.is_empty(), "{word:?} finds entries");
        assert_newest_first(&times, "the search");
        if let Some(last) = last_time {
            assert!(times[0] <= last, "older than the window before");
        }
        last_time = times.last().copied();
        assert!(
            marks.len() >= ids.len(),
            "a match marked in every entry: {marks:?}"
        );
        assert!(
            marks
                .iter()
                .all(|m| m.to_lowercase() == word.to_lowercase()),
            "{marks:?}"
        );
        assert!(texts.iter().all(|t| t.contains(word)), "{texts:?}");
        if let (Some(shot), true) = (shot, found.is_empty()) {
            browser.screenshot(shot).await?;
        }
        found.extend(ids);
        if c.find_all(Locator::Css("a.next")).await?.is_empty() {
            break;
        }
        browser.click_to("a.next", "/search").await?;
    }
    let unique: BTreeSet<String> = found.iter().cloned().collect();
    assert_eq!(unique.len(), found.len(), "no entry twice across windows");
    Ok(unique)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_clicks_from_the_overview_to_a_page_and_a_search() -> anyhow::Result<()> {
    assert!(IDS.clone().all(|id| page_kind(id) == PageKind::Normal));
    // The browser first: a machine without one fails here, saying so.
    let browser = Browser::start().await?;
    let shots = screenshot_dir("the_web_view_shows_a_crawled_node")?;

    let mut system = Services::start().await?;
    let template = system
        .sample_site(workspace_bin("pagefeed-sample-site"), &[])
        .await?;
    let cfg = system.write_config(&config_text(
        &system.nats_url(),
        "",
        "",
        &[id_site(
            "sample",
            &template,
            *IDS.start(),
            *IDS.end(),
            3,
            "1s",
        )],
    ))?;
    // The streams before the services, so that the log can be read at once.
    let js = system.jetstream().await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;
    let a = system.projector(workspace_bin("pagefeed-projector"), "a", &[])?;
    system.fetcher(workspace_bin("pagefeed-fetcher"), &[])?;
    system.scheduler(workspace_bin("pagefeed-scheduler"), &[])?;
    system.wait_ready(Duration::from_secs(30)).await?;
    wait_for(Duration::from_secs(60), "every page crawled", || async {
        let events = stored_events(&js).await?;
        let crawled: BTreeSet<String> = events
            .iter()
            .filter_map(|e| match e {
                Event::PageCrawled(p) => Some(p.page.to_string()),
                _ => None,
            })
            .collect();
        Ok((crawled.len() == IDS.count()).then_some(()))
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", system.log_tails(10)))?;
    system["scheduler-1"]
        .terminate(Duration::from_secs(20))
        .await?;
    wait_tasks_settled(&js, Duration::from_secs(60)).await?;
    let last = events_last_seq(&js).await?;
    let client = http_client();
    let status = wait_applied(&client, a.http, last, Duration::from_secs(60)).await?;
    let observed: Vec<_> = stored_events(&js)
        .await?
        .into_iter()
        .filter_map(|e| match e {
            Event::EntryObserved(o) => Some(o),
            _ => None,
        })
        .collect();
    let of_page_1: BTreeSet<String> = observed
        .iter()
        .filter(|o| o.page.to_string() == "sample.1")
        .map(|o| o.id.clone())
        .collect();
    assert!(
        of_page_1.len() >= ENTRIES_PER_PAGE,
        "sample.1 has its entries"
    );
    let mut paths = Vec::new();
    let c = browser.client();

    // The overview: the node's figures, its site, its pages, the newest entries.
    c.goto(&a.url("/")).await?;
    assert!(c.title().await?.contains("Node a"), "{}", c.title().await?);
    assert_eq!(
        browser.texts("#applied-seq").await?,
        [status.applied_seq.to_string()],
        "the applied sequence of /api/status"
    );
    assert_eq!(browser.texts("#lag").await?, ["0"]);
    assert_eq!(browser.texts("#digest").await?, [status.digest.as_str()]);
    assert_eq!(
        browser.attrs("tr.site", "data-site").await?,
        [Some("sample".to_owned())]
    );
    assert_eq!(
        browser.attrs("tr.site a.feed", "href").await?,
        feeds_of("/feeds/sites/sample", "")
            .into_iter()
            .map(|(_, h)| Some(h))
            .collect::<Vec<_>>(),
        "the site's feeds"
    );
    let pages = browser.attrs("tr.page", "data-key").await?;
    assert_eq!(pages.len(), IDS.count(), "{pages:?}");
    let newest = entry_times(&browser).await?;
    assert_eq!(newest.len(), 20, "the 20 newest entries");
    assert_newest_first(&newest, "the overview");
    paths.push(browser.screenshot(shots.join("1-overview.png")).await?);

    // A click to page sample.1: its facts, its feeds, its newest entries.
    browser
        .click_to("tr.page a[href='/pages/sample.1']", "/pages/sample.1")
        .await?;
    assert_eq!(
        browser.texts("dl.page a.url").await?,
        [template.replace("{id}", "1")],
        "the page's URL, a link"
    );
    assert_eq!(
        browser.texts("#failure").await?,
        ["none since the last successful crawl"]
    );
    assert_eq!(
        head_feeds(&browser).await?,
        feeds_of("/feeds/pages/sample.1", "")
    );
    assert_eq!(
        browser.attrs("a.feed", "href").await?,
        feeds_of("/feeds/pages/sample.1", "")
            .into_iter()
            .map(|(_, h)| Some(h))
            .collect::<Vec<_>>(),
        "the page's feeds, visible"
    );
    let first_ids = entry_ids(&browser).await?;
    let first_times = entry_times(&browser).await?;
    assert_eq!(first_ids.len(), SHOWN, "a window of entries");
    assert_newest_first(&first_times, "page sample.1");
    paths.push(browser.screenshot(shots.join("2-page.png")).await?);

    // Older entries, a click away, go on where the first window stopped.
    let mut seen = first_ids.clone();
    let mut last_time = *first_times.last().expect("entries");
    while !c.find_all(Locator::Css("a.next")).await?.is_empty() {
        let url = browser.click_to("a.next", "/pages/sample.1").await?;
        assert!(
            url.query().unwrap_or_default().contains("cursor="),
            "a window after a cursor"
        );
        let ids = entry_ids(&browser).await?;
        let times = entry_times(&browser).await?;
        assert!(!ids.is_empty(), "an older window has entries");
        assert_newest_first(&times, "an older window");
        assert!(times[0] <= last_time, "older than the window before");
        last_time = *times.last().expect("entries");
        assert!(
            !c.find_all(Locator::Css("a.first")).await?.is_empty(),
            "a link back to the newest"
        );
        seen.extend(ids);
        if seen.len() == SHOWN * 2 {
            paths.push(browser.screenshot(shots.join("3-page-older.png")).await?);
        }
    }
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no entry twice across windows");
    assert_eq!(unique, of_page_1, "every entry of the page, once");

    // A Japanese word typed in the search box and submitted.
    let word = WORDS
        .into_iter()
        .find(|w| observed.iter().any(|o| o.text.contains(w)))
        .expect("a Japanese word of the crawled entries")
        .to_owned();
    let matching = |word: &str| -> BTreeSet<String> {
        observed
            .iter()
            .filter(|o| o.text.to_lowercase().contains(&word.to_lowercase()))
            .map(|o| o.id.clone())
            .collect()
    };
    let found = search_in_the_box(
        &browser,
        &word,
        Submit::Keyboard,
        Some(&shots.join("4-search.png")),
    )
    .await?;
    paths.push(shots.join("4-search.png"));
    assert_eq!(found, matching(&word), "every entry with {word:?}, once");

    // A search with more matches than a window: its older windows a click away.
    let common = "の";
    assert!(
        matching(common).len() > SHOWN,
        "the sample site's entries have {common:?} in more than one window"
    );
    let found = search_in_the_box(&browser, common, Submit::Click, None).await?;
    assert_eq!(found, matching(common), "every entry with {common:?}, once");

    // At a phone's width: nothing wider than the screen.
    browser.resize(390, 1600).await?;
    for (path, shot) in [
        ("/", "5-overview-phone.png"),
        ("/pages/sample.1", "6-page-phone.png"),
    ] {
        c.goto(&a.url(path)).await?;
        let (page_width, viewport) = (
            c.execute("return document.documentElement.scrollWidth", vec![])
                .await?,
            c.execute("return window.innerWidth", vec![]).await?,
        );
        paths.push(browser.screenshot(shots.join(shot)).await?);
        assert!(
            page_width.as_u64() <= viewport.as_u64(),
            "{path} fits a phone's width: {page_width} px wide in {viewport}"
        );
    }
    browser.close().await?;
    for path in paths {
        eprintln!("screenshot: {}", path.display());
    }
    Ok(())
}
