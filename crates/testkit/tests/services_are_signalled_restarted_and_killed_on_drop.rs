//! The testkit's handle on real processes, on the sample site binary: a
//! stopped process (SIGSTOP) answers nothing until it is continued, a killed
//! one (SIGKILL) ends by that signal, a restarted one answers again on the
//! same port, and dropping the handle kills what it started.

use std::os::unix::process::ExitStatusExt as _;
use std::time::Duration;

use pagefeed_testkit::services::Services;

const SITE: &str = env!("CARGO_BIN_EXE_pagefeed-sample-site");

async fn answers(client: &reqwest::Client, url: &str) -> bool {
    client
        .get(url)
        .timeout(Duration::from_millis(500))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

#[tokio::test]
async fn stop_cont_kill_restart_and_drop() -> anyhow::Result<()> {
    let client = pagefeed_testkit::projector_api::http_client();
    let mut system = Services::start().await?;
    let template = system.sample_site(SITE, &[]).await?;
    let page = template.replace("{id}", "1");
    assert!(answers(&client, &page).await);

    let site = &mut system["sample-site-1"];
    site.stop()?;
    assert!(!answers(&client, &page).await, "a stopped process answers");
    site.cont()?;
    assert!(answers(&client, &page).await, "a continued process answers");

    let status = site.kill()?;
    assert_eq!(status.signal(), Some(9), "{status}");
    assert!(!answers(&client, &page).await);
    site.restart()?;
    site.wait_ready(Duration::from_secs(20)).await?;
    assert!(answers(&client, &page).await, "restarted on the same port");
    assert!(site.log().contains("listening on"), "{}", site.log());

    let pid = site.pid();
    drop(system);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the process outlived the handle"
    );
    Ok(())
}
