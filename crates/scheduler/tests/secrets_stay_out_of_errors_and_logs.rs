//! A password given to pagefeed, in its config file or in a NATS URL, never
//! shows up in what a service prints: not in a config error, not in its logs
//! (the NATS client's own debug lines included). A user without a password
//! is a configuration error, not an anonymous connection.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pagefeed_testkit::process::{Process, ServiceCommand};

const SECRET: &str = "hunter2-zq7";

const SITE: &str = r#"
[[site]]
name = "s"
url = "http://127.0.0.1:9/{id}"
ids = { first = 1, last = 2 }
interval = "10s"
retention = "7d"
[site.extract]
entry = "div"
"#;

fn scheduler() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pagefeed-scheduler"));
    for var in [
        "PAGEFEED_NATS_URL",
        "PAGEFEED_NATS_USER",
        "PAGEFEED_NATS_PASSWORD",
        "PAGEFEED_NATS_TOKEN",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("PAGEFEED_METRICS", "127.0.0.1:0");
    cmd
}

/// Runs `cmd` to its end, which a refused config reaches at once; a
/// scheduler that connects instead would run forever, so it is killed and
/// the test fails.
fn output_within(cmd: &mut Command, limit: Duration) -> std::process::Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "still running after {limit:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn config(dir: &tempfile::TempDir, nats: &str) -> std::path::PathBuf {
    let path = dir.path().join("pagefeed.toml");
    std::fs::write(&path, format!("[nats]\n{nats}\n{SITE}")).unwrap();
    path
}

#[test]
fn a_password_of_the_wrong_type_is_not_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(&dir, "user = \"u\"\npassword = 98765432109");
    let out = scheduler().arg("--config").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("nats.password"), "{stderr}");
    assert!(!stderr.contains("98765432109"), "{stderr}");
}

#[test]
fn a_url_with_credentials_is_masked_in_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(
        &dir,
        &format!("url = \"nats://u:{SECRET}@127.0.0.1:notaport\""),
    );
    let out = scheduler().arg("--config").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("nats.url"), "{stderr}");
    assert!(!stderr.contains(SECRET), "{stderr}");
}

#[test]
fn a_user_without_a_password_is_refused_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(&dir, "");
    let out = output_within(
        scheduler()
            .arg("--config")
            .arg(&path)
            .args(["--nats-user", "scheduler"]),
        Duration::from_secs(20),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("nats.password"), "{stderr}");
    let out = output_within(
        scheduler()
            .arg("--config")
            .arg(&path)
            .env("PAGEFEED_NATS_PASSWORD", SECRET),
        Duration::from_secs(20),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("nats.user"), "{stderr}");
    assert!(!stderr.contains(SECRET), "{stderr}");
}

#[test]
fn debug_logs_of_a_failing_connection_do_not_show_the_url_password() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(&dir, "");
    // Nothing listens there: the client keeps retrying and logging.
    let port = pagefeed_testkit::nats::free_port().unwrap();
    let command = ServiceCommand::new("scheduler", env!("CARGO_BIN_EXE_pagefeed-scheduler"))
        .arg("--config")
        .arg(&path)
        .arg("--nats-url")
        .arg(format!("nats://u:{SECRET}@127.0.0.1:{port}"))
        .env("RUST_LOG", "debug");
    let mut scheduler = Process::start(command, dir.path().join("scheduler.log")).unwrap();
    // Let it try a few times (its reconnect delay doubles from 0 to 1 s).
    let deadline = Instant::now() + Duration::from_secs(20);
    let tries = |log: &str| log.matches("attempting connection").count();
    while tries(&scheduler.log()) < 3 {
        scheduler.check_running().unwrap();
        assert!(
            Instant::now() < deadline,
            "the client did not log three connection attempts in 20 s:\n{}",
            scheduler.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    scheduler.kill().unwrap();
    let text = scheduler.log();
    assert!(!text.contains(SECRET), "{text}");
}
