//! Invariant 4 in miniature: retention deletes a site's old entries and pages
//! (and nothing of other sites), so a replica rebuilt from the log after the
//! cut equals one that has run since the beginning.

mod common;

use common::*;

fn before_cut() -> Vec<pagefeed_events::Event> {
    vec![
        crawled("sample.1", "old page", "2026-10-01T00:00:00Z"),
        entry(
            "sample.1",
            "old1",
            "古い渋谷の話",
            Some("2026-09-30T00:00:00Z"),
            "2026-10-01T00:00:00Z",
        ),
        crawled("sample.2", "kept page", "2026-10-01T00:00:00Z"),
        entry(
            "sample.2",
            "old2",
            "old rust post",
            None,
            "2026-10-01T00:00:00Z",
        ),
        failed("sample.3", "2026-10-02T00:00:00Z"),
        crawled("other.1", "other site", "2026-10-01T00:00:00Z"),
        entry(
            "other.1",
            "o1",
            "渋谷 elsewhere",
            None,
            "2026-10-01T00:00:00Z",
        ),
    ]
}

fn after_cut() -> Vec<pagefeed_events::Event> {
    vec![
        // Everything of `sample` before 2026-11-01 goes.
        retention("sample", "2026-11-01T00:00:00Z"),
        crawled("sample.2", "kept page", "2026-11-05T00:00:00Z"),
        entry(
            "sample.2",
            "new2",
            "新しい渋谷の話",
            Some("2026-11-04T00:00:00Z"),
            "2026-11-05T00:00:00Z",
        ),
        failed("sample.4", "2026-11-06T00:00:00Z"),
    ]
}

#[test]
fn retention_deletes_old_data_of_that_site_only() {
    let (_dir, store) = fresh();
    let mut events = before_cut();
    events.extend(after_cut());
    apply(&store, &numbered(1, &events));

    let pages: Vec<String> = store.pages().unwrap().into_iter().map(|p| p.key).collect();
    assert_eq!(pages, ["other.1", "sample.2", "sample.4"]);
    assert!(store.page_entries("sample.1", 10).unwrap().is_empty());
    let s2: Vec<String> = store
        .page_entries("sample.2", 10)
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(s2, ["new2"]);
    assert_eq!(store.page_entries("other.1", 10).unwrap().len(), 1);
    let newest: Vec<String> = store
        .newest_entries(10)
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(newest, ["new2", "o1"]);
    // The deleted entries are gone from the search index too.
    let hits: Vec<String> = store
        .search("渋谷", 10)
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(hits, ["new2", "o1"]);
    assert!(store.search("古い", 10).unwrap().is_empty());
    assert!(store.search("old rust", 10).unwrap().is_empty());
    assert_eq!(store.counts().unwrap().entries, 2);
}

#[test]
fn a_replica_rebuilt_after_the_cut_equals_one_that_ran_all_along() {
    let before = before_cut();
    let first_after = before.len() as u64 + 1;
    // The other site's retention too, so nothing before the cut survives.
    let mut after = vec![retention("other", "2026-11-01T00:00:00Z")];
    after.extend(after_cut());
    let (_a_dir, all_along) = fresh();
    apply(&all_along, &numbered(1, &before));
    let mid = all_along.digest().unwrap();
    apply(&all_along, &numbered(first_after, &after));

    let (_b_dir, rebuilt) = fresh();
    apply(&rebuilt, &numbered(first_after, &after));

    let (seq, digest) = all_along.digest().unwrap();
    assert_eq!(seq, first_after + after.len() as u64 - 1);
    assert_ne!(
        mid.1, digest,
        "retention and later events changed the state"
    );
    assert_eq!(rebuilt.digest().unwrap(), (seq, digest.clone()));
    // Retention's deletions moved the kept digest as a full sum would.
    assert_eq!(all_along.recompute_digest().unwrap(), (seq, digest));
    assert_eq!(all_along.counts().unwrap(), rebuilt.counts().unwrap());
}
