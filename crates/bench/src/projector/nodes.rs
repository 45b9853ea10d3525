//! The projector processes a run starts (the live nodes, `rebuild`) and
//! what it asks the nodes over HTTP (status, applied sequence, commits).
//! Every process this benchmark spawns is spawned here.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use pagefeed_testkit::nats::free_port;

use crate::procs::{peak_rss_kib, Binaries, Child};

/// Node `a` or `b`: a projector process with its HTTP address.
pub(super) struct Node {
    child: Child,
    pub(super) http: String,
}

impl Node {
    /// Starts node `name` with its data in `dir/name` and its log beside it.
    pub(super) fn start(
        bins: &Binaries,
        config: &Path,
        dir: &Path,
        name: &str,
    ) -> anyhow::Result<Node> {
        let port = free_port()?;
        let mut cmd = Command::new(&bins.projector);
        cmd.arg("--config")
            .arg(config)
            .arg("--data")
            .arg(dir.join(name))
            .args(["--node", name, "--http", &format!("127.0.0.1:{port}")])
            .env("RUST_LOG", "warn");
        let child = Child::spawn(
            &format!("projector {name}"),
            cmd,
            dir.join(format!("{name}.log")),
            false,
        )?;
        Ok(Node {
            child,
            http: format!("http://127.0.0.1:{port}"),
        })
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Stops the node (SIGTERM); its peak RSS in KiB (0 if unknown).
    pub(super) fn stop(mut self) -> anyhow::Result<u64> {
        let rss = peak_rss_kib(self.child.pid()).unwrap_or(0);
        self.child.terminate(Duration::from_secs(30))?;
        Ok(rss)
    }
}

/// Runs `pagefeed-projector rebuild` into `data`; (wall time, peak RSS KiB).
pub(super) async fn rebuild(
    bins: &Binaries,
    config: &Path,
    data: &Path,
) -> anyhow::Result<(Duration, u64)> {
    let run = rebuild_run(bins, config, data).await?;
    Ok((run.elapsed, run.peak_rss_kib))
}

/// What a `pagefeed-projector rebuild` took.
pub(super) struct RebuildRun {
    pub(super) elapsed: Duration,
    pub(super) peak_rss_kib: u64,
    /// Its CPU time, as last read before it exited (at most one poll, 20
    /// ms, short).
    pub(super) cpu: Duration,
    /// Of `cpu`, its apply thread's and its prepare thread's: on a machine
    /// to itself, the busiest thread is the rebuild's limit.
    pub(super) apply_thread: Duration,
    pub(super) prepare_thread: Duration,
}

/// Runs `pagefeed-projector rebuild` into `data`.
pub(super) async fn rebuild_run(
    bins: &Binaries,
    config: &Path,
    data: &Path,
) -> anyhow::Result<RebuildRun> {
    let started = Instant::now();
    let mut child = Command::new(&bins.projector)
        .arg("rebuild")
        .arg("--config")
        .arg(config)
        .arg("--data")
        .arg(data)
        .args(["--node", "r"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let pid = child.id();
    let mut peak = 0;
    let mut cpu = Duration::ZERO;
    let (mut apply_thread, mut prepare_thread) = (Duration::ZERO, Duration::ZERO);
    loop {
        if let Ok(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
        }
        if let Ok(t) = crate::procs::cpu_time(pid) {
            cpu = cpu.max(t);
        }
        apply_thread = apply_thread.max(thread_cpu(pid, "projector-apply"));
        prepare_thread = prepare_thread.max(thread_cpu(pid, "projector-prepa"));
        if let Some(status) = child.try_wait()? {
            let elapsed = started.elapsed();
            anyhow::ensure!(status.success(), "rebuild exited with {status}");
            return Ok(RebuildRun {
                elapsed,
                peak_rss_kib: peak,
                cpu,
                apply_thread,
                prepare_thread,
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The CPU time of process `pid`'s thread named `name` (as `comm` shows
/// it: its first 15 bytes), zero if it has none (yet).
fn thread_cpu(pid: u32, name: &str) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Duration::ZERO;
    };
    tasks
        .flatten()
        .filter_map(|task| {
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            if comm.trim_end() != name {
                return None;
            }
            let tid = task.file_name().to_str()?.parse().ok()?;
            crate::procs::cpu_time_of_thread(pid, tid).ok()
        })
        .sum()
}

pub(super) async fn get_json(
    http: &reqwest::Client,
    url: &str,
) -> anyhow::Result<serde_json::Value> {
    let response = http.get(url).send().await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await?;
    anyhow::ensure!(status.is_success(), "{url}: {status} {body}");
    Ok(body)
}

/// Waits until the node answers `/api/status`.
pub(super) async fn wait_status(
    http: &reqwest::Client,
    node: &str,
    within: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    while get_json(http, &format!("{node}/api/status")).await.is_err() {
        if Instant::now() > deadline {
            bail!("{node} did not answer within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// The node's applied sequence, from its `/api/status`.
pub(super) async fn applied(http: &reqwest::Client, node: &str) -> anyhow::Result<u64> {
    let status = get_json(http, &format!("{node}/api/status")).await?;
    status["applied_seq"]
        .as_u64()
        .with_context(|| format!("no applied_seq in {status}"))
}

/// When the node has applied `seq` (polled every 10 ms).
pub(super) async fn wait_applied(
    http: &reqwest::Client,
    node: &str,
    seq: u64,
    within: Duration,
) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + within;
    loop {
        if applied(http, node).await? >= seq {
            return Ok(Instant::now());
        }
        if Instant::now() > deadline {
            bail!("{node} did not apply {seq} within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// (commit seconds, commits, events applied) from a node's `/metrics`.
pub(super) async fn commits(http: &reqwest::Client, node: &str) -> anyhow::Result<(f64, f64, f64)> {
    let text = http
        .get(format!("{node}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let value = |name: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(&format!("{name}{{")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    Ok((
        value("pagefeed_projector_batch_commit_seconds_sum"),
        value("pagefeed_projector_batch_commit_seconds_count"),
        value("pagefeed_projector_events_applied_total"),
    ))
}
