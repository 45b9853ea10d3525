//! Shared helpers of the end-to-end scenarios (one scenario per file beside
//! this one): configs pointing at a test nats-server, services run in-process
//! with their own cancellation token, reading back what a stream holds, and
//! polling a condition with a deadline instead of sleeping and hoping.

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use bytes::Bytes;
use pagefeed_events::Config;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A `[[site]]` block over an id range.
pub fn id_site(name: &str, url: &str, first: u64, last: u64, batch: u64, interval: &str) -> String {
    format!(
        "[[site]]\nname = \"{name}\"\nurl = \"{url}\"\nids = {{ first = {first}, last = {last} }}\n\
         batch = {batch}\ninterval = \"{interval}\"\nretention = \"7d\"\n\
         [site.extract]\ntitle = \"title\"\nentry = \"div.feedEntry\"\ntext = \"p.comment\"\n\
         timestamp = \"li.timeStamp\"\ntimestamp_format = \"%m月%d日 %H:%M\"\nlink = \"li.viewLink a\"\n"
    )
}

/// A whole config: `[nats]` at `nats_url` with `replicas`, then the sites.
pub fn config(nats_url: &str, replicas: usize, sites: &[String]) -> Config {
    config_with(nats_url, &format!("replicas = {replicas}"), "", sites)
}

/// The text of a config: `[nats]` at `nats_url` plus `nats_extra` lines,
/// then `sections` (e.g. a `[fetcher]` table), then the sites.
pub fn config_text(nats_url: &str, nats_extra: &str, sections: &str, sites: &[String]) -> String {
    format!(
        "[nats]\nurl = \"{nats_url}\"\n{nats_extra}\n\n{sections}\n\n{}",
        sites.join("\n")
    )
}

/// [`config_text`], parsed.
pub fn config_with(nats_url: &str, nats_extra: &str, sections: &str, sites: &[String]) -> Config {
    let text = config_text(nats_url, nats_extra, sections, sites);
    match Config::parse(Path::new("test.toml"), &text) {
        Ok(cfg) => cfg,
        Err(e) => panic!("test config is invalid: {e}\n{text}"),
    }
}

/// A service running in-process, stopped through its own token.
pub struct Running {
    token: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Cancels the service and returns what `run` returned.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.token.cancel();
        tokio::time::timeout(Duration::from_secs(20), self.handle)
            .await
            .map_err(|_| anyhow::anyhow!("the service did not stop within 20 s"))??
    }

    /// Waits for the service to end by itself (an error, typically).
    pub async fn join(self) -> anyhow::Result<()> {
        tokio::time::timeout(Duration::from_secs(20), self.handle)
            .await
            .map_err(|_| anyhow::anyhow!("the service did not end within 20 s"))??
    }
}

/// Runs the scheduler in-process.
pub fn spawn_scheduler(cfg: Config) -> Running {
    let token = CancellationToken::new();
    let handle = tokio::spawn(pagefeed_scheduler::run(
        pagefeed_scheduler::Options { cfg },
        token.child_token(),
    ));
    Running { token, handle }
}

/// One message as the stream stores it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub seq: u64,
    pub subject: String,
    pub msg_id: Option<String>,
    pub payload: Bytes,
}

/// The last sequence of `PAGEFEED_EVENTS` now.
pub async fn events_last_seq(js: &jetstream::Context) -> anyhow::Result<u64> {
    Ok(js
        .get_stream(pagefeed_events::subject::EVENTS_STREAM)
        .await?
        .info()
        .await?
        .state
        .last_sequence)
}

/// Every message `stream` holds now, in order, read by sequence (works on a
/// work-queue stream too, without consuming anything).
pub async fn stored(js: &jetstream::Context, stream: &str) -> anyhow::Result<Vec<Stored>> {
    let mut handle = js.get_stream(stream).await?;
    let state = handle.info().await?.state.clone();
    let mut out = Vec::new();
    if state.messages == 0 {
        return Ok(out);
    }
    for seq in state.first_sequence..=state.last_sequence {
        match handle.get_raw_message(seq).await {
            Ok(msg) => out.push(Stored {
                seq,
                subject: msg.subject.to_string(),
                msg_id: msg
                    .headers
                    .get("Nats-Msg-Id")
                    .map(|v| v.as_str().to_owned()),
                payload: msg.payload,
            }),
            // A gap (deleted or expired message) is simply not there.
            Err(_) => continue,
        }
    }
    Ok(out)
}

/// Polls `check` until it returns `Some`, or fails after `timeout` saying
/// what was awaited.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if Instant::now() > deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the fetchers' consumer has nothing pending and nothing
/// unacked: every task published so far is settled.
pub async fn wait_tasks_settled(js: &jetstream::Context, timeout: Duration) -> anyhow::Result<()> {
    wait_for(timeout, "every task to be acked", || async {
        let consumer: Result<jetstream::consumer::PullConsumer, _> = js
            .get_consumer_from_stream(
                pagefeed_events::streams::FETCHERS_CONSUMER,
                pagefeed_events::subject::TASKS_STREAM,
            )
            .await;
        // Not there yet: no fetcher has started.
        let Ok(mut consumer) = consumer else {
            return Ok(None);
        };
        let info = consumer.info().await?;
        Ok((info.num_pending == 0 && info.num_ack_pending == 0).then_some(()))
    })
    .await
}

/// A JetStream context on a plain client.
pub async fn jetstream_at(url: &str) -> anyhow::Result<jetstream::Context> {
    let client = async_nats::connect(url).await?;
    Ok(jetstream::new(client))
}

/// The tasks `PAGEFEED_TASKS` holds now, with their message ids.
pub async fn stored_tasks(
    js: &jetstream::Context,
) -> anyhow::Result<Vec<(pagefeed_events::Task, String)>> {
    stored(js, pagefeed_events::subject::TASKS_STREAM)
        .await?
        .into_iter()
        .map(|m| {
            let task = pagefeed_events::Task::decode(&m.payload)?;
            anyhow::ensure!(
                m.subject == task.subject(),
                "subject {} does not match task {:?}",
                m.subject,
                task
            );
            Ok((task, m.msg_id.unwrap_or_default()))
        })
        .collect()
}

/// Tasks grouped by slot: slot start → page ids in publication order.
pub fn ids_by_slot(
    tasks: &[(pagefeed_events::Task, String)],
) -> std::collections::BTreeMap<i64, Vec<u64>> {
    let mut slots = std::collections::BTreeMap::<i64, Vec<u64>>::new();
    for (task, _) in tasks {
        slots
            .entry(task.slot)
            .or_default()
            .push(task.page.id().parse().unwrap_or(u64::MAX));
    }
    slots
}

/// Shows the services' logs in a failing test's output (`RUST_LOG` filters,
/// default `info`).
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// The events `PAGEFEED_EVENTS` holds now, decoded, in stream order.
pub async fn stored_events(js: &jetstream::Context) -> anyhow::Result<Vec<pagefeed_events::Event>> {
    stored(js, pagefeed_events::subject::EVENTS_STREAM)
        .await?
        .into_iter()
        .map(|m| Ok(pagefeed_events::Event::decode(&m.payload)?))
        .collect()
}

/// Publishes crawl tasks for `ids` of `site` (URL from `url_template`) in
/// slot `slot`, as the scheduler would, and waits for JetStream's acks.
pub async fn publish_tasks(
    js: &jetstream::Context,
    site: &str,
    url_template: &str,
    ids: impl IntoIterator<Item = u64>,
    slot: i64,
) -> anyhow::Result<()> {
    let tasks: Vec<pagefeed_events::Task> = ids
        .into_iter()
        .map(|id| {
            let page = pagefeed_events::PageKey::new(site, &id.to_string())?;
            Ok(pagefeed_events::Task::new(
                page,
                url_template.replace("{id}", &id.to_string()),
                slot,
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    let msgs: Vec<pagefeed_events::publish::Outgoing> = tasks.iter().map(Into::into).collect();
    pagefeed_events::publish::publish_all(js, &msgs, &CancellationToken::new()).await?;
    Ok(())
}
