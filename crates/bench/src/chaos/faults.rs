//! The faults the chaos injects, each in three steps so that several can
//! run at once: [`begin`] breaks something, [`end`] undoes it when the
//! fault's time is up, [`recovered`] says when what it broke runs again.
//! A service SIGKILLed and started again, a service frozen (SIGSTOP) then
//! continued, one nats-server SIGKILLed and started again on its store
//! (sometimes the JetStream meta leader, or a stream's leader).

use std::time::Duration;

use super::system::System;

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
        }
    }

    /// How long the fault lasts between its [`begin`] and its [`end`].
    pub fn lasts(&self) -> Duration {
        match self {
            Fault::Kill { down, .. } | Fault::KillNats { down, .. } => *down,
            Fault::Pause { paused, .. } => *paused,
        }
    }

    /// What it takes from the system while it runs.
    pub fn holds(&self) -> Holds {
        match self {
            Fault::Kill { process, .. } | Fault::Pause { process, .. } => {
                Holds::Service(process.clone())
            }
            Fault::KillNats { .. } => Holds::NatsNode,
        }
    }

    /// The process that is not running while the fault lasts, as
    /// [`System::not_running`] names it; `None` if every process runs.
    pub fn keeps_down(&self, begun: &Begun) -> Option<String> {
        match self {
            Fault::Kill { process, .. } => Some(process.clone()),
            Fault::KillNats { .. } => begun.nats.as_ref().map(|name| format!("nats-{name}")),
            Fault::Pause { .. } => None,
        }
    }
}

/// What [`begin`] did: for the log, and what [`end`] needs.
#[derive(Debug, Clone, Default)]
pub struct Begun {
    /// The nats-server a [`Fault::KillNats`] killed (`n2`).
    pub nats: Option<String>,
    /// What was done, for the log.
    pub done: String,
}

/// Breaks what `fault` names. Returns at once (the fault then lasts
/// [`Fault::lasts`]).
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
            })
        }
    }
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
    }
}

/// Whether what `fault` broke runs again since its [`end`]: a service is
/// ready (a projector: its API answers), a nats-server's JetStream answers.
pub async fn recovered(system: &mut System, fault: &Fault, begun: &Begun) -> anyhow::Result<bool> {
    match fault {
        Fault::Kill { process, .. } => system.process(process)?.is_ready().await,
        Fault::Pause { .. } => Ok(true),
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
