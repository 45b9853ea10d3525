//! Japanese pages that declare no charset (no `charset=` in Content-Type, no
//! `<meta>`), in Shift_JIS and in EUC-JP, are crawled into the right text:
//! chardetng guesses the encoding. A site's `charset` wins over a page that
//! declares a wrong one; the same page without it comes out garbled.

mod support;

use encoding_rs::{Encoding, EUC_JP, SHIFT_JIS};
use pagefeed_testkit::config::config_with;
use pagefeed_testkit::nats::NatsServer;
use pagefeed_testkit::streams::{jetstream_at, publish_tasks, stored_events};
use pagefeed_testkit::wait::wait_for;
use support::{
    crawled, entry_texts, failure_of, page, site, spawn_fetcher, Reply, Server, PATIENCE,
};

const TITLE: &str = "今日の日記";
const ENTRY: &str = "渋谷でラーメンを食べました。とても美味しかったです。";

fn encoded(encoding: &'static Encoding, html: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding.encode(html);
    assert!(!unmappable);
    bytes.into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn japanese_pages_decode_whatever_they_declare() -> anyhow::Result<()> {
    pagefeed_testkit::logs::init_logs();
    let nats = NatsServer::start().await?;
    let html = page(TITLE, &[ENTRY]);
    let lying = html.replace("<head>", "<head><meta charset=\"utf-8\">");
    let server = Server::start("127.0.0.1", move |path| match path {
        "/sjis/1" => Reply::Bytes {
            content_type: "text/html",
            body: encoded(SHIFT_JIS, &html),
        },
        "/eucjp/1" => Reply::Bytes {
            content_type: "text/html",
            body: encoded(EUC_JP, &html),
        },
        // Shift_JIS bytes that the header calls EUC-JP and the page UTF-8.
        _ => Reply::Bytes {
            content_type: "text/html; charset=EUC-JP",
            body: encoded(SHIFT_JIS, &lying),
        },
    })
    .await?;
    let base = server.url();
    let id_site = |name: &str, path: &str, extra: &str| {
        site(
            name,
            &format!("url = \"{base}/{path}/{{id}}\"\nids = {{ first = 1, last = 1 }}"),
            extra,
        )
    };
    let cfg = config_with(
        &nats.url(),
        "",
        "[fetcher]\nmax_attempts = 1\n",
        &[
            id_site("sjis", "sjis", ""),
            id_site("eucjp", "eucjp", ""),
            id_site("forced", "lying", "charset = \"shift_jis\""),
            id_site("trusting", "lying", ""),
        ],
    );
    let js = jetstream_at(&nats.url()).await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;
    let fetcher = spawn_fetcher(cfg);
    for (name, path) in [
        ("sjis", "sjis"),
        ("eucjp", "eucjp"),
        ("forced", "lying"),
        ("trusting", "lying"),
    ] {
        publish_tasks(&js, name, &format!("{base}/{path}/{{id}}"), [1], 0).await?;
    }
    let pages = ["sjis.1", "eucjp.1", "forced.1", "trusting.1"];
    let events = wait_for(PATIENCE, "four crawls", || async {
        let events = stored_events(&js).await?;
        let done = pages
            .iter()
            .all(|p| crawled(&events, p).is_some() || failure_of(&events, p).is_some());
        Ok(done.then_some(events))
    })
    .await?;
    fetcher.stop().await?;

    for page in ["sjis.1", "eucjp.1", "forced.1"] {
        let record = crawled(&events, page).unwrap_or_else(|| panic!("{page} not crawled"));
        assert_eq!(record.title, TITLE, "{page}");
        assert_eq!(entry_texts(&events, page), [ENTRY], "{page}");
    }
    // Decoded as the header says, the same bytes are not the text.
    let trusted = crawled(&events, "trusting.1").expect("trusting.1 crawled");
    assert_ne!(trusted.title, TITLE);
    assert_ne!(entry_texts(&events, "trusting.1"), [ENTRY]);
    Ok(())
}
