//! The real `pagefeed-fetcher` binary: a bad config exits 2 naming the field,
//! and SIGTERM stops a running fetcher cleanly (exit 0).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pagefeed_testkit::config::{config_text, id_site};
use pagefeed_testkit::nats::NatsServer;

fn fetcher(config: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pagefeed-fetcher"));
    cmd.arg("--config")
        .arg(config)
        .env_remove("PAGEFEED_NATS_URL")
        .env_remove("PAGEFEED_CONFIG")
        .env("PAGEFEED_METRICS", "127.0.0.1:0")
        .stdin(Stdio::null());
    cmd
}

#[test]
fn a_bad_fetcher_setting_exits_2_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pagefeed.toml");
    let text = config_text(
        "nats://127.0.0.1:1",
        "",
        "[fetcher]\nper_host_concurrency = 0\n",
        &[id_site("sample", "http://127.0.0.1:1/{id}", 1, 2, 1, "1h")],
    );
    std::fs::write(&config, text).unwrap();
    let out = fetcher(&config).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("fetcher.per_host_concurrency"), "{stderr}");
    assert!(stderr.contains(&config.display().to_string()), "{stderr}");
}

#[test]
fn a_bad_cookie_exits_2_naming_the_site_and_field_but_not_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pagefeed.toml");
    let site = id_site("sample", "http://127.0.0.1:1/{id}", 1, 2, 1, "1h").replace(
        "[site.extract]",
        "cookies = { session = \"not valid; hunter2\" }\n[site.extract]",
    );
    let text = config_text("nats://127.0.0.1:1", "", "", &[site]);
    assert!(text.contains("hunter2"), "{text}");
    std::fs::write(&config, text).unwrap();
    let out = fetcher(&config).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("site \"sample\""), "{stderr}");
    assert!(stderr.contains("cookies.session"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[tokio::test]
async fn sigterm_stops_a_running_fetcher_cleanly() -> anyhow::Result<()> {
    let nats = NatsServer::start().await?;
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("pagefeed.toml");
    let text = config_text(
        &nats.url(),
        "",
        "",
        &[id_site("sample", "http://127.0.0.1:1/{id}", 1, 2, 1, "1h")],
    );
    std::fs::write(&config, text)?;
    let log = dir.path().join("fetcher.log");
    let mut child = fetcher(&config)
        .env("RUST_LOG", "info")
        .stderr(std::fs::File::create(&log)?)
        .spawn()?;
    // Running once it pulls tasks.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&log)?.contains("pulling tasks") {
        assert!(
            Instant::now() < deadline,
            "the fetcher never started pulling"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");
    assert!(std::fs::read_to_string(&log)?.contains("fetcher stopped"));
    Ok(())
}
