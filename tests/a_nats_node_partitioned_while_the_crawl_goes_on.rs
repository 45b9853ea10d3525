//! A three-node JetStream cluster, streams at replicas=3, whose routes go
//! through proxies; the whole system runs on it as real processes (a
//! scheduler, two fetchers, two projectors; the sample site in-process).
//! Every service connects directly to servers n1 and n2 only: the server
//! partitioned is n3, so the test is about the cluster losing and getting
//! back a member, not about a client losing its server (the projector and
//! fetcher tests do that). n3 is cut off from the other two, silently
//! (route packets dropped) or refused (routes closed), while the crawl goes
//! on: the two others keep the streams going (new events keep arriving and
//! n3 is seen as not current), and after the heal n3's replicas of both
//! streams catch up (current again, and its own `/jsz` holds the events
//! stream up to where it was). Once the scheduler stops, every task is
//! settled (PAGEFEED_TASKS empty), no entry is stored twice, and both
//! replicas agree.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use pagefeed_events::subject::{EVENTS_STREAM, TASKS_STREAM};
use pagefeed_events::Event;
use pagefeed_testkit::config::{config_text, id_site};
use pagefeed_testkit::nats::{NatsCluster, Partition};
use pagefeed_testkit::process::{Process, ServiceCommand};
use pagefeed_testkit::projector_api::{free_http, http_client, wait_applied};
use pagefeed_testkit::sample_site::{page_kind, PageKind, SampleSite, SampleSiteOptions};
use pagefeed_testkit::services::workspace_bin;
use pagefeed_testkit::streams::{
    events_last_seq, jetstream_on_all, stored, stored_events, wait_tasks_settled,
};
use pagefeed_testkit::wait::wait_for;

/// The pages crawled, all plain ones: ten a second, each every 4 s.
const IDS: std::ops::RangeInclusive<u64> = 30..=69;
/// The partitioned server's index (n3).
const ISOLATED: usize = 2;
const WITHIN: Duration = Duration::from_secs(60);

/// One scenario at a time: each runs four nats-server and service processes.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silently_partitioned_nats_node_catches_up_and_nothing_is_lost() -> anyhow::Result<()> {
    let _one = ONE_AT_A_TIME.lock().await;
    scenario(Partition::Silent).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_partitioned_nats_node_catches_up_and_nothing_is_lost() -> anyhow::Result<()> {
    let _one = ONE_AT_A_TIME.lock().await;
    scenario(Partition::Refused).await
}

async fn scenario(kind: Partition) -> anyhow::Result<()> {
    let started = Instant::now();
    assert!(IDS.clone().all(|id| page_kind(id) == PageKind::Normal));
    let mut cluster = NatsCluster::start_partitionable(3).await?;
    let site = SampleSite::start("127.0.0.1:0".parse()?, SampleSiteOptions::default()).await?;
    let urls = format!("{},{}", cluster.servers[0].url(), cluster.servers[1].url());
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("pagefeed.toml");
    std::fs::write(
        &config,
        config_text(
            &urls,
            "replicas = 3",
            "[fetcher]\nack_wait = \"5s\"\n",
            &[id_site(
                "sample",
                &site.url_template(),
                *IDS.start(),
                *IDS.end(),
                10,
                "1s",
            )],
        ),
    )?;
    let cfg = pagefeed_events::Config::load(&config)?;
    let js = jetstream_on_all(&urls).await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;

    let mut processes = Vec::new();
    let (a, b) = (free_http()?, free_http()?);
    for (node, http) in [("a", a), ("b", b)] {
        let command = service(&format!("projector-{node}"), "pagefeed-projector", &config)
            .arg("--data")
            .arg(dir.path().join(node))
            .args(["--node", node, "--http", &http.to_string()])
            .ready_when_answers(format!("http://{http}/api/status"));
        processes.push(Process::start(command, log(dir.path(), node))?);
    }
    for name in ["fetcher-1", "fetcher-2"] {
        let command = service(name, "pagefeed-fetcher", &config);
        processes.push(Process::start(command, log(dir.path(), name))?);
    }
    let command = service("scheduler", "pagefeed-scheduler", &config);
    processes.push(Process::start(command, log(dir.path(), "scheduler"))?);
    for process in &mut processes {
        process.wait_ready(Duration::from_secs(30)).await?;
    }
    let logs = |processes: &[Process]| -> String {
        processes
            .iter()
            .map(|p| format!("--- {} ---\n{}\n", p.name(), p.log_tail(15)))
            .collect()
    };

    // Every page crawled once, and n3 current, before the partition.
    let isolated = cluster.servers[ISOLATED].name().to_owned();
    wait_for(WITHIN, "every page crawled once", || async {
        let events = stored_events(&js).await.unwrap_or_default();
        Ok((pages_with_entries(&events).len() == IDS.clone().count()).then_some(()))
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", logs(&processes)))?;
    wait_for(WITHIN, &format!("{isolated} current"), || async {
        Ok(replicas_current(&js, &isolated)
            .await
            .unwrap_or(false)
            .then_some(()))
    })
    .await?;
    let crawling = wait_seq_above(&js, 0, "the events stream's last sequence").await?;

    // The partition: the two others keep the streams going without n3.
    cluster.partition(ISOLATED, kind)?;
    wait_for(WITHIN, &format!("{isolated} to fall behind"), || async {
        Ok(replicas_current(&js, &isolated)
            .await
            .map(|current| !current)
            .unwrap_or(false)
            .then_some(()))
    })
    .await?;
    let without_n3 = wait_seq_above(&js, 0, "the events stream's last sequence").await?;
    let during = wait_seq_above(&js, without_n3 + 20, "events while n3 is cut off")
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n{}", logs(&processes)))?;

    // The heal: n3's replicas catch up with the others.
    cluster.heal(ISOLATED);
    wait_for(
        WITHIN,
        &format!("{isolated}'s replicas to be current"),
        || async {
            Ok(replicas_current(&js, &isolated)
                .await
                .unwrap_or(false)
                .then_some(()))
        },
    )
    .await?;
    let monitor = cluster.servers[ISOLATED]
        .monitor_url()
        .expect("a cluster server has a monitoring port");
    wait_for(
        WITHIN,
        &format!("{isolated}'s own events stream to catch up"),
        || async {
            Ok((jsz_last_seq(&monitor, EVENTS_STREAM).await.unwrap_or(0) >= during).then_some(()))
        },
    )
    .await?;

    // The scheduler stops: every task ends, nothing twice, replicas agree.
    let scheduler = processes.last_mut().expect("the scheduler");
    let exit = scheduler.terminate(Duration::from_secs(20)).await?;
    assert!(exit.success(), "the scheduler stops cleanly: {exit}");
    // A stream without a leader answers its publishers "no responders", as
    // a missing stream would: the scheduler provisions again, with a pause.
    let provisioning = scheduler.log().matches("provisioning again").count();
    assert!(
        provisioning < 100,
        "the scheduler provisioned {provisioning} times: it looped without a pause"
    );
    wait_tasks_settled(&js, WITHIN)
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n{}", logs(&processes)))?;
    let (tasks, consumer) = retry(|| async {
        let tasks = js
            .get_stream(TASKS_STREAM)
            .await?
            .info()
            .await?
            .state
            .clone();
        let mut fetchers: jetstream::consumer::PullConsumer = js
            .get_consumer_from_stream(pagefeed_events::streams::FETCHERS_CONSUMER, TASKS_STREAM)
            .await?;
        anyhow::Ok((tasks, fetchers.info().await?.clone()))
    })
    .await?;
    let left = retry(|| stored(&js, TASKS_STREAM)).await?;
    assert_eq!(
        tasks.messages,
        0,
        "PAGEFEED_TASKS is empty: every task was settled; stream {tasks:?}, consumer {consumer:?}; \
         left: {:?}",
        left.iter().map(|t| (t.seq, t.msg_id.clone())).collect::<Vec<_>>()
    );
    let events = retry(|| stored_events(&js)).await?;
    let mut times_stored: HashMap<(String, String), usize> = HashMap::new();
    for e in &events {
        if let Event::EntryObserved(entry) = e {
            *times_stored
                .entry((entry.page.to_string(), entry.id.clone()))
                .or_default() += 1;
        }
    }
    let twice: Vec<_> = times_stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "entries stored more than once: {twice:?}");
    let with_entries = pages_with_entries(&events);
    let without: Vec<u64> = IDS
        .filter(|id| !with_entries.contains(&format!("sample.{id}")))
        .collect();
    assert!(
        without.is_empty(),
        "pages without entries: {without:?}; outcomes {:?}\n{}",
        events
            .iter()
            .filter(|e| e.page().is_some_and(|p| without
                .iter()
                .any(|id| p.to_string() == format!("sample.{id}"))))
            .map(|e| format!("{e:?}").chars().take(200).collect::<String>())
            .collect::<Vec<_>>(),
        logs(&processes)
    );
    let last = retry(|| events_last_seq(&js)).await?;
    let client = http_client();
    let status_a = wait_applied(&client, a, last, WITHIN).await?;
    let status_b = wait_applied(&client, b, last, WITHIN).await?;
    assert_eq!(
        (status_a.applied_seq, &status_a.digest),
        (status_b.applied_seq, &status_b.digest),
        "both replicas applied the whole log and agree"
    );
    eprintln!(
        "{kind:?} partition of {isolated}: {} events before, {during} by the heal, {last} in all; \
         {:?} in all",
        crawling,
        started.elapsed()
    );
    Ok(())
}

/// `read` until it succeeds, for up to a minute (a leader may be moving:
/// JetStream answers 503 meanwhile).
async fn retry<T, F, Fut>(mut read: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let deadline = Instant::now() + WITHIN;
    loop {
        match read().await {
            Ok(value) => return Ok(value),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// The pages `events` holds entries of.
fn pages_with_entries(events: &[Event]) -> BTreeSet<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::EntryObserved(entry) => Some(entry.page.to_string()),
            _ => None,
        })
        .collect()
}

/// `pagefeed-<bin> --config <config>`, as process `name`.
fn service(name: &str, bin: &str, config: &Path) -> ServiceCommand {
    ServiceCommand::new(name, workspace_bin(bin))
        .arg("--config")
        .arg(config)
}

fn log(dir: &Path, name: &str) -> std::path::PathBuf {
    dir.join(format!("{name}.log"))
}

/// Waits until `PAGEFEED_EVENTS` holds more than `seq` events (a failed
/// request, while a leader moves, counts as not yet) and returns its last
/// sequence.
async fn wait_seq_above(js: &jetstream::Context, seq: u64, what: &str) -> anyhow::Result<u64> {
    wait_for(WITHIN, what, || async {
        Ok(events_last_seq(js).await.ok().filter(|&last| last > seq))
    })
    .await
}

/// Whether both streams have a leader and `server` is one of their current
/// replicas, as the leaders report it.
async fn replicas_current(js: &jetstream::Context, server: &str) -> anyhow::Result<bool> {
    for stream in [TASKS_STREAM, EVENTS_STREAM] {
        let info = js.get_stream(stream).await?.info().await?.clone();
        let Some(cluster) = info.cluster else {
            return Ok(false);
        };
        let is_leader = cluster.leader.as_deref() == Some(server);
        let current = cluster
            .replicas
            .iter()
            .any(|r| r.name == server && r.current && !r.offline);
        if cluster.leader.is_none() || !(is_leader || current) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The last sequence of `stream` in the store of the server whose
/// monitoring endpoint is `monitor` (its `/jsz`).
async fn jsz_last_seq(monitor: &str, stream: &str) -> anyhow::Result<u64> {
    let jsz: serde_json::Value = http_client()
        .get(format!("{monitor}/jsz?accounts=true&streams=true"))
        .timeout(Duration::from_secs(5))
        .send()
        .await?
        .json()
        .await?;
    let streams = jsz["account_details"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|account| account["stream_detail"].as_array().into_iter().flatten());
    for detail in streams {
        if detail["name"] == stream {
            return Ok(detail["state"]["last_seq"].as_u64().unwrap_or(0));
        }
    }
    Ok(0)
}
