//! Partition faults: a service cut off from every nats-server (through the
//! proxies it connects by, one per server), or one nats-server cut off from
//! the other two (through the cluster's route proxies); silent (connections
//! stay open, no byte moves) or refused (connections closed, new ones
//! refused), healed when the fault ends.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use pagefeed_testkit::nats::{NatsCluster, Partition};
use pagefeed_testkit::proxy::TcpProxy;

/// What a partition cuts off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cut {
    /// This service process, from every nats-server.
    Service(String),
    /// Server `n<i+1>`, from the other two.
    Nats(usize),
}

/// The proxies each service process connects to NATS through, one per
/// nats-server, by process name.
#[derive(Default)]
pub struct Links(BTreeMap<String, Vec<TcpProxy>>);

impl Links {
    /// Proxies for `process` to every server of `cluster`; returns the
    /// `--nats-url` that goes through them.
    pub async fn add(&mut self, process: &str, cluster: &NatsCluster) -> anyhow::Result<String> {
        let mut proxies = Vec::new();
        for server in &cluster.servers {
            let upstream = SocketAddr::from(([127, 0, 0, 1], server.port()));
            proxies.push(TcpProxy::start(upstream).await?);
        }
        let url = proxies
            .iter()
            .map(TcpProxy::url)
            .collect::<Vec<_>>()
            .join(",");
        self.0.insert(process.to_owned(), proxies);
        Ok(url)
    }

    fn of(&self, process: &str) -> anyhow::Result<&[TcpProxy]> {
        self.0
            .get(process)
            .map(Vec::as_slice)
            .ok_or_else(|| anyhow::anyhow!("{process} does not connect through proxies"))
    }
}

/// The kind's name in the report: `silent` or `refused`.
pub fn kind_name(kind: Partition) -> &'static str {
    match kind {
        Partition::Silent => "silent",
        Partition::Refused => "refused",
    }
}

/// Cuts `cut` off, the `kind` way. Returns what was done, for the log.
pub fn begin(
    links: &Links,
    cluster: &mut NatsCluster,
    cut: &Cut,
    kind: Partition,
) -> anyhow::Result<String> {
    match cut {
        Cut::Service(process) => {
            for proxy in links.of(process)? {
                match kind {
                    Partition::Silent => proxy.silence(),
                    Partition::Refused => proxy.cut(),
                }
            }
            Ok(format!(
                "{process} partitioned from every nats-server ({})",
                kind_name(kind)
            ))
        }
        Cut::Nats(i) => {
            cluster.partition(*i, kind)?;
            Ok(format!(
                "nats-server {} partitioned from the other two ({})",
                cluster.servers[*i].name(),
                kind_name(kind)
            ))
        }
    }
}

/// Heals `cut`. Returns what was done, for the log.
pub fn end(links: &Links, cluster: &mut NatsCluster, cut: &Cut) -> anyhow::Result<String> {
    match cut {
        Cut::Service(process) => {
            for proxy in links.of(process)? {
                proxy.restore();
            }
            Ok(format!("{process}'s partition healed"))
        }
        Cut::Nats(i) => {
            cluster.heal(*i);
            Ok(format!(
                "nats-server {}'s partition healed",
                cluster.servers[*i].name()
            ))
        }
    }
}
