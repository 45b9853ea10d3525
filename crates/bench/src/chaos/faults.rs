//! The faults the chaos injects, one at a time: a service SIGKILLed and
//! started again, a service frozen (SIGSTOP) then continued, one
//! nats-server SIGKILLed and started again on its store (sometimes the
//! JetStream meta leader, or a stream's leader).

use std::time::{Duration, Instant};

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

/// A service's kind from its process name: `fetcher-2` → `fetcher`,
/// `projector-a` → `projector`, `sample-site` as it is.
fn service_kind(process: &str) -> &str {
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
}

/// Injects `fault` and waits until what it broke runs again (a projector:
/// its API answers; a nats-server: it listens and JetStream answers on
/// every server). Returns what was done, for the log.
pub async fn inject(system: &mut System, fault: &Fault) -> anyhow::Result<String> {
    match fault {
        Fault::Kill { process, down } => {
            let p = system.process(process)?;
            let pid = p.pid();
            let status = p.kill()?;
            tokio::time::sleep(*down).await;
            p.restart()?;
            p.wait_ready(Duration::from_secs(60)).await?;
            Ok(format!(
                "{process} (pid {pid}) SIGKILLed ({status}), restarted {down:?} later as pid {}",
                p.pid()
            ))
        }
        Fault::Pause { process, paused } => {
            let p = system.process(process)?;
            p.stop()?;
            tokio::time::sleep(*paused).await;
            p.cont()?;
            Ok(format!(
                "{process} (pid {}) stopped for {paused:?}",
                p.pid()
            ))
        }
        Fault::KillNats { target, down } => {
            // Never kill a second node while the first still catches up:
            // the cluster keeps its quorum.
            let healthy_since = Instant::now();
            let mut healthy = false;
            while healthy_since.elapsed() < Duration::from_secs(60) {
                if system.streams_healthy().await {
                    healthy = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
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
            let server = &mut system.cluster.servers[i];
            server.kill();
            tokio::time::sleep(*down).await;
            server.restart().await?;
            system.cluster.wait_jetstream_ready().await?;
            Ok(format!(
                "nats-server {name} ({role}) SIGKILLed, restarted {down:?} later{}",
                if healthy {
                    ""
                } else {
                    "; the streams were NOT all current when it was killed (waited 60 s)"
                }
            ))
        }
    }
}
