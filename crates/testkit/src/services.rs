//! One handle on a whole system run as real processes: a nats-server, a
//! config file for it, and any number of sample sites, schedulers, fetchers
//! and projectors, each logging to a file in the handle's TempDir. Dropping
//! the handle kills them all, services first, nats-server last.

use std::net::SocketAddr;
use std::ops::{Index, IndexMut};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream;
use pagefeed_events::Config;
use tempfile::TempDir;

use crate::nats::{free_port, NatsServer};
use crate::process::{Process, ServiceCommand};
use crate::projector_api::free_http;

/// The binary `name` (e.g. `pagefeed-fetcher`) of this workspace, next to
/// the running test executable (`target/<profile>/`, the test being in
/// `target/<profile>/deps/`), as assert_cmd's `cargo_bin` finds it. A
/// service crate's own tests use `env!("CARGO_BIN_EXE_<name>")` instead.
///
/// Panics, naming the build command, when it is missing.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let mut dir = exe.parent().expect("the test executable's directory");
    if dir.ends_with("deps") {
        dir = dir.parent().expect("target/<profile>");
    }
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: build the binaries first with `cargo build --workspace --bins` \
         (`cargo test --workspace` builds them too)",
        path.display()
    );
    path
}

/// A projector started by [`Services::projector`].
#[derive(Debug, Clone)]
pub struct Node {
    /// Its `--node` name.
    pub name: String,
    /// Its process's name in the handle: `projector-<name>`.
    pub process: String,
    pub data: PathBuf,
    pub http: SocketAddr,
}

impl Node {
    /// `http://<its API address><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }
}

/// The handle: see the module documentation.
pub struct Services {
    processes: Vec<Process>,
    nats: NatsServer,
    config: PathBuf,
    dir: TempDir,
}

impl Services {
    /// A nats-server with JetStream and nothing else yet.
    pub async fn start() -> anyhow::Result<Services> {
        Services::start_with("").await
    }

    /// [`Services::start`], the nats-server's config with `nats_extra`
    /// lines (an `authorization { ... }` block, `max_payload: ...`).
    pub async fn start_with(nats_extra: &str) -> anyhow::Result<Services> {
        let nats = NatsServer::start_with(nats_extra).await?;
        let dir = tempfile::Builder::new()
            .prefix("pagefeed-services-")
            .tempdir()?;
        std::fs::create_dir_all(dir.path().join("logs"))?;
        Ok(Services {
            processes: Vec::new(),
            nats,
            config: dir.path().join("pagefeed.toml"),
            dir,
        })
    }

    /// The handle's directory: the config, the projectors' data, `logs/`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn nats(&self) -> &NatsServer {
        &self.nats
    }

    pub fn nats_mut(&mut self) -> &mut NatsServer {
        &mut self.nats
    }

    pub fn nats_url(&self) -> String {
        self.nats.url()
    }

    /// A JetStream context on a client of the nats-server.
    pub async fn jetstream(&self) -> anyhow::Result<jetstream::Context> {
        crate::streams::jetstream_at(&self.nats.url()).await
    }

    /// The config file every service is started with (`--config`).
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// Writes the config file and returns it parsed.
    pub fn write_config(&self, text: &str) -> anyhow::Result<Config> {
        std::fs::write(&self.config, text)?;
        Ok(Config::load(&self.config)?)
    }

    /// Starts any process, logging to `logs/<name>.log`; names are unique.
    pub fn spawn(&mut self, command: ServiceCommand) -> anyhow::Result<&mut Process> {
        anyhow::ensure!(
            self.find(command.name()).is_none(),
            "a process named {} is already there",
            command.name()
        );
        let log = self
            .dir
            .path()
            .join("logs")
            .join(format!("{}.log", command.name()));
        self.processes.push(Process::start(command, log)?);
        Ok(self.processes.last_mut().expect("just pushed"))
    }

    /// The sample site binary on a free loopback port, ready when it
    /// answers; returns its URL template (`...?page_id={id}`).
    pub async fn sample_site(
        &mut self,
        bin: impl AsRef<Path>,
        args: &[&str],
    ) -> anyhow::Result<String> {
        let base = format!("http://127.0.0.1:{}", free_port()?);
        let listen = base.trim_start_matches("http://").to_owned();
        let name = self.next_name("sample-site");
        let site = self.spawn(
            ServiceCommand::new(&name, bin)
                .args(["--listen", &listen])
                .args(args)
                .ready_when_answers(format!("{base}/")),
        )?;
        site.wait_ready(Duration::from_secs(20)).await?;
        Ok(format!("{base}/recent_page_feed?page_id={{id}}"))
    }

    /// A scheduler (`scheduler-1`, `scheduler-2`, ...) on the config file.
    pub fn scheduler(
        &mut self,
        bin: impl AsRef<Path>,
        args: &[&str],
    ) -> anyhow::Result<&mut Process> {
        self.numbered("scheduler", bin.as_ref(), args)
    }

    /// A fetcher (`fetcher-1`, `fetcher-2`, ...) on the config file.
    pub fn fetcher(
        &mut self,
        bin: impl AsRef<Path>,
        args: &[&str],
    ) -> anyhow::Result<&mut Process> {
        self.numbered("fetcher", bin.as_ref(), args)
    }

    /// `bin --config <file> args`, named `<kind>-<n>`.
    fn numbered(&mut self, kind: &str, bin: &Path, args: &[&str]) -> anyhow::Result<&mut Process> {
        let name = self.next_name(kind);
        let command = self.configured(&name, bin).args(args);
        self.spawn(command)
    }

    /// Projector `node` (process `projector-<node>`) on the config file,
    /// its data in `<dir>/projector-<node>`, its API on a free loopback
    /// port; ready when its `/api/status` answers.
    pub fn projector(
        &mut self,
        bin: impl AsRef<Path>,
        node: &str,
        args: &[&str],
    ) -> anyhow::Result<Node> {
        let (command, node) = self.projector_command(bin, node, args)?;
        self.spawn(command)?;
        Ok(node)
    }

    /// What [`Services::projector`] starts, for a test to add to (an
    /// environment variable) before it [`Services::spawn`]s it.
    pub fn projector_command(
        &self,
        bin: impl AsRef<Path>,
        node: &str,
        args: &[&str],
    ) -> anyhow::Result<(ServiceCommand, Node)> {
        let process = format!("projector-{node}");
        let data = self.dir.path().join(&process);
        let http = free_http()?;
        let command = self
            .configured(&process, bin)
            .arg("--data")
            .arg(&data)
            .args(["--node", node, "--http", &http.to_string()])
            .args(args)
            .ready_when_answers(format!("http://{http}/api/status"));
        let node = Node {
            name: node.to_owned(),
            process,
            data,
            http,
        };
        Ok((command, node))
    }

    /// Waits until every process is ready (see [`Process::wait_ready`]).
    pub async fn wait_ready(&mut self, within: Duration) -> anyhow::Result<()> {
        for process in &mut self.processes {
            process.wait_ready(within).await?;
        }
        Ok(())
    }

    /// The last `lines` lines of every process's log, for a failure message.
    pub fn log_tails(&self, lines: usize) -> String {
        self.processes
            .iter()
            .map(|p| format!("--- {} ---\n{}\n", p.name(), p.log_tail(lines)))
            .collect()
    }

    fn configured(&self, name: &str, bin: impl AsRef<Path>) -> ServiceCommand {
        ServiceCommand::new(name, bin)
            .arg("--config")
            .arg(&self.config)
    }

    fn next_name(&self, kind: &str) -> String {
        let prefix = format!("{kind}-");
        let n = self
            .processes
            .iter()
            .filter(|p| p.name().starts_with(&prefix))
            .count();
        format!("{kind}-{}", n + 1)
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.processes.iter().position(|p| p.name() == name)
    }

    fn index_of(&self, name: &str) -> usize {
        self.find(name)
            .with_context(|| {
                let names: Vec<&str> = self.processes.iter().map(Process::name).collect();
                format!("no process named {name}; there are {names:?}")
            })
            .unwrap()
    }
}

impl Index<&str> for Services {
    type Output = Process;

    /// The process named `name`; panics if there is none.
    fn index(&self, name: &str) -> &Process {
        &self.processes[self.index_of(name)]
    }
}

impl IndexMut<&str> for Services {
    fn index_mut(&mut self, name: &str) -> &mut Process {
        let i = self.index_of(name);
        &mut self.processes[i]
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        // Services first, newest first; the nats-server and the directory
        // go with the fields.
        while let Some(process) = self.processes.pop() {
            drop(process);
        }
    }
}
