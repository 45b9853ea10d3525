//! Whatever text a page carries, the web view shows it and nothing runs:
//! events published to the stream put `<script>`, event handlers and
//! `javascript:` / `data:` links in a page's title and URL, in entries'
//! texts and links, and in a failure's reason and detail. In a real browser,
//! on the overview, the page, a failing page and a search, no script runs
//! (it would change the document's title or set a global), no `<script>`
//! or `<img>` element exists, no link has a scheme other than http(s),
//! and the text is shown as written. Every HTML answer carries a
//! Content-Security-Policy that allows no script.

use std::time::Duration;

use chrono::{DateTime, Utc};
use fantoccini::Locator;
use pagefeed_events::event::{EntryObserved, FetchFailed, PageRecord};
use pagefeed_events::{Event, PageKey};
use pagefeed_testkit::browser::{screenshot_dir, Browser};
use pagefeed_testkit::config::{config_text, id_site};
use pagefeed_testkit::projector_api::{http_client, wait_applied};
use pagefeed_testkit::services::{workspace_bin, Services};
use pagefeed_testkit::streams::publish_events;

const ENTRY_SCRIPT: &str =
    "<script>document.title='pw'+'ned';window.pwned=1</script>渋谷で<b>bold</b>";
const ENTRY_IMG: &str = "渋谷 <img src=x onerror=\"document.title='pw'+'ned';window.pwned=2\">";
const TITLE: &str = "<script>document.title='pw'+'ned'</script>ユーザー1";
const PAGE_URL: &str = "javascript:document.title='pw'+'ned'";
const SAFE_LINK: &str = "http://127.0.0.1:9/entry?a=1&b=<x>";

fn key(s: &str) -> PageKey {
    s.parse().expect("a page key")
}

fn entry(page: &str, id: &str, text: &str, link: Option<&str>, at: DateTime<Utc>) -> Event {
    Event::EntryObserved(EntryObserved {
        page: key(page),
        id: id.to_owned(),
        text: text.to_owned(),
        timestamp: None,
        link: link.map(str::to_owned),
        observed_at: at,
        first_crawl: false,
    })
}

fn hostile_events(at: DateTime<Utc>) -> Vec<Event> {
    vec![
        entry(
            "sample.1",
            "e1",
            ENTRY_SCRIPT,
            Some("javascript:document.title='pw'+'ned'"),
            at,
        ),
        entry(
            "sample.1",
            "e2",
            ENTRY_IMG,
            Some("data:text/html,<script>alert(1)</script>"),
            at,
        ),
        entry(
            "sample.1",
            "e3",
            "渋谷 <a href=\"javascript:window.pwned=3\">click</a>",
            Some(" JaVaScRiPt:window.pwned=4"),
            at,
        ),
        entry("sample.1", "e4", "渋谷 an honest link", Some(SAFE_LINK), at),
        Event::PageCrawled(PageRecord {
            page: key("sample.1"),
            url: PAGE_URL.to_owned(),
            title: TITLE.to_owned(),
            crawled_at: at,
            status: 200,
            entries: 4,
        }),
        Event::FetchFailed(FetchFailed {
            page: key("sample.2"),
            url: "data:text/html,<script>alert(2)</script>".to_owned(),
            failed_at: at,
            reason: "<script>window.pwned=5</script>".to_owned(),
            detail: "<img src=x onerror=\"window.pwned=6\">".to_owned(),
            status: Some(500),
            attempts: 1,
        }),
    ]
}

/// Nothing ran, nothing that could run is in the document, no link leads
/// anywhere but http(s) or this node.
async fn assert_inert(browser: &Browser, what: &str) -> anyhow::Result<()> {
    let c = browser.client();
    let title = c.title().await?;
    assert!(
        !title.contains("pwned"),
        "{what}: a script ran: title {title:?}"
    );
    let pwned = c.execute("return typeof window.pwned", vec![]).await?;
    assert_eq!(
        pwned, "undefined",
        "{what}: a script ran: window.pwned is set"
    );
    for tag in ["script", "img", "iframe", "object", "embed"] {
        assert!(
            c.find_all(Locator::Css(tag)).await?.is_empty(),
            "{what}: a <{tag}> element"
        );
    }
    for href in browser.attrs("[href]", "href").await?.into_iter().flatten() {
        let scheme = href.trim().to_lowercase();
        assert!(
            scheme.starts_with("http://")
                || scheme.starts_with("https://")
                || scheme.starts_with('/'),
            "{what}: a link to {href:?}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_and_javascript_links_in_events_never_run() -> anyhow::Result<()> {
    let browser = Browser::start().await?;
    let shots = screenshot_dir("hostile_text_stays_inert_in_the_web_view")?;
    let mut system = Services::start().await?;
    let cfg = system.write_config(&config_text(
        &system.nats_url(),
        "",
        "",
        &[id_site("sample", "http://127.0.0.1:9/{id}", 1, 9, 1, "1h")],
    ))?;
    let js = system.jetstream().await?;
    // The streams first: nothing here crawls, the test publishes the events.
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;
    let a = system.projector(workspace_bin("pagefeed-projector"), "a", &[])?;
    system.wait_ready(Duration::from_secs(30)).await?;
    let last = publish_events(&js, &hostile_events(Utc::now())).await?;
    let client = http_client();
    let status = wait_applied(&client, a.http, last, Duration::from_secs(30)).await?;
    assert_eq!(status.rejected, 0, "every hostile event is a valid event");

    // Every HTML answer forbids scripts outright.
    for path in [
        "/",
        "/pages",
        "/pages/sample.1",
        "/search?q=x",
        "/pages/nope",
    ] {
        let answer = client.get(a.url(path)).send().await?;
        let policy = answer
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            policy.starts_with("default-src 'none';") && !policy.contains("script-src"),
            "{path}: {policy:?}"
        );
        assert!(!policy.contains("unsafe"), "{path}: {policy:?}");
    }

    let c = browser.client();
    c.goto(&a.url("/")).await?;
    assert_inert(&browser, "the overview").await?;
    assert_eq!(
        browser.texts("tr.page span.bad").await?,
        ["failing: <script>window.pwned=5</script>"],
        "the failure's reason, as text"
    );
    browser.screenshot(shots.join("1-overview.png")).await?;

    c.goto(&a.url("/pages/sample.1")).await?;
    assert_inert(&browser, "the page").await?;
    assert_eq!(browser.texts("h1").await?, [TITLE], "the title, as text");
    assert!(
        c.find_all(Locator::Css("a.url")).await?.is_empty(),
        "a javascript: URL is no link"
    );
    assert_eq!(
        browser.texts("code.url").await?,
        [PAGE_URL],
        "shown as text"
    );
    let texts = browser.texts("ol.entries li p.text").await?;
    assert!(texts.contains(&ENTRY_SCRIPT.to_owned()), "{texts:?}");
    assert!(texts.contains(&ENTRY_IMG.to_owned()), "{texts:?}");
    assert_eq!(
        browser.attrs("ol.entries a.link", "href").await?,
        [Some("http://127.0.0.1:9/entry?a=1&b=%3Cx%3E".to_owned())],
        "only the http link is a link"
    );
    browser.screenshot(shots.join("2-page.png")).await?;

    c.goto(&a.url("/pages/sample.2")).await?;
    assert_inert(&browser, "the failing page").await?;
    assert_eq!(
        browser.texts("#failure span.detail").await?,
        ["<img src=x onerror=\"window.pwned=6\">"]
    );

    let search_box = c.find(Locator::Id("q")).await?;
    search_box.send_keys("渋谷").await?;
    browser
        .click_to("form.search button[type=submit]", "/search")
        .await?;
    assert_inert(&browser, "the search").await?;
    assert_eq!(
        browser.attrs("ol.entries li", "data-id").await?.len(),
        4,
        "every entry found"
    );
    let marks = browser.texts("ol.entries mark").await?;
    assert_eq!(marks, ["渋谷"; 4], "the match marked, nothing else");
    browser.screenshot(shots.join("3-search.png")).await?;

    // A search for markup finds it as text, and marks it as text.
    c.goto(&a.url("/search?q=%3Cscript%3E")).await?;
    assert_inert(&browser, "a search for <script>").await?;
    assert_eq!(browser.texts("ol.entries mark").await?, ["<script>"]);
    browser.close().await?;
    eprintln!("screenshots in {}", shots.display());
    Ok(())
}
