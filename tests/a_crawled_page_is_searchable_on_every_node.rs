//! The whole system as `scripts/run.sh` starts it, every part a real
//! process: nats-server, the sample site, a scheduler, two fetchers and two
//! projectors (nodes a and b, each with its HTTP API). Once a page's entries
//! are crawled, a word of one of them is found by `/api/entries?q=` on both
//! nodes, with the same entry ids, and both nodes' digests agree.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use pagefeed_events::Event;
use pagefeed_testkit::config::{config_text, id_site};
use pagefeed_testkit::projector_api::{http_client, wait_applied};
use pagefeed_testkit::sample_site::{page_kind, PageKind, ENTRIES_PER_PAGE};
use pagefeed_testkit::services::{workspace_bin, Node, Services};
use pagefeed_testkit::streams::{events_last_seq, stored_events, wait_tasks_settled};
use pagefeed_testkit::wait::wait_for;

const IDS: std::ops::RangeInclusive<u64> = 1..=3;

/// A word of `text` for a search: its first run of at least two letters
/// (no space, no punctuation), at most four characters of it.
fn word_of(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || c.is_ascii_punctuation() || "、。：！？".contains(c))
        .find(|run| run.chars().count() >= 2)
        .map(|run| run.chars().take(4).collect())
}

/// The ids of the entries node `node` finds for `word`.
async fn search(
    client: &reqwest::Client,
    node: &Node,
    word: &str,
) -> anyhow::Result<BTreeSet<String>> {
    let url = reqwest::Url::parse_with_params(
        &node.url("/api/entries"),
        [("q", word), ("limit", "1000")],
    )?;
    let body: serde_json::Value = client
        .get(url)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    anyhow::ensure!(
        body["partial"] == false && body["next"].is_null(),
        "one whole answer: {body}"
    );
    let entries = body["entries"].as_array().cloned().unwrap_or_default();
    Ok(entries
        .iter()
        .filter_map(|e| e["id"].as_str().map(str::to_owned))
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_word_of_a_crawled_entry_is_found_on_both_nodes() -> anyhow::Result<()> {
    let started = Instant::now();
    assert!(IDS.clone().all(|id| page_kind(id) == PageKind::Normal));
    let mut system = Services::start().await?;
    let template = system
        .sample_site(workspace_bin("pagefeed-sample-site"), &[])
        .await?;
    system.write_config(&config_text(
        &system.nats_url(),
        "",
        "",
        &[id_site(
            "sample",
            &template,
            *IDS.start(),
            *IDS.end(),
            3,
            "1s",
        )],
    ))?;
    let fetcher = workspace_bin("pagefeed-fetcher");
    let projector = workspace_bin("pagefeed-projector");
    let a = system.projector(&projector, "a", &[])?;
    let b = system.projector(&projector, "b", &[])?;
    system.fetcher(&fetcher, &[])?;
    system.fetcher(&fetcher, &[])?;
    system.scheduler(workspace_bin("pagefeed-scheduler"), &[])?;
    system.wait_ready(Duration::from_secs(30)).await?;
    let js = system.jetstream().await?;

    // A page's entries crawled: its record and its entries are in the log.
    let entries = wait_for(Duration::from_secs(60), "page sample.1 crawled", || async {
        let events = stored_events(&js).await?;
        let crawled = events
            .iter()
            .any(|e| matches!(e, Event::PageCrawled(p) if p.page.to_string() == "sample.1"));
        let entries: Vec<_> = events
            .into_iter()
            .filter_map(|e| match e {
                Event::EntryObserved(o) if o.page.to_string() == "sample.1" => Some(o),
                _ => None,
            })
            .collect();
        Ok((crawled && entries.len() == ENTRIES_PER_PAGE).then_some(entries))
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", system.log_tails(10)))?;

    // No more tasks: the log stops growing once the fetchers settle.
    let exit = system["scheduler-1"]
        .terminate(Duration::from_secs(20))
        .await?;
    assert!(
        exit.success(),
        "the scheduler stops cleanly on SIGTERM: {exit}"
    );
    wait_tasks_settled(&js, Duration::from_secs(60)).await?;
    let last = events_last_seq(&js).await?;
    let client = http_client();
    let status_a = wait_applied(&client, a.http, last, Duration::from_secs(60)).await?;
    let status_b = wait_applied(&client, b.http, last, Duration::from_secs(60)).await?;
    assert_eq!(
        (status_a.applied_seq, &status_a.digest),
        (status_b.applied_seq, &status_b.digest),
        "both nodes applied the whole log and agree"
    );
    assert!(status_a.entries >= ENTRIES_PER_PAGE as u64, "{status_a:?}");

    let entry = &entries[entries.len() / 2];
    let word = word_of(&entry.text).expect("a word in the entry's text");
    let found_a = search(&client, &a, &word).await?;
    let found_b = search(&client, &b, &word).await?;
    assert!(
        found_a.contains(&entry.id),
        "node a finds entry {} for {word:?}: {found_a:?}",
        entry.id
    );
    assert_eq!(
        found_a, found_b,
        "both nodes find the same entries for {word:?}"
    );
    eprintln!(
        "searched {word:?}: {} entries on each node; digest {}; {:?} in all",
        found_a.len(),
        status_a.digest,
        started.elapsed()
    );
    Ok(())
}
