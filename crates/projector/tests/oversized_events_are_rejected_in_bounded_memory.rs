//! A publisher floods `PAGEFEED_EVENTS` with 300 entry events of 900 KiB
//! of text each (over the text limit, under the server's payload limit),
//! and one payload over `MAX_EVENT_BYTES` (the server here takes 2 MiB),
//! among valid events. The real `pagefeed-projector` binary catching up
//! from scratch rejects every one of them (its status counts them), applies
//! the valid ones, and its peak RSS (VmHWM) stays under 200 MB; so does
//! `pagefeed-projector rebuild` of the same stream, which ends with the
//! live node's digest. Before batches were bounded by bytes, a node
//! catching up held up to 10,000 such messages at once (412 MB here).

use std::process::ExitStatus;
use std::time::{Duration, Instant};

use pagefeed_events::event::EntryObserved;
use pagefeed_events::limits::MAX_EVENT_BYTES;
use pagefeed_events::Event;
use pagefeed_testkit::process::{Process, ServiceCommand};

mod node;
use node::{entries, http_client, publish, try_status, with_services, BIN};

const BIG_EVENTS: u32 = 300;
const BIG_TEXT: usize = 900 * 1024;
const RSS_LIMIT_KIB: u64 = 200 * 1000;

/// An entry whose text is `BIG_TEXT` bytes, over the text limit.
fn big_entry(n: u32) -> Event {
    let line = format!("flood {n}: 渋谷で大きなイベント ");
    let text: String = line.repeat(BIG_TEXT / line.len() + 1);
    Event::EntryObserved(EntryObserved {
        page: format!("sample.{}", n % 9 + 1).parse().expect("a page key"),
        id: format!("big{n:04}"),
        text,
        timestamp: None,
        link: None,
        observed_at: "2026-11-24T03:00:00Z".parse().expect("a time"),
        first_crawl: false,
    })
}

/// The VmHWM of process `pid`, in KiB; `None` once it has exited.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Polls until `process` exits (at most `timeout`), recording its VmHWM
/// every 20 ms: (exit status, highest VmHWM seen in KiB).
async fn wait_watching_rss(
    process: &mut Process,
    timeout: Duration,
) -> anyhow::Result<(ExitStatus, u64)> {
    let deadline = Instant::now() + timeout;
    let mut peak = 0;
    loop {
        if let Some(kib) = peak_rss_kib(process.pid()) {
            peak = peak.max(kib);
        }
        if let Some(status) = process.try_wait()? {
            return Ok((status, peak));
        }
        if Instant::now() > deadline {
            anyhow::bail!("still running after {timeout:?} (peak RSS so far {peak} KiB)");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_oversized_events_is_rejected_in_bounded_memory() -> anyhow::Result<()> {
    // A server that takes payloads over MAX_EVENT_BYTES, as one configured
    // with a larger max_payload would.
    let (mut system, _cfg, js) = with_services("max_payload: 2097152").await?;

    // Valid entries around every 30 big ones, and one payload over the
    // event limit, published by hand.
    let mut valid = 0;
    for chunk in 0..BIG_EVENTS / 30 {
        let small = entries(chunk + 1, 0, 5);
        valid += small.len() as u64;
        publish(&js, &small).await?;
        let big: Vec<Event> = (chunk * 30..(chunk + 1) * 30).map(big_entry).collect();
        publish(&js, &big).await?;
    }
    let huge = format!(
        r#"{{"v":1,"type":"entry_observed","page":"sample.1","id":"huge","text":"{}","timestamp":null,"link":null,"observed_at":"2026-11-24T03:00:00Z"}}"#,
        "x".repeat(MAX_EVENT_BYTES)
    );
    js.publish("pagefeed.events.entry_observed.sample.1", huge.into())
        .await?
        .await?;
    let tail = entries(9, 100, 5);
    valid += tail.len() as u64;
    let last = publish(&js, &tail).await?;
    let rejected = u64::from(BIG_EVENTS) + 1;

    // A node catching up from scratch.
    let n = system.projector(BIN, "n", &[])?;
    let http = n.http;
    let client = http_client();
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = peak_rss_kib(system[n.process.as_str()].pid()) {
            peak = peak.max(kib);
        }
        if let Some(status) = try_status(&client, http).await {
            if status.applied_seq >= last {
                break status;
            }
        }
        let node = &mut system[n.process.as_str()];
        anyhow::ensure!(
            node.try_wait()?.is_none(),
            "the node exited; peak RSS {peak} KiB; log:\n{}",
            node.log()
        );
        anyhow::ensure!(
            Instant::now() < deadline,
            "the node did not catch up in 180 s; peak RSS {peak} KiB"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    if let Some(kib) = peak_rss_kib(system[n.process.as_str()].pid()) {
        peak = peak.max(kib);
    }
    eprintln!("catching up: peak RSS {peak} KiB");
    assert!(
        peak < RSS_LIMIT_KIB,
        "the node's peak RSS was {peak} KiB catching up"
    );
    assert_eq!(status.applied_seq, last);
    assert_eq!(status.rejected, rejected, "{status:?}");
    assert_eq!(status.entries, valid, "{status:?}");
    let node = &mut system[n.process.as_str()];
    assert!(node.terminate(Duration::from_secs(20)).await?.success());

    // A rebuild of the same stream.
    let rebuild = ServiceCommand::new("rebuild", BIN)
        .arg("rebuild")
        .arg("--config")
        .arg(system.config_path())
        .arg("--data")
        .arg(&n.data)
        .args(["--node", "n"]);
    let rebuild = system.spawn(rebuild)?;
    let (exit, rebuild_peak) = wait_watching_rss(rebuild, Duration::from_secs(180)).await?;
    eprintln!("rebuild: peak RSS {rebuild_peak} KiB");
    assert!(exit.success(), "rebuild failed: {}", rebuild.log());
    assert!(rebuild_peak > 0, "VmHWM was read while the rebuild ran");
    assert!(
        rebuild_peak < RSS_LIMIT_KIB,
        "the rebuild's peak RSS was {rebuild_peak} KiB"
    );
    let rebuilt = node::digest_of(&n.data).await?;
    assert_eq!(rebuilt, (last, status.digest));
    Ok(())
}
