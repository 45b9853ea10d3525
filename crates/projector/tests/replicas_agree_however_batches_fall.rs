//! Invariants 1 and 2: the state is a function of the log, whatever the
//! batching, redeliveries or restarts.

mod common;

use common::*;
use pagefeed_projector::store::{ApplyStats, Store};

#[test]
fn one_batch_and_many_small_batches_give_the_same_digest() {
    let events = numbered(1, &history());
    let (_a_dir, a) = fresh();
    let (_b_dir, b) = fresh();
    apply(&a, &events);
    for chunk in events.chunks(3) {
        apply(&b, chunk);
    }
    let (seq, digest) = a.digest().unwrap();
    assert_eq!(seq, events.len() as u64);
    assert_eq!(b.digest().unwrap(), (seq, digest.clone()));
    // The digest kept by the writes is the one summed from the rows.
    assert_eq!(a.recompute_digest().unwrap(), (seq, digest.clone()));
    assert_eq!(b.recompute_digest().unwrap(), (seq, digest.clone()));
    assert_eq!(
        a.counts().unwrap(),
        pagefeed_projector::store::Counts {
            pages: 3,
            entries: 3,
            rejected: 0
        }
    );
    // A different log gives a different digest: the digest is not constant.
    let (_c_dir, c) = fresh();
    apply(&c, &events[..events.len() - 1]);
    assert_ne!(c.digest().unwrap().1, digest);
}

#[test]
fn a_redelivered_batch_changes_nothing() {
    let events = numbered(1, &history());
    let (_dir, store) = fresh();
    let first = apply(&store, &events);
    assert_eq!(first.applied, events.len());
    let before = store.digest().unwrap();
    let again = apply(&store, &events);
    assert_eq!(
        again,
        ApplyStats {
            applied: 0,
            rejected: 0,
            skipped: events.len(),
            ..ApplyStats::default()
        }
    );
    assert_eq!(store.digest().unwrap(), before);
    // Overlapping redelivery: old part skipped, new part applied.
    let more = numbered(
        events.len() as u64 + 1,
        &[crawled("sample.2", "new", "2026-11-04T00:00:00Z")],
    );
    let mut overlap = events[events.len() - 2..].to_vec();
    overlap.extend(more);
    let stats = apply(&store, &overlap);
    assert_eq!((stats.applied, stats.skipped), (1, 2));
    assert_eq!(store.applied_seq().unwrap(), events.len() as u64 + 1);
}

#[test]
fn merged_entry_keeps_the_earliest_and_latest_observation() {
    let (_dir, store) = fresh();
    apply(&store, &numbered(1, &history()));
    let a2 = store
        .page_entries("sample.1", 10)
        .unwrap()
        .into_iter()
        .find(|e| e.id == "a2")
        .unwrap();
    assert_eq!(a2.first_seen, at("2026-10-30T00:00:00Z"));
    assert_eq!(a2.last_seen, at("2026-11-01T00:00:00Z"));
    let page = store.page("sample.1").unwrap().unwrap();
    assert_eq!(page.status, 304);
    assert_eq!(page.failure.unwrap().at, at("2026-11-03T00:00:00Z"));
    let unknown = store.page("sample.9").unwrap().unwrap();
    assert_eq!(
        (unknown.title.as_str(), unknown.last_crawled),
        ("", at("2026-11-01T02:00:00Z"))
    );
    assert!(store.page("sample.404").unwrap().is_none());
}

#[test]
fn a_reopened_store_has_the_same_sequence_and_digest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("projector.redb");
    let before = {
        let store = Store::open(&path).unwrap();
        assert_eq!(store.applied_seq().unwrap(), 0);
        apply(&store, &numbered(1, &history()));
        store.digest().unwrap()
    };
    let store = Store::open(&path).unwrap();
    assert_eq!(store.applied_seq().unwrap(), before.0);
    assert_eq!(store.digest().unwrap(), before);
    assert_eq!(store.search("渋谷", 10).unwrap().len(), 1);
}
