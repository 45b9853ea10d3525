//! Smoke test of the real `pagefeed-scheduler` executable: on the committed
//! example config, pointed at a real nats-server, it publishes its first
//! tick and stops cleanly, exit code 0, on SIGTERM. (A bad config's exit
//! code 2 through the binary is in `secrets_stay_out_of_errors_and_logs.rs`;
//! each config error is a unit test in `crates/events/src/config/tests.rs`.)

use std::time::{Duration, Instant};

use pagefeed_events::subject::TASKS_STREAM;
use pagefeed_testkit::services::Services;

const EXAMPLE: &str = include_str!("../../../pagefeed.example.toml");
const EXAMPLE_URL: &str = "url = \"nats://127.0.0.1:4222\"";

#[tokio::test]
async fn publishes_then_exits_0_on_sigterm() -> anyhow::Result<()> {
    let mut system = Services::start().await?;
    assert_eq!(EXAMPLE.matches(EXAMPLE_URL).count(), 1);
    let text = EXAMPLE.replace(EXAMPLE_URL, &format!("url = \"{}\"", system.nats_url()));
    let batch = system.write_config(&text)?.site("sample").unwrap().batch;
    let name = system
        .scheduler(env!("CARGO_BIN_EXE_pagefeed-scheduler"), &[])?
        .name()
        .to_owned();

    let js = system.jetstream().await?;
    let scheduler = &mut system[name.as_str()];
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        scheduler.check_running()?;
        let stored = match js.get_stream(TASKS_STREAM).await {
            Ok(mut stream) => stream.info().await.map_or(0, |i| i.state.messages),
            Err(_) => 0,
        };
        if stored >= batch {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{TASKS_STREAM} holds {stored} of {batch} tasks after 20 s:\n{}",
            scheduler.log_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let status = scheduler.terminate(Duration::from_secs(10)).await?;
    assert_eq!(
        status.code(),
        Some(0),
        "{status}; log:\n{}",
        scheduler.log()
    );
    Ok(())
}

/// `--sweep-only`: the streams are there, no tick is published, and the
/// process says it only sweeps; SIGTERM stops it with exit code 0.
#[tokio::test]
async fn sweep_only_publishes_nothing() -> anyhow::Result<()> {
    let mut system = Services::start().await?;
    let text = EXAMPLE.replace(EXAMPLE_URL, &format!("url = \"{}\"", system.nats_url()));
    system.write_config(&text)?;
    let name = system
        .scheduler(env!("CARGO_BIN_EXE_pagefeed-scheduler"), &["--sweep-only"])?
        .name()
        .to_owned();
    let js = system.jetstream().await?;
    let scheduler = &mut system[name.as_str()];
    let deadline = Instant::now() + Duration::from_secs(20);
    while !scheduler.log().contains("sweeping only") {
        scheduler.check_running()?;
        anyhow::ensure!(Instant::now() < deadline, "{}", scheduler.log_tail(20));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut tasks = js.get_stream(TASKS_STREAM).await?;
    assert_eq!(
        tasks.info().await?.state.last_sequence,
        0,
        "a task was published"
    );
    let status = scheduler.terminate(Duration::from_secs(10)).await?;
    assert_eq!(
        status.code(),
        Some(0),
        "{status}; log:\n{}",
        scheduler.log()
    );
    Ok(())
}

/// `--metrics` on a port another process holds: the scheduler stops at
/// once, exit code 2, naming the address, before it connects to anything.
#[test]
fn a_metrics_port_in_use_is_refused_at_once() -> anyhow::Result<()> {
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = taken.local_addr()?.to_string();
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("pagefeed.toml");
    // Nothing listens on port 1: a scheduler that got past the port would
    // wait for NATS forever instead of exiting.
    std::fs::write(
        &config,
        EXAMPLE.replace(EXAMPLE_URL, "url = \"nats://127.0.0.1:1\""),
    )?;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pagefeed-scheduler"))
        .args(["--metrics", &addr, "--config"])
        .arg(&config)
        .env_remove("PAGEFEED_NATS_URL")
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            child.kill()?;
            anyhow::bail!("the scheduler still runs with its metrics port taken");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("piped"), &mut stderr)?;
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("--metrics {addr}: cannot listen there")),
        "{stderr}"
    );
    Ok(())
}
