//! A node whose disk fills up stops applying, says so in its status and
//! metrics (its `/readyz` answers 503), keeps answering reads, and once
//! space is back catches up by itself to the same state as a node that
//! never stalled. Its data dir is a real small filesystem (a tmpfs
//! mounted for the test: this needs root).

mod node;

use std::process::Command;
use std::time::Duration;

use anyhow::Context as _;
use node::{entries, http_client, page_events, publish, stream_last_seq, with_streams, Node};
use pagefeed_testkit::tmpfs::{fill, Tmpfs};
use pagefeed_testkit::wait::wait_for;

/// The status code and body of `path` (`/healthz`, `/readyz`).
async fn readyz(
    client: &reqwest::Client,
    node: &Node,
    path: &str,
) -> anyhow::Result<(u16, String)> {
    let resp = client
        .get(format!("http://{}{path}", node.http))
        .timeout(Duration::from_secs(10))
        .send()
        .await?;
    Ok((resp.status().as_u16(), resp.text().await?))
}

async fn status_json(client: &reqwest::Client, node: &Node) -> anyhow::Result<serde_json::Value> {
    Ok(client
        .get(format!("http://{}/api/status", node.http))
        .timeout(Duration::from_secs(5))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

async fn metrics(client: &reqwest::Client, node: &Node) -> anyhow::Result<String> {
    Ok(client
        .get(format!("http://{}/metrics", node.http))
        .timeout(Duration::from_secs(5))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?)
}

/// The value of the sample `name` in `text` (OpenMetrics, one node label).
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(&format!("{name}{{")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stalls_the_node_and_it_resumes() -> anyhow::Result<()> {
    let small = tempfile::tempdir()?;
    let _tmpfs = match Tmpfs::mount(small.path(), "8m") {
        Ok(mounted) => mounted,
        Err(why) => {
            eprintln!("SKIPPED: this test mounts a tmpfs and needs root: {why}");
            return Ok(());
        }
    };
    let roomy = tempfile::tempdir()?;
    let (_nats, cfg, js) = with_streams().await?;
    let client = http_client();

    let full = Node::start(&cfg, &small.path().join("data"), "full")?;
    let fine = Node::start(&cfg, roomy.path(), "fine")?;
    let seq = publish(&js, &page_events(1, 20)).await?;
    full.wait_applied(&client, seq, Duration::from_secs(30))
        .await?;

    // The disk fills up; the events keep coming until a commit fails.
    let filler = small.path().join("filler");
    fill(&filler)?;
    let mut round = 0u32;
    let last_status = std::sync::Mutex::new(serde_json::Value::Null);
    let stalled = wait_for(Duration::from_secs(60), "the full node to stall", || {
        round += 1;
        let (js, client, full, last_status) = (&js, &client, &full, &last_status);
        let round = round;
        async move {
            publish(js, &entries(2, round * 300, 300)).await?;
            let status = status_json(client, full).await?;
            *last_status.lock().unwrap() = status.clone();
            Ok((status["applying"] == "stalled").then_some(status))
        }
    })
    .await
    .with_context(|| {
        let df = Command::new("df").arg(small.path()).output();
        format!(
            "last status: {}; node running: {}; {}",
            last_status.lock().unwrap(),
            full.is_running(),
            df.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        )
    })?;
    eprintln!("stalled: {stalled}");
    let error = stalled["apply_error"].as_str().unwrap_or_default();
    assert!(!error.is_empty(), "the status says why: {stalled}");
    assert!(full.is_running(), "a full disk does not end the node");
    let text = metrics(&client, &full).await?;
    assert_eq!(
        sample(&text, "pagefeed_projector_apply_stalled"),
        Some(1.0),
        "{text}"
    );
    assert!(
        sample(&text, "pagefeed_projector_failed_commits_total").unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    // Alive, not ready: a load balancer sends its reads elsewhere.
    assert_eq!(readyz(&client, &full, "/healthz").await?.0, 200);
    let (code, why) = readyz(&client, &full, "/readyz").await?;
    assert_eq!(code, 503, "{why}");
    assert!(why.contains("applying is stalled"), "{why}");

    // Reads go on while it is stalled.
    wait_for(
        Duration::from_secs(10),
        "a read of the stalled node",
        || async {
            let resp = client
                .get(format!("http://{}/api/pages/sample.1", full.http))
                .timeout(Duration::from_secs(5))
                .send()
                .await?;
            Ok(resp.status().is_success().then_some(()))
        },
    )
    .await?;
    // More events while the disk is full: retried (a batch may still fit
    // in the file's own free pages), never the end of the node.
    publish(&js, &entries(3, 0, 50)).await?;
    assert!(full.is_running());

    // Space comes back: it catches up by itself.
    std::fs::remove_file(&filler)?;
    let last = publish(&js, &page_events(4, 5)).await?;
    assert_eq!(last, stream_last_seq(&js).await?);
    let caught_up = wait_for(
        Duration::from_secs(60),
        "the full node to catch up",
        || async {
            let status = status_json(&client, &full).await?;
            let done = status["applied_seq"] == last && status["applying"] == "ok";
            Ok(done.then_some(status))
        },
    )
    .await?;
    assert!(caught_up["apply_error"].is_null(), "{caught_up}");
    let text = metrics(&client, &full).await?;
    assert_eq!(sample(&text, "pagefeed_projector_apply_stalled"), Some(0.0));
    let (code, why) = readyz(&client, &full, "/readyz").await?;
    assert_eq!(code, 200, "ready again once caught up: {why}");
    fine.wait_applied(&client, last, Duration::from_secs(30))
        .await?;

    // Nothing lost: the same state as the node that never stalled.
    let full = full.stop().await?;
    let fine = fine.stop().await?;
    assert_eq!(full, fine, "(applied seq, digest) of the two nodes");
    assert_eq!(full.0, last);
    // And the file that went through it agrees with itself, row by row.
    let checked = pagefeed_projector::checked_digest(&small.path().join("data")).await?;
    assert_eq!(checked, full);
    Ok(())
}
