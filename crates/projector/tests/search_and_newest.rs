//! What a reader sees: keyword search (Japanese and ASCII, case-insensitive)
//! and the newest entries, of one page or of all.

mod common;

use common::*;
use pagefeed_events::Event;

fn ids(entries: Vec<pagefeed_projector::store::EntryView>) -> Vec<String> {
    entries.into_iter().map(|e| e.id).collect()
}

fn store_with_entries() -> (tempfile::TempDir, pagefeed_projector::store::Store) {
    let (dir, store) = fresh();
    let events = vec![
        entry(
            "sample.1",
            "jp",
            "今日は渋谷でラーメンを食べました",
            Some("2026-11-01T10:00:00Z"),
            "2026-11-02T00:00:00Z",
        ),
        entry(
            "sample.1",
            "en",
            "Learning RUST today",
            Some("2026-11-01T09:00:00Z"),
            "2026-11-02T00:00:00Z",
        ),
        // No own timestamp: sorts by first_seen.
        entry(
            "sample.1",
            "late",
            "rust again, 渋谷 again",
            None,
            "2026-11-03T00:00:00Z",
        ),
        entry(
            "sample.2",
            "p2",
            "rusty nails",
            Some("2026-11-01T11:00:00Z"),
            "2026-11-02T00:00:00Z",
        ),
        entry(
            "sample.2",
            "p2old",
            "trust me",
            Some("2026-10-01T00:00:00Z"),
            "2026-11-02T00:00:00Z",
        ),
    ];
    apply(&store, &numbered(1, &events));
    (dir, store)
}

#[test]
fn search_finds_japanese_and_case_insensitive_substrings() {
    let (_dir, store) = store_with_entries();
    assert_eq!(ids(store.search("渋谷", 10).unwrap()), ["late", "jp"]);
    assert_eq!(ids(store.search("ラーメン", 10).unwrap()), ["jp"]);
    assert_eq!(ids(store.search("食べ", 10).unwrap()), ["jp"]);
    assert_eq!(
        ids(store.search("渋", 10).unwrap()),
        ["late", "jp"],
        "one-character query"
    );
    // A character found only at the end of a text (its end-of-text gram),
    // and one found in several bigrams of the same texts (each entry once).
    assert_eq!(ids(store.search("た", 10).unwrap()), ["jp"]);
    assert_eq!(ids(store.search("A", 10).unwrap()), ["late", "p2", "en"]);
    assert_eq!(ids(store.search("a", 1).unwrap()), ["late"]);
    assert_eq!(
        ids(store.search("rust", 10).unwrap()),
        ["late", "p2", "en", "p2old"]
    );
    assert_eq!(ids(store.search("RUST TODAY", 10).unwrap()), ["en"]);
    assert_eq!(
        ids(store.search("rust", 2).unwrap()),
        ["late", "p2"],
        "limit"
    );
    assert!(store.search("新宿", 10).unwrap().is_empty());
    // Every bigram present, but not as one substring: verification rejects it.
    assert!(store.search("rusty today", 10).unwrap().is_empty());
    assert!(store.search("", 10).unwrap().is_empty());
}

#[test]
fn a_changed_text_is_reindexed() {
    let (_dir, store) = store_with_entries();
    apply(
        &store,
        &numbered(
            6,
            &[entry(
                "sample.2",
                "p2",
                "smooth nails",
                Some("2026-11-01T11:00:00Z"),
                "2026-11-04T00:00:00Z",
            )],
        ),
    );
    assert_eq!(
        ids(store.search("rust", 10).unwrap()),
        ["late", "en", "p2old"]
    );
    assert_eq!(ids(store.search("smooth", 10).unwrap()), ["p2"]);
}

#[test]
fn newest_entries_are_ordered_and_limited() {
    let (_dir, store) = store_with_entries();
    assert_eq!(
        ids(store.newest_entries(10).unwrap()),
        ["late", "p2", "jp", "en", "p2old"]
    );
    assert_eq!(ids(store.newest_entries(2).unwrap()), ["late", "p2"]);
    assert_eq!(
        ids(store.page_entries("sample.1", 10).unwrap()),
        ["late", "jp", "en"]
    );
    assert_eq!(ids(store.page_entries("sample.1", 1).unwrap()), ["late"]);
    assert_eq!(
        ids(store.page_entries("sample.2", 10).unwrap()),
        ["p2", "p2old"]
    );
    assert!(store.page_entries("sample.3", 10).unwrap().is_empty());
}

#[test]
fn an_earlier_first_sighting_moves_an_undated_entry_in_the_index() {
    let (_dir, store) = store_with_entries();
    // "late" was first seen at 11-03; an older observation arrives (redelivered
    // from another fetcher): it now sorts at 10-15, below the dated ones.
    apply(
        &store,
        &numbered(
            6,
            &[entry(
                "sample.1",
                "late",
                "rust again, 渋谷 again",
                None,
                "2026-10-15T00:00:00Z",
            )],
        ),
    );
    assert_eq!(
        ids(store.newest_entries(10).unwrap()),
        ["p2", "jp", "en", "late", "p2old"]
    );
    assert_eq!(
        ids(store.page_entries("sample.1", 10).unwrap()),
        ["jp", "en", "late"]
    );
    assert_eq!(store.counts().unwrap().entries, 5, "moved, not duplicated");
}

/// The newest entries overall are merged from the pages' own indexes by way
/// of each page's head, and search finds what the texts hold: after every
/// batch of a long, varied history (new entries, re-observations that move
/// an entry, changed texts, retention), they equal every page's entries
/// sorted by time (ties by page, then id).
#[test]
fn newest_overall_equals_every_page_sorted_however_the_history_goes() {
    let (_dir, store) = fresh();
    let pages: Vec<String> = (1..=12).map(|i| format!("sample.{i}")).collect();
    // A fixed pseudo-random sequence (xorshift), so that a failure repeats.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut seq = 1;
    for round in 0..60 {
        let mut events = Vec::new();
        for _ in 0..next(40) + 1 {
            let page = &pages[next(pages.len() as u64) as usize];
            let id = format!("e{}", next(15));
            let day = 1 + next(28);
            let hour = next(3); // few distinct times: ties happen
            let stamp = format!("2026-10-{day:02}T{hour:02}:00:00Z");
            let seen = format!("2026-11-{:02}T00:00:00Z", 1 + next(28));
            let dated = next(4) != 0;
            let text = format!("text {} of {id}", next(3));
            events.push(entry(
                page,
                &id,
                &text,
                dated.then_some(stamp.as_str()),
                &seen,
            ));
        }
        if round % 17 == 16 {
            events.push(retention(
                "sample",
                &format!("2026-11-{:02}T00:00:00Z", 1 + next(10)),
            ));
        }
        apply(&store, &numbered(seq, &events));
        seq += events.len() as u64;

        let mut all: Vec<_> = pages
            .iter()
            .flat_map(|p| store.page_entries(p, 1000).unwrap())
            .collect();
        all.sort_by(|a, b| (b.sort_time(), &a.page, &a.id).cmp(&(a.sort_time(), &b.page, &b.id)));
        let key = |e: &pagefeed_projector::store::EntryView| (e.page.clone(), e.id.clone());
        for limit in [1, 7, all.len().max(1), all.len() + 5] {
            let got: Vec<_> = store
                .newest_entries(limit)
                .unwrap()
                .iter()
                .map(key)
                .collect();
            let want: Vec<_> = all.iter().take(limit).map(key).collect();
            assert_eq!(got, want, "round {round}, limit {limit}");
        }
        // Search agrees too, though entries change texts, are observed twice
        // in one batch and deleted in the batch that indexed them.
        for q in ["text 1", "of e1"] {
            let found = store.search(q, 1000).unwrap();
            assert!(
                found
                    .windows(2)
                    .all(|w| w[0].sort_time() >= w[1].sort_time()),
                "round {round}: {q:?} newest first"
            );
            let mut got: Vec<_> = found.iter().map(key).collect();
            let mut want: Vec<_> = all.iter().filter(|e| e.text.contains(q)).map(key).collect();
            got.sort();
            want.sort();
            assert_eq!(got, want, "round {round}: search {q:?}");
        }
    }
}

/// A batch names the entries it indexes in one block: a block counts its
/// live entries, and goes once an entry's change or deletion leaves none.
#[test]
fn a_block_of_document_names_goes_with_its_last_live_entry() {
    let (_dir, store) = fresh();
    let first = [
        entry("sample.1", "a", "rust one", None, "2026-11-01T00:00:00Z"),
        entry("sample.1", "b", "rust two", None, "2026-11-01T00:00:00Z"),
        entry("sample.2", "c", "rust three", None, "2026-11-10T00:00:00Z"),
    ];
    apply(&store, &numbered(1, &first));
    assert_eq!(store.doc_blocks().unwrap(), [(0, 3)]);
    // Two texts change (new numbers, in the second batch's block), and an
    // entry observed and changed in one batch counts once.
    let second = [
        entry("sample.1", "a", "go one", None, "2026-11-02T00:00:00Z"),
        entry("sample.1", "b", "go two", None, "2026-11-02T00:00:00Z"),
        entry("sample.2", "d", "go four", None, "2026-11-11T00:00:00Z"),
        entry(
            "sample.2",
            "d",
            "go four, edited",
            None,
            "2026-11-11T00:00:00Z",
        ),
    ];
    apply(&store, &numbered(4, &second));
    assert_eq!(store.doc_blocks().unwrap(), [(0, 1), (3, 3)]);
    assert_eq!(ids(store.search("rust", 10).unwrap()), ["c"]);
    assert_eq!(ids(store.search("edited", 10).unwrap()), ["d"]);
    // Retention takes "a" and "b" (first seen 11-01): the first block keeps
    // "c", the second "d".
    apply(
        &store,
        &numbered(8, &[retention("sample", "2026-11-05T00:00:00Z")]),
    );
    assert_eq!(store.doc_blocks().unwrap(), [(0, 1), (3, 1)]);
    assert_eq!(ids(store.search("go", 10).unwrap()), ["d"]);
    apply(
        &store,
        &numbered(9, &[retention("sample", "2026-11-30T00:00:00Z")]),
    );
    assert!(store.doc_blocks().unwrap().is_empty());
    assert!(store.search("o", 10).unwrap().is_empty());
}

#[test]
fn a_sites_newest_are_its_pages_only_newest_first() {
    let (_dir, store) = fresh();
    let events = vec![
        entry(
            "sample.1",
            "a",
            "one",
            Some("2026-11-01T00:00:00Z"),
            "2026-11-02T00:00:00Z",
        ),
        entry(
            "sample.2",
            "b",
            "two",
            Some("2026-11-03T00:00:00Z"),
            "2026-11-04T00:00:00Z",
        ),
        // Another site, whose name starts with this one's, and is newer.
        entry(
            "sample2.1",
            "c",
            "three",
            Some("2026-11-05T00:00:00Z"),
            "2026-11-06T00:00:00Z",
        ),
        entry(
            "other.1",
            "d",
            "four",
            Some("2026-11-02T00:00:00Z"),
            "2026-11-06T00:00:00Z",
        ),
        entry("sample.1", "e", "five", None, "2026-11-02T12:00:00Z"),
    ];
    apply(&store, &numbered(1, &events));
    let window = pagefeed_projector::store::Window::entries(10);
    assert_eq!(
        ids(store.site_newest("sample", window).unwrap().items),
        ["b", "e", "a"]
    );
    assert_eq!(
        ids(store.site_newest("sample2", window).unwrap().items),
        ["c"]
    );
    assert!(store
        .site_newest("nosuch", window)
        .unwrap()
        .items
        .is_empty());
    let two = store
        .site_newest("sample", pagefeed_projector::store::Window::entries(2))
        .unwrap();
    assert_eq!(ids(two.items), ["b", "e"]);
    assert!(two.next.is_some(), "more follows");
}

#[test]
fn search_equals_a_scan_through_merged_runs_changes_and_retention() {
    // One entry a batch: a run each, merged 8 at a time into level 1, 64
    // into level 2, 512 into level 3.
    let (_dir, store) = fresh();
    let words = [
        "渋谷",
        "ラーメン",
        "rust",
        "Nats",
        "今日",
        "は",
        "の",
        "ΣΑΣ",
        "db",
    ];
    let text = |i: usize, salt: usize| -> String {
        (0..1 + (i * 7 + salt) % 5)
            .map(|k| words[(i * 31 + k * 17 + salt) % words.len()])
            .collect::<Vec<_>>()
            .join(if i.is_multiple_of(3) { " " } else { "" })
    };
    let day = |i: usize| format!("2026-11-{:02}T{:02}:00:00Z", 1 + i % 28, i % 24);
    let mut now = std::collections::BTreeMap::new();
    let mut seq = 1;
    for i in 0..600 {
        let (page, id) = (format!("sample.{}", i % 40), format!("e{i}"));
        let t = text(i, 0);
        apply(
            &store,
            &numbered(
                seq,
                &[entry(&page, &id, &t, Some(&day(i)), "2026-11-29T00:00:00Z")],
            ),
        );
        now.insert((page, id), t);
        seq += 1;
    }
    // Changed texts, in batches of ten: their old postings leave merged runs.
    for chunk in (0..600).step_by(7).collect::<Vec<_>>().chunks(10) {
        let events: Vec<Event> = chunk
            .iter()
            .map(|&i| {
                let (page, id) = (format!("sample.{}", i % 40), format!("e{i}"));
                let t = text(i, 3);
                now.insert((page.clone(), id.clone()), t.clone());
                entry(&page, &id, &t, Some(&day(i)), "2026-11-29T00:00:00Z")
            })
            .collect();
        apply(&store, &numbered(seq, &events));
        seq += events.len() as u64;
    }
    let check = |now: &std::collections::BTreeMap<(String, String), String>| {
        for q in [
            "渋",
            "渋谷",
            "ラーメンrust",
            "RUST",
            "nats渋",
            "σας",
            "の",
            "は今",
            "b",
            "zz",
            "谷ラ",
        ] {
            let needle = q.to_lowercase();
            let mut want: Vec<&(String, String)> = now
                .iter()
                .filter(|(_, t)| t.to_lowercase().contains(&needle))
                .map(|(k, _)| k)
                .collect();
            want.sort();
            let got = store.search(q, 10_000).unwrap();
            assert!(
                got.windows(2).all(|w| w[0].sort_time() >= w[1].sort_time()),
                "{q:?}: newest first"
            );
            let mut keys: Vec<(String, String)> = got.into_iter().map(|e| (e.page, e.id)).collect();
            // A small window holds the newest of them: the segments it
            // leaves unread hold nothing newer.
            for limit in [1, 3, 7] {
                let window: Vec<(String, String)> = store
                    .search(q, limit)
                    .unwrap()
                    .into_iter()
                    .map(|e| (e.page, e.id))
                    .collect();
                assert_eq!(window, keys[..limit.min(keys.len())], "{q:?} limit {limit}");
            }
            keys.sort();
            assert_eq!(keys.iter().collect::<Vec<_>>(), want, "{q:?}");
        }
    };
    check(&now);
    // Retention of the oldest half: their postings leave too.
    apply(
        &store,
        &numbered(seq, &[retention("sample", "2026-11-30T00:00:00Z")]),
    );
    check(&std::collections::BTreeMap::new());
}

#[test]
fn a_candidate_missing_another_bigram_of_the_query_is_not_read() {
    // "渋谷" and "谷へ" are each in 300 texts, "渋谷へ" in three: a search
    // that read every candidate of the rarer bigram would need 300 reads,
    // and runs out of a budget of five.
    let (_dir, store) = fresh();
    let mut events = Vec::new();
    for i in 0..300 {
        for (n, text) in [(0, "渋谷で"), (1, "山谷へ")] {
            events.push(entry(
                "sample.1",
                &format!("e{i}-{n}"),
                &format!("{text} {i}"),
                Some(&format!("2026-11-{:02}T{:02}:00:00Z", 1 + i % 28, i % 24)),
                "2026-11-29T00:00:00Z",
            ));
        }
    }
    for i in 0..3 {
        events.push(entry(
            "sample.2",
            &format!("hit{i}"),
            &format!("今日は渋谷へ {i}"),
            Some(&format!("2026-10-0{}T00:00:00Z", 1 + i)),
            "2026-11-29T00:00:00Z",
        ));
    }
    apply(&store, &numbered(1, &events));
    let answer = store
        .search_after(
            "渋谷へ",
            None,
            pagefeed_projector::store::Window::entries(20),
            pagefeed_projector::store::SearchBudget {
                candidates: 5,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(!answer.partial, "cut short after five candidates");
    assert_eq!(ids(answer.items), ["hit2", "hit1", "hit0"]);
}

#[test]
fn a_large_batch_is_named_in_blocks_of_64_that_die_one_by_one() {
    let (_dir, store) = fresh();
    let at = |i: usize| format!("2026-11-01T{:02}:{:02}:00Z", i / 60, i % 60);
    // Entries e0.. of the given count, texts "{word} {i:03}".
    let batch = |count: usize, word: &str| -> Vec<Event> {
        (0..count)
            .map(|i| {
                entry(
                    "sample.1",
                    &format!("e{i}"),
                    &format!("{word} {i:03}"),
                    Some(&at(i)),
                    "2026-11-29T00:00:00Z",
                )
            })
            .collect()
    };
    apply(&store, &numbered(1, &batch(150, "rust")));
    assert_eq!(store.doc_blocks().unwrap(), [(0, 64), (64, 64), (128, 22)]);
    // The first 65 texts change: their new numbers are the second batch's
    // (150 on), and the first block goes.
    let second = batch(65, "go");
    apply(&store, &numbered(151, &second));
    assert_eq!(
        store.doc_blocks().unwrap(),
        [(64, 63), (128, 22), (150, 64), (214, 1)]
    );
    for (q, n) in [("rust", 85), ("go", 65), ("064", 1), ("149", 1)] {
        let found = store.search(q, 1000).unwrap();
        assert_eq!(found.len(), n, "{q}");
    }
    assert_eq!(ids(store.search("go 064", 10).unwrap()), ["e64"]);
    assert_eq!(
        ids(store.search("rust 064", 10).unwrap()),
        Vec::<String>::new()
    );
    assert_eq!(ids(store.search("rust 065", 10).unwrap()), ["e65"]);
}
