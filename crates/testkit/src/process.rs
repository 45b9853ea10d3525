//! One service binary run as a real process: started from a
//! [`ServiceCommand`] with its output in a log file, signalled (SIGKILL,
//! SIGSTOP, SIGCONT, SIGTERM), restarted with the same command (or
//! another), and killed on drop.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

/// How a process shows that it is ready.
#[derive(Debug, Clone)]
enum Ready {
    /// Started and still running.
    Running,
    /// An HTTP GET of this URL gets an answer, whatever its status.
    Answers(String),
}

/// How to start a service: program, arguments, environment, and what says
/// it is ready. Every `PAGEFEED_*` variable of the test's own environment
/// is removed, `RUST_LOG` is `info` and `PAGEFEED_METRICS` `127.0.0.1:0`
/// unless set with [`Self::env`].
#[derive(Debug, Clone)]
pub struct ServiceCommand {
    name: String,
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, Option<OsString>)>,
    ready: Ready,
}

impl ServiceCommand {
    /// `program`, known in logs and messages as `name`.
    pub fn new(name: &str, program: impl AsRef<Path>) -> ServiceCommand {
        ServiceCommand {
            name: name.to_owned(),
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: vec![
                ("RUST_LOG".into(), Some("info".into())),
                // Each process serves its metrics on a port of its own, so
                // that two fetchers (or two tests) never meet on the
                // default one; `--metrics` on the command line wins.
                ("PAGEFEED_METRICS".into(), Some("127.0.0.1:0".into())),
            ],
            ready: Ready::Running,
        }
    }

    /// Runs the program through `wrapper` (for example `taskset -c 1`).
    pub fn wrapped<I, S>(mut self, wrapper: I) -> ServiceCommand
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let mut words: Vec<OsString> = wrapper.into_iter().map(Into::into).collect();
        if let Some(first) = (!words.is_empty()).then(|| words.remove(0)) {
            words.push(std::mem::replace(&mut self.program, first.into()).into());
            words.append(&mut self.args);
            self.args = words;
        }
        self
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> ServiceCommand {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> ServiceCommand
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> ServiceCommand {
        self.env.push((key.into(), Some(value.into())));
        self
    }

    pub fn env_remove(mut self, key: impl Into<OsString>) -> ServiceCommand {
        self.env.push((key.into(), None));
        self
    }

    /// Ready once an HTTP GET of `url` is answered (any status).
    pub fn ready_when_answers(mut self, url: impl Into<String>) -> ServiceCommand {
        self.ready = Ready::Answers(url.into());
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PAGEFEED_") {
                cmd.env_remove(key);
            }
        }
        for (key, value) in &self.env {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            };
        }
        cmd
    }
}

/// A running (or ended) service process; SIGKILLed on drop.
pub struct Process {
    command: ServiceCommand,
    log: PathBuf,
    child: Option<Child>,
}

impl Process {
    /// Starts `command`, its stdout and stderr appended to `log`.
    pub fn start(command: ServiceCommand, log: PathBuf) -> anyhow::Result<Process> {
        let mut process = Process {
            command,
            log,
            child: None,
        };
        process.spawn()?;
        Ok(process)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("cannot open {}", self.log.display()))?;
        let child = self
            .command
            .command()
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {} ({})",
                    self.command.name,
                    self.command.program.display()
                )
            })?;
        self.child = Some(child);
        Ok(())
    }

    pub fn name(&self) -> &str {
        &self.command.name
    }

    /// The pid of the process last started (it may have ended since).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Everything the process (and its earlier runs) wrote.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` lines of [`Self::log`].
    pub fn log_tail(&self, n: usize) -> String {
        crate::logs::tail(&self.log, n)
    }

    /// Its exit status if it has ended (reaping it), `None` while it runs.
    pub fn try_wait(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        match self.child.as_mut() {
            Some(child) => Ok(child.try_wait()?),
            None => bail!("{} was never started", self.command.name),
        }
    }

    /// Fails, with the end of its log, if the process has ended.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.try_wait()? {
            bail!(
                "{} exited with {status}; its log ends:\n{}",
                self.command.name,
                self.log_tail(30)
            );
        }
        Ok(())
    }

    /// SIGKILL, as a crash or the OOM killer would; waits for the exit.
    pub fn kill(&mut self) -> anyhow::Result<ExitStatus> {
        let Some(child) = self.child.as_mut() else {
            bail!("{} was never started", self.command.name);
        };
        // Fails only if it has already ended; wait says how.
        let _ = child.kill();
        Ok(child.wait()?)
    }

    /// SIGSTOP: the process freezes, its sockets stay open.
    pub fn stop(&self) -> anyhow::Result<()> {
        self.signal("STOP")
    }

    /// SIGCONT: a stopped process goes on.
    pub fn cont(&self) -> anyhow::Result<()> {
        self.signal("CONT")
    }

    /// SIGTERM, as an operator would; waits up to `within` for the exit.
    pub async fn terminate(&mut self, within: Duration) -> anyhow::Result<ExitStatus> {
        self.signal("TERM")?;
        self.wait_exit(within).await
    }

    /// Waits up to `within` for the process to end by itself.
    pub async fn wait_exit(&mut self, within: Duration) -> anyhow::Result<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!(
                    "{} still runs after {within:?}; its log ends:\n{}",
                    self.command.name,
                    self.log_tail(30)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts the same command again (SIGKILLing the process first if it
    /// still runs), its output appended to the same log.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        if self.try_wait()?.is_none() {
            self.kill()?;
        }
        self.spawn()
    }

    /// The command it was started with.
    pub fn command(&self) -> &ServiceCommand {
        &self.command
    }

    /// Starts `command` in its place (SIGKILLing the process first if it
    /// still runs), its output appended to the same log: the same service
    /// with another environment, for example.
    pub fn restart_as(&mut self, command: ServiceCommand) -> anyhow::Result<()> {
        if self.try_wait()?.is_none() {
            self.kill()?;
        }
        self.command = command;
        self.spawn()
    }

    /// Waits up to `within` until the process is ready (a projector: its
    /// API answers). Fails at once, with its log, if it exits meanwhile.
    pub async fn wait_ready(&mut self, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            if self.is_ready().await? {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} was not ready within {within:?}; its log ends:\n{}",
                    self.command.name,
                    self.log_tail(30)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether the process is ready now (one look, no wait). Fails, with
    /// its log, if it has ended.
    pub async fn is_ready(&mut self) -> anyhow::Result<bool> {
        self.check_running()?;
        Ok(match &self.command.ready {
            Ready::Running => true,
            Ready::Answers(url) => crate::projector_api::http_client()
                .get(url)
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .is_ok(),
        })
    }

    fn signal(&self, name: &str) -> anyhow::Result<()> {
        let pid = self.pid();
        anyhow::ensure!(pid != 0, "{} was never started", self.command.name);
        let status = Command::new("kill")
            .args(["-s", name, &pid.to_string()])
            .status()
            .context("cannot run kill")?;
        anyhow::ensure!(
            status.success(),
            "kill -s {name} {pid} ({}) failed",
            self.command.name
        );
        Ok(())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
