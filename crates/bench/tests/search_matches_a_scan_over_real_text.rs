//! Search over real text (the manual-page corpus of `pagefeed-bench text`)
//! finds exactly what a scan of every entry finds, newest first, through
//! batches small enough that the index merges its runs over several levels,
//! and after texts changed (their old postings removed from merged runs).
//! Needs the corpus: `apt-get install -y manpages-ja manpages-ja-dev manpages`
//! (scripts/test.sh installs it).

use std::collections::BTreeSet;

use pagefeed_bench::projector::corpus::Corpus;
use pagefeed_bench::projector::events_with_texts;
use pagefeed_events::event::Event;
use pagefeed_events::publish::Outgoing;
use pagefeed_projector::store::{EntryView, Logged, SearchBudget, Store, Window};

const ENTRIES: usize = 12_000;
const CHANGED: usize = 1_500;

fn apply(store: &Store, messages: &[Outgoing], first_seq: u64, batch: usize) {
    let published = chrono::Utc::now();
    let logged: Vec<Logged> = messages
        .iter()
        .zip(first_seq..)
        .map(|(m, seq)| Logged {
            seq,
            published,
            payload: &m.payload,
        })
        .collect();
    for chunk in logged.chunks(batch) {
        let stats = store.apply_batch(chunk).unwrap();
        assert_eq!(stats.applied, chunk.len());
    }
}

fn texts(messages: &[Outgoing]) -> Vec<(String, String, String)> {
    messages
        .iter()
        .map(|m| match Event::decode(&m.payload).unwrap() {
            Event::EntryObserved(e) => (e.page.to_string(), e.id, e.text),
            other => panic!("not an entry: {other:?}"),
        })
        .collect()
}

#[test]
fn search_over_real_text_equals_a_scan() {
    let corpus = Corpus::load().expect("the corpus (see the module doc)");
    let mut source = corpus.texts();
    let first = events_with_texts(ENTRIES, 0, &mut source);
    // The same entries again (same pages and ids), with other texts.
    let changed = events_with_texts(CHANGED, 0, &mut source);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("p.redb")).unwrap();
    // 50 a batch: 240 runs, merged into level 1 every 8 and level 2 every 64.
    apply(&store, &first, 1, 50);
    apply(&store, &changed, ENTRIES as u64 + 1, 100);

    // What every entry holds now.
    let mut now: std::collections::HashMap<(String, String), String> = texts(&first)
        .into_iter()
        .map(|(p, i, t)| ((p, i), t))
        .collect();
    for (p, i, t) in texts(&changed) {
        now.insert((p, i), t);
    }
    let lowered: Vec<((String, String), String)> = now
        .iter()
        .map(|(k, t)| (k.clone(), t.to_lowercase()))
        .collect();

    // Queries: 1-4 characters cut from the texts (old and new), the most
    // common characters, a changed entry's old words, and one held nowhere.
    let mut queries: Vec<String> = Vec::new();
    for (n, (_, _, t)) in texts(&first)
        .iter()
        .chain(texts(&changed).iter())
        .enumerate()
    {
        if n % 97 != 0 {
            continue;
        }
        let chars: Vec<char> = t.chars().collect();
        let len = 1 + n % 4;
        if chars.len() >= len {
            let start = (n * 7) % (chars.len() - len + 1);
            queries.push(chars[start..start + len].iter().collect());
        }
    }
    queries
        .extend(["の", "を", "e", " ", "ファイル", "FILE", "zzqx", "。。。。"].map(String::from));

    let mut found_some = 0;
    for q in &queries {
        let needle = q.to_lowercase();
        let expected: BTreeSet<(String, String)> = lowered
            .iter()
            .filter(|(_, t)| t.contains(&needle))
            .map(|(k, _)| k.clone())
            .collect();
        let listed = store
            .search_after(
                q,
                None,
                Window::entries(ENTRIES + 10),
                SearchBudget::unlimited(),
            )
            .unwrap();
        let got: Vec<EntryView> = listed.items;
        let got_keys: BTreeSet<(String, String)> =
            got.iter().map(|e| (e.page.clone(), e.id.clone())).collect();
        assert_eq!(got.len(), got_keys.len(), "{q:?}: an entry twice");
        assert_eq!(got_keys, expected, "{q:?}");
        assert!(
            got.windows(2).all(|w| w[0].sort_time() >= w[1].sort_time()),
            "{q:?}: not newest first"
        );
        // The first page of 20 is the head of the whole list.
        let twenty = store.search(q, 20).unwrap();
        assert_eq!(twenty, got[..got.len().min(20)], "{q:?}");
        if !expected.is_empty() {
            found_some += 1;
        }
    }
    assert!(found_some > queries.len() / 2, "the queries find something");
}
