//! The processes a benchmark runs and watches: the release binaries next to
//! this one, pinning to a core with `taskset`, and what /proc says about a
//! process (CPU time used, peak resident memory).

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{ChildStdout, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

/// The core of the measured client: this process for the in-process runs,
/// the fetcher processes for the end-to-end runs.
pub const CLIENT_CORE: usize = 0;
/// The core of everything the client talks to: the sample site, nats-server
/// (and this process while it only watches the fetchers).
pub const SERVER_CORE: usize = 1;

/// The release binaries a benchmark runs, found next to its own executable.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub sample_site: PathBuf,
    pub scheduler: PathBuf,
    pub fetcher: PathBuf,
    pub projector: PathBuf,
}

impl Binaries {
    pub fn locate() -> anyhow::Result<Binaries> {
        let exe = std::env::current_exe().context("cannot find this executable")?;
        let dir = exe
            .parent()
            .with_context(|| format!("{} has no parent directory", exe.display()))?;
        let find = |name: &str| {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                bail!(
                    "{} is missing: build the release binaries first with \
                     `cargo build --release --bins`",
                    path.display()
                )
            }
        };
        Ok(Binaries {
            sample_site: find("pagefeed-sample-site")?,
            scheduler: find("pagefeed-scheduler")?,
            fetcher: find("pagefeed-fetcher")?,
            projector: find("pagefeed-projector")?,
        })
    }
}

/// Whether processes are pinned to cores (with `taskset`, when it exists and
/// there are at least two cores).
#[derive(Debug, Clone, Copy)]
pub struct Pinning {
    enabled: bool,
}

impl Pinning {
    pub fn detect(machine: &Machine) -> Pinning {
        let taskset = Command::new("taskset")
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        Pinning {
            enabled: taskset && machine.cores >= 2,
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// A command that runs `program` (after `wrapper`, e.g. valgrind) on `core`.
    pub fn command(&self, core: usize, wrapper: &[String], program: &Path) -> Command {
        let mut words = self.wrapper(core, wrapper);
        words.push(program.into());
        let mut command = Command::new(&words[0]);
        command.args(&words[1..]);
        command
    }

    /// The words before a program that run it (after `wrapper`) on `core`,
    /// for `ServiceCommand::wrapped`.
    pub fn wrapper(&self, core: usize, wrapper: &[String]) -> Vec<std::ffi::OsString> {
        let mut words: Vec<std::ffi::OsString> = Vec::new();
        if self.enabled {
            words.extend(["taskset".into(), "-c".into(), core.to_string().into()]);
        }
        words.extend(wrapper.iter().map(Into::into));
        words
    }

    /// Moves every thread of a running process to `core`; threads it starts
    /// later inherit the affinity.
    pub fn pin_pid(&self, pid: u32, core: usize) -> anyhow::Result<()> {
        if !self.enabled {
            return Ok(());
        }
        let status = Command::new("taskset")
            .args(["-a", "-c", "-p", &core.to_string(), &pid.to_string()])
            .stdout(Stdio::null())
            .status()
            .context("cannot run taskset")?;
        anyhow::ensure!(
            status.success(),
            "taskset -a -c -p {core} {pid} failed: {status}"
        );
        Ok(())
    }

    pub fn pin_self(&self, core: usize) -> anyhow::Result<()> {
        self.pin_pid(std::process::id(), core)
    }
}

/// The one-line machine note of a report.
#[derive(Debug, Clone)]
pub struct Machine {
    /// Every online core, whatever this process's affinity.
    pub cores: usize,
    pub cpu_model: String,
}

impl Machine {
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |line: &str, name: &str| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == name).then(|| value.trim().to_owned())
        };
        let cores = cpuinfo
            .lines()
            .filter(|l| field(l, "processor").is_some())
            .count();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| field(l, "model name"))
            .unwrap_or_else(|| "unknown CPU".to_owned());
        Machine {
            cores: cores.max(1),
            cpu_model,
        }
    }
}

/// CPU time (user + system, all threads) process `pid` has used so far.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    stat_cpu_time(&format!("/proc/{pid}/stat"))
}

/// CPU time (user + system) used so far by thread `tid` of process `pid`.
pub fn cpu_time_of_thread(pid: u32, tid: u32) -> anyhow::Result<Duration> {
    stat_cpu_time(&format!("/proc/{pid}/task/{tid}/stat"))
}

/// The user + system time of a `/proc/.../stat` file.
fn stat_cpu_time(path: &str) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
    // The command name (field 2) may hold spaces; what follows its ')' does not.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .with_context(|| format!("{path}: no ')'"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15, i.e. 12th and 13th after ')'.
    let ticks = |i: usize| -> anyhow::Result<u64> {
        fields
            .get(i)
            .with_context(|| format!("{path}: too few fields"))?
            .parse::<u64>()
            .with_context(|| format!("{path}: field {} is not a number", i + 3))
    };
    let total = ticks(11)? + ticks(12)?;
    Ok(Duration::from_secs_f64(total as f64 / clock_ticks() as f64))
}

/// Peak resident set size (`VmHWM`) of process `pid`, in KiB.
pub fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("{path} has no VmHWM"))
}

/// `sysconf(_SC_CLK_TCK)`, from `getconf` (this crate has no unsafe code).
fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// The pid of the one process whose command line contains `text` (how the
/// nats-server of the test harness, which does not expose its pid, is found
/// by its temporary directory).
pub fn pid_with_arg(text: &str) -> Option<u32> {
    let out = Command::new("pgrep")
        .args(["-f", "--", text])
        .output()
        .ok()?;
    let pids: Vec<u32> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .filter(|&pid| pid != std::process::id())
        .collect();
    match pids.as_slice() {
        [pid] => Some(*pid),
        _ => None,
    }
}

/// A child process of the benchmark, logging to a file; killed if it is
/// still running when dropped.
pub struct Child {
    name: String,
    child: Option<std::process::Child>,
    /// Kept open so that a late write to stdout does not fail.
    stdout: Option<BufReader<ChildStdout>>,
    log: PathBuf,
}

impl Child {
    /// Starts `command` with stderr (and stdout unless `piped_stdout`) going to `log`.
    pub fn spawn(
        name: &str,
        mut command: Command,
        log: PathBuf,
        piped_stdout: bool,
    ) -> anyhow::Result<Child> {
        let file = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let stdout = if piped_stdout {
            Stdio::piped()
        } else {
            Stdio::from(file.try_clone()?)
        };
        let child = command
            // Several services at once: each serves its metrics on a port
            // of its own, never on the default ones.
            .env("PAGEFEED_METRICS", "127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(file)
            .spawn()
            .with_context(|| format!("cannot start {name}: {command:?}"))?;
        Ok(Child {
            name: name.to_owned(),
            child: Some(child),
            stdout: None,
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, std::process::Child::id)
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Fails, with the end of its log, if the process has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        let Some(child) = self.child.as_mut() else {
            bail!("{} is not running", self.name);
        };
        if let Some(status) = child.try_wait()? {
            bail!("{} exited with {status}:\n{}", self.name, self.log_tail(30));
        }
        Ok(())
    }

    /// The exit status if the process has exited, without waiting.
    pub fn try_wait(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        let Some(child) = self.child.as_mut() else {
            bail!("{} is not running", self.name);
        };
        Ok(child.try_wait()?)
    }

    /// Sends SIGTERM and waits up to `within` for the process to exit.
    pub fn terminate(&mut self, within: Duration) -> anyhow::Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            bail!("{} is not running", self.name);
        };
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .context("cannot run kill")?;
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "{} did not exit within {within:?} of SIGTERM:\n{}",
                    self.name,
                    self.log_tail(30)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Reads the first line the process writes to its (piped) stdout.
    fn first_stdout_line(&mut self) -> anyhow::Result<String> {
        if self.stdout.is_none() {
            let piped = self.child.as_mut().and_then(|c| c.stdout.take());
            self.stdout = piped.map(BufReader::new);
        }
        let stdout = self
            .stdout
            .as_mut()
            .with_context(|| format!("{}: stdout is not piped", self.name))?;
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        if line.is_empty() {
            bail!(
                "{} printed nothing on stdout:\n{}",
                self.name,
                self.log_tail(30)
            );
        }
        Ok(line.trim().to_owned())
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        pagefeed_testkit::logs::tail(&self.log, n)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The sample site, as its release binary, on [`SERVER_CORE`].
pub struct SampleSiteProcess {
    child: Child,
    /// `http://127.0.0.1:PORT/recent_page_feed?page_id={id}`
    pub url_template: String,
}

impl SampleSiteProcess {
    pub fn start(
        bins: &Binaries,
        pins: &Pinning,
        latency_ms: u64,
        log_dir: &Path,
    ) -> anyhow::Result<SampleSiteProcess> {
        let mut command = pins.command(SERVER_CORE, &[], &bins.sample_site);
        command
            .args(["--listen", "127.0.0.1:0", "--latency-ms"])
            .arg(latency_ms.to_string())
            .env_remove("RUST_LOG");
        let log = log_dir.join(format!("sample-site-{latency_ms}ms.log"));
        let mut child = Child::spawn("the sample site", command, log, true)?;
        let line = child.first_stdout_line()?;
        let base = line
            .strip_prefix("sample site listening on ")
            .with_context(|| format!("unexpected first line from the sample site: {line}"))?;
        Ok(SampleSiteProcess {
            url_template: format!("{base}/recent_page_feed?page_id={{id}}"),
            child,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    pub fn stop(mut self) -> anyhow::Result<()> {
        let status = self.child.terminate(Duration::from_secs(10))?;
        anyhow::ensure!(status.success(), "the sample site exited with {status}");
        Ok(())
    }
}
