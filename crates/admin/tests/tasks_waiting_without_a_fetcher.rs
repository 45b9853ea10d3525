//! With no fetcher running, the tasks a real scheduler publishes wait in
//! `PAGEFEED_TASKS`: `pagefeed-admin tasks` counts them per site and shows
//! the oldest, read without consuming anything. Before any service ran,
//! the commands say the streams are missing; with NATS unreachable they
//! say so, without the credentials of the URL.

mod support;

use std::time::Duration;

use pagefeed_events::subject::TASKS_STREAM;
use pagefeed_testkit::config::{config_text, id_site};
use pagefeed_testkit::nats::free_port;
use pagefeed_testkit::services::{workspace_bin, Services};
use pagefeed_testkit::streams::stored;
use pagefeed_testkit::wait::wait_for;
use support::admin;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_counts_what_no_fetcher_took() -> anyhow::Result<()> {
    let mut system = Services::start().await?;
    let url = system.nats_url();

    // Nothing has run yet.
    let status = admin(&["--nats-url", &url, "status", "--json"])
        .await
        .json();
    for stream in status["streams"].as_array().unwrap() {
        assert_eq!(stream["exists"], false, "{status}");
    }
    assert!(status["fetchers"].is_null(), "{status}");
    let tasks = admin(&["--nats-url", &url, "tasks"]).await;
    assert_eq!(tasks.code, Some(1), "{tasks:?}");
    assert!(
        tasks
            .stderr
            .contains("stream PAGEFEED_TASKS does not exist yet"),
        "{tasks:?}"
    );
    let nodes = admin(&["--nats-url", &url, "nodes"]).await;
    assert_eq!(nodes.code, Some(1), "{nodes:?}");
    assert!(
        nodes.stderr.contains("PAGEFEED_EVENTS does not exist yet"),
        "{nodes:?}"
    );

    // A scheduler publishes one tick of two sites; nobody fetches.
    let site_url = "http://127.0.0.1:9/page?id={id}";
    system.write_config(&config_text(
        &url,
        "",
        "",
        &[
            id_site("sample", site_url, 1, 5, 5, "1h"),
            id_site("other", site_url, 1, 2, 2, "1h"),
        ],
    ))?;
    system.scheduler(workspace_bin("pagefeed-scheduler"), &[])?;
    let js = system.jetstream().await?;
    wait_for(Duration::from_secs(30), "seven tasks queued", || async {
        let Ok(stream) = js.get_stream(TASKS_STREAM).await else {
            return Ok(None);
        };
        Ok((stream.get_info().await?.state.messages == 7).then_some(()))
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", system.log_tails(10)))?;
    let exit = system["scheduler-1"]
        .terminate(Duration::from_secs(20))
        .await?;
    assert!(exit.success(), "{exit}");
    let queued = stored(&js, TASKS_STREAM).await?;
    assert_eq!(queued.len(), 7);

    let config = system.config_path().to_string_lossy().into_owned();
    let tasks = admin(&["--config", &config, "tasks", "--oldest", "3", "--json"])
        .await
        .json();
    assert_eq!(tasks["total"], 7, "{tasks}");
    assert!(
        tasks["in_flight"].is_null(),
        "no fetcher, no consumer: {tasks}"
    );
    assert_eq!(
        tasks["by_site"],
        serde_json::json!([{"site": "other", "tasks": 2}, {"site": "sample", "tasks": 5}])
    );
    let oldest = tasks["oldest"].as_array().unwrap();
    assert_eq!(oldest.len(), 3, "{tasks}");
    for (shown, stored) in oldest.iter().zip(&queued) {
        assert_eq!(shown["seq"], stored.seq);
        assert_eq!(
            format!("pagefeed.tasks.{}", shown["page"].as_str().unwrap()),
            stored.subject
        );
        assert_eq!(shown["requeues"], 0);
    }
    assert!(
        tasks["oldest_age_secs"].as_u64().is_some_and(|s| s < 600),
        "{tasks}"
    );
    // Nothing was consumed by looking.
    assert_eq!(stored(&js, TASKS_STREAM).await?.len(), 7);
    let table = admin(&["--nats-url", &url, "tasks"]).await;
    assert!(table.stdout.contains("7 tasks queued"), "{table:?}");

    // NATS unreachable: a clear error, exit 1, the password not shown.
    let nowhere = format!("nats://admin:s3cret-pw@127.0.0.1:{}", free_port()?);
    let down = admin(&["--nats-url", &nowhere, "--timeout", "1s", "status"]).await;
    assert_eq!(down.code, Some(1), "{down:?}");
    assert!(down.stderr.contains("cannot connect to NATS"), "{down:?}");
    assert!(
        !down.stderr.contains("s3cret-pw") && !down.stdout.contains("s3cret-pw"),
        "{down:?}"
    );
    // A bad flag is refused before anything: exit 2.
    let bad = admin(&["--nats-url", &url, "events", "--page", "not a key"]).await;
    assert_eq!(bad.code, Some(2), "{bad:?}");
    let half = admin(&["--nats-url", &url, "--nats-user", "operator", "status"]).await;
    assert_eq!(half.code, Some(2), "{half:?}");
    assert!(half.stderr.contains("needs a password"), "{half:?}");
    Ok(())
}
