//! An ntfy destination gets ntfy's plain publish: a POST of the entry's
//! text to the topic URL, with `Title`, `Click` (only for an http(s) link),
//! `Tags`, the bearer token and the idempotency key; a 429 is tried again
//! no sooner than its `Retry-After` says.

mod support;

use pagefeed_events::event::Event;
use pagefeed_events::streams::ensure_streams;
use pagefeed_testkit::services::Services;
use pagefeed_testkit::streams::publish_events;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ntfy_gets_its_publish_format() -> anyhow::Result<()> {
    let mut system = Services::start().await?;
    let linked = entry(7, 1);
    let mut scripted = entry(7, 2);
    if let Event::EntryObserved(e) = &mut scripted {
        e.link = Some("javascript:alert(1)".into());
    }
    let limited = entry(7, 3);
    let limited_key = limited.msg_id();
    // ntfy's rate limit, once: 429 with `Retry-After: 3`.
    let topic = Receiver::start(move |key, before| {
        if key == limited_key && before == 0 {
            Answer::TooMany(3)
        } else {
            Answer::Status(200)
        }
    })
    .await?;
    let cfg = system.write_config(&config(
        &system.nats_url(),
        &format!(
            "[notifier]\nretry_max = \"10s\"\n[[notify]]\nname = \"phone\"\nsite = \"sample\"\nntfy = \"{}\"\ntoken = \"tk_s3cret\"\n",
            topic.url
        ),
    ))?;
    let js = system.jetstream().await?;
    ensure_streams(&js, &cfg).await?;
    let status_url = start_notifier(&mut system, "notifier-1", &[])?;
    system.wait_ready(PATIENCE).await?;
    wait_following(&status_url).await?;

    let events = [linked.clone(), scripted, limited];
    let keys = keys(&events);
    publish_events(&js, &events).await?;
    topic.wait_delivered(&keys, PATIENCE).await?;

    let received = topic.received();
    assert_eq!(received.len(), 4, "{received:?}");
    for r in &received {
        // Sent side by side: in any order.
        let event = events
            .iter()
            .find(|e| e.msg_id() == r.key())
            .expect("a known key");
        let Event::EntryObserved(e) = event else {
            unreachable!()
        };
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/hook/s3cret-path", "the topic URL");
        assert_eq!(
            std::str::from_utf8(&r.body)?,
            e.text,
            "the body is the text"
        );
        assert_eq!(r.header("title"), Some("New entry on sample.7"));
        assert_eq!(r.header("tags"), Some("pagefeed,sample"));
        assert_eq!(r.header("authorization"), Some("Bearer tk_s3cret"));
        assert_eq!(r.key(), event.msg_id());
    }
    let first = received
        .iter()
        .find(|r| r.key() == keys[0])
        .expect("the linked entry");
    let Event::EntryObserved(e) = &linked else {
        unreachable!()
    };
    assert_eq!(first.header("click"), e.link.as_deref());
    let second = received
        .iter()
        .find(|r| r.key() == keys[1])
        .expect("the other entry");
    assert_eq!(second.header("click"), None, "no javascript: link as Click");
    let tries: Vec<_> = received.iter().filter(|r| r.key() == keys[2]).collect();
    assert_eq!(tries.len(), 2);
    let waited = tries[1].at - tries[0].at;
    // The back-off alone would have waited under 2 s.
    assert!(waited >= std::time::Duration::from_secs(3), "{waited:?}");
    assert!(!system["notifier-1"].log().contains("tk_s3cret"));
    Ok(())
}
