//! A page whose decoding, parsing and extraction outlast `[fetcher]
//! parse_deadline` fails as `parse_timeout`: a crawl ends as a `fetch_failed`
//! event with that reason after one attempt (the same page would take as
//! long again), and `pagefeed-fetcher extract` (the real binary, same
//! deadline) exits 1 naming it. Outcomes are asserted, not times: the
//! deadline is far below what the page needs.

mod support;

use std::time::Duration;

use pagefeed_events::event::Event;
use pagefeed_events::Config;
use pagefeed_testkit::config::{config_text, id_site};
use pagefeed_testkit::nats::NatsServer;
use pagefeed_testkit::nested_pages::nested_entries;
use pagefeed_testkit::streams::{jetstream_at, publish_tasks, stored_events};
use pagefeed_testkit::wait::wait_for;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use support::spawn_fetcher;

const SECTIONS: &str =
    "[fetcher]\nparse_deadline = \"1ms\"\nmax_attempts = 2\nretry_backoff = \"100ms\"\n";

/// A page at the body cap, in nests of a thousand entries.
fn big_page() -> String {
    nested_entries(5 * 1024 * 1024, 1000).0
}

/// Serves `page` to every request, on loopback, until the test ends.
async fn serve(page: String) -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/big?id={{id}}", listener.local_addr()?);
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{page}",
        page.len()
    );
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let response = response.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0_u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    Ok(url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crawl_past_the_deadline_ends_as_a_parse_timeout_failure() -> anyhow::Result<()> {
    pagefeed_testkit::logs::init_logs();
    let nats = NatsServer::start().await?;
    let url = serve(big_page()).await?;
    let text = config_text(
        &nats.url(),
        "",
        SECTIONS,
        &[id_site("big", &url, 1, 1, 1, "1h")],
    );
    let cfg = Config::parse(std::path::Path::new("test.toml"), &text)?;
    assert_eq!(cfg.fetcher.parse_deadline, Duration::from_millis(1));
    let js = jetstream_at(&nats.url()).await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;
    let fetcher = spawn_fetcher(cfg);
    publish_tasks(&js, "big", &url, [1], 0).await?;

    let failed = wait_for(Duration::from_secs(120), "the task to fail", || async {
        let events = stored_events(&js).await?;
        Ok(events.into_iter().find_map(|e| match e {
            Event::FetchFailed(f) => Some(f),
            _ => None,
        }))
    })
    .await?;
    assert_eq!(failed.reason, "parse_timeout", "{failed:?}");
    assert_eq!(
        failed.attempts, 1,
        "a parse timeout is not retried: {failed:?}"
    );
    assert!(failed.detail.contains("parse_deadline"), "{failed:?}");
    let events = stored_events(&js).await?;
    assert!(
        !events.iter().any(|e| matches!(e, Event::PageCrawled(_))),
        "{events:?}"
    );

    fetcher.stop().await?;
    Ok(())
}

#[tokio::test]
async fn the_extract_command_keeps_the_same_deadline() -> anyhow::Result<()> {
    let dir = TempDir::new()?;
    let config = dir.path().join("pagefeed.toml");
    let text = config_text(
        "nats://127.0.0.1:4222",
        "",
        SECTIONS,
        &[id_site(
            "big",
            "http://127.0.0.1:1/big?id={id}",
            1,
            1,
            1,
            "1h",
        )],
    );
    std::fs::write(&config, text)?;
    let page = dir.path().join("big.html");
    std::fs::write(&page, big_page())?;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_pagefeed-fetcher"))
        .args(["extract", "--site", "big", "--config"])
        .arg(&config)
        .arg("--file")
        .arg(&page)
        .env_remove("PAGEFEED_CONFIG")
        .output()
        .await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("parse_timeout"), "{stderr}");
    assert!(out.stdout.is_empty());
    Ok(())
}
