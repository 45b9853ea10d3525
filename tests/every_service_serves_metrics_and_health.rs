//! Every service's view for its operator, during a real crawl of the sample
//! site, every part a real process: `/metrics` of the scheduler, the
//! fetcher, the projector and the notifier parses as Prometheus text and
//! moves with the crawl (the fetcher's pages are the page events the stream
//! holds, the scheduler published tasks, the projector applied the log);
//! `/healthz` answers 200; `/readyz` says not ready while nats-server is
//! down and ready again once it is back; `--log-format json` writes one
//! JSON object a line; and the periodic summary line appears.

use std::net::SocketAddr;
use std::time::Duration;

use pagefeed_events::Event;
use pagefeed_testkit::config::{config_text, id_site};
use pagefeed_testkit::process::ServiceCommand;
use pagefeed_testkit::projector_api::{free_http, http_client, wait_applied};
use pagefeed_testkit::services::{workspace_bin, Services};
use pagefeed_testkit::streams::{events_last_seq, stored_events, wait_tasks_settled};
use pagefeed_testkit::wait::wait_for;
use prometheus_parse::{Scrape, Value};

const WITHIN: Duration = Duration::from_secs(60);

/// One scrape of `/metrics` at `addr`, parsed as the Prometheus text format.
async fn scrape(client: &reqwest::Client, addr: SocketAddr) -> anyhow::Result<Scrape> {
    let text = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    Ok(Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))?)
}

/// The sum of the samples named `name` whose labels include `labels`.
fn sum(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

/// The status code of a GET of `path` at `addr`; `None` if nothing answers.
async fn code(client: &reqwest::Client, addr: SocketAddr, path: &str) -> Option<u16> {
    let resp = client
        .get(format!("http://{addr}{path}"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    Some(resp.status().as_u16())
}

/// Waits until `/readyz` of every address answers `want`.
async fn wait_readyz(
    client: &reqwest::Client,
    addrs: &[(&str, SocketAddr)],
    want: u16,
    system: &Services,
) -> anyhow::Result<()> {
    for (name, addr) in addrs {
        wait_for(WITHIN, &format!("{name} /readyz {want}"), || async {
            Ok((code(client, *addr, "/readyz").await == Some(want)).then_some(()))
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n{}", system.log_tails(15)))?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_shows_its_work_and_its_readiness() -> anyhow::Result<()> {
    let mut system = Services::start().await?;
    let template = system
        .sample_site(workspace_bin("pagefeed-sample-site"), &[])
        .await?;
    // A webhook nobody listens to: the notifier follows the stream all the
    // same (a first crawl's entries are never sent).
    let notify = "[[notify]]\nname = \"hook\"\nwebhook = \"http://127.0.0.1:9/hook\"\n";
    system.write_config(&config_text(
        &system.nats_url(),
        "",
        notify,
        &[id_site("sample", &template, 1, 3, 3, "1s")],
    ))?;
    let (scheduler, fetcher, notifier) = (free_http()?, free_http()?, free_http()?);
    let summary = ["--summary-every", "1s"];
    let node = system.projector(workspace_bin("pagefeed-projector"), "a", &summary)?;
    let config = system.config_path().to_owned();
    let service = |name: &str, bin: &str, flag: &str, addr: SocketAddr| {
        ServiceCommand::new(name, workspace_bin(bin))
            .arg("--config")
            .arg(&config)
            .args([flag, &addr.to_string()])
            .args(summary)
            .ready_when_answers(format!("http://{addr}/healthz"))
    };
    system.spawn(
        service("fetcher-1", "pagefeed-fetcher", "--metrics", fetcher)
            .args(["--log-format", "json"]),
    )?;
    system.spawn(service(
        "scheduler-1",
        "pagefeed-scheduler",
        "--metrics",
        scheduler,
    ))?;
    system.spawn(service(
        "notifier-1",
        "pagefeed-notifier",
        "--http",
        notifier,
    ))?;
    system.wait_ready(Duration::from_secs(30)).await?;
    let client = http_client();
    let every = [
        ("scheduler", scheduler),
        ("fetcher", fetcher),
        ("projector", node.http),
        ("notifier", notifier),
    ];
    for (name, addr) in every {
        assert_eq!(code(&client, addr, "/healthz").await, Some(200), "{name}");
    }
    wait_readyz(&client, &every, 200, &system).await?;

    // The crawl goes on: every page crawled at least once.
    let js = system.jetstream().await?;
    wait_for(WITHIN, "every page crawled", || async {
        let events = stored_events(&js).await?;
        let crawled = |id: &str| {
            events
                .iter()
                .any(|e| matches!(e, Event::PageCrawled(p) if p.page.id() == id))
        };
        Ok((crawled("1") && crawled("2") && crawled("3")).then_some(()))
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", system.log_tails(15)))?;
    let tasks = sum(
        &scrape(&client, scheduler).await?,
        "pagefeed_scheduler_tasks_published_total",
        &[],
    );
    assert!(tasks >= 3.0, "the scheduler published the tasks: {tasks}");

    // Settled: the fetcher counted each page event the stream holds.
    let exit = system["scheduler-1"]
        .terminate(Duration::from_secs(20))
        .await?;
    assert!(exit.success(), "{exit}");
    wait_tasks_settled(&js, WITHIN).await?;
    let events = stored_events(&js).await?;
    let told = |f: fn(&Event) -> bool| events.iter().filter(|e| f(e)).count() as f64;
    let crawled = told(|e| matches!(e, Event::PageCrawled(_)));
    let unchanged = told(|e| matches!(e, Event::PageUnchanged(_)));
    let failed = told(|e| matches!(e, Event::FetchFailed(_)));
    let entries = told(|e| matches!(e, Event::EntryObserved(_)));
    let fetched = wait_for(
        WITHIN,
        "the fetcher's pages to match the stream",
        || async {
            let fetched = scrape(&client, fetcher).await?;
            let pages = sum(&fetched, "pagefeed_fetcher_pages_total", &[]);
            Ok((pages == crawled + unchanged + failed).then_some(fetched))
        },
    )
    .await
    .map_err(|e| {
        anyhow::anyhow!("{e}: {crawled} crawled, {unchanged} unchanged, {failed} failed")
    })?;
    let outcome = |o: &str| sum(&fetched, "pagefeed_fetcher_pages_total", &[("outcome", o)]);
    assert_eq!(outcome("crawled"), crawled);
    assert_eq!(outcome("unchanged"), unchanged);
    assert_eq!(outcome("failed"), failed);
    // An entry published twice (its page's state not saved in between) is
    // stored once: never fewer counted than stored.
    assert!(entries > 0.0);
    assert!(sum(&fetched, "pagefeed_fetcher_entries_total", &[]) >= entries);
    let responses = sum(&fetched, "pagefeed_fetcher_http_responses_total", &[]);
    assert!(
        sum(
            &fetched,
            "pagefeed_fetcher_http_responses_total",
            &[("class", "2xx")]
        ) >= crawled,
        "{responses} responses"
    );
    assert!(sum(&fetched, "pagefeed_fetcher_fetched_bytes_total", &[]) > 0.0);
    assert_eq!(
        sum(&fetched, "pagefeed_fetcher_fetch_seconds_count", &[]),
        responses,
        "a fetch time for every response"
    );
    assert!(sum(&fetched, "pagefeed_fetcher_parse_seconds_count", &[]) >= crawled);
    assert_eq!(sum(&fetched, "pagefeed_fetcher_tasks_in_flight", &[]), 0.0);

    // The projector applied the whole log, and says so.
    let last = events_last_seq(&js).await?;
    wait_applied(&client, node.http, last, WITHIN).await?;
    let projected = scrape(&client, node.http).await?;
    assert_eq!(
        sum(&projected, "pagefeed_projector_applied_seq", &[]),
        last as f64
    );
    assert!(sum(&projected, "pagefeed_projector_events_applied_total", &[]) > 0.0);
    let notified = scrape(&client, notifier).await?;
    assert!(
        notified
            .samples
            .iter()
            .any(|s| s.metric == "pagefeed_notifier_deliveries_total"),
        "{:?}",
        notified.samples
    );

    // NATS down: no service is ready, every one alive; back: ready again.
    system["scheduler-1"].restart()?;
    system.wait_ready(Duration::from_secs(30)).await?;
    wait_readyz(&client, &every, 200, &system).await?;
    system.nats_mut().stop();
    wait_readyz(&client, &every, 503, &system).await?;
    for (name, addr) in every {
        assert_eq!(code(&client, addr, "/healthz").await, Some(200), "{name}");
    }
    system.nats_mut().restart().await?;
    wait_readyz(&client, &every, 200, &system).await?;

    // Every service writes its summary line; the fetcher's logs are JSON.
    for (process, summary) in [
        ("fetcher-1", "pages/min"),
        ("scheduler-1", "tasks/min"),
        (node.process.as_str(), "events/min"),
        ("notifier-1", "notifications/min"),
    ] {
        wait_for(WITHIN, &format!("{process}'s summary line"), || async {
            Ok(system[process].log().contains(summary).then_some(()))
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}:\n{}", system[process].log_tail(10)))?;
    }
    let log = system["fetcher-1"].log();
    let mut summaries = 0;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let json: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| anyhow::anyhow!("not a JSON line ({e}): {line}"))?;
        let message = json["fields"]["message"].as_str().unwrap_or_default();
        if message.starts_with("crawled ") && message.contains("pages/min") {
            summaries += 1;
            assert!(json["fields"]["pages_per_min"].is_u64(), "{line}");
        }
    }
    assert!(summaries > 0, "{log}");
    eprintln!(
        "fetcher: {crawled} crawled, {unchanged} unchanged, {failed} failed, {responses} \
         responses; scheduler: {tasks} tasks; projector: applied up to {last}"
    );
    Ok(())
}
