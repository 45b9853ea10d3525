//! The real `pagefeed-projector` binary is killed with SIGKILL while it
//! applies a long stream (48,000 entry events: once it has committed some
//! and had time to sync one of its commits to disk, long before the end, so
//! the kill lands among write transactions), then started again on the same
//! data dir: it resumes from what its file holds (its last synced commit:
//! the unsynced ones after it are rolled back whole), reaches the stream's
//! end, stops cleanly on SIGTERM, and its digest equals a node that was
//! never killed; every entry is stored once.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use pagefeed_events::publish::{publish_all, Outgoing};
use pagefeed_testkit::wait::wait_for;
use tokio_util::sync::CancellationToken;

mod node;
use node::{entries, http_client, stream_last_seq, try_status, wait_applied, with_services, BIN};

const PAGES: u32 = 12;
const PER_PAGE: u32 = 4_000;
const CHUNK: usize = 2_000;
/// The node's `--sync-every`: short, so that the kill lands after a synced
/// commit and among unsynced ones, long before the end of the stream.
const SYNC_EVERY: Duration = Duration::from_millis(100);

/// `pagefeed-projector digest --data DIR`: (applied sequence, digest).
fn digest_command(data: &Path) -> anyhow::Result<(u64, String)> {
    let out = Command::new(BIN)
        .args(["digest", "--data"])
        .arg(data)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "digest failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut seq = None;
    let mut digest = None;
    for line in stdout.lines() {
        match line.split_once(' ') {
            Some(("applied_seq", v)) => seq = Some(v.parse()?),
            Some(("digest", v)) => digest = Some(v.to_owned()),
            _ => anyhow::bail!("unexpected digest output {stdout:?}"),
        }
    }
    match (seq, digest) {
        (Some(seq), Some(digest)) => Ok((seq, digest)),
        _ => anyhow::bail!("incomplete digest output {stdout:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_apply_resumes_and_equals_one_never_killed() -> anyhow::Result<()> {
    let (mut system, cfg, js) = with_services("").await?;
    for page in 1..=PAGES {
        // In chunks: the JetStream context lets 5,000 acks be pending, and
        // publish_all sends a whole call's messages before awaiting any ack.
        for chunk in entries(page, 0, PER_PAGE).chunks(CHUNK) {
            let msgs: Vec<Outgoing> = chunk.iter().map(Outgoing::from).collect();
            publish_all(&js, &msgs, &CancellationToken::new()).await?;
        }
    }
    let last = stream_last_seq(&js).await?;
    let published = u64::from(PAGES * PER_PAGE);
    assert_eq!(last, published);

    let node = system.projector(
        BIN,
        "killed",
        &["--sync-every", &format!("{}ms", SYNC_EVERY.as_millis())],
    )?;
    let (data, http) = (node.data.clone(), node.http);
    let client = http_client();
    let seen = wait_for(
        Duration::from_secs(60),
        "the projector to commit its first batches",
        || async {
            Ok(try_status(&client, http)
                .await
                .filter(|s| s.applied_seq > 0))
        },
    )
    .await?;
    // The first commit that starts SYNC_EVERY after the node opened its file
    // is synced, if none was before. Of the commits seen after the sleep,
    // the second began after the first was visible, so after the sleep: the
    // file holds a synced commit, though not necessarily the latest.
    tokio::time::sleep(SYNC_EVERY).await;
    let mut synced = try_status(&client, http)
        .await
        .map_or(seen.applied_seq, |s| s.applied_seq);
    for _ in 0..2 {
        let before = synced;
        synced = wait_for(Duration::from_secs(60), "the next commit", || async {
            Ok(try_status(&client, http)
                .await
                .map(|s| s.applied_seq)
                .filter(|&seq| seq > before))
        })
        .await?;
    }
    let killed = system[node.process.as_str()].kill()?;
    assert!(!killed.success(), "SIGKILLed, not exited: {killed}");
    assert!(synced < last, "killed mid-way: {synced} of {last}");
    let (committed, _) = digest_command(&data)?;
    assert!(
        0 < committed && committed < last,
        "the file holds part of the stream ({committed} of {last})"
    );

    system[node.process.as_str()].restart()?;
    let done = wait_applied(&client, http, last, Duration::from_secs(120)).await?;
    assert_eq!(done.applied_seq, last);
    assert_eq!(done.entries, published, "every entry stored once");
    assert_eq!(done.rejected, 0);
    let exit = system[node.process.as_str()]
        .terminate(Duration::from_secs(20))
        .await?;
    assert!(exit.success(), "SIGTERM is a clean stop: {exit}");
    let (applied, digest) = digest_command(&data)?;
    assert_eq!(applied, last);

    let never_killed = system.dir().join("never-killed");
    node::run_until_applied(&cfg, &never_killed, "never-killed", last).await?;
    let (reference_seq, reference) = node::digest_of(&never_killed).await?;
    assert_eq!(reference_seq, last);
    assert_eq!(digest, reference, "the killed node equals one never killed");
    Ok(())
}
