//! Smoke tests of the real `pagefeed-scheduler` executable: a bad config or
//! flag exits with code 2 and a message naming the file, site and field before
//! anything reaches NATS; a good config publishes and stops cleanly with exit
//! code 0 on SIGTERM and on SIGINT.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use pagefeed_events::subject::TASKS_STREAM;
use pagefeed_testkit::nats::NatsServer;
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_pagefeed-scheduler");
const EXAMPLE: &str = include_str!("../../../pagefeed.example.toml");
const EXAMPLE_URL: &str = "url = \"nats://127.0.0.1:4222\"";

/// `text` with the one occurrence of `from` replaced (a mutation that matches
/// nothing would test nothing).
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from:?} in:\n{text}");
    text.replacen(from, to, 1)
}

/// The committed example, pointed at `nats`.
fn example_at(nats: &NatsServer) -> String {
    replace_once(EXAMPLE, EXAMPLE_URL, &format!("url = \"{}\"", nats.url()))
}

/// The 1-based line of the first line of `text` that starts with `start`.
fn line_of(text: &str, start: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line starts with {start:?}"))
        + 1
}

/// A config file in its own directory, and the scheduler's stderr beside it.
struct Workdir {
    dir: TempDir,
}

impl Workdir {
    fn new() -> Workdir {
        Workdir {
            dir: tempfile::Builder::new()
                .prefix("pagefeed-cli-")
                .tempdir()
                .unwrap(),
        }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("pagefeed.toml")
    }

    fn write_config(&self, text: &str) -> PathBuf {
        std::fs::write(self.config(), text).unwrap();
        self.config()
    }

    fn stderr_path(&self) -> PathBuf {
        self.dir.path().join("stderr.log")
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr_path()).unwrap_or_default()
    }

    /// The binary with `args`, none of the caller's `PAGEFEED_*` or
    /// `RUST_LOG` settings, and its output going to files here (a pipe
    /// nobody reads could block it).
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PAGEFEED_") {
                cmd.env_remove(key);
            }
        }
        cmd.env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(self.dir.path().join("stdout.log")).unwrap())
            .stderr(std::fs::File::create(self.stderr_path()).unwrap());
        cmd
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stdout.log")).unwrap_or_default()
    }
}

/// A running scheduler process, killed if a test fails before it exits.
struct Process {
    child: Child,
}

impl Process {
    fn spawn(mut cmd: Command) -> Process {
        Process {
            child: cmd.spawn().unwrap(),
        }
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Waits up to `timeout` for the process to exit.
    async fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} failed: {status}");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs the binary to its exit (10 s at most) and returns its status and stderr.
async fn run_to_exit(work: &Workdir, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = work.command(args);
    cmd.envs(env.iter().copied());
    let mut process = Process::spawn(cmd);
    let Some(status) = process.wait(Duration::from_secs(10)).await else {
        panic!(
            "the scheduler was still running after 10 s: it accepted the config\n{}",
            work.stderr()
        );
    };
    let stderr = work.stderr();
    let code = status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal: {status}\n{stderr}"));
    (code, stderr)
}

/// Asserts that the scheduler created no stream at all on `nats`: nothing was published.
async fn assert_nothing_published(nats: &NatsServer) {
    let js = jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    match js.get_stream(TASKS_STREAM).await {
        Err(e) => match e.kind() {
            jetstream::context::GetStreamErrorKind::JetStream(e)
                if e.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND => {}
            _ => panic!("cannot ask NATS for {TASKS_STREAM}: {e}"),
        },
        Ok(_) => panic!("{TASKS_STREAM} exists: a bad config reached NATS"),
    }
    let account = js.query_account().await.unwrap();
    assert_eq!(account.streams, 0, "a bad config created streams");
}

/// Runs the scheduler with `text` as its config (and `args`, `env` after
/// `--config`), and asserts exit code 2, nothing published, and that stderr
/// holds the file's path and every one of `expected`. Returns stderr.
async fn refused(text: &str, args: &[&str], env: &[(&str, &str)], expected: &[&str]) -> String {
    let nats = NatsServer::start().await.unwrap();
    let work = Workdir::new();
    let config = work.write_config(&replace_once(
        text,
        EXAMPLE_URL,
        &format!("url = \"{}\"", nats.url()),
    ));
    let config = config.to_str().unwrap();
    let mut all_args = vec!["--config", config];
    all_args.extend_from_slice(args);
    let (code, stderr) = run_to_exit(&work, &all_args, env).await;
    assert_eq!(code, 2, "exit code; stderr:\n{stderr}");
    assert!(
        stderr.contains(&format!("bad config {config}")),
        "stderr does not name the file {config}:\n{stderr}"
    );
    for want in expected {
        assert!(stderr.contains(want), "stderr lacks {want:?}:\n{stderr}");
    }
    assert_nothing_published(&nats).await;
    stderr
}

#[tokio::test]
async fn unknown_key_in_a_site_is_refused() {
    let text = replace_once(
        EXAMPLE,
        "interval = \"10s\"\n",
        "interval = \"10s\"\nbatchsize = 3\n",
    );
    let line = line_of(&text, "batchsize");
    refused(
        &text,
        &[],
        &[],
        &[&format!(
            "(line {line}): site \"sample\": field `batchsize`: unknown field `batchsize`, expected one of"
        )],
    )
    .await;
}

#[tokio::test]
async fn unknown_key_in_site_extract_is_refused() {
    let text = format!("{EXAMPLE}bogus = \"h1\"\n");
    let line = line_of(&text, "bogus");
    refused(
        &text,
        &[],
        &[],
        &[&format!(
            "(line {line}): site \"sample\": field `extract.bogus`: unknown field `bogus`, expected one of"
        )],
    )
    .await;
}

#[tokio::test]
async fn unknown_top_level_key_is_refused() {
    let text = format!("verbose = true\n{EXAMPLE}");
    let stderr = refused(
        &text,
        &[],
        &[],
        &["(line 1): field `verbose`: unknown field `verbose`, expected one of"],
    )
    .await;
    assert!(!stderr.contains("site \""), "no site to name:\n{stderr}");
}

#[tokio::test]
async fn bad_css_selector_is_refused() {
    let text = replace_once(EXAMPLE, "entry = \"div.feedEntry\"", "entry = \"div[[\"");
    refused(
        &text,
        &[],
        &[],
        &["site \"sample\": field `extract.entry`: bad CSS selector \"div[[\""],
    )
    .await;
}

#[tokio::test]
async fn bad_duration_is_refused() {
    let text = replace_once(EXAMPLE, "interval = \"10s\"", "interval = \"10 parsecs\"");
    let line = line_of(&text, "interval");
    refused(
        &text,
        &[],
        &[],
        &[&format!(
            "(line {line}): site \"sample\": field `interval`: invalid duration \"10 parsecs\""
        )],
    )
    .await;
}

#[tokio::test]
async fn empty_id_range_is_refused() {
    let text = replace_once(
        EXAMPLE,
        "ids = { first = 1, last = 500 }",
        "ids = { first = 10, last = 1 }",
    );
    refused(
        &text,
        &[],
        &[],
        &["site \"sample\": field `ids`: empty id range: first = 10 is after last = 1"],
    )
    .await;
}

#[tokio::test]
async fn duplicate_site_name_is_refused() {
    let site = &EXAMPLE[EXAMPLE.find("[[site]]").unwrap()..];
    let text = format!("{EXAMPLE}\n{site}");
    refused(
        &text,
        &[],
        &[],
        &["site \"sample\": field `name`: duplicate site name \"sample\""],
    )
    .await;
}

#[tokio::test]
async fn toml_syntax_error_gives_the_line() {
    let text = replace_once(EXAMPLE, "interval = \"10s\"", "interval = \"10s");
    let line = line_of(&text, "interval");
    refused(&text, &[], &[], &[&format!("(line {line}): ")]).await;
}

#[tokio::test]
async fn missing_config_file_is_named() {
    let nats = NatsServer::start().await.unwrap();
    let work = Workdir::new();
    let missing = work.config();
    let missing = missing.to_str().unwrap();
    let (code, stderr) = run_to_exit(&work, &["--config", missing], &[]).await;
    assert_eq!(code, 2, "exit code; stderr:\n{stderr}");
    assert!(
        stderr.contains(&format!("bad config {missing}: cannot read it: ")),
        "{stderr}"
    );
    assert_nothing_published(&nats).await;
}

#[tokio::test]
async fn bad_nats_url_flag_is_refused() {
    refused(
        EXAMPLE,
        &["--nats-url", "not a url::"],
        &[],
        &["field `nats.url`: \"not a url::\" is not a NATS URL"],
    )
    .await;
}

#[tokio::test]
async fn bad_nats_url_env_var_is_refused() {
    refused(
        EXAMPLE,
        &[],
        &[("PAGEFEED_NATS_URL", "not a url::")],
        &["field `nats.url`: \"not a url::\" is not a NATS URL"],
    )
    .await;
}

/// Starts the binary on the example config at a real server, waits for the
/// first tick's tasks, sends `signal` and expects exit code 0 within 10 s.
async fn publishes_then_stops_on(signal: &str) {
    let nats = NatsServer::start().await.unwrap();
    let work = Workdir::new();
    let text = example_at(&nats);
    let config = work.write_config(&text);
    let batch = pagefeed_events::Config::parse(&config, &text)
        .unwrap()
        .site("sample")
        .unwrap()
        .batch;
    let mut process = Process::spawn(work.command(&["--config", config.to_str().unwrap()]));

    let js = jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = process.exited() {
            panic!("the scheduler exited with {status}:\n{}", work.stderr());
        }
        let stored = match js.get_stream(TASKS_STREAM).await {
            Ok(mut stream) => stream.info().await.map_or(0, |i| i.state.messages),
            Err(_) => 0,
        };
        if stored >= batch {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{TASKS_STREAM} holds {stored} of {batch} tasks after 20 s:\n{}",
            work.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    process.signal(signal);
    let Some(status) = process.wait(Duration::from_secs(10)).await else {
        panic!("still running 10 s after SIG{signal}:\n{}", work.stderr());
    };
    assert_eq!(
        status.code(),
        Some(0),
        "{status}; stderr:\n{}",
        work.stderr()
    );
}

#[tokio::test]
async fn publishes_then_exits_0_on_sigterm() {
    publishes_then_stops_on("TERM").await;
}

#[tokio::test]
async fn publishes_then_exits_0_on_sigint() {
    publishes_then_stops_on("INT").await;
}

#[tokio::test]
async fn help_names_the_flags() {
    let work = Workdir::new();
    let (code, stderr) = run_to_exit(&work, &["--help"], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let help = work.stdout();
    for flag in ["--config", "--nats-url"] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}
