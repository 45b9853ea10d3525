//! With the least-privilege users of deploy/nats/permissions.conf, the whole
//! pipeline runs (a scheduler, a fetcher and a projector, each as its own
//! user), and each user is refused what is not its job: a fetcher's
//! credentials cannot publish tasks or retention events, a projector's
//! cannot publish anything, and neither can delete the log.

use std::time::Duration;

use async_nats::jetstream;
use pagefeed_events::event::{Event, Retention};
use pagefeed_events::subject::{EVENTS_STREAM, TASKS_STREAM};
use pagefeed_events::Config;
use pagefeed_testkit::config::{config_with, id_site};
use pagefeed_testkit::in_process::Running;
use pagefeed_testkit::nats::NatsServer;
use pagefeed_testkit::permissions::{password, server_config};
use pagefeed_testkit::sample_site::{SampleSite, SampleSiteOptions};
use pagefeed_testkit::wait::wait_for;
use tokio_util::sync::CancellationToken;

mod node;

fn config_as(url: &str, user: &str, site: &str) -> Config {
    config_with(
        url,
        &format!("user = \"{user}\"\npassword = \"{}\"", password(user)),
        "[fetcher]\nmax_attempts = 1\n",
        &[id_site("sample", site, 1, 5, 5, "1s")],
    )
}

/// A JetStream context of `user`, quick to give up on an unanswered request
/// (a refused publish is simply never answered).
async fn jetstream_as(url: &str, user: &str) -> anyhow::Result<jetstream::Context> {
    let client = async_nats::ConnectOptions::with_user_and_password(user.into(), password(user))
        .connect(url)
        .await?;
    Ok(jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(1))
        .build(client))
}

/// Whether `subject` holds a message in `stream` (as the operator sees it).
async fn stored(ops: &jetstream::Context, stream: &str, subject: &str) -> anyhow::Result<bool> {
    let stream = ops.get_stream(stream).await?;
    Ok(stream
        .get_last_raw_message_by_subject(subject)
        .await
        .is_ok())
}

/// `user` publishes to `subject`: refused means no ack and nothing stored.
async fn assert_refused(
    url: &str,
    ops: &jetstream::Context,
    user: &str,
    stream: &str,
    subject: &str,
) -> anyhow::Result<()> {
    let js = jetstream_as(url, user).await?;
    let acked = match js.publish(subject.to_owned(), "{}".into()).await {
        Ok(ack) => ack.await.is_ok(),
        Err(_) => false,
    };
    assert!(
        !acked,
        "{user} may not publish to {subject}, yet it was acked"
    );
    assert!(
        !stored(ops, stream, subject).await?,
        "{user}'s message on {subject} was stored"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_runs_as_its_own_user_and_may_do_nothing_else() -> anyhow::Result<()> {
    let nats = NatsServer::start_with(&server_config()).await?;
    let url = nats.url();
    let site = SampleSite::start("127.0.0.1:0".parse()?, SampleSiteOptions::default()).await?;
    let template = site.url_template();

    // Nobody gets in without a user.
    assert!(
        async_nats::ConnectOptions::new()
            .connect(url.as_str())
            .await
            .is_err(),
        "an anonymous client was let in"
    );

    // The whole pipeline, each service as its own user.
    let cfg = config_as(&url, "scheduler", &template);
    let scheduler =
        Running::spawn(|token| pagefeed_scheduler::run(pagefeed_scheduler::Options { cfg }, token));
    let fetch = CancellationToken::new();
    let fetcher = tokio::spawn(pagefeed_fetcher::run(
        pagefeed_fetcher::Options {
            cfg: config_as(&url, "fetcher", &template),
            concurrency: Some(4),
        },
        fetch.clone(),
    ));
    let ops = jetstream_as(&url, "operator").await?;
    let crawled_seq = wait_for(
        Duration::from_secs(60),
        "the five pages' events",
        || async {
            let Ok(mut events) = ops.get_stream(EVENTS_STREAM).await else {
                return Ok(None);
            };
            let state = events.info().await?.state.clone();
            Ok((state.messages >= 10).then_some(state.last_sequence))
        },
    )
    .await?;
    let dirs = tempfile::tempdir()?;
    let projector_cfg = config_as(&url, "projector", &template);
    node::run_until_applied(&projector_cfg, &dirs.path().join("a"), "a", crawled_seq).await?;
    scheduler.stop().await?;
    fetch.cancel();
    fetcher.await??;

    // What each user may not do (on subjects the services never used).
    let retention = Event::Retention(Retention {
        site: "forged".into(),
        cutoff: "2100-01-01T00:00:00Z".parse()?,
        keep_secs: 0,
        except: Vec::new(),
    })
    .subject();
    for (user, stream, subject) in [
        ("fetcher", TASKS_STREAM, "pagefeed.tasks.sample.999"),
        ("fetcher", EVENTS_STREAM, retention.as_str()),
        ("projector", TASKS_STREAM, "pagefeed.tasks.sample.998"),
        (
            "projector",
            EVENTS_STREAM,
            "pagefeed.events.entry_observed.sample.997",
        ),
        (
            "projector",
            EVENTS_STREAM,
            "pagefeed.events.retention.other",
        ),
        (
            "projector",
            "KV_pagefeed_fetch_state",
            "$KV.pagefeed_fetch_state.sample.996",
        ),
        (
            "scheduler",
            EVENTS_STREAM,
            "pagefeed.events.entry_observed.sample.995",
        ),
    ] {
        assert_refused(&url, &ops, user, stream, subject).await?;
    }
    for user in ["fetcher", "projector", "scheduler"] {
        let js = jetstream_as(&url, user).await?;
        assert!(
            js.delete_stream(EVENTS_STREAM).await.is_err(),
            "{user} deleted the events stream"
        );
        let mut events = ops.get_stream(EVENTS_STREAM).await?;
        assert!(
            events.info().await?.state.messages >= 10,
            "{user} emptied the events stream"
        );
    }
    // ... and what the operator may.
    let ops_write = jetstream_as(&url, "operator").await?;
    ops_write
        .publish("pagefeed.tasks.sample.3", "{}".into())
        .await?
        .await?;
    Ok(())
}
