//! A consumer deleted while it is read (as a server restart deletes an
//! in-memory one): the consume loop sees its messages fail, sets it up
//! again, and the new one delivers.

use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{pull, AckPolicy, Consumer};
use async_nats::jetstream::{self, stream};
use pagefeed_events::consume::{consume, Flow, Messages, Pull, Source};
use pagefeed_testkit::nats::NatsServer;
use tokio_util::sync::CancellationToken;

struct Reader {
    js: jetstream::Context,
    setups: u32,
    received: Vec<u64>,
}

impl Source for Reader {
    const WHAT: &'static str = "test";

    fn pull(&self) -> Pull {
        Pull {
            max_messages: 10,
            max_bytes: Some(1024 * 1024),
            heartbeat: Duration::from_millis(500),
            expires: Some(Duration::from_secs(2)),
            open_timeout: Some(Duration::from_secs(5)),
            give_up_after: None,
        }
    }

    async fn consumer(&mut self) -> anyhow::Result<Consumer<pull::Config>> {
        self.setups += 1;
        let stream = self.js.get_stream("T").await?;
        Ok(stream
            .get_or_create_consumer(
                "c",
                pull::Config {
                    durable_name: Some("c".to_owned()),
                    ack_policy: AckPolicy::None,
                    ..Default::default()
                },
            )
            .await?)
    }

    async fn read(&mut self, messages: &mut Messages) -> anyhow::Result<Flow> {
        while let Some(msg) = messages.next().await {
            self.received
                .push(msg.info().map_err(anyhow::Error::msg)?.stream_sequence);
            match self.received.len() {
                3 => self
                    .js
                    .delete_consumer_from_stream("c", "T")
                    .await
                    .map(|_| ())?,
                6 => return Ok(Flow::Stop),
                _ => {}
            }
        }
        Ok(Flow::Recreate)
    }
}

#[tokio::test]
async fn a_vanished_consumer_is_set_up_again() -> anyhow::Result<()> {
    let server = NatsServer::start().await?;
    let client = async_nats::connect(server.url()).await?;
    let js = jetstream::new(client);
    js.create_stream(stream::Config {
        name: "T".to_owned(),
        subjects: vec!["t.>".to_owned()],
        ..Default::default()
    })
    .await?;
    for i in 0..3 {
        js.publish(format!("t.{i}"), "x".into()).await?.await?;
    }
    let mut reader = Reader {
        js,
        setups: 0,
        received: Vec::new(),
    };
    let started = Instant::now();
    tokio::time::timeout(
        Duration::from_secs(60),
        consume(&mut reader, &CancellationToken::new()),
    )
    .await??;
    // The new consumer starts from the stream's start again.
    assert_eq!(reader.received, [1, 2, 3, 1, 2, 3]);
    assert_eq!(reader.setups, 2);
    eprintln!("healed in {:?}", started.elapsed());
    Ok(())
}
