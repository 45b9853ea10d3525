//! `pagefeed-projector rebuild`, the real binary: it replays the stream into
//! a fresh file that replaces whatever the node had (here a file holding
//! events the stream never had), prints plain progress lines when stderr is
//! not a terminal, ends at the stream's last sequence with the digest of a
//! node that replicated all along, and leaves the node's consumer right after
//! it. A node whose projector is running is refused, its file untouched.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use pagefeed_events::event::{FetchFailed, Retention};
use pagefeed_events::publish::Outgoing;
use pagefeed_events::subject::EVENTS_STREAM;
use pagefeed_events::Event;
use pagefeed_projector::store::{Logged, Store};
use pagefeed_projector::store_path;
use pagefeed_testkit::wait::wait_for;

mod node;
use node::{page_events, publish, publish_unreadable, run_until_applied, with_services, BIN};

fn rebuild_command(config: &Path, data: &Path, node: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("rebuild")
        .arg("--config")
        .arg(config)
        .arg("--data")
        .arg(data)
        .args(["--node", node]);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_replays_the_stream_into_a_fresh_file() -> anyhow::Result<()> {
    let (system, cfg, js) = with_services("").await?;
    let (config, dirs) = (system.config_path(), system.dir());
    let mut events = Vec::new();
    for page in 1..=30 {
        events.extend(page_events(page, 40));
    }
    let last = publish(&js, &events).await?;

    // A node that replicated all along.
    let all_along = dirs.join("all-along");
    run_until_applied(&cfg, &all_along, "all-along", last).await?;
    let expected = Store::open(&store_path(&all_along))?.digest()?;

    // The node to rebuild holds a stale file the stream knows nothing of.
    let b = dirs.join("b");
    std::fs::create_dir_all(&b)?;
    {
        let stale = Store::open(&store_path(&b))?;
        let junk: Vec<Vec<u8>> = page_events(99, 3).iter().map(|e| e.encode()).collect();
        let batch: Vec<Logged> = junk
            .iter()
            .enumerate()
            .map(|(i, p)| Logged {
                seq: i as u64 + 1,
                published: chrono::Utc::now(),
                payload: p.as_slice(),
            })
            .collect();
        stale.apply_batch(&batch)?;
    }

    let out = tokio::task::spawn_blocking({
        let (config, b) = (config.to_owned(), b.clone());
        move || rebuild_command(&config, &b, "b").output()
    })
    .await??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stdout.contains(&format!("applied_seq {last} (stream 1..{last})")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("digest {}", expected.1)),
        "{stdout}"
    );
    let line = format!("rebuild: {last}/{last} events (100%)");
    assert!(stderr.contains(&line), "no plain progress line: {stderr}");

    let rebuilt = Store::open(&store_path(&b))?;
    assert_eq!(rebuilt.digest()?, expected);
    assert_eq!(
        rebuilt.counts()?.entries,
        30 * 40,
        "the stale entries are gone"
    );
    assert!(rebuilt.page("sample.99")?.is_none());
    drop(rebuilt);
    assert!(!b.join("pagefeed.redb.rebuild").exists());

    // The node's consumer now starts right after the rebuilt file.
    let stream = js.get_stream(EVENTS_STREAM).await?;
    let mut consumer: async_nats::jetstream::consumer::PullConsumer = stream
        .get_consumer("projector-b")
        .await
        .map_err(anyhow::Error::from_boxed)?;
    let info = consumer.info().await?;
    assert_eq!(info.num_pending, 0, "{info:?}");
    assert_eq!(info.delivered.stream_sequence, last, "{info:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_node_is_not_rebuilt_under_its_feet() -> anyhow::Result<()> {
    let (mut system, _cfg, js) = with_services("").await?;
    publish(&js, &page_events(1, 5)).await?;

    let node = system.projector(BIN, "running", &[])?;
    system.wait_ready(Duration::from_secs(30)).await?;
    let data = node.data.clone();
    wait_for(Duration::from_secs(30), "the node's file", || async {
        Ok(store_path(&data).exists().then_some(()))
    })
    .await?;

    let out = tokio::task::spawn_blocking({
        let (config, data) = (system.config_path().to_owned(), data.clone());
        move || rebuild_command(&config, &data, "running").output()
    })
    .await??;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is a projector running on"), "{stderr}");
    assert!(!data.join("pagefeed.redb.rebuild").exists());

    let exit = system[node.process.as_str()]
        .terminate(Duration::from_secs(20))
        .await?;
    assert!(exit.success(), "the node was left running: {exit}");
    Ok(())
}

/// A rebuild decodes its batches on one thread while another applies the
/// one before (the pipeline of `rebuild.rs`): over several batches and
/// every kind of event (entries, pages, entries seen again with a new text,
/// a fetch failure, a retention, payloads it cannot apply), the rebuilt
/// file has the digest of a node that replicated all along, and answers
/// searches and page lists as that node does (every index is kept).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipelined_rebuild_equals_a_live_node() -> anyhow::Result<()> {
    let (system, cfg, js) = with_services("").await?;
    let (config, dirs) = (system.config_path(), system.dir());
    // 25,000 entries: three batches of the rebuild at least.
    let mut events = Vec::new();
    for page in 1..=50 {
        events.extend(page_events(page, 500));
    }
    publish(&js, &events).await?;
    publish_unreadable(&js).await?;
    // Entries seen again with a new text (moved in the search index), a
    // page whose fetch failed, and a retention that deletes nothing.
    let again: Vec<Event> = page_events(7, 30)
        .into_iter()
        .filter_map(|e| match e {
            Event::EntryObserved(mut e) => {
                e.text = format!("{} 書き直し", e.text);
                e.observed_at = "2026-11-24T04:00:00Z".parse().ok()?;
                Some(Event::EntryObserved(e))
            }
            _ => None,
        })
        .collect();
    // Without their message ids, which JetStream would take for duplicates.
    for event in &again {
        let out = Outgoing::from(event);
        js.publish(out.subject.clone(), out.payload.clone())
            .await?
            .await?;
    }
    let failed = Event::FetchFailed(FetchFailed {
        page: "sample.8".parse()?,
        url: "http://127.0.0.1:9/8".into(),
        failed_at: "2026-11-24T05:00:00Z".parse()?,
        reason: "timeout".into(),
        detail: "no answer".into(),
        status: None,
        attempts: 1,
    });
    let retention = Event::Retention(Retention {
        site: "sample".into(),
        cutoff: "2020-01-01T00:00:00Z".parse()?,
        keep_secs: 86_400,
        except: Vec::new(),
    });
    let last = publish(&js, &[failed, retention]).await?;

    let all_along = dirs.join("all-along");
    run_until_applied(&cfg, &all_along, "all-along", last).await?;
    let r = dirs.join("r");
    let out = tokio::task::spawn_blocking({
        let (config, r) = (config.to_owned(), r.clone());
        move || rebuild_command(&config, &r, "r").output()
    })
    .await??;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let live = Store::open(&store_path(&all_along))?;
    let rebuilt = Store::open(&store_path(&r))?;
    assert_eq!(rebuilt.digest()?, live.digest()?);
    assert_eq!(rebuilt.counts()?, live.counts()?);
    assert_eq!(live.counts()?.entries, 50 * 500);
    assert_eq!(rebuilt.counts()?.rejected, 2);
    for query in ["渋谷", "書き直し", "日記49", "ページ7の", "今", "x"] {
        let (found, expected) = (rebuilt.search(query, 100)?, live.search(query, 100)?);
        assert_eq!(found, expected, "search {query:?}");
    }
    assert_eq!(rebuilt.search("書き直し", 100)?.len(), 30);
    assert_eq!(rebuilt.pages()?, live.pages()?);
    Ok(())
}
