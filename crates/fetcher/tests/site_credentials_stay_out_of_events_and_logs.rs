//! A site URL may carry credentials (`http://user:secret@host/...`): they are
//! used to fetch, and shown nowhere: not in a page record's URL, not in an
//! entry link made absolute, not in a `fetch_failed` event, not in a log line.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use pagefeed_events::event::Event;
use pagefeed_testkit::config::config_with;
use pagefeed_testkit::nats::{free_port, NatsServer};
use pagefeed_testkit::streams::{jetstream_at, publish_tasks, stored_events};
use pagefeed_testkit::wait::wait_for;
use support::{crawled, failure_of, site, spawn_fetcher, Reply, Server, PATIENCE};

/// Every log line of this process, at every level.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_is_shown_nowhere() -> anyhow::Result<()> {
    let logs = Logs::default();
    let writer = logs.clone();
    // Ours and the HTTP stack's, at every level; async-nats traces whole
    // payloads, which are data, not lines we write.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "pagefeed_fetcher=trace,pagefeed_events=trace,reqwest=trace,hyper=trace,hyper_util=trace",
        ))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let nats = NatsServer::start().await?;
    let origin = Server::start("127.0.0.1", |_| {
        Reply::Page(
            "<html><head><title>t</title></head><body>\
             <div class=\"entry\">one <a href=\"/item/1\">more</a></div></body></html>"
                .to_owned(),
        )
    })
    .await?;
    let port = origin.port();
    let good = format!("http://reader:secret@127.0.0.1:{port}/p/{{id}}");
    // Nothing listens there: the fetch fails with `connect`.
    let dead = format!("http://reader:secret@127.0.0.1:{}/p/{{id}}", free_port()?);
    let with_links = "[site.extract]\nentry = \"div.entry\"\nlink = \"a\"\n";
    let cfg = config_with(
        &nats.url(),
        "",
        "[fetcher]\nmax_attempts = 1\n",
        &[
            site(
                "good",
                &format!("url = \"{good}\"\nids = {{ first = 1, last = 1 }}"),
                "",
            )
            .replace("[site.extract]\nentry = \"div.entry\"\n", with_links),
            site(
                "dead",
                &format!("url = \"{dead}\"\nids = {{ first = 1, last = 1 }}"),
                "",
            ),
        ],
    );
    let js = jetstream_at(&nats.url()).await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;
    let fetcher = spawn_fetcher(cfg);
    // The task carries the configured URL, as the scheduler writes it; or
    // not, and the fetcher logs both before fetching the configured one.
    publish_tasks(&js, "good", &good, [1], 0).await?;
    publish_tasks(&js, "dead", &dead.replace("reader:secret@", ""), [1], 0).await?;

    let events = wait_for(PATIENCE, "both tasks to end", || async {
        let events = stored_events(&js).await?;
        let done = crawled(&events, "good.1").is_some() && failure_of(&events, "dead.1").is_some();
        Ok(done.then_some(events))
    })
    .await?;
    fetcher.stop().await?;

    let page = crawled(&events, "good.1").expect("good.1 crawled");
    assert_eq!(page.url, format!("http://127.0.0.1:{port}/p/1"));
    let link = events
        .iter()
        .find_map(|e| match e {
            Event::EntryObserved(e) => e.link.clone(),
            _ => None,
        })
        .expect("the entry has a link");
    assert_eq!(link, format!("http://127.0.0.1:{port}/item/1"));
    let failure = failure_of(&events, "dead.1").expect("dead.1 failed");
    assert_eq!(failure.reason, "connect", "{failure:?}");
    for event in &events {
        let json = String::from_utf8(event.encode())?;
        assert!(!json.contains("secret"), "{json}");
    }
    let logs = logs.text();
    assert!(
        logs.contains("fetch failed"),
        "the logs were captured:\n{logs}"
    );
    assert!(
        logs.contains("fetching the configured one"),
        "URLs are logged:\n{logs}"
    );
    assert!(
        !logs.contains("secret"),
        "the password is in the logs:\n{logs}"
    );
    Ok(())
}
