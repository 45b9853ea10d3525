//! A projector node in the face of what goes wrong around it: its data dir
//! deleted while its consumer still exists (it rebuilds from the stream, not
//! from the consumer's position), a file of an older table layout (replayed
//! from the stream, not migrated), and garbage or a newer schema in the
//! stream (recorded as rejected with sequence and reason; later events still
//! apply).

use std::path::Path;

use pagefeed_events::subject::EVENTS_STREAM;
use pagefeed_projector::store::Store;
use pagefeed_projector::store_path;

mod node;
use node::{page_events, publish, publish_unreadable, run_until_applied, with_streams};

fn open(data: &Path) -> anyhow::Result<Store> {
    Ok(Store::open(&store_path(data))?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_data_dir_is_rebuilt_from_the_stream() -> anyhow::Result<()> {
    let (_nats, cfg, js) = with_streams().await?;
    let dirs = tempfile::tempdir()?;
    let a = dirs.path().join("a");

    let first = publish(&js, &page_events(1, 10)).await?;
    run_until_applied(&cfg, &a, "a", first).await?;
    assert_eq!(open(&a)?.counts()?.entries, 10);

    // The data dir goes; the consumer `projector-a` stays, at `first`.
    std::fs::remove_dir_all(&a)?;
    let stream = js.get_stream(EVENTS_STREAM).await?;
    let consumer: Result<async_nats::jetstream::consumer::PullConsumer, _> =
        stream.get_consumer("projector-a").await;
    assert!(consumer.is_ok(), "the consumer outlives the data dir");
    let last = publish(&js, &page_events(2, 5)).await?;

    run_until_applied(&cfg, &a, "a", last).await?;
    let rebuilt = open(&a)?;
    assert_eq!(rebuilt.applied_seq()?, last);
    assert_eq!(
        rebuilt.counts()?.entries,
        15,
        "rebuilt from the stream's start, not the consumer's position"
    );

    let b = dirs.path().join("b");
    run_until_applied(&cfg, &b, "b", last).await?;
    assert_eq!(rebuilt.digest()?, open(&b)?.digest()?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_a_newer_schema_are_rejected_and_later_events_apply() -> anyhow::Result<()> {
    let (_nats, cfg, js) = with_streams().await?;

    let before = publish(&js, &page_events(1, 3)).await?;
    let (garbage, newer) = publish_unreadable(&js).await?;
    let last = publish(&js, &page_events(2, 4)).await?;
    assert!(before < garbage && garbage < newer && newer < last);

    let dir = tempfile::tempdir()?;
    run_until_applied(&cfg, dir.path(), "r", last).await?;
    let store = open(dir.path())?;
    let counts = store.counts()?;
    assert_eq!(counts.rejected, 2);
    assert_eq!(counts.entries, 7, "events after the rejected ones applied");
    let rejected = store.rejected(10)?;
    let seqs: Vec<u64> = rejected.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, vec![garbage, newer]);
    assert!(
        rejected[0].1.reason.contains("not JSON"),
        "{:?}",
        rejected[0].1
    );
    assert!(rejected[1].1.reason.contains("999"), "{:?}", rejected[1].1);
    assert_eq!(store.applied_seq()?, last);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_of_an_older_layout_is_rebuilt_from_the_stream() -> anyhow::Result<()> {
    let (_nats, cfg, js) = with_streams().await?;
    let last = publish(&js, &page_events(1, 6)).await?;

    // A file written by schema version 1, claiming to have applied it all.
    let dir = tempfile::tempdir()?;
    {
        let db = redb::Database::create(store_path(dir.path()))?;
        let txn = db.begin_write()?;
        {
            let meta: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("meta");
            let mut meta = txn.open_table(meta)?;
            meta.insert("schema_version", 1)?;
            meta.insert("applied_seq", last)?;
        }
        txn.commit()?;
    }
    run_until_applied(&cfg, dir.path(), "old", last).await?;
    let store = open(dir.path())?;
    assert_eq!(store.applied_seq()?, last);
    assert_eq!(store.counts()?.entries, 6, "replayed, not trusted");
    assert_eq!(store.digest()?, store.recompute_digest()?);
    Ok(())
}
