//! What waits in the work queue `PAGEFEED_TASKS`: how many tasks, per site,
//! how old the oldest is, and the oldest few themselves, read by sequence
//! (direct gets: nothing is consumed).

use async_nats::jetstream::stream::DirectGetErrorKind;
use async_nats::jetstream::Context;
use chrono::{DateTime, Utc};
use futures::TryStreamExt as _;
use pagefeed_events::redact::redact_url;
use pagefeed_events::streams::FETCHERS_CONSUMER;
use pagefeed_events::subject::{TASKS_STREAM, TASKS_SUBJECTS};
use pagefeed_events::task::REQUEUES_HEADER;
use pagefeed_events::{jetstream_time, Task};
use serde::Serialize;

use crate::consumers::ConsumerStatus;
use crate::streams;

/// The most tasks one command shows (`--oldest`).
pub const MAX_SAMPLE: usize = 1_000;

#[derive(Debug, Clone, Serialize)]
pub struct Tasks {
    /// Tasks in the queue: waiting for a fetcher, or being fetched.
    pub total: u64,
    /// Handed to a fetcher, not acked yet (`None` before the first
    /// fetcher created the `fetchers` consumer).
    pub in_flight: Option<usize>,
    /// When the oldest task still queued was stored.
    pub oldest_time: Option<DateTime<Utc>>,
    /// Its age now, in seconds.
    pub oldest_age_secs: Option<u64>,
    /// Tasks per site, by site name.
    pub by_site: Vec<SiteTasks>,
    /// The oldest tasks, oldest first.
    pub oldest: Vec<QueuedTask>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SiteTasks {
    pub site: String,
    pub tasks: u64,
}

/// One task as the queue holds it.
#[derive(Debug, Clone, Serialize)]
pub struct QueuedTask {
    pub seq: u64,
    pub page: String,
    /// The URL, without credentials.
    pub url: String,
    /// When the scheduler's slot started.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// When JetStream stored it.
    pub stored: DateTime<Utc>,
    pub age_secs: u64,
    /// Times the scheduler's sweeper put it back in the queue.
    pub requeues: u32,
}

/// The queue now, with its `oldest` oldest tasks.
pub async fn tasks(js: &Context, oldest: usize) -> anyhow::Result<Tasks> {
    anyhow::ensure!(
        oldest <= MAX_SAMPLE,
        "--oldest must be at most {MAX_SAMPLE}"
    );
    let stream = streams::stream(js, TASKS_STREAM).await?;
    let state = stream.get_info().await?.state;
    let now = Utc::now();
    let age = |t: DateTime<Utc>| u64::try_from((now - t).num_seconds()).unwrap_or(0);

    // Counts per subject (`pagefeed.tasks.<site>.<id>`), paged by the
    // server; only the per-site sums are kept.
    let mut by_site = std::collections::BTreeMap::<String, u64>::new();
    let mut subjects = stream.info_with_subjects(TASKS_SUBJECTS).await?;
    while let Some((subject, count)) = subjects.try_next().await? {
        let site = subject.split('.').nth(2).unwrap_or_default().to_owned();
        *by_site.entry(site).or_default() += count as u64;
    }

    let mut sample = Vec::with_capacity(oldest.min(state.messages as usize));
    let mut next = state.first_sequence;
    while sample.len() < oldest && state.messages > 0 && next <= state.last_sequence {
        let message = match stream
            .direct_get_next_for_subject(TASKS_SUBJECTS, Some(next))
            .await
        {
            Ok(message) => message,
            // Nothing from `next` on: acked while we read.
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => break,
            Err(e) => anyhow::bail!("cannot read {TASKS_STREAM} at {next}: {e}"),
        };
        next = message.sequence + 1;
        let stored = jetstream_time(message.time);
        let task = Task::decode(&message.payload).ok();
        sample.push(QueuedTask {
            seq: message.sequence,
            page: task.as_ref().map_or_else(
                || {
                    message
                        .subject
                        .trim_start_matches("pagefeed.tasks.")
                        .to_owned()
                },
                |t| t.page.to_string(),
            ),
            url: task
                .as_ref()
                .map(|t| redact_url(&t.url).into_owned())
                .unwrap_or_default(),
            scheduled_at: task.as_ref().map(|t| t.scheduled_at),
            stored,
            age_secs: age(stored),
            requeues: message
                .headers
                .get(REQUEUES_HEADER)
                .and_then(|v| v.as_str().parse().ok())
                .unwrap_or(0),
        });
    }

    let in_flight = stream
        .consumer_info(FETCHERS_CONSUMER)
        .await
        .ok()
        .map(|info| ConsumerStatus::from(&info).ack_pending);
    let oldest_time = (state.messages > 0).then(|| jetstream_time(state.first_timestamp));
    Ok(Tasks {
        total: state.messages,
        in_flight,
        oldest_time,
        oldest_age_secs: oldest_time.map(age),
        by_site: by_site
            .into_iter()
            .map(|(site, tasks)| SiteTasks { site, tasks })
            .collect(),
        oldest: sample,
    })
}
