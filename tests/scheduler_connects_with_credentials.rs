//! A nats-server that requires authentication: the scheduler connects with a
//! user and password, or with a token, taken from the config or overridden
//! the way the binaries' flags and PAGEFEED_NATS_* variables do.

use std::time::Duration;

use pagefeed_cli::NatsArgs;
use pagefeed_e2e::spawn_scheduler;
use pagefeed_testkit::config::{config, id_site};
use pagefeed_testkit::nats::NatsServer;
use pagefeed_testkit::streams::stored_tasks;
use pagefeed_testkit::wait::wait_for;

async fn tasks_arrive(
    url: &str,
    user: Option<(&str, &str)>,
    token: Option<&str>,
) -> anyhow::Result<()> {
    let mut opts = async_nats::ConnectOptions::new();
    if let Some((u, p)) = user {
        opts = opts.user_and_password(u.into(), p.into());
    }
    if let Some(t) = token {
        opts = opts.token(t.into());
    }
    let js = async_nats::jetstream::new(opts.connect(url).await?);
    wait_for(
        Duration::from_secs(20),
        "tasks published with credentials",
        || async { Ok((!stored_tasks(&js).await.unwrap_or_default().is_empty()).then_some(())) },
    )
    .await
}

#[tokio::test]
async fn user_and_password_from_overrides() -> anyhow::Result<()> {
    let nats = NatsServer::start_with("authorization { user: pf, password: s3cret }").await?;
    let mut cfg = config(
        &nats.url(),
        1,
        &[id_site("auth", "http://127.0.0.1:9/{id}", 1, 2, 2, "1h")],
    );
    NatsArgs {
        user: Some("pf".into()),
        password: Some("s3cret".into()),
        ..NatsArgs::default()
    }
    .apply(&mut cfg)?;
    let scheduler = spawn_scheduler(cfg);
    tasks_arrive(&nats.url(), Some(("pf", "s3cret")), None).await?;
    scheduler.stop().await
}

#[tokio::test]
async fn token() -> anyhow::Result<()> {
    let nats = NatsServer::start_with("authorization { token: t0ken }").await?;
    let mut cfg = config(
        &nats.url(),
        1,
        &[id_site("auth", "http://127.0.0.1:9/{id}", 1, 2, 2, "1h")],
    );
    cfg.nats.token = Some("t0ken".into());
    let scheduler = spawn_scheduler(cfg);
    tasks_arrive(&nats.url(), None, Some("t0ken")).await?;
    scheduler.stop().await
}

#[tokio::test]
async fn a_wrong_password_publishes_nothing() -> anyhow::Result<()> {
    let nats = NatsServer::start_with("authorization { user: pf, password: s3cret }").await?;
    let mut cfg = config(
        &nats.url(),
        1,
        &[id_site("auth", "http://127.0.0.1:9/{id}", 1, 2, 2, "1h")],
    );
    cfg.nats.user = Some("pf".into());
    cfg.nats.password = Some("wrong".into());
    let scheduler = spawn_scheduler(cfg);
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The scheduler keeps retrying (and logging) instead of crashing...
    scheduler.stop().await?;
    // ...and nothing was created or published.
    let opts = async_nats::ConnectOptions::new().user_and_password("pf".into(), "s3cret".into());
    let js = async_nats::jetstream::new(opts.connect(nats.url()).await?);
    assert!(
        js.get_stream("PAGEFEED_TASKS").await.is_err(),
        "no stream was created"
    );
    Ok(())
}
