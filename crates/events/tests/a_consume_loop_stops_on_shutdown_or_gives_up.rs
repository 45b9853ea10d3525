//! A consume loop whose consumer cannot be set up (its stream does not
//! exist) retries with a back-off, stops at once on shutdown, and gives up
//! after its limit of fruitless attempts when it has one.

use std::time::{Duration, Instant};

use async_nats::jetstream;
use async_nats::jetstream::consumer::{pull, Consumer};
use pagefeed_events::consume::{consume, Flow, Messages, Pull, Source};
use pagefeed_testkit::nats::NatsServer;
use tokio_util::sync::CancellationToken;

struct NoStream {
    js: jetstream::Context,
    give_up_after: Option<u32>,
    setups: u32,
}

impl Source for NoStream {
    const WHAT: &'static str = "test";

    fn pull(&self) -> Pull {
        Pull {
            max_messages: 10,
            max_bytes: None,
            heartbeat: Duration::from_secs(1),
            expires: None,
            open_timeout: None,
            give_up_after: self.give_up_after,
        }
    }

    async fn consumer(&mut self) -> anyhow::Result<Consumer<pull::Config>> {
        self.setups += 1;
        let stream = self.js.get_stream("MISSING").await?;
        Ok(stream
            .get_or_create_consumer("c", pull::Config::default())
            .await?)
    }

    async fn read(&mut self, _: &mut Messages) -> anyhow::Result<Flow> {
        anyhow::bail!("no consumer to read from")
    }
}

#[tokio::test]
async fn a_consume_loop_stops_on_shutdown_or_gives_up() -> anyhow::Result<()> {
    let server = NatsServer::start().await?;
    let js = jetstream::new(async_nats::connect(server.url()).await?);

    let mut retrying = NoStream {
        js: js.clone(),
        give_up_after: None,
        setups: 0,
    };
    let shutdown = CancellationToken::new();
    let cancel = shutdown.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(800)).await;
        cancel.cancel();
    });
    let started = Instant::now();
    consume(&mut retrying, &shutdown).await?;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // From 100 ms, doubling: a few attempts in 800 ms, not a hot loop.
    assert!(
        (2..=5).contains(&retrying.setups),
        "{} attempts",
        retrying.setups
    );

    let mut giving_up = NoStream {
        js,
        give_up_after: Some(2),
        setups: 0,
    };
    let outcome = consume(&mut giving_up, &CancellationToken::new()).await;
    let error = outcome.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        error.contains("2 attempts in a row read nothing"),
        "{error}"
    );
    assert_eq!(giving_up.setups, 3);
    Ok(())
}
