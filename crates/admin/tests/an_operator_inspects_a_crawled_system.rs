//! A whole system as real processes (nats-server, the sample site, a
//! scheduler, a fetcher, projectors a and b) crawls three pages; a
//! notification destination has its consumer. The real `pagefeed-admin`
//! binary then reports what they did: `status` counts what the streams hold
//! and lists every consumer, `nodes` shows both nodes caught up, `events`
//! gives one page's newest events and nothing else, `fetch-state` the
//! page's validators; `retire` removes a stopped node's consumer and
//! nothing else, and refuses a name that is no node.

mod support;

use std::time::Duration;

use async_nats::jetstream;
use pagefeed_events::config::{Notify, NotifyTarget};
use pagefeed_events::streams::{
    ensure_notify_consumer, notify_consumer, FETCHERS_CONSUMER, FETCH_STATE_BUCKET,
};
use pagefeed_events::subject::{EVENTS_STREAM, TASKS_STREAM};
use pagefeed_testkit::config::{config_text, id_site};
use pagefeed_testkit::projector_api::{http_client, wait_applied};
use pagefeed_testkit::sample_site::ENTRIES_PER_PAGE;
use pagefeed_testkit::services::{workspace_bin, Services};
use pagefeed_testkit::streams::{events_last_seq, stored, wait_tasks_settled};
use pagefeed_testkit::wait::wait_for;
use serde_json::Value;
use support::admin;

/// The entry of `list` whose `field` is `name`.
fn named<'a>(list: &'a Value, field: &str, name: &str) -> Option<&'a Value> {
    list.as_array()?.iter().find(|v| v[field] == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_reports_what_the_system_did() -> anyhow::Result<()> {
    let mut system = Services::start().await?;
    let template = system
        .sample_site(workspace_bin("pagefeed-sample-site"), &[])
        .await?;
    system.write_config(&config_text(
        &system.nats_url(),
        "",
        "",
        &[id_site("sample", &template, 1, 3, 3, "1s")],
    ))?;
    let config = system.config_path().to_string_lossy().into_owned();
    let url = system.nats_url();
    let projector = workspace_bin("pagefeed-projector");
    let a = system.projector(&projector, "a", &[])?;
    let b = system.projector(&projector, "b", &[])?;
    system.fetcher(workspace_bin("pagefeed-fetcher"), &[])?;
    system.scheduler(workspace_bin("pagefeed-scheduler"), &[])?;
    system.wait_ready(Duration::from_secs(30)).await?;
    let js = system.jetstream().await?;

    // A destination's consumer, as a notifier creates it.
    let hook = Notify {
        name: "hook".to_owned(),
        site: None,
        target: NotifyTarget::Webhook {
            url: "http://127.0.0.1:9/hook".to_owned(),
        },
    };
    wait_for(Duration::from_secs(30), "the notify consumer", || async {
        let want = notify_consumer(&hook, Duration::from_secs(30), 100, None);
        Ok(ensure_notify_consumer(&js, want).await.ok().map(|_| ()))
    })
    .await?;

    // Every page crawled: three fetch states written; then no more tasks.
    wait_for(Duration::from_secs(60), "three pages crawled", || async {
        let Ok(kv) = js.get_key_value(FETCH_STATE_BUCKET).await else {
            return Ok(None);
        };
        let mut crawled = 0;
        for id in 1..=3 {
            crawled += usize::from(kv.get(format!("sample.{id}")).await?.is_some());
        }
        Ok((crawled == 3).then_some(()))
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", system.log_tails(10)))?;
    let exit = system["scheduler-1"]
        .terminate(Duration::from_secs(20))
        .await?;
    assert!(exit.success(), "{exit}");
    wait_tasks_settled(&js, Duration::from_secs(60)).await?;
    let last = events_last_seq(&js).await?;
    let client = http_client();
    wait_applied(&client, a.http, last, Duration::from_secs(60)).await?;
    wait_applied(&client, b.http, last, Duration::from_secs(60)).await?;

    // `status`, through the config file: the numbers the streams give.
    let status = admin(&["--config", &config, "status", "--json"])
        .await
        .json();
    let events_info = js.get_stream(EVENTS_STREAM).await?.get_info().await?.state;
    let events = named(&status["streams"], "name", EVENTS_STREAM).expect("events stream");
    assert_eq!(events["exists"], true);
    assert_eq!(events["messages"], events_info.messages, "{status}");
    assert_eq!(events["bytes"], events_info.bytes, "{status}");
    assert_eq!(events["first_seq"], events_info.first_sequence);
    assert_eq!(events["last_seq"], last);
    let tasks = named(&status["streams"], "name", TASKS_STREAM).expect("tasks stream");
    assert_eq!(tasks["messages"], 0, "every task acked: {status}");
    assert!(tasks["last_seq"].as_u64() >= Some(3), "{status}");
    assert_eq!(status["fetchers"]["name"], FETCHERS_CONSUMER);
    assert_eq!(status["fetchers"]["pending"], 0, "{status}");
    assert_eq!(status["fetchers"]["ack_pending"], 0, "{status}");
    assert_eq!(
        status["fetch_state"]["keys"], 3,
        "one key per page: {status}"
    );
    // The sample site is one host: one robots.txt cached.
    assert_eq!(status["robots"]["keys"], 1, "one key per host: {status}");
    assert!(named(&status["streams"], "name", "KV_pagefeed_robots").is_some());
    assert!(named(&status["nodes"], "node", "a").is_some(), "{status}");
    assert!(named(&status["nodes"], "node", "b").is_some(), "{status}");
    let notifier = named(&status["notifiers"], "name", "notify-hook").expect("notify-hook");
    assert_eq!(notifier["stream"], EVENTS_STREAM);

    // `nodes`: both caught up with the whole log.
    let nodes = wait_for(Duration::from_secs(30), "both nodes at lag 0", || async {
        let nodes = admin(&["--nats-url", &url, "nodes", "--json"]).await.json();
        let caught_up = ["a", "b"].iter().all(|n| {
            named(&nodes, "node", n)
                .is_some_and(|node| node["lag"] == 0 && node["position"] == last)
        });
        Ok(caught_up.then_some(nodes))
    })
    .await?;
    assert_eq!(nodes.as_array().map(Vec::len), Some(2), "{nodes}");
    // No acks taken: the ack floor follows the deliveries.
    assert_eq!(named(&nodes, "node", "a").unwrap()["ack_floor_seq"], last);
    assert_eq!(
        named(&nodes, "node", "a").unwrap()["consumer"],
        "projector-a"
    );
    assert!(named(&nodes, "node", "b").unwrap()["last_active"].is_string());

    // `events`: the newest 20 of the page's events, that page's only.
    let page_seqs: Vec<(u64, String)> = stored(&js, EVENTS_STREAM)
        .await?
        .into_iter()
        .filter(|m| m.subject.ends_with(".sample.1"))
        .map(|m| (m.seq, m.subject))
        .collect();
    // Crawled (its entries new), then perhaps unchanged at later ticks.
    assert!(page_seqs.len() > ENTRIES_PER_PAGE, "{page_seqs:?}");
    let shown = admin(&["--nats-url", &url, "events", "--page", "sample.1", "--json"])
        .await
        .json_lines();
    let want: Vec<u64> = page_seqs[page_seqs.len() - 20..]
        .iter()
        .map(|p| p.0)
        .collect();
    let got: Vec<u64> = shown.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(got, want, "the newest 20, oldest first");
    for event in &shown {
        assert_eq!(event["event"]["page"], "sample.1", "{event}");
        assert!(event["subject"].as_str().unwrap().ends_with(".sample.1"));
        assert_eq!(event["event"]["type"], event["type"], "{event}");
    }
    // Of one type, the last three.
    let shown = admin(&[
        "--nats-url",
        &url,
        "events",
        "--page",
        "sample.1",
        "--type",
        "entry_observed",
        "--last",
        "3",
        "--json",
    ])
    .await
    .json_lines();
    let entries: Vec<u64> = page_seqs
        .iter()
        .filter(|p| p.1.starts_with("pagefeed.events.entry_observed."))
        .map(|p| p.0)
        .collect();
    let got: Vec<u64> = shown.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(got, entries[entries.len() - 3..], "{shown:?}");
    // A page never crawled has none; a bad type is refused.
    let none = admin(&["--nats-url", &url, "events", "--page", "sample.9", "--json"]).await;
    assert!(none.json_lines().is_empty(), "{none:?}");
    let bad = admin(&[
        "--nats-url",
        &url,
        "events",
        "--page",
        "sample.1",
        "--type",
        "bogus",
    ])
    .await;
    assert_eq!(bad.code, Some(1), "{bad:?}");
    assert!(
        bad.stderr.contains("not the type of a page's events"),
        "{bad:?}"
    );
    // The table form names the page and the count.
    let table = admin(&[
        "--nats-url",
        &url,
        "events",
        "--page",
        "sample.1",
        "--last",
        "2",
    ])
    .await;
    let summary = format!("2 of {} events of page sample.1", page_seqs.len());
    assert!(table.stdout.contains(&summary), "{table:?}");
    // Reading left no consumer behind.
    let status = admin(&["--nats-url", &url, "status", "--json"])
        .await
        .json();
    assert_eq!(status["other_consumers"], serde_json::json!([]), "{status}");

    // `fetch-state`: the page's validators, as the bucket holds them.
    let state = admin(&["--nats-url", &url, "fetch-state", "sample.1", "--json"])
        .await
        .json();
    let kv_entry = js
        .get_key_value(FETCH_STATE_BUCKET)
        .await?
        .entry("sample.1")
        .await?
        .expect("sample.1's fetch state");
    let stored_state: Value = serde_json::from_slice(&kv_entry.value)?;
    assert_eq!(state["page"], "sample.1");
    assert_eq!(state["revision"], kv_entry.revision);
    assert_eq!(state["state"], stored_state);
    assert_eq!(state["state"]["url"], template.replace("{id}", "1"));
    assert!(
        state["state"]["etag"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{state}"
    );
    assert!(state["state"]["last_modified"].is_string(), "{state}");
    assert_eq!(
        state["state"]["ids"].as_array().map(Vec::len),
        Some(ENTRIES_PER_PAGE)
    );
    let missing = admin(&["--nats-url", &url, "fetch-state", "sample.9"]).await;
    assert_eq!(missing.code, Some(1), "{missing:?}");
    assert!(
        missing.stderr.contains("sample.9 has no fetch state"),
        "{missing:?}"
    );

    // `retire`: not without --yes; not a name that is no node (the
    // destination's consumer stays); a stopped node's consumer goes.
    let unconfirmed = admin(&["--nats-url", &url, "retire", "b"]).await;
    assert_eq!(unconfirmed.code, Some(2), "{unconfirmed:?}");
    assert!(unconfirmed.stderr.contains("--yes"), "{unconfirmed:?}");
    let unknown = admin(&["--nats-url", &url, "retire", "hook", "--yes"]).await;
    assert_eq!(unknown.code, Some(1), "{unknown:?}");
    assert!(
        unknown.stderr.contains("no projector node named hook") && unknown.stderr.contains("a, b"),
        "{unknown:?}"
    );
    let exit = system[b.process.as_str()]
        .terminate(Duration::from_secs(20))
        .await?;
    assert!(exit.success(), "{exit}");
    let retired = admin(&["--nats-url", &url, "retire", "b", "--yes", "--json"])
        .await
        .json();
    assert_eq!(retired["consumer"], "projector-b", "{retired}");
    let nodes = admin(&["--nats-url", &url, "nodes", "--json"]).await.json();
    let names: Vec<&str> = nodes
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["node"].as_str())
        .collect();
    assert_eq!(names, ["a"], "{nodes}");
    let events_stream = js.get_stream(EVENTS_STREAM).await?;
    assert!(events_stream.consumer_info("projector-b").await.is_err());
    assert!(events_stream.consumer_info("notify-hook").await.is_ok());
    let tasks_stream: jetstream::stream::Stream = js.get_stream(TASKS_STREAM).await?;
    assert!(tasks_stream.consumer_info(FETCHERS_CONSUMER).await.is_ok());

    // The tables read too.
    let table = admin(&["--nats-url", &url, "status"]).await;
    assert_eq!(table.code, Some(0), "{table:?}");
    for word in [EVENTS_STREAM, "projector-a", "notify-hook", "fetchers"] {
        assert!(table.stdout.contains(word), "{word} in {}", table.stdout);
    }
    Ok(())
}
