//! Invariant 3: what cannot be applied is recorded as rejected, with its
//! sequence and reason, and the projector carries on. Rejected rows are this
//! node's diagnostics: outside the digest, pruned once the stream no longer
//! holds their sequences.

mod common;

use common::*;

#[test]
fn garbage_and_newer_schema_land_in_rejected_and_later_events_apply() {
    let (_dir, store) = fresh();
    let good = crawled("sample.1", "t", "2026-11-01T00:00:00Z").encode();
    let later = entry("sample.1", "a", "hello", None, "2026-11-01T00:00:00Z").encode();
    let newer = br#"{"v":999,"type":"page_crawled","page":"sample.1"}"#.to_vec();
    let batch = vec![
        (1, good),
        (2, b"\x00\xffgarbage".to_vec()),
        (3, newer),
        (4, later),
    ];
    let stats = apply(&store, &batch);
    assert_eq!((stats.applied, stats.rejected, stats.skipped), (2, 2, 0));
    assert_eq!(store.applied_seq().unwrap(), 4);
    let counts = store.counts().unwrap();
    assert_eq!((counts.pages, counts.entries, counts.rejected), (1, 1, 2));
    assert_eq!(store.page_entries("sample.1", 5).unwrap()[0].text, "hello");

    let rejected = store.rejected(10).unwrap();
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0].0, 2);
    assert!(
        rejected[0].1.reason.contains("not JSON"),
        "{:?}",
        rejected[0]
    );
    assert!(rejected[0].1.payload.ends_with("garbage"));
    assert_eq!(rejected[1].0, 3);
    assert!(rejected[1].1.reason.contains("999"), "{:?}", rejected[1]);
    assert!(rejected[1].1.payload.contains(r#""v":999"#));
}

#[test]
fn an_event_that_cannot_be_applied_is_rejected_too() {
    let (_dir, store) = fresh();
    let batch = numbered(1, &[retention("no.dots", "2026-11-01T00:00:00Z")]);
    let stats = apply(&store, &batch);
    assert_eq!(stats.rejected, 1);
    assert_eq!(store.counts().unwrap().rejected, 1);
}

#[test]
fn a_huge_payload_is_kept_truncated() {
    let (_dir, store) = fresh();
    let huge = vec![b'x'; 100_000];
    apply(&store, &[(7, huge)]);
    let rejected = store.rejected(1).unwrap();
    assert_eq!(rejected[0].0, 7);
    assert_eq!(rejected[0].1.payload.len(), 4096);
}

#[test]
fn rejected_rows_stay_out_of_the_digest_and_are_pruned_by_sequence() {
    let good = crawled("sample.1", "t", "2026-11-01T00:00:00Z").encode();
    let (_a_dir, saw_garbage) = fresh();
    apply(&saw_garbage, &[(1, b"garbage".to_vec()), (2, good.clone())]);
    // A node rebuilt after sequence 1 left the stream never saw it.
    let (_b_dir, rebuilt) = fresh();
    apply(&rebuilt, &[(2, good)]);
    assert_eq!(saw_garbage.digest().unwrap(), rebuilt.digest().unwrap());

    apply(&saw_garbage, &[(3, b"more garbage".to_vec())]);
    assert_eq!(saw_garbage.prune_rejected(3).unwrap(), 1);
    let left: Vec<u64> = saw_garbage
        .rejected(10)
        .unwrap()
        .into_iter()
        .map(|(seq, _)| seq)
        .collect();
    assert_eq!(left, [3]);
    assert_eq!(saw_garbage.prune_rejected(3).unwrap(), 0);
}

#[test]
fn events_over_the_limits_are_rejected_and_later_events_apply() {
    use pagefeed_events::limits::{MAX_EVENT_BYTES, MAX_TEXT_BYTES};
    let (_dir, store) = fresh();
    let long_text = "渋".repeat(MAX_TEXT_BYTES / 3 + 1);
    let over_text = entry("sample.1", "long", &long_text, None, "2026-11-01T00:00:00Z");
    // A valid event, padded with whitespace (valid JSON) past the payload
    // limit: refused for its size alone, before it is decoded.
    let mut padded = entry("sample.1", "padded", "short", None, "2026-11-01T00:00:00Z").encode();
    padded.resize(MAX_EVENT_BYTES + 1, b' ');
    assert!(pagefeed_events::Event::decode(&padded).is_ok());
    let later = entry("sample.1", "a", "hello", None, "2026-11-01T00:00:00Z").encode();
    let batch = vec![(1, over_text.encode()), (2, padded), (3, later)];
    let stats = apply(&store, &batch);
    assert_eq!((stats.applied, stats.rejected), (1, 2));
    let ids: Vec<String> = store
        .page_entries("sample.1", 5)
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, ["a"]);
    let rejected = store.rejected(10).unwrap();
    assert_eq!(rejected.len(), 2);
    assert!(
        rejected[0].1.reason.contains("`text`"),
        "{:?}",
        rejected[0].1.reason
    );
    assert!(
        rejected[1].1.reason.contains("too large"),
        "{:?}",
        rejected[1].1.reason
    );
    assert_eq!(rejected[1].1.payload.len(), 4096, "kept truncated");
}
