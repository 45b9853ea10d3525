//! The JetStream topology, readable in one place: the two streams pagefeed
//! uses, derived from the config, the fetchers' and the projectors'
//! consumers, the fetch-state bucket, and idempotent provisioning that creates
//! what is missing and reports (never rewrites) a stream configured otherwise.

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::consumer::{self, AckPolicy, DeliverPolicy, FromConsumer as _};
use async_nats::jetstream::context::{Context, CreateStreamErrorKind, GetStreamErrorKind};
use async_nats::jetstream::kv;
use async_nats::jetstream::stream::{self, DiscardPolicy, RetentionPolicy, StorageType};
use async_nats::jetstream::ErrorCode;

use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::backoff::Backoff;
use crate::config::{Config, Notify};
use crate::subject::{EVENTS_STREAM, EVENTS_SUBJECTS, TASKS_STREAM, TASKS_SUBJECTS};

/// JetStream's own default de-duplication window.
const MIN_DEDUP_WINDOW: Duration = Duration::from_secs(120);
/// Slack on top of the retention window in `PAGEFEED_EVENTS`' `max_age`.
const EVENTS_MARGIN: Duration = Duration::from_secs(86_400);

/// The de-duplication window of `PAGEFEED_TASKS`: two longest intervals (so
/// two schedulers publishing the same slot store it once), at least JetStream's
/// default, never longer than the tasks' own lifetime.
pub fn task_dedup_window(cfg: &Config) -> Duration {
    (cfg.longest_interval() * 2)
        .max(MIN_DEDUP_WINDOW)
        .min(cfg.nats.task_ttl)
}

/// `max_age` of `PAGEFEED_EVENTS`: the longest retention, plus one retention
/// period (the newest retention event may be that old), plus a day. Anything
/// older has been deleted from the replicas already (design invariant 4).
pub fn events_max_age(cfg: &Config) -> Duration {
    cfg.longest_retention() + cfg.scheduler.retention_every + EVENTS_MARGIN
}

/// `PAGEFEED_TASKS`: a work queue; each task is delivered to one fetcher and
/// removed when acked; stale tasks expire after `nats.task_ttl`.
pub fn tasks_stream(cfg: &Config) -> stream::Config {
    stream::Config {
        name: TASKS_STREAM.to_owned(),
        description: Some("pagefeed crawl tasks (work queue shared by all fetchers)".to_owned()),
        subjects: vec![TASKS_SUBJECTS.to_owned()],
        retention: RetentionPolicy::WorkQueue,
        storage: StorageType::File,
        num_replicas: cfg.nats.replicas,
        max_age: cfg.nats.task_ttl,
        duplicate_window: task_dedup_window(cfg),
        discard: DiscardPolicy::Old,
        max_messages: -1,
        max_bytes: -1,
        max_messages_per_subject: -1,
        // `nats stream view` can page a work queue only through direct gets.
        allow_direct: true,
        ..Default::default()
    }
}

/// `PAGEFEED_EVENTS`: the log of every observation, kept for the longest
/// retention plus a margin; every projector replays it.
pub fn events_stream(cfg: &Config) -> stream::Config {
    stream::Config {
        name: EVENTS_STREAM.to_owned(),
        description: Some("pagefeed observations: the log every projector replays".to_owned()),
        subjects: vec![EVENTS_SUBJECTS.to_owned()],
        retention: RetentionPolicy::Limits,
        storage: StorageType::File,
        num_replicas: cfg.nats.replicas,
        max_age: events_max_age(cfg),
        duplicate_window: MIN_DEDUP_WINDOW,
        discard: DiscardPolicy::Old,
        max_messages: -1,
        max_bytes: -1,
        max_messages_per_subject: -1,
        allow_direct: true,
        ..Default::default()
    }
}

/// The durable pull consumer every fetcher process shares.
pub const FETCHERS_CONSUMER: &str = "fetchers";
/// Key-value bucket of what each page looked like at its last crawl
/// (validators for conditional GET, entry ids, title), keyed by page key.
pub const FETCH_STATE_BUCKET: &str = "pagefeed_fetch_state";
/// Key-value bucket of each host's robots.txt, as the fetchers fetched it,
/// keyed by scheme, port and host (crates/fetcher/src/robots.rs).
pub const ROBOTS_BUCKET: &str = "pagefeed_robots";

/// The `fetchers` consumer: explicit acks; a task not acked within
/// `fetcher.ack_wait` goes to another fetcher. `max_deliver` is a safety net
/// above `fetcher.max_attempts` (the fetchers end a task as `fetch_failed`
/// at `max_attempts`; redeliveries of a killed fetcher count too).
pub fn fetchers_consumer(cfg: &Config) -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some(FETCHERS_CONSUMER.to_owned()),
        description: Some("pagefeed fetchers (shared by every fetcher process)".to_owned()),
        deliver_policy: DeliverPolicy::All,
        ack_policy: AckPolicy::Explicit,
        ack_wait: cfg.fetcher.ack_wait,
        max_deliver: i64::from(cfg.fetcher.max_attempts) * 2 + 3,
        filter_subject: TASKS_SUBJECTS.to_owned(),
        max_ack_pending: 20_000,
        num_replicas: 0,
        ..Default::default()
    }
}

/// The durable consumer of projector node `node`: its position in
/// `PAGEFEED_EVENTS`, so `nats consumer report PAGEFEED_EVENTS` lists every
/// node and its lag.
pub fn projector_consumer_name(node: &str) -> String {
    format!("projector-{node}")
}

/// The consumer of projector node `node`, starting right after `applied`
/// (what its file holds: the file is the authority). It takes no acks
/// (`AckPolicy::None`): the node re-creates it from its file whenever it
/// starts or reconnects, so the server's ack state would never be used, and
/// tracking every delivery for acks cost nats-server a tenth of the
/// machine at full speed (docs/BENCHMARKS.md, "Projector"). Its position is
/// what the server has delivered, so its unprocessed count is the node's lag
/// to within the batches the node holds (at most two of 10,000 events). The
/// server removes it once the node has been gone for `idle`.
pub fn projector_consumer(node: &str, applied: u64, idle: Duration) -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some(projector_consumer_name(node)),
        description: Some(format!("pagefeed projector of node {node}")),
        deliver_policy: if applied == 0 {
            DeliverPolicy::All
        } else {
            DeliverPolicy::ByStartSequence {
                start_sequence: applied + 1,
            }
        },
        ack_policy: AckPolicy::None,
        filter_subject: EVENTS_SUBJECTS.to_owned(),
        inactive_threshold: idle,
        ..Default::default()
    }
}

/// The durable consumer of notification destination `name`: its position
/// in `PAGEFEED_EVENTS`, shared by every notifier process.
pub fn notify_consumer_name(name: &str) -> String {
    format!("notify-{name}")
}

/// The subjects that carry new entries: of `site`, or of every site.
pub fn entry_subjects(site: Option<&str>) -> String {
    match site {
        Some(site) => format!("pagefeed.events.entry_observed.{site}.*"),
        None => "pagefeed.events.entry_observed.>".to_owned(),
    }
}

/// The consumer of destination `notify` (see [`notify_consumer_name`]):
/// new entries only, explicit acks (a delivery is acked once the
/// destination took it; one not acked within `ack_wait` goes to another
/// notifier), at most `max_ack_pending` deliveries in flight across all
/// notifiers. Created, it starts at `start_seq`, or with the first message
/// stored after it (`DeliverPolicy::New`): a notifier started against an
/// old stream sends no backlog. Once it exists, its position is the truth.
pub fn notify_consumer(
    notify: &Notify,
    ack_wait: Duration,
    max_ack_pending: i64,
    start_seq: Option<u64>,
) -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some(notify_consumer_name(&notify.name)),
        description: Some(format!(
            "pagefeed notifications to {} ({})",
            notify.name,
            notify.target.kind()
        )),
        deliver_policy: match start_seq {
            Some(start_sequence) => DeliverPolicy::ByStartSequence { start_sequence },
            None => DeliverPolicy::New,
        },
        ack_policy: AckPolicy::Explicit,
        ack_wait,
        filter_subject: entry_subjects(notify.site.as_deref()),
        max_ack_pending,
        num_replicas: 0,
        ..Default::default()
    }
}

/// Finds destination `want`'s consumer, creating it if missing. One that
/// exists keeps its position; its filter, `ack_wait` and
/// `max_ack_pending` are brought to what `want` says (a destination's
/// `site` or the `[notifier]` settings changed).
pub async fn ensure_notify_consumer(
    js: &Context,
    want: consumer::pull::Config,
) -> Result<consumer::Consumer<consumer::pull::Config>, ProvisionError> {
    let unavailable = |reason: String| ProvisionError::Unavailable {
        stream: EVENTS_STREAM.to_owned(),
        reason,
    };
    let name = want.durable_name.clone().unwrap_or_default();
    let stream = js
        .get_stream(EVENTS_STREAM)
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    match stream.get_consumer::<consumer::pull::Config>(&name).await {
        Ok(existing) => {
            let have = &existing.cached_info().config;
            if have.filter_subject == want.filter_subject
                && have.ack_wait == want.ack_wait
                && have.max_ack_pending == want.max_ack_pending
            {
                return Ok(existing);
            }
            let have = consumer::pull::Config::try_from_consumer_config(have.clone())
                .map_err(|e| unavailable(e.to_string()))?;
            let updated = consumer::pull::Config {
                filter_subject: want.filter_subject,
                ack_wait: want.ack_wait,
                max_ack_pending: want.max_ack_pending,
                ..have
            };
            stream
                .update_consumer(updated)
                .await
                .map_err(|e| unavailable(e.to_string()))
        }
        Err(_) => stream
            .create_consumer(want)
            .await
            .map_err(|e| unavailable(e.to_string())),
    }
}

/// A replay of all of `PAGEFEED_EVENTS` from its first retained message: an
/// ordered consumer (ephemeral, no acks, re-created by the client on a gap),
/// as the benchmark's raw read uses it. Its pulls are bounded by count only
/// (500 messages): `rebuild` reads [`events_replay_from`] instead.
pub fn events_replay() -> consumer::pull::OrderedConfig {
    consumer::pull::OrderedConfig {
        filter_subject: EVENTS_SUBJECTS.to_owned(),
        deliver_policy: DeliverPolicy::All,
        ..Default::default()
    }
}

/// A replay of `PAGEFEED_EVENTS` from sequence `start` (from its first
/// retained message when `start` is 0 or 1) for one reader that keeps its
/// own position, as `rebuild` does: what an ordered consumer is (ephemeral,
/// no acks, in memory, on one replica; the reader re-creates it after a
/// gap), but read with pull requests bounded by bytes, which an ordered
/// consumer's are not. The server removes it once unused for five minutes.
pub fn events_replay_from(start: u64) -> consumer::pull::Config {
    consumer::pull::Config {
        description: Some("pagefeed replay (rebuild)".to_owned()),
        deliver_policy: if start <= 1 {
            DeliverPolicy::All
        } else {
            DeliverPolicy::ByStartSequence {
                start_sequence: start,
            }
        },
        ack_policy: AckPolicy::None,
        filter_subject: EVENTS_SUBJECTS.to_owned(),
        inactive_threshold: Duration::from_secs(300),
        num_replicas: 1,
        memory_storage: true,
        ..Default::default()
    }
}

/// The fetch-state bucket: one value per page, the last crawl's only.
pub fn fetch_state_bucket(cfg: &Config) -> kv::Config {
    kv::Config {
        bucket: FETCH_STATE_BUCKET.to_owned(),
        description: "pagefeed: validators and entry ids of each page's last crawl".to_owned(),
        history: 1,
        storage: StorageType::File,
        num_replicas: cfg.nats.replicas,
        ..Default::default()
    }
}

/// Finds the fetch-state bucket, creating it if missing.
pub async fn ensure_fetch_state(js: &Context, cfg: &Config) -> Result<kv::Store, ProvisionError> {
    ensure_bucket(js, fetch_state_bucket(cfg)).await
}

/// The robots bucket: one value per host (scheme, host and port), the last
/// fetch's only. A value carries its own expiry; `max_age` (`robots_ttl`
/// when the bucket is created) clears out the hosts no fetcher asks for.
pub fn robots_bucket(cfg: &Config) -> kv::Config {
    kv::Config {
        bucket: ROBOTS_BUCKET.to_owned(),
        description: "pagefeed: each host's robots.txt, as the fetchers last fetched it".to_owned(),
        history: 1,
        max_age: cfg.fetcher.robots_ttl,
        storage: StorageType::File,
        num_replicas: cfg.nats.replicas,
        ..Default::default()
    }
}

/// Finds the robots bucket, creating it if missing.
pub async fn ensure_robots(js: &Context, cfg: &Config) -> Result<kv::Store, ProvisionError> {
    ensure_bucket(js, robots_bucket(cfg)).await
}

/// Finds the bucket `config` describes, creating it if missing.
async fn ensure_bucket(js: &Context, config: kv::Config) -> Result<kv::Store, ProvisionError> {
    let name = config.bucket.clone();
    let unavailable = |reason: String| ProvisionError::Unavailable {
        stream: format!("KV_{name}"),
        reason,
    };
    if let Ok(store) = js.get_key_value(&name).await {
        return Ok(store);
    }
    match js.create_key_value(config).await {
        Ok(store) => Ok(store),
        // Another fetcher created it in the meantime.
        Err(create_error) => js
            .get_key_value(&name)
            .await
            .map_err(|_| unavailable(create_error.to_string())),
    }
}

/// Finds the `fetchers` consumer, creating it if missing.
pub async fn ensure_fetchers_consumer(
    js: &Context,
    cfg: &Config,
) -> Result<consumer::Consumer<consumer::pull::Config>, ProvisionError> {
    let unavailable = |reason: String| ProvisionError::Unavailable {
        stream: TASKS_STREAM.to_owned(),
        reason,
    };
    let stream = js
        .get_stream(TASKS_STREAM)
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    stream
        .get_or_create_consumer(FETCHERS_CONSUMER, fetchers_consumer(cfg))
        .await
        .map_err(|e| unavailable(e.to_string()))
}

/// Why the streams could not be provisioned.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// The stream exists with settings the config does not want. Not
    /// retryable: an operator decides (`nats stream edit`, or fix the config).
    #[error(
        "stream {stream} exists with a different configuration: {}; \
         pagefeed does not rewrite it: {}",
        differences.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
        edit_hint(stream, differences)
    )]
    Conflict {
        stream: String,
        differences: Vec<Difference>,
    },
    /// NATS did not answer as hoped (not connected yet, no JetStream, timeout):
    /// worth retrying.
    #[error("cannot provision stream {stream}: {reason}")]
    Unavailable { stream: String, reason: String },
}

impl ProvisionError {
    /// Whether waiting and trying again may help.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ProvisionError::Unavailable { .. })
    }
}

/// Runs a provisioning step until it succeeds, retrying with a back-off while
/// NATS is unreachable or not ready. A conflict ends it at once; so does
/// `shutdown` (then `Ok(None)`).
pub async fn until_provisioned<T, F, Fut>(
    shutdown: &CancellationToken,
    mut step: F,
) -> Result<Option<T>, ProvisionError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProvisionError>>,
{
    let mut backoff = Backoff::default();
    loop {
        let attempt = tokio::select! {
            attempt = step() => attempt,
            () = shutdown.cancelled() => return Ok(None),
        };
        match attempt {
            Ok(value) => return Ok(Some(value)),
            Err(e) if !e.is_retryable() => return Err(e),
            Err(e) => warn!(error = %e, "NATS not ready; retrying"),
        }
        if !backoff.wait(shutdown).await {
            return Ok(None);
        }
    }
}

/// Creates both streams if missing; checks them if present.
pub async fn ensure_streams(js: &Context, cfg: &Config) -> Result<(), ProvisionError> {
    ensure_stream(js, tasks_stream(cfg)).await?;
    ensure_stream(js, events_stream(cfg)).await?;
    Ok(())
}

/// Creates a stream if missing. If it exists, compares the settings pagefeed
/// relies on and reports any difference as [`ProvisionError::Conflict`].
/// Safe to run from many services at once.
pub async fn ensure_stream(js: &Context, want: stream::Config) -> Result<(), ProvisionError> {
    let unavailable = |reason: String| ProvisionError::Unavailable {
        stream: want.name.clone(),
        reason,
    };
    // Looked up before any create, so that a service whose NATS user may only
    // read the stream's info (deploy/nats/permissions.conf) finds it.
    let have = match js.get_stream(&want.name).await {
        Ok(existing) => existing.cached_info().config.clone(),
        Err(e) => match e.kind() {
            GetStreamErrorKind::JetStream(js_err)
                if js_err.error_code() == ErrorCode::STREAM_NOT_FOUND =>
            {
                // Creating a stream with exactly the existing config succeeds,
                // so a race with another service is harmless; anything else
                // comes back as "name already in use".
                match js.create_stream(want.clone()).await {
                    Ok(_) => return Ok(()),
                    Err(e) => match e.kind() {
                        CreateStreamErrorKind::JetStream(js_err)
                            if js_err.error_code() == ErrorCode::STREAM_NAME_EXIST => {}
                        _ => return Err(unavailable(e.to_string())),
                    },
                }
                js.get_stream(&want.name)
                    .await
                    .map_err(|e| unavailable(e.to_string()))?
                    .cached_info()
                    .config
                    .clone()
            }
            _ => return Err(unavailable(e.to_string())),
        },
    };
    let differences = differences(&have, &want);
    if differences.is_empty() {
        Ok(())
    } else {
        Err(ProvisionError::Conflict {
            stream: want.name,
            differences,
        })
    }
}

/// One setting of an existing stream that is not what the config wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub field: &'static str,
    pub have: String,
    pub want: String,
    /// The `nats stream edit` flag that changes it, if it can be changed in place.
    pub edit_flag: Option<&'static str>,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is {} on the server, the config wants {}",
            self.field, self.have, self.want
        )
    }
}

fn edit_hint(stream: &str, differences: &[Difference]) -> String {
    let flags: Vec<String> = differences
        .iter()
        .filter_map(|d| d.edit_flag.map(|flag| format!("{flag} {}", d.want)))
        .collect();
    let fixed_only_by_recreating = differences.iter().any(|d| d.edit_flag.is_none());
    let mut hint = String::new();
    if !flags.is_empty() {
        hint = format!("run `nats stream edit {stream} {}`", flags.join(" "));
    }
    if fixed_only_by_recreating {
        if !hint.is_empty() {
            hint.push_str("; ");
        }
        hint.push_str("retention and storage cannot be edited: back up and recreate the stream");
    }
    format!("{hint}, or change pagefeed's config to match")
}

/// The settings pagefeed relies on that differ.
pub fn differences(have: &stream::Config, want: &stream::Config) -> Vec<Difference> {
    let mut out = Vec::new();
    let mut check = |field, edit_flag, have: String, want: String| {
        if have != want {
            out.push(Difference {
                field,
                have,
                want,
                edit_flag,
            });
        }
    };
    let mut have_subjects = have.subjects.clone();
    let mut want_subjects = want.subjects.clone();
    have_subjects.sort();
    want_subjects.sort();
    check(
        "subjects",
        Some("--subjects"),
        have_subjects.join(","),
        want_subjects.join(","),
    );
    check(
        "retention",
        None,
        format!("{:?}", have.retention),
        format!("{:?}", want.retention),
    );
    check(
        "storage",
        None,
        format!("{:?}", have.storage),
        format!("{:?}", want.storage),
    );
    check(
        "replicas",
        Some("--replicas"),
        have.num_replicas.to_string(),
        want.num_replicas.to_string(),
    );
    check(
        "max_age",
        Some("--max-age"),
        cli_duration(have.max_age),
        cli_duration(want.max_age),
    );
    check(
        "duplicate_window",
        Some("--dupe-window"),
        cli_duration(have.duplicate_window),
        cli_duration(want.duplicate_window),
    );
    out
}

/// A duration as the `nats` CLI takes it (`--max-age 241h`), so the
/// conflict message can be pasted.
fn cli_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else {
        format!("{secs}s")
    }
}
