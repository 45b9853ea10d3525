//! The extraction benchmark: what decoding, parsing and extracting one page
//! costs when the page is built to cost it (entries nested inside one
//! another, issue 12), against a flat page of the same size. In-process, one
//! thread, no NATS; CPU time is the thread's own. It also times html5ever
//! alone (scraper's `Html::parse_document`, no depth bound), to show what the
//! parser itself costs on deep nesting. See docs/BENCHMARKS.md.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use pagefeed_events::config::{Extract, FetcherConfig};
use pagefeed_fetcher::decode::decode;
use pagefeed_fetcher::extract::{Extractor, Limits};
use pagefeed_testkit::nested_pages::{flat_entries, nested_entries, ENTRY};

/// `pagefeed-bench extract` options.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Page sizes, in bytes (5242880 is the default body cap).
    #[arg(long, value_delimiter = ',', default_values_t = [400_000, 1_600_000, 5_242_880])]
    pub sizes: Vec<usize>,
    /// Depth of the nests of the second nested page of each size.
    #[arg(long, default_value_t = 1000)]
    pub depth: usize,
    /// Extractions of each page; the fastest is reported.
    #[arg(long, default_value_t = 3, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub runs: usize,
    /// Skip timing html5ever alone (slow on the deepest pages: that is the point).
    #[arg(long)]
    pub no_parse_only: bool,
    /// Also save the pages in this directory, to time
    /// `pagefeed-fetcher extract --file` on them.
    #[arg(long, value_name = "DIR")]
    pub write: Option<PathBuf>,
}

/// One page's figures.
struct Figures {
    cpu: Duration,
    wall: Duration,
    entries: usize,
    /// The error's reason code, when extraction failed.
    failed: Option<&'static str>,
}

pub fn run(options: &Options) -> anyhow::Result<()> {
    let extract = Extract {
        title: "title".into(),
        entry: ENTRY.into(),
        text: Some("p.comment".into()),
        timestamp: None,
        timestamp_format: None,
        link: Some("a".into()),
    };
    let limits = Limits::from(&FetcherConfig::default());
    let extractor = Extractor::new(&extract, chrono_tz::UTC, limits)?;
    println!(
        "extraction of one page, one thread, best of {} (max_entries {}, parse_deadline {:?})",
        options.runs, limits.max_entries, limits.parse_deadline
    );
    println!(
        "{:<16} {:>9} {:>8} {:>9} {:>9} {:>10} {:>10} {:>14}",
        "page", "bytes", "entries", "outermost", "extracted", "cpu s", "wall s", "html5ever cpu s"
    );
    for &size in &options.sizes {
        let (flat, count) = flat_entries(size);
        let (one_nest, _, _) = nested_entries(size, usize::MAX);
        let (nests, _, nests_count) = nested_entries(size, options.depth);
        let pages = [
            ("flat".to_owned(), flat, count),
            ("one nest".to_owned(), one_nest, 1),
            (format!("nests of {}", options.depth), nests, nests_count),
        ];
        for (name, page, outermost) in &pages {
            if let Some(dir) = &options.write {
                std::fs::create_dir_all(dir)?;
                let file = dir.join(format!("{}-{size}.html", name.replace(' ', "-")));
                std::fs::write(&file, page)
                    .with_context(|| format!("writing {}", file.display()))?;
            }
            let best = (0..options.runs)
                .map(|_| measure(&extractor, page.as_bytes()))
                .min_by_key(|f| f.cpu)
                .context("no run")?;
            let parse_only = if options.no_parse_only {
                "-".to_owned()
            } else {
                let start = thread_cpu();
                let html = scraper::Html::parse_document(page);
                let took = thread_cpu().saturating_sub(start);
                drop(html);
                format!("{:.3}", took.as_secs_f64())
            };
            let extracted = match best.failed {
                Some(reason) => reason.to_owned(),
                None => best.entries.to_string(),
            };
            println!(
                "{:<16} {:>9} {:>8} {:>9} {:>9} {:>10.3} {:>10.3} {:>14}",
                name,
                page.len(),
                count,
                outermost,
                extracted,
                best.cpu.as_secs_f64(),
                best.wall.as_secs_f64(),
                parse_only
            );
        }
    }
    Ok(())
}

/// Decodes and extracts `body` as the fetcher does.
fn measure(extractor: &Extractor, body: &[u8]) -> Figures {
    let (cpu, wall) = (thread_cpu(), Instant::now());
    let deadline = extractor.deadline();
    let decoded = decode(body, Some("text/html; charset=utf-8"));
    let page = extractor.extract_within(
        &decoded.text,
        "http://127.0.0.1/list",
        Utc::now(),
        &deadline,
    );
    let figures = Figures {
        cpu: thread_cpu().saturating_sub(cpu),
        wall: wall.elapsed(),
        entries: page.as_ref().map_or(0, |p| p.entries.len()),
        failed: page.as_ref().err().map(|e| e.reason()),
    };
    drop(page);
    figures
}

/// This thread's CPU time so far (Linux's `/proc/thread-self/schedstat`);
/// zero where that cannot be read.
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}
