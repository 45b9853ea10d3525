//! The sample site stops when told: `shutdown` cuts a slow body short
//! instead of waiting for it, and the binary exits cleanly on SIGTERM.

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use common::{count, get, raw_client, start_with};

#[tokio::test]
async fn shutdown_does_not_wait_for_a_slow_body() {
    let f = start_with(|o| o.slow_body = Duration::from_secs(120)).await;
    let mut resp = raw_client()
        .get(f.site.page_url(17))
        .send()
        .await
        .expect("GET");
    resp.chunk()
        .await
        .expect("first chunk")
        .expect("some bytes");
    let reader = tokio::spawn(async move {
        let mut outcome = Ok(());
        loop {
            match resp.chunk().await {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(err) => {
                    outcome = Err(err);
                    break;
                }
            }
        }
        outcome
    });
    let normal_page = f.site.page_url(42);
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), f.site.shutdown())
        .await
        .expect("shutdown within 10 s");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let outcome = tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .expect("the body ends")
        .expect("reader task");
    assert!(outcome.is_err(), "the cut body is reported as an error");
    // Nothing serves the page any more. (The freed port may already be
    // another process's: only a sample page would mean the site still runs.)
    let after = raw_client()
        .get(&normal_page)
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    let still_served = match after {
        Ok(resp) => resp
            .text()
            .await
            .is_ok_and(|body| body.contains("feedEntry")),
        Err(_) => false,
    };
    assert!(!still_served, "still serving after shutdown");
}

/// Kills the child if the test fails before it exits.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[tokio::test]
async fn binary_serves_until_sigterm() {
    let child = Command::new(env!("CARGO_BIN_EXE_pagefeed-sample-site"))
        .args(["--listen", "127.0.0.1:0", "--entry-period-secs", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the binary");
    let mut child = ChildGuard(child);
    let stdout = child.0.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the listening line");
    let base = line
        .trim()
        .strip_prefix("sample site listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(
        base.starts_with("http://127.0.0.1:") && !base.ends_with(":0"),
        "{base}"
    );

    let (status, _, body) = get(&format!("{base}/recent_page_feed?page_id=42")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        count(&String::from_utf8_lossy(&body), "class=\"feedEntry\""),
        20
    );

    let pid = child.0.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit status {status}");
}
