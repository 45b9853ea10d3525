//! The real `pagefeed-projector` binary: `digest` prints a store's applied
//! sequence and digest; a bad node name, an API beyond loopback without a
//! token, or an unusable token file exit 2 before anything starts.

use std::process::Command;

use pagefeed_events::event::{EntryObserved, Event};
use pagefeed_projector::store::{Logged, Store};
use pagefeed_projector::store_path;

#[test]
fn digest_prints_the_applied_sequence_and_the_digest() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(dir.path());
    let event = Event::EntryObserved(EntryObserved {
        page: "sample.42".parse().unwrap(),
        id: "ab12".into(),
        text: "今日は渋谷でラーメン".into(),
        timestamp: None,
        link: None,
        observed_at: "2026-11-24T03:00:00Z".parse().unwrap(),
        first_crawl: false,
    });
    let expected = {
        let store = Store::open(&path).unwrap();
        let payload = event.encode();
        let logged = Logged {
            seq: 7,
            published: "2026-11-24T03:00:01Z".parse().unwrap(),
            payload: &payload,
        };
        store.apply_batch(&[logged]).unwrap();
        store.digest().unwrap()
    };
    let out = Command::new(env!("CARGO_BIN_EXE_pagefeed-projector"))
        .args(["digest", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, format!("applied_seq 7\ndigest {}\n", expected.1));
    assert_eq!(expected.0, 7);
}

#[test]
fn digest_of_a_missing_data_dir_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pagefeed-projector"))
        .args(["digest", "--data"])
        .arg(dir.path().join("nope"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no projector data"));
}

#[test]
fn a_bad_node_name_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_pagefeed-projector"))
        .arg("--config")
        .arg(&config)
        .arg("--data")
        .arg(dir.path())
        .args(["--node", "Node A"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--node"));
}

/// A config the binary accepts (NATS and the site are never reached), in
/// `dir`.
fn write_config(dir: &std::path::Path) -> std::path::PathBuf {
    let config = dir.join("pagefeed.toml");
    std::fs::write(
        &config,
        pagefeed_testkit::config::config_text(
            "nats://127.0.0.1:1",
            "",
            "",
            &[pagefeed_testkit::config::id_site(
                "s",
                "http://127.0.0.1:1/{id}",
                1,
                2,
                1,
                "1h",
            )],
        ),
    )
    .unwrap();
    config
}

/// A config the binary accepts, and a `--data` that is a file: a projector
/// that went past its flag checks would stop there, before it listens.
fn config_and_unusable_data(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let config = write_config(dir);
    let data = dir.join("not-a-dir");
    std::fs::write(&data, "").unwrap();
    (config, data)
}

/// Asked to serve the API beyond loopback without a token, the projector
/// refuses to start (it never listens there: the test stops it before).
#[test]
fn an_api_beyond_loopback_without_a_token_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let (config, data) = config_and_unusable_data(dir.path());
    for http in ["0.0.0.0:0", "[::]:0"] {
        let out = Command::new(env!("CARGO_BIN_EXE_pagefeed-projector"))
            .arg("--config")
            .arg(&config)
            .arg("--data")
            .arg(&data)
            .args(["--node", "a", "--http", http])
            .env_remove("PAGEFEED_API_TOKEN")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{http}: {stderr}");
        assert!(stderr.contains("not a loopback address"), "{stderr}");
        assert!(stderr.contains("--api-token"), "{stderr}");
        assert!(stderr.contains("--allow-unauthenticated-api"), "{stderr}");
    }
}

#[test]
fn an_empty_or_missing_token_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let (config, data) = config_and_unusable_data(dir.path());
    let empty = dir.path().join("empty-token");
    std::fs::write(&empty, "\n").unwrap();
    for (file, why) in [
        (empty, "empty"),
        (dir.path().join("missing-token"), "No such file"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_pagefeed-projector"))
            .arg("--config")
            .arg(&config)
            .arg("--data")
            .arg(&data)
            .args(["--node", "a", "--http", "127.0.0.1:0", "--api-token-file"])
            .arg(&file)
            .env_remove("PAGEFEED_API_TOKEN")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("--api-token-file"), "{stderr}");
        assert!(stderr.contains(why), "{stderr}");
    }
}

/// `digest` of a node whose projector runs says so, and how to read the
/// digest instead (redb alone says "Database already open").
#[test]
fn digest_of_a_node_in_use_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let _running = Store::open(&store_path(dir.path())).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pagefeed-projector"))
        .args(["digest", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("in use by the running projector"),
        "{stderr}"
    );
    assert!(stderr.contains("/api/status"), "{stderr}");
}

/// A `--data` that is a file is named as such, by serving and by `digest`
/// (not "File exists").
#[test]
fn a_data_dir_that_is_a_file_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (config, data) = config_and_unusable_data(dir.path());
    let serve = Command::new(env!("CARGO_BIN_EXE_pagefeed-projector"))
        .arg("--config")
        .arg(&config)
        .arg("--data")
        .arg(&data)
        .args(["--node", "a", "--http", "127.0.0.1:0"])
        .output()
        .unwrap();
    let digest = Command::new(env!("CARGO_BIN_EXE_pagefeed-projector"))
        .args(["digest", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    for out in [serve, digest] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("not a directory"), "{stderr}");
        assert!(!stderr.contains("File exists"), "{stderr}");
    }
}

/// A projector whose `--http` port is taken fails before it creates its
/// data directory and file.
#[test]
fn a_port_in_use_leaves_no_data_behind() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let data = dir.path().join("node-a");
    let out = Command::new(env!("CARGO_BIN_EXE_pagefeed-projector"))
        .arg("--config")
        .arg(&config)
        .arg("--data")
        .arg(&data)
        .args(["--node", "a", "--http"])
        .arg(taken.local_addr().unwrap().to_string())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot listen on"), "{stderr}");
    assert!(!data.exists(), "{} was created", data.display());
}
