//! `pagefeed-bench text`: the projector's index on real text (the
//! manual-page corpus, [`super::corpus`]) against the sample site's
//! vocabulary, and at `--scale` entries against the first `--events` of the
//! same run (docs/BENCHMARKS.md, "Real text").

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use bytes::Bytes;
use futures::StreamExt as _;
use pagefeed_events::event::Event;
use pagefeed_events::publish::Outgoing;
use pagefeed_events::streams::events_replay;
use pagefeed_events::subject::EVENTS_STREAM;
use pagefeed_projector::store::{SearchBudget, Store, Window};

use super::apply::apply_in_process;
use super::corpus::{distinct_bigrams, Corpus, INSTALL};
use super::events::{entry_events, events_with_texts, ENTRIES_PER_PAGE};
use super::nodes::rebuild;
use crate::procs::{Binaries, Machine};
use crate::publish::publish;
use crate::report::{heading, kib_to_mb, mb, millis, ms, percentiles, verdict, Figures, Limit};

/// Events per transaction, as a node's batches.
const BATCH: usize = pagefeed_projector::batch::MAX_BATCH;
/// Real text's apply rate with the index, as a share of the sample's.
const APPLY_VS_SAMPLE_TARGET: f64 = 0.5;
const REBUILD_VS_RAW_TARGET: f64 = 0.5;
const SEARCH_P50_TARGET_MS: f64 = 5.0;
const SEARCH_P99_TARGET_MS: f64 = 20.0;
/// At `--scale`, rate and search as a share of the smaller run's.
const SCALE_TARGET: f64 = 0.8;
const RSS_TARGET_MB: f64 = 200.0;
/// Events generated and published at a time for the larger run.
const CHUNK: usize = 200_000;

/// `pagefeed-bench text` options.
#[derive(Debug, Clone, clap::Args)]
pub struct TextOptions {
    /// Entry events of real text (and of the sample site, for the apply
    /// rate it is compared with).
    #[arg(long, default_value_t = 1_000_000, value_name = "N")]
    pub events: usize,
    /// Random searches timed (the worst cases come on top).
    #[arg(long, default_value_t = 1_000, value_name = "N")]
    pub searches: usize,
    /// Then publish up to this many events in all, rebuild and search
    /// again, each figure against the `--events` one (e.g. 10000000).
    #[arg(long, value_name = "N")]
    pub scale: Option<usize>,
    /// Skip the in-process apply against the sample vocabulary.
    #[arg(long)]
    pub no_apply: bool,
}

/// Runs the real-text benchmark and prints its report.
pub async fn run(options: TextOptions, machine: Machine) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bins = Binaries::locate()?;
    let started = Instant::now();
    let corpus = Corpus::load()?;
    let (ja_chars, en_chars) = corpus.chars();
    eprintln!(
        "corpus: {} Japanese pages ({ja_chars} chars), {} English pages ({en_chars} chars), read in {:.1} s",
        corpus.files.0,
        corpus.files.1,
        started.elapsed().as_secs_f64()
    );
    let dir = tempfile::Builder::new()
        .prefix("pagefeed-bench-text-")
        .tempdir()?;
    let mut figures = Figures::echoing();
    let mut head = format!(
        "{}{} entry events of real text{}, {} random searches\n",
        heading("real-text", &machine, "no pinning"),
        options.events,
        options
            .scale
            .map(|n| format!(", then {n} in all"))
            .unwrap_or_default(),
        options.searches
    );
    head.push_str(&format!(
        "corpus: `{INSTALL}`; {} Japanese pages ({ja_chars} characters), {} English ({en_chars})\n",
        corpus.files.0, corpus.files.1
    ));

    let mut texts = corpus.texts();
    eprintln!("generating {} events of real text ...", options.events);
    let messages = events_with_texts(options.events, 0, &mut texts);
    let sample = entry_events(options.events, 0);
    let (texts_of_real, texts_of_sample) = (texts_of(&messages), texts_of(&sample));
    let per_batch = |texts: &[String]| -> f64 {
        let batches: Vec<usize> = texts
            .chunks(BATCH)
            .take(10)
            .map(|c| distinct_bigrams(c.iter().map(String::as_str)))
            .collect();
        batches.iter().sum::<usize>() as f64 / batches.len().max(1) as f64
    };
    let mean_chars = |texts: &[String]| -> f64 {
        texts.iter().map(|t| t.chars().count()).sum::<usize>() as f64 / texts.len().max(1) as f64
    };
    figures.row(
        format!(
            "distinct bigrams per {BATCH}-event batch (first 10 batches), real text / sample site"
        ),
        format!(
            "{:.0} / {:.0} ({:.0} / {:.0} characters an entry)",
            per_batch(&texts_of_real),
            per_batch(&texts_of_sample),
            mean_chars(&texts_of_real),
            mean_chars(&texts_of_sample)
        ),
        "—",
        "",
    );
    figures.row(
        format!(
            "distinct bigrams in all {} entries, real text / sample site",
            messages.len()
        ),
        format!(
            "{} / {}",
            distinct_bigrams(texts_of_real.iter().map(String::as_str)),
            distinct_bigrams(texts_of_sample.iter().map(String::as_str))
        ),
        "—",
        "",
    );

    if !options.no_apply {
        apply_split(&mut figures, dir.path(), &messages, &sample)?;
    }
    drop(sample);

    // Publish, raw read, rebuild, search, at `events` and then at `scale`.
    let super::Streams {
        // Kept to the end of the run: dropped, the server stops.
        nats: _nats,
        config,
        js,
        ..
    } = super::Streams::start(dir.path()).await?;
    eprintln!("publishing {} events ...", messages.len());
    publish(&js, &messages).await?;
    let queries = Queries::cut_from(&texts_of_real, options.searches);
    drop(messages);
    let small = Scale::measure(&bins, &config, &js, &dir.path().join("r1"), &queries).await?;
    small.report(&mut figures, None);

    if let Some(scale) = options.scale.filter(|&n| n > options.events) {
        let mut at = options.events;
        while at < scale {
            let n = CHUNK.min(scale - at);
            let chunk = events_with_texts(n, (at / ENTRIES_PER_PAGE) as u64, &mut texts);
            eprintln!("publishing events {} to {} ...", at + 1, at + n);
            publish(&js, &chunk).await?;
            at += n;
        }
        let large = Scale::measure(&bins, &config, &js, &dir.path().join("r2"), &queries).await?;
        large.report(&mut figures, Some(&small));
    }
    drop(texts_of_real);
    print!("{head}\n{}", figures.render());
    Ok(())
}

fn texts_of(messages: &[Outgoing]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| match Event::decode(&m.payload) {
            Ok(Event::EntryObserved(e)) => Some(e.text),
            _ => None,
        })
        .collect()
}

/// The in-process apply of the real text, with and without the index,
/// against the sample vocabulary's with the index.
fn apply_split(
    figures: &mut Figures,
    dir: &Path,
    real: &[Outgoing],
    sample: &[Outgoing],
) -> anyhow::Result<()> {
    let payloads = |m: &[Outgoing]| -> Vec<(u64, Bytes)> {
        m.iter()
            .zip(1..)
            .map(|(m, seq)| (seq, m.payload.clone()))
            .collect()
    };
    let rate = |name: &str, m: &[Outgoing], index: bool| -> anyhow::Result<f64> {
        eprintln!("applying {name} in-process ...");
        let sub = dir.join(name);
        let (t, _) = apply_in_process(&payloads(m), &sub, index, BATCH)?;
        let _ = std::fs::remove_dir_all(&sub);
        Ok(m.len() as f64 / t.as_secs_f64())
    };
    let sample_rate = rate("sample-index", sample, true)?;
    let real_rate = rate("real-index", real, true)?;
    let real_bare = rate("real-bare", real, false)?;
    figures.row(
        "apply in-process with the index, sample vocabulary (the limit)",
        format!("{sample_rate:.0} events/s"),
        "—",
        "",
    );
    figures.row(
        "apply in-process with the index, real text",
        format!(
            "{real_rate:.0} events/s ({:.2} of the sample's)",
            real_rate / sample_rate
        ),
        format!("≥ {APPLY_VS_SAMPLE_TARGET} of the sample's"),
        verdict(
            real_rate / sample_rate,
            Limit::AtLeast(APPLY_VS_SAMPLE_TARGET),
        ),
    );
    figures.row(
        "apply in-process without the index, real text (the split)",
        format!(
            "{real_bare:.0} events/s (the index is {:.0} % of the apply)",
            (1.0 - real_rate / real_bare) * 100.0
        ),
        "—",
        "",
    );
    Ok(())
}

/// The searches timed: 1–4 characters cut from the texts, and the worst
/// cases: the most common characters and bigrams, and queries whose
/// bigrams are all common but that no text holds.
struct Queries {
    random: Vec<String>,
    worst: Vec<(String, &'static str)>,
}

impl Queries {
    fn cut_from(texts: &[String], count: usize) -> Queries {
        let random = super::search::cut_queries(count, texts.len(), |i| Some(&texts[i]));
        let mut chars: HashMap<char, u64> = HashMap::new();
        let mut bigrams: HashMap<(char, char), u64> = HashMap::new();
        for t in texts {
            let lower: Vec<char> = t.to_lowercase().chars().collect();
            for &c in &lower {
                *chars.entry(c).or_default() += 1;
            }
            for w in lower.windows(2) {
                *bigrams.entry((w[0], w[1])).or_default() += 1;
            }
        }
        let top = |n: usize| -> Vec<char> {
            let mut v: Vec<(char, u64)> = chars
                .iter()
                .filter(|(c, _)| !c.is_whitespace())
                .map(|(&c, &n)| (c, n))
                .collect();
            v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            v.into_iter().take(n).map(|(c, _)| c).collect()
        };
        let mut top_bigrams: Vec<((char, char), u64)> = bigrams
            .iter()
            .filter(|((a, b), _)| !a.is_whitespace() && !b.is_whitespace())
            .map(|(&g, &n)| (g, n))
            .collect();
        top_bigrams.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut worst: Vec<(String, &'static str)> = Vec::new();
        for c in top(10) {
            worst.push((c.to_string(), "one of the 10 most common characters"));
        }
        for &((a, b), _) in top_bigrams.iter().take(10) {
            worst.push((format!("{a}{b}"), "one of the 10 most common bigrams"));
        }
        // Two common bigrams joined, held by no text: every candidate of
        // the rarer one is read and fails.
        let lowered: Vec<String> = texts.iter().map(|t| t.to_lowercase()).collect();
        let mut nothing = 0;
        'pairs: for &((a, b), _) in top_bigrams.iter().take(40) {
            for &((c, d), _) in top_bigrams.iter().take(40) {
                let q = format!("{a}{b}{c}{d}");
                if (a, b) != (c, d) && !lowered.iter().any(|t| t.contains(&q)) {
                    worst.push((q, "4 characters, common bigrams, held by no text"));
                    nothing += 1;
                    if nothing == 10 {
                        break 'pairs;
                    }
                }
            }
        }
        // Japanese text between two common characters that never follow
        // each other.
        let top20 = top(20);
        let mut absent = 0;
        'chars: for &a in &top20 {
            for &b in &top20 {
                if a != b && !bigrams.contains_key(&(a, b)) {
                    worst.push((format!("{a}{b}"), "two common characters never adjacent"));
                    absent += 1;
                    if absent == 5 {
                        break 'chars;
                    }
                }
            }
        }
        Queries { random, worst }
    }
}

/// One size's figures: publish done, the raw read, `rebuild`, the file,
/// the searches on the rebuilt file.
struct Scale {
    events: u64,
    raw_rate: f64,
    rebuild_rate: f64,
    rebuild_rss_kib: u64,
    file_bytes: u64,
    file_allocated: u64,
    random: (Duration, Duration, f64),
    /// The random searches by the query's length in characters: length,
    /// how many, p50, p99.
    by_length: Vec<(usize, usize, Duration, Duration)>,
    worst: (Duration, Duration, Duration, String),
}

impl Scale {
    async fn measure(
        bins: &Binaries,
        config: &Path,
        js: &jetstream::Context,
        data: &Path,
        queries: &Queries,
    ) -> anyhow::Result<Scale> {
        let last = pagefeed_testkit::streams::events_last_seq(js).await?;
        eprintln!("reading {last} events with an ordered consumer ...");
        let read = raw_read(js, last).await?;
        eprintln!("rebuilding {last} events ...");
        let (rebuild_time, rebuild_rss_kib) = rebuild(bins, config, data).await?;
        let file = file_of(data);
        let meta = std::fs::metadata(&file)?;
        let store = Store::open(&file)?;
        anyhow::ensure!(store.applied_seq()? == last, "rebuild stopped short");
        eprintln!("timing searches on {last} entries ...");
        let search = |q: &str| -> anyhow::Result<(Duration, usize)> {
            let t = Instant::now();
            let listed =
                store.search_after(q, None, Window::entries(20), SearchBudget::default())?;
            Ok((t.elapsed(), listed.items.len()))
        };
        // Once through to warm the cache as a serving node's would be.
        for q in queries.random.iter().take(100) {
            search(q)?;
        }
        let mut times = Vec::new();
        let mut by_length: std::collections::BTreeMap<usize, Vec<Duration>> =
            std::collections::BTreeMap::new();
        let mut hits = 0;
        for q in &queries.random {
            let (t, n) = search(q)?;
            times.push(t);
            by_length.entry(q.chars().count()).or_default().push(t);
            hits += n;
        }
        let (p50, p99) = percentiles(&mut times);
        let by_length = by_length
            .into_iter()
            .map(|(len, mut times)| {
                let n = times.len();
                let (p50, p99) = percentiles(&mut times);
                (len, n, p50, p99)
            })
            .collect();
        let mut worst_times = Vec::new();
        let mut slowest = (Duration::ZERO, String::new());
        for (q, why) in &queries.worst {
            for _ in 0..5 {
                let (t, n) = search(q)?;
                worst_times.push(t);
                if t > slowest.0 {
                    slowest = (t, format!("{q:?} ({why}, {n} hits)"));
                }
            }
        }
        let (w50, w99) = percentiles(&mut worst_times);
        Ok(Scale {
            events: last,
            raw_rate: last as f64 / read.as_secs_f64(),
            rebuild_rate: last as f64 / rebuild_time.as_secs_f64(),
            rebuild_rss_kib,
            file_bytes: meta.len(),
            file_allocated: allocated(&meta),
            random: (p50, p99, hits as f64 / queries.random.len().max(1) as f64),
            by_length,
            worst: (w50, w99, slowest.0, slowest.1),
        })
    }

    fn report(&self, figures: &mut Figures, small: Option<&Scale>) {
        let n = self.events;
        let ratio = |value: f64, base: Option<f64>| match base {
            Some(b) if b > 0.0 => format!(
                " ({:.2} of the {}-event figure)",
                value / b,
                small.map_or(0, |s| s.events)
            ),
            _ => String::new(),
        };
        figures.row(
            format!("{n}: raw ordered-consumer read, no apply (the limit)"),
            format!("{:.0} events/s", self.raw_rate),
            "—",
            "",
        );
        figures.row(
            format!("{n}: `pagefeed-projector rebuild`"),
            format!(
                "{:.0} events/s{}",
                self.rebuild_rate,
                ratio(self.rebuild_rate, small.map(|s| s.rebuild_rate))
            ),
            if small.is_some() {
                format!("≥ {SCALE_TARGET} of the smaller run's")
            } else {
                "—".to_owned()
            },
            small.map_or(String::new(), |s| {
                verdict(
                    self.rebuild_rate / s.rebuild_rate,
                    Limit::AtLeast(SCALE_TARGET),
                )
            }),
        );
        figures.row(
            format!("{n}: rebuild / raw read"),
            format!("{:.2}", self.rebuild_rate / self.raw_rate),
            format!("≥ {REBUILD_VS_RAW_TARGET}"),
            verdict(
                self.rebuild_rate / self.raw_rate,
                Limit::AtLeast(REBUILD_VS_RAW_TARGET),
            ),
        );
        figures.row(
            format!("{n}: rebuild peak RSS"),
            format!(
                "{}{}",
                mb(self.rebuild_rss_kib),
                ratio(
                    self.rebuild_rss_kib as f64,
                    small.map(|s| s.rebuild_rss_kib as f64)
                )
            ),
            format!("< {RSS_TARGET_MB:.0} MB"),
            verdict(kib_to_mb(self.rebuild_rss_kib), Limit::Below(RSS_TARGET_MB)),
        );
        let per = |b: u64| b as f64 / n as f64;
        figures.row(
            format!("{n}: file size per entry, apparent / allocated"),
            format!(
                "{:.0} / {:.0} bytes ({:.2} / {:.2} GB){}",
                per(self.file_bytes),
                per(self.file_allocated),
                self.file_bytes as f64 / 1e9,
                self.file_allocated as f64 / 1e9,
                ratio(
                    per(self.file_allocated),
                    small.map(|s| s.file_allocated as f64 / s.events as f64)
                )
            ),
            if small.is_some() {
                "not growing with N".to_owned()
            } else {
                "—".to_owned()
            },
            small.map_or(String::new(), |s| {
                let grow = per(self.file_allocated) / (s.file_allocated as f64 / s.events as f64);
                verdict(grow, Limit::Below(1.1))
            }),
        );
        let (p50, p99, hits) = self.random;
        figures.row(
            format!(
                "{n}: search, 1–4 characters cut from the texts, limit 20 ({hits:.1} hits each)"
            ),
            format!(
                "p50 {} / p99 {}{}",
                ms(p50),
                ms(p99),
                ratio(millis(p50), small.map(|s| millis(s.random.0)))
            ),
            format!("p50 < {SEARCH_P50_TARGET_MS} ms, p99 < {SEARCH_P99_TARGET_MS} ms"),
            both(
                verdict(millis(p50), Limit::Below(SEARCH_P50_TARGET_MS)),
                verdict(millis(p99), Limit::Below(SEARCH_P99_TARGET_MS)),
            ),
        );
        figures.row(
            format!("{n}: the same searches by query length, p50 / p99 (how many)"),
            self.by_length
                .iter()
                .map(|(len, count, p50, p99)| {
                    format!("{len}: {} / {} ({count})", ms(*p50), ms(*p99))
                })
                .collect::<Vec<_>>()
                .join("; "),
            "—",
            "",
        );
        let (w50, w99, max, which) = &self.worst;
        figures.row(
            format!("{n}: search, worst cases (5 runs each)"),
            format!(
                "p50 {} / p99 {}{}; slowest {}: {which}",
                ms(*w50),
                ms(*w99),
                ratio(millis(*w99), small.map(|s| millis(s.worst.1))),
                ms(*max)
            ),
            format!("p50 < {SEARCH_P50_TARGET_MS} ms, p99 < {SEARCH_P99_TARGET_MS} ms"),
            both(
                verdict(millis(*w50), Limit::Below(SEARCH_P50_TARGET_MS)),
                verdict(millis(*w99), Limit::Below(SEARCH_P99_TARGET_MS)),
            ),
        );
        if let Some(s) = small {
            // Search time as a rate: the smaller run's p99 over this one's.
            figures.row(
                format!(
                    "{n}: search p50 / p99 speed against the {}-event run",
                    s.events
                ),
                format!(
                    "{:.2} / {:.2}",
                    millis(s.random.0) / millis(p50),
                    millis(s.random.1) / millis(p99)
                ),
                format!("≥ {SCALE_TARGET}"),
                both(
                    verdict(
                        millis(s.random.0) / millis(p50),
                        Limit::AtLeast(SCALE_TARGET),
                    ),
                    verdict(
                        millis(s.random.1) / millis(p99),
                        Limit::AtLeast(SCALE_TARGET),
                    ),
                ),
            );
        }
    }
}

fn both(a: String, b: String) -> String {
    if a == b {
        a
    } else {
        format!("{a} / {b}")
    }
}

/// The file `rebuild` leaves in `data`.
fn file_of(data: &Path) -> PathBuf {
    data.join("pagefeed.redb")
}

#[cfg(unix)]
fn allocated(meta: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    meta.blocks() * 512
}

/// Reads the stream up to `last` with an ordered consumer, keeping nothing.
async fn raw_read(js: &jetstream::Context, last: u64) -> anyhow::Result<Duration> {
    let stream = js.get_stream(EVENTS_STREAM).await?;
    let started = Instant::now();
    let consumer = stream.create_consumer(events_replay()).await?;
    let mut messages = consumer.messages().await?;
    while let Some(msg) = messages.next().await {
        let seq = msg?
            .info()
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .stream_sequence;
        if seq >= last {
            break;
        }
    }
    Ok(started.elapsed())
}
