//! Behind the shipped deploy/nats/permissions.conf, `pagefeed-admin` runs
//! as the `operator` user (its credentials from `PAGEFEED_NATS_USER` and
//! `PAGEFEED_NATS_PASSWORD`) and sees everything; with a wrong password it
//! fails saying it cannot connect, and shows no password.

mod support;

use std::time::Duration;

use async_nats::jetstream;
use pagefeed_events::streams::{ensure_streams, projector_consumer};
use pagefeed_events::subject::EVENTS_STREAM;
use pagefeed_testkit::config::{config_with, id_site};
use pagefeed_testkit::permissions::{password, server_config};
use pagefeed_testkit::services::Services;
use support::admin_with_env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_sees_everything_as_the_operator() -> anyhow::Result<()> {
    let system = Services::start_with(&server_config()).await?;
    let url = system.nats_url();
    let client =
        async_nats::ConnectOptions::with_user_and_password("operator".into(), password("operator"))
            .connect(url.as_str())
            .await?;
    let js = jetstream::new(client);
    let cfg = config_with(
        &url,
        "",
        "",
        &[id_site("sample", "http://127.0.0.1:9/{id}", 1, 2, 2, "1h")],
    );
    ensure_streams(&js, &cfg).await?;
    js.get_stream(EVENTS_STREAM)
        .await?
        .create_consumer(projector_consumer("a", 0, Duration::from_secs(3600)))
        .await?;

    let operator = password("operator");
    let as_operator = [
        ("PAGEFEED_NATS_USER", "operator"),
        ("PAGEFEED_NATS_PASSWORD", operator.as_str()),
    ];
    let status = admin_with_env(&["--nats-url", &url, "status", "--json"], &as_operator)
        .await
        .json();
    let nodes: Vec<&str> = status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["node"].as_str())
        .collect();
    assert_eq!(nodes, ["a"], "{status}");
    let events = admin_with_env(
        &["--nats-url", &url, "events", "--page", "sample.1", "--json"],
        &as_operator,
    )
    .await;
    assert!(events.json_lines().is_empty(), "{events:?}");
    let tasks = admin_with_env(&["--nats-url", &url, "tasks", "--json"], &as_operator)
        .await
        .json();
    assert_eq!(tasks["total"], 0, "{tasks}");

    // A wrong password: refused, said so, not shown.
    let wrong = [
        ("PAGEFEED_NATS_USER", "operator"),
        ("PAGEFEED_NATS_PASSWORD", "wr0ng-pw-Kk2"),
    ];
    let refused = admin_with_env(&["--nats-url", &url, "--timeout", "2s", "status"], &wrong).await;
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(
        refused.stderr.contains("cannot connect to NATS"),
        "{refused:?}"
    );
    assert!(!refused.stderr.contains("wr0ng-pw-Kk2"), "{refused:?}");

    // A service's user may not read everything: an error, not a hang.
    let projector = password("projector");
    let narrow = admin_with_env(
        &["--nats-url", &url, "--timeout", "2s", "status"],
        &[
            ("PAGEFEED_NATS_USER", "projector"),
            ("PAGEFEED_NATS_PASSWORD", projector.as_str()),
        ],
    )
    .await;
    assert_eq!(narrow.code, Some(1), "{narrow:?}");
    assert!(narrow.stderr.contains("operator user"), "{narrow:?}");
    assert!(!narrow.stderr.contains(&projector), "{narrow:?}");
    Ok(())
}
