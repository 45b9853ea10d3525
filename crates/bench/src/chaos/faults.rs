//! The faults the chaos injects, each in three steps so that several can
//! run at once: [`begin`] breaks something, [`end`] undoes it when the
//! fault's time is up, [`recovered`] says when what it broke runs again.
//! A service SIGKILLed and started again, a service frozen (SIGSTOP) then
//! continued, one nats-server SIGKILLed and started again on its store
//! (sometimes the JetStream meta leader, or a stream's leader), a
//! projector's disk filled up then freed, a fetcher run with its clock off,
//! a service or a nats-server partitioned then healed (`partition.rs`).

use std::time::{Duration, Instant};

use pagefeed_testkit::nats::Partition;
use pagefeed_testkit::process::ServiceCommand;
use pagefeed_testkit::projector_api::http_client;
use pagefeed_testkit::tmpfs::fill;

use super::partition::{self, kind_name, Cut};
use super::system::{libfaketime, System, FILLER};

/// Which nats-server a [`Fault::KillNats`] kills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatsTarget {
    /// Server `n<i+1>`, whatever its role.
    Any(usize),
    /// The JetStream meta leader (from the monitoring endpoint's `/jsz`).
    MetaLeader,
    /// The RAFT leader of this stream (from its stream info).
    StreamLeader(&'static str),
}

/// One fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL, `down` later the same command again.
    Kill { process: String, down: Duration },
    /// SIGSTOP, `paused` later SIGCONT.
    Pause { process: String, paused: Duration },
    /// SIGKILL of one nats-server, `down` later started again on its store.
    KillNats { target: NatsTarget, down: Duration },
    /// A file takes all the room left on `process`'s tmpfs until the
    /// projector says it is stalled (a commit failed; at most
    /// [`STALL_WITHIN`]), and `full` more; then it is removed.
    FillDisk { process: String, full: Duration },
    /// `process` (a fetcher) restarted with its wall clock `skew_secs` off
    /// (libfaketime; its monotonic clock untouched), `lasts` later
    /// restarted with the right time. SIGTERM both times.
    SkewClock {
        process: String,
        skew_secs: i64,
        lasts: Duration,
    },
    /// `cut` partitioned the `kind` way, `lasts` later healed.
    Partition {
        cut: Cut,
        kind: Partition,
        lasts: Duration,
    },
}

/// What a running fault takes from the system, for the constraints on
/// faults that overlap (`schedule::allowed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holds {
    /// This service process (or the sample site).
    Service(String),
    /// One nats-server of the three (which one may be known only once the
    /// fault has begun: the meta leader, a stream's leader).
    NatsNode,
}

/// A service's kind from its process name: `fetcher-2` → `fetcher`,
/// `projector-a` → `projector`, `sample-site` as it is.
pub fn service_kind(process: &str) -> &str {
    ["scheduler", "fetcher", "projector"]
        .into_iter()
        .find(|kind| process.starts_with(&format!("{kind}-")))
        .unwrap_or(process)
}

impl Fault {
    /// The fault's kind, as the report counts them.
    pub fn kind(&self) -> String {
        match self {
            Fault::Kill { process, .. } => format!("kill {}", service_kind(process)),
            Fault::Pause { process, .. } => format!("pause {}", service_kind(process)),
            Fault::KillNats { target, .. } => match target {
                NatsTarget::Any(_) => "kill nats node".to_owned(),
                NatsTarget::MetaLeader => "kill nats meta leader".to_owned(),
                NatsTarget::StreamLeader(stream) => format!("kill nats {stream} leader"),
            },
            Fault::FillDisk { process, .. } => format!("fill {} disk", service_kind(process)),
            Fault::SkewClock { skew_secs, .. } => format!(
                "skew fetcher clock {}",
                if *skew_secs > 0 { "ahead" } else { "behind" }
            ),
            Fault::Partition { cut, kind, .. } => match cut {
                Cut::Service(process) => {
                    format!("partition {} {}", service_kind(process), kind_name(*kind))
                }
                Cut::Nats(_) => format!("partition nats node {}", kind_name(*kind)),
            },
        }
    }

    /// Whether the fault, begun at `began`, is due to [`end`]: once it has
    /// lasted [`Self::lasts`]; a full disk, once it has been seen to stall
    /// its projector `full` ago (or not within [`STALL_WITHIN`]).
    pub fn is_due(&self, begun: &Begun, began: Instant) -> bool {
        match self {
            Fault::FillDisk { full, .. } => begun
                .seen_at
                .map_or(began.elapsed() >= STALL_WITHIN, |at| at.elapsed() >= *full),
            _ => began.elapsed() >= self.lasts(),
        }
    }

    /// How long it lasts, for the log.
    pub fn length(&self) -> String {
        match self {
            Fault::FillDisk { full, .. } => format!(
                "until the projector stalls (at most {STALL_WITHIN:?}) and {:.1} s more",
                full.as_secs_f64()
            ),
            _ => format!("for {:.1} s", self.lasts().as_secs_f64()),
        }
    }

    /// How long the fault lasts between its [`begin`] and its [`end`] (a
    /// full disk: at least).
    pub fn lasts(&self) -> Duration {
        match self {
            Fault::Kill { down, .. } | Fault::KillNats { down, .. } => *down,
            Fault::Pause { paused, .. } => *paused,
            Fault::FillDisk { full, .. } => *full,
            Fault::SkewClock { lasts, .. } | Fault::Partition { lasts, .. } => *lasts,
        }
    }

    /// What it takes from the system while it runs.
    pub fn holds(&self) -> Holds {
        match self {
            Fault::Kill { process, .. }
            | Fault::Pause { process, .. }
            | Fault::FillDisk { process, .. }
            | Fault::SkewClock { process, .. } => Holds::Service(process.clone()),
            Fault::Partition { cut, .. } => match cut {
                Cut::Service(process) => Holds::Service(process.clone()),
                Cut::Nats(_) => Holds::NatsNode,
            },
            Fault::KillNats { .. } => Holds::NatsNode,
        }
    }

    /// The process that is not running while the fault lasts, as
    /// [`System::not_running`] names it; `None` if every process runs.
    pub fn keeps_down(&self, begun: &Begun) -> Option<String> {
        match self {
            Fault::Kill { process, .. } => Some(process.clone()),
            Fault::KillNats { .. } => begun.nats.as_ref().map(|name| format!("nats-{name}")),
            Fault::Pause { .. }
            | Fault::FillDisk { .. }
            | Fault::SkewClock { .. }
            | Fault::Partition { .. } => None,
        }
    }
}

/// How long a full disk may take to stall its projector: a commit fails
/// only once the file must grow, and it first fills the free pages it has.
pub const STALL_WITHIN: Duration = Duration::from_secs(90);

/// What [`begin`] did: for the log, and what [`end`] needs.
#[derive(Debug, Clone, Default)]
pub struct Begun {
    /// The nats-server a [`Fault::KillNats`] killed (`n2`).
    pub nats: Option<String>,
    /// The command a [`Fault::SkewClock`] replaced, to restart with.
    pub command: Option<ServiceCommand>,
    /// What was done, for the log.
    pub done: String,
    /// What [`during`] saw of the fault's effect (a projector that says it
    /// is stalled), and when.
    pub seen: Option<String>,
    pub seen_at: Option<Instant>,
    /// The projector's applied sequence when it was seen stalled.
    pub seen_seq: u64,
    /// A full disk's projector: its failed commits when the disk was
    /// filled, and as last seen while it was full. Equal, and never seen
    /// stalled: no commit was attempted and failed (no event reached it, or
    /// its file had room), so there was nothing to stall.
    pub failed_commits_before: Option<u64>,
    pub failed_commits_last: Option<u64>,
    pub began: Option<Instant>,
}

/// Breaks what `fault` names (a clock skew: once the fetcher has stopped and
/// started again under libfaketime); the fault then lasts until
/// [`Fault::is_due`].
pub async fn begin(system: &mut System, fault: &Fault) -> anyhow::Result<Begun> {
    match fault {
        Fault::Kill { process, .. } => {
            let p = system.process(process)?;
            let pid = p.pid();
            let status = p.kill()?;
            Ok(Begun {
                done: format!("{process} (pid {pid}) SIGKILLed ({status})"),
                ..Begun::default()
            })
        }
        Fault::Pause { process, .. } => {
            let p = system.process(process)?;
            p.stop()?;
            Ok(Begun {
                done: format!("{process} (pid {}) SIGSTOPped", p.pid()),
                ..Begun::default()
            })
        }
        Fault::KillNats { target, .. } => {
            let (name, role) = match target {
                NatsTarget::Any(i) => (system.cluster.servers[*i].name().to_owned(), "a node"),
                NatsTarget::MetaLeader => match system.cluster.meta_leader().await {
                    Some(leader) => (leader, "the meta leader"),
                    None => ("n1".to_owned(), "n1 (no meta leader reported)"),
                },
                NatsTarget::StreamLeader(stream) => match system.stream_leader(stream).await {
                    Some(leader) => (leader, "the stream leader"),
                    None => ("n1".to_owned(), "n1 (no stream leader reported)"),
                },
            };
            let i = system
                .cluster
                .server_named(&name)
                .ok_or_else(|| anyhow::anyhow!("no nats-server named {name}"))?;
            system.cluster.servers[i].kill();
            Ok(Begun {
                done: format!("nats-server {name} ({role}) SIGKILLed"),
                nats: Some(name),
                ..Begun::default()
            })
        }
        Fault::FillDisk { process, .. } => {
            let disk = system
                .small_disk
                .as_ref()
                .map_err(|why| anyhow::anyhow!("no small disk: {why}"))?;
            let filler = disk.path().join(FILLER);
            let failed_commits_before = match system.node(process.trim_start_matches("projector-"))
            {
                Ok(node) => failed_commits(node.http).await,
                Err(_) => None,
            };
            let filled = tokio::task::spawn_blocking(move || fill(&filler)).await??;
            Ok(Begun {
                done: format!(
                    "{process}'s disk filled up ({:.1} MiB written in {})",
                    filled as f64 / 1048576.0,
                    disk.path().join(FILLER).display()
                ),
                began: Some(Instant::now()),
                failed_commits_before,
                ..Begun::default()
            })
        }
        Fault::SkewClock {
            process, skew_secs, ..
        } => {
            let lib = libfaketime().map_err(|why| anyhow::anyhow!(why))?;
            let p = system.process(process)?;
            let normal = p.command().clone();
            let pid = p.pid();
            let stopped = p.terminate(Duration::from_secs(30)).await;
            p.restart_as(
                normal
                    .clone()
                    .env("LD_PRELOAD", lib)
                    .env("FAKETIME", format!("{skew_secs:+}s"))
                    .env("DONT_FAKE_MONOTONIC", "1"),
            )?;
            Ok(Begun {
                done: format!(
                    "{process} (pid {pid}) stopped ({}), restarted as pid {} with FAKETIME={skew_secs:+}s",
                    stopped.map_or_else(|e| format!("{e:#}"), |s| s.to_string()),
                    p.pid()
                ),
                command: Some(normal),
                ..Begun::default()
            })
        }
        Fault::Partition { cut, kind, .. } => Ok(Begun {
            done: partition::begin(&system.links, &mut system.cluster, cut, *kind)?,
            ..Begun::default()
        }),
    }
}

/// Looks, while `fault` lasts, for what it does (a projector with a full
/// disk says `"applying": "stalled"` in its status); records the first
/// sight in [`Begun::seen`] and returns it, for the log.
pub async fn during(system: &System, fault: &Fault, begun: &mut Begun) -> Option<String> {
    let Fault::FillDisk { process, .. } = fault else {
        return None;
    };
    if begun.seen.is_some() {
        return None;
    }
    let node = system.node(process.trim_start_matches("projector-")).ok()?;
    if let Some(failed) = failed_commits(node.http).await {
        begun.failed_commits_last = Some(failed);
    }
    let status = status_json(node.http).await?;
    if status["applying"] != "stalled" {
        return None;
    }
    let seen = format!(
        "{process} says stalled {:.1} s after its disk filled up: {}",
        begun.began.map_or(0.0, |at| at.elapsed().as_secs_f64()),
        status["apply_error"]
    );
    begun.seen = Some(seen.clone());
    begun.seen_at = Some(Instant::now());
    begun.seen_seq = status["applied_seq"].as_u64().unwrap_or(0);
    Some(seen)
}

/// A projector's `pagefeed_projector_failed_commits_total`, from its
/// `/metrics`; `None` while it does not answer.
async fn failed_commits(http: std::net::SocketAddr) -> Option<u64> {
    let text = get(http, "/metrics").await?.text().await.ok()?;
    text.lines()
        .find(|line| line.starts_with("pagefeed_projector_failed_commits_total"))?
        .rsplit(' ')
        .next()?
        .parse()
        .ok()
}

/// A projector's `/api/status`, as JSON; `None` while it does not answer.
async fn status_json(http: std::net::SocketAddr) -> Option<serde_json::Value> {
    get(http, "/api/status").await?.json().await.ok()
}

/// A projector's answer at `path`; `None` while it does not answer.
async fn get(http: std::net::SocketAddr, path: &str) -> Option<reqwest::Response> {
    http_client()
        .get(format!("http://{http}{path}"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()
}

/// Undoes `fault` (restart, SIGCONT). Returns what was done, for the log.
pub async fn end(system: &mut System, fault: &Fault, begun: &Begun) -> anyhow::Result<String> {
    match fault {
        Fault::Kill { process, .. } => {
            let p = system.process(process)?;
            p.restart()?;
            Ok(format!("{process} restarted as pid {}", p.pid()))
        }
        Fault::Pause { process, .. } => {
            let p = system.process(process)?;
            p.cont()?;
            Ok(format!("{process} (pid {}) continued (SIGCONT)", p.pid()))
        }
        Fault::KillNats { .. } => {
            let name = begun.nats.as_deref().unwrap_or("n1");
            let i = system
                .cluster
                .server_named(name)
                .ok_or_else(|| anyhow::anyhow!("no nats-server named {name}"))?;
            system.cluster.servers[i].restart().await?;
            Ok(format!("nats-server {name} restarted on its store"))
        }
        Fault::FillDisk { process, .. } => {
            let disk = system
                .small_disk
                .as_ref()
                .map_err(|why| anyhow::anyhow!("no small disk: {why}"))?;
            std::fs::remove_file(disk.path().join(FILLER))?;
            Ok(format!(
                "{process}'s disk freed; {}",
                begun
                    .seen
                    .as_deref()
                    .unwrap_or("it was NOT seen stalled while its disk was full")
            ))
        }
        Fault::SkewClock { process, .. } => {
            let normal = begun
                .command
                .clone()
                .ok_or_else(|| anyhow::anyhow!("{process}'s own command was not kept"))?;
            let p = system.process(process)?;
            let pid = p.pid();
            let stopped = p.terminate(Duration::from_secs(30)).await;
            p.restart_as(normal)?;
            Ok(format!(
                "{process} (pid {pid}) stopped ({}), restarted as pid {} with the right time",
                stopped.map_or_else(|e| format!("{e:#}"), |s| s.to_string()),
                p.pid()
            ))
        }
        Fault::Partition { cut, .. } => partition::end(&system.links, &mut system.cluster, cut),
    }
}

/// Whether what `fault` broke runs again since its [`end`]: a service is
/// ready (a projector: its API answers), a nats-server's JetStream answers
/// (restarted, or healed from a partition),
/// a projector whose disk was full applies again (past the sequence where
/// it stalled).
pub async fn recovered(system: &mut System, fault: &Fault, begun: &Begun) -> anyhow::Result<bool> {
    match fault {
        Fault::Kill { process, .. } | Fault::SkewClock { process, .. } => {
            system.process(process)?.is_ready().await
        }
        Fault::Pause { .. }
        | Fault::Partition {
            cut: Cut::Service(_),
            ..
        } => Ok(true),
        Fault::Partition {
            cut: Cut::Nats(i), ..
        } => Ok(system.cluster.servers[*i]
            .jetstream_answers(Duration::from_secs(2))
            .await),
        Fault::FillDisk { process, .. } => {
            let node = system.node(process.trim_start_matches("projector-"))?;
            // Applying again: past where it was when it stalled.
            Ok(status_json(node.http).await.is_some_and(|status| {
                status["applying"] == "ok"
                    && status["applied_seq"].as_u64().unwrap_or(0) > begun.seen_seq
            }))
        }
        Fault::KillNats { .. } => {
            let name = begun.nats.as_deref().unwrap_or("n1");
            let i = system
                .cluster
                .server_named(name)
                .ok_or_else(|| anyhow::anyhow!("no nats-server named {name}"))?;
            Ok(system.cluster.servers[i]
                .jetstream_answers(Duration::from_secs(2))
                .await)
        }
    }
}
