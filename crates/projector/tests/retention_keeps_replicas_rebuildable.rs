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

#[test]
fn times_are_bounded_by_when_the_stream_stored_the_event() {
    let (_dir, store) = fresh();
    let published = "2026-11-20T00:00:00Z";
    let events = [
        crawled("sample.1", "from the future", "2100-01-01T00:00:00Z"),
        entry(
            "sample.1",
            "future",
            "a post from 2100",
            Some("2100-01-01T00:00:00Z"),
            "2100-01-01T00:00:00Z",
        ),
        entry("sample.1", "past", "older", None, "2026-11-01T00:00:00Z"),
        failed("sample.2", "2100-01-01T00:00:00Z"),
    ];
    apply_published(&store, &numbered(1, &events), published);
    assert_eq!(
        store.page("sample.1").unwrap().unwrap().last_crawled,
        at(published)
    );
    let page2 = store.page("sample.2").unwrap().unwrap();
    assert_eq!(page2.last_crawled, at(published));
    assert_eq!(page2.failure.unwrap().at, at(published));
    let entries = store.page_entries("sample.1", 10).unwrap();
    let future = entries.iter().find(|e| e.id == "future").unwrap();
    assert_eq!(
        (future.first_seen, future.last_seen),
        (at(published), at(published))
    );
    // The entry's own timestamp is what the page shows: kept as it is.
    assert_eq!(future.timestamp, Some(at("2100-01-01T00:00:00Z")));
    let past = entries.iter().find(|e| e.id == "past").unwrap();
    assert_eq!(past.first_seen, at("2026-11-01T00:00:00Z"));

    // So the next retention after the message's time takes them all.
    apply(
        &store,
        &numbered(5, &[retention("sample", "2026-11-21T00:00:00Z")]),
    );
    let counts = store.counts().unwrap();
    assert_eq!((counts.pages, counts.entries), (0, 0));
}

#[test]
fn a_retention_of_every_other_site_deletes_theirs_only() {
    let (_dir, store) = fresh();
    let old = "2026-10-01T00:00:00Z";
    let events = [
        crawled("sample.1", "configured", old),
        entry("sample.1", "s", "configured", None, old),
        crawled("gone.1", "removed site", old),
        entry("gone.1", "g", "removed site", None, old),
        entry("gone-b.1", "gb", "a site sorting before gone.", None, old),
        entry("a.1", "a", "first of all", None, old),
        failed("zzz.9", old),
        entry("other.1", "o", "also configured", None, old),
        entry("gone.2", "new", "recent", None, "2026-11-05T00:00:00Z"),
    ];
    apply(&store, &numbered(1, &events));
    let wildcard = retention_of_others(&["sample", "other"], "2026-11-01T00:00:00Z");
    let stats = apply(&store, &numbered(10, &[wildcard]));
    assert_eq!((stats.applied, stats.rejected), (1, 0));
    let pages: Vec<String> = store.pages().unwrap().into_iter().map(|p| p.key).collect();
    assert_eq!(pages, ["sample.1"]);
    let mut ids: Vec<String> = store
        .newest_entries(10)
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    ids.sort();
    assert_eq!(ids, ["new", "o", "s"]);
    assert!(store.search("removed", 10).unwrap().is_empty());
    let (seq, digest) = store.digest().unwrap();
    assert_eq!(store.recompute_digest().unwrap(), (seq, digest));
}
