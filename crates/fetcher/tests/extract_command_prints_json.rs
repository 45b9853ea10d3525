//! `pagefeed-fetcher extract` (the real binary) prints what a site's selectors
//! extract from a saved page or a URL, as JSON; an unknown site exits 2 and
//! names the sites that exist; a page without entries exits 1.

use std::path::Path;
use std::process::Output;

use chrono::{DateTime, Utc};
use pagefeed_fetcher::http::{FetchSettings, HttpClient, Outcome, Validators};
use pagefeed_fetcher::policy::AddressPolicy;
use pagefeed_testkit::config::id_site;
use pagefeed_testkit::sample_site::{
    expected_entries, expected_title, PageKind, SampleSite, SampleSiteOptions,
};
use tempfile::TempDir;

fn config_text(url_template: &str) -> String {
    id_site("sample", url_template, 1, 500, 100, "10s")
}

async fn run(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_pagefeed-fetcher"))
        .args(args)
        .env_remove("PAGEFEED_CONFIG")
        .output()
        .await
        .expect("run pagefeed-fetcher")
}

/// `pagefeed-fetcher extract --config CONFIG --site SITE` and `rest`.
async fn extract(config: &Path, site: &str, rest: &[&str]) -> Output {
    let mut args = vec!["extract", "--config", path(config), "--site", site];
    args.extend_from_slice(rest);
    run(&args).await
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

#[tokio::test]
async fn extract_prints_the_entries_of_a_saved_page_as_json() {
    // Pinned at the real time, so the year the binary infers is right.
    let now_unix = Utc::now().timestamp();
    let opts = SampleSiteOptions::at(now_unix);
    let site = SampleSite::start("127.0.0.1:0".parse().unwrap(), opts.clone())
        .await
        .unwrap();
    let dir = TempDir::new().unwrap();
    let config = dir.path().join("pagefeed.toml");
    std::fs::write(&config, config_text(&site.url_template())).unwrap();

    let id = 42;
    let client = HttpClient::new(
        FetchSettings::default(),
        AddressPolicy::allowing(["127.0.0.0/8".parse().unwrap()]),
    )
    .unwrap();
    let Outcome::Fetched(page) = client
        .fetch(&site.page_url(id), &Validators::default())
        .await
        .unwrap()
    else {
        panic!("unexpected 304");
    };
    let saved = dir.path().join("page.html");
    std::fs::write(&saved, &page.body).unwrap();

    let out = extract(
        &config,
        "sample",
        &["--file", path(&saved), "--base-url", &site.page_url(id)],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let expected = expected_entries(id, now_unix, &opts);
    assert_eq!(json["site"], "sample");
    assert_eq!(json["url"], site.page_url(id));
    assert_eq!(json["status"], serde_json::Value::Null);
    assert_eq!(json["encoding"], "UTF-8");
    assert_eq!(json["count"], 20);
    assert_eq!(json["title"], expected_title(id));
    let first = &json["entries"][0];
    assert_eq!(first["text"], expected[0].text.as_str());
    assert_eq!(
        first["link"],
        format!("{}{}", site.base_url(), expected[0].href)
    );
    let minute = expected[0].posted_at - expected[0].posted_at.rem_euclid(60);
    let shown: DateTime<Utc> = first["timestamp"].as_str().unwrap().parse().unwrap();
    assert_eq!(shown.timestamp(), minute);
    assert_eq!(first["id"].as_str().map(str::len), Some(32));
    assert_eq!(json["entries"].as_array().map(Vec::len), Some(20));

    // Without --base-url, links resolve against the file itself.
    let out = extract(&config, "sample", &["--file", path(&saved)]).await;
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["entries"][0]["link"],
        format!("file://{}", expected[0].href)
    );

    // --url fetches the page itself.
    let out = extract(
        &config,
        "sample",
        &["--url", &site.page_url(PageKind::ShiftJis.first_id())],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["status"], 200);
    assert_eq!(json["encoding"], "Shift_JIS");
    assert_eq!(json["title"], expected_title(PageKind::ShiftJis.first_id()));
    site.shutdown().await;
}

#[tokio::test]
async fn failures_exit_with_a_message() {
    let site = SampleSite::start("127.0.0.1:0".parse().unwrap(), SampleSiteOptions::default())
        .await
        .unwrap();
    let dir = TempDir::new().unwrap();
    let config = dir.path().join("pagefeed.toml");
    std::fs::write(&config, config_text(&site.url_template())).unwrap();

    // An unknown site: 2, naming the sites there are.
    let out = extract(&config, "nope", &["--url", "http://x/"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("nope") && stderr.contains("sample"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());

    // A page without entries: 1, saying why.
    let shell = site.page_url(PageKind::NoEntries.first_id());
    let out = extract(&config, "sample", &["--url", &shell]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no_entries") && stderr.contains("JavaScript"),
        "{stderr}"
    );

    // An HTTP error: 1, with the status.
    let missing = site.page_url(PageKind::NotFound.first_id());
    let out = extract(&config, "sample", &["--url", &missing]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("404"), "{stderr}");

    // Both --url and --file, or neither: a usage error.
    let out = extract(&config, "sample", &[]).await;
    assert_eq!(out.status.code(), Some(2));
    let out = extract(&config, "sample", &["--url", "http://x/", "--file", "y"]).await;
    assert_eq!(out.status.code(), Some(2));

    // The crawling mode refuses a concurrency of zero before connecting.
    let out = run(&["--config", path(&config), "--concurrency", "0"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--concurrency"), "{stderr}");
    site.shutdown().await;
}
