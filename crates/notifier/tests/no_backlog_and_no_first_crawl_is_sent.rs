//! No flood: entries published before a destination's consumer existed are
//! not sent, and neither are those of a page's first crawl (a real crawl of
//! the sample site by a fetcher); the entries that appear on its next crawl
//! are. `--from-seq` starts a new destination where it is told instead.

mod support;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use pagefeed_events::event::Event;
use pagefeed_events::streams::ensure_streams;
use pagefeed_testkit::config::id_site;
use pagefeed_testkit::in_process::Running;
use pagefeed_testkit::sample_site::{posting_period, Clock, SampleSite, SampleSiteOptions};
use pagefeed_testkit::services::Services;
use pagefeed_testkit::streams::{publish_events, publish_tasks, stored_events, wait_tasks_settled};
use pagefeed_testkit::wait::wait_for;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_backlog_and_no_first_crawl_is_sent() -> anyhow::Result<()> {
    let mut system = Services::start().await?;
    let now = Arc::new(AtomicI64::new(1_795_000_000));
    let opts = SampleSiteOptions {
        clock: Clock::Manual(now.clone()),
        ..SampleSiteOptions::default()
    };
    let period = posting_period(42, &opts);
    let site = SampleSite::start("127.0.0.1:0".parse()?, opts).await?;
    let receiver = Receiver::ok().await?;
    let text = format!(
        "[nats]\nurl = \"{}\"\n\n{}\n{QUICK}\n{}",
        system.nats_url(),
        id_site("sample", &site.url_template(), 1, 500, 1, "1h"),
        webhook("hook", &receiver.url)
    );
    let cfg = system.write_config(&text)?;
    let js = system.jetstream().await?;
    ensure_streams(&js, &cfg).await?;

    // A backlog from before the notifier.
    let backlog: Vec<_> = (0..5).map(|n| entry(1, n)).collect();
    publish_events(&js, &backlog).await?;
    let status_url = start_notifier(&mut system, "notifier-1", &[])?;
    system.wait_ready(PATIENCE).await?;
    wait_following(&status_url).await?;

    // A page's first crawl: 20 entries, none sent.
    let fetcher = Running::spawn({
        let cfg = cfg.clone();
        |token| {
            pagefeed_fetcher::run(
                pagefeed_fetcher::Options {
                    cfg,
                    concurrency: None,
                },
                token,
            )
        }
    });
    publish_tasks(&js, "sample", &site.url_template(), [42], 1).await?;
    wait_tasks_settled(&js, PATIENCE).await?;
    wait_for(PATIENCE, "the first crawl's entries skipped", || async {
        let Some(status) = status(&status_url).await else {
            return Ok(None);
        };
        Ok((figure(&status, "hook", "skipped") == 20).then_some(()))
    })
    .await?;

    // Two new entries later: those two are sent.
    now.fetch_add(i64::try_from(period.as_secs())? * 2 + 1, Ordering::SeqCst);
    publish_tasks(&js, "sample", &site.url_template(), [42], 2).await?;
    wait_tasks_settled(&js, PATIENCE).await?;
    fetcher.stop().await?;
    let events = stored_events(&js).await?;
    let entries: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::EntryObserved(_)))
        .collect();
    assert_eq!(entries.len(), 5 + 20 + 2, "the backlog and two crawls");
    let news: Vec<String> = entries[25..].iter().map(|e| e.msg_id()).collect();
    receiver.wait_delivered(&news, PATIENCE).await?;

    let received = receiver.received();
    let sent: Vec<&str> = received.iter().map(|r| r.key()).collect();
    assert_eq!(sent.len(), 2, "only the second crawl's news: {sent:?}");
    for r in &received {
        let json = r.json();
        assert_eq!(json["site"], "sample");
        assert_eq!(json["page"]["key"], "sample.42");
        assert_eq!(json["page"]["url"], site.page_url(42));
        assert!(json["entry"]["link"]
            .as_str()
            .is_some_and(|l| l.starts_with("http://127.0.0.1")));
    }

    // A destination added with --from-seq 1 gets what the stream holds,
    // except the entries of a first crawl.
    let replay = Receiver::ok().await?;
    system.write_config(&format!("{text}\n{}", webhook("replay", &replay.url)))?;
    let replay_status = start_notifier(&mut system, "notifier-2", &["--from-seq", "1"])?;
    system.wait_ready(PATIENCE).await?;
    wait_following(&replay_status).await?;
    let mut expected = keys(&backlog);
    expected.extend(news.iter().cloned());
    replay.wait_delivered(&expected, PATIENCE).await?;
    wait_for(PATIENCE, "the replay to settle", || async {
        let Some(status) = status(&replay_status).await else {
            return Ok(None);
        };
        Ok((figure(&status, "replay", "skipped") == 20).then_some(()))
    })
    .await?;
    assert_eq!(
        replay.received().len(),
        7,
        "backlog and news, no first crawl"
    );
    // The running destination was not sent anything again.
    assert_eq!(receiver.received().len(), 2);
    Ok(())
}
