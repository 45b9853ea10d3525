//! Publishes whose acks never come (the request reached a subscriber that
//! does not answer, as when a stream's leader changes under it) end their
//! round together, five seconds after they were sent, and the round is
//! published again. Awaited one after the other from the moment each was
//! awaited, 100 of them held a scheduler for 500 s without a word: the
//! chaos test's "no whole tick within 180 s of the last fault".

use std::time::Duration;

use futures::StreamExt;
use pagefeed_events::publish::{publish_all, Outgoing, PublishAllError};
use pagefeed_testkit::nats::NatsServer;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn a_round_of_unanswered_publishes_ends_together_and_is_sent_again() -> anyhow::Result<()> {
    let server = NatsServer::start().await?;
    let client = async_nats::connect(server.url()).await?;
    // Takes the publishes (so there are responders) and answers none.
    let mut silent = client.subscribe("silent.>").await?;
    client.flush().await?;
    let js = async_nats::jetstream::new(client.clone());
    let msgs: Vec<Outgoing> = (0..12)
        .map(|n| Outgoing {
            subject: "silent.tasks".to_owned(),
            msg_id: format!("m{n}"),
            payload: format!("task {n}").into(),
        })
        .collect();
    let cancel = CancellationToken::new();
    let publishing = tokio::spawn({
        let cancel = cancel.clone();
        async move { publish_all(&js, &msgs, &cancel).await }
    });
    // Within 15 s: the first round (12), its acks given up on after 5 s,
    // a pause of at most 2 s, and the second round (12 more). Awaited one
    // after another, the first round alone took 60 s.
    let mut received = 0;
    let window = tokio::time::sleep(Duration::from_secs(15));
    tokio::pin!(window);
    loop {
        tokio::select! {
            msg = silent.next() => {
                msg.ok_or_else(|| anyhow::anyhow!("the subscription ended"))?;
                received += 1;
            }
            () = &mut window => break,
        }
    }
    cancel.cancel();
    let result = publishing.await?;
    assert!(
        matches!(result, Err(PublishAllError::Cancelled { unacked: 12 })),
        "{result:?}"
    );
    assert!(
        received >= 24,
        "{received} publishes in 15 s: the round's acks were not given up on together"
    );
    Ok(())
}
