//! `pagefeed-bench fetcher [--pages N] [--concurrency C] ...` measures the
//! fetcher's throughput, `pagefeed-bench projector [--events N]` the
//! projector's replication, search, lag and rebuild, and prints a report (docs/BENCHMARKS.md). It runs
//! the release binaries next to it: `cargo build --release --bins` first.
//! `pagefeed-bench text [--scale N]` measures the index on real text.
//! `pagefeed-bench extract` times the extraction of pages of nested entries,
//! in-process. `pagefeed-bench chaos` injects faults into the whole system
//! and checks its invariants (docs/RELIABILITY.md). `pagefeed-bench web`
//! times the web view's pages on a node holding many pages, in-process.
//! `pagefeed-bench scrapy` crawls the same pages with one fetcher and with
//! Scrapy, served by nginx.
//! `pagefeed-bench scale` measures the scheduler and the fetch state at
//! scale (a tick of 100,000 tasks, 10,000 hosts).

use clap::{Parser, Subcommand};
use pagefeed_bench::chaos;
use pagefeed_bench::extract;
use pagefeed_bench::fetcher::{self, Options};
use pagefeed_bench::procs::{Machine, Pinning, CLIENT_CORE};
use pagefeed_bench::projector;
use pagefeed_bench::scale;
use pagefeed_bench::scrapy;
use pagefeed_bench::web;

/// pagefeed's benchmarks.
#[derive(Parser)]
#[command(name = "pagefeed-bench", version)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fetcher throughput: raw GET, GET + parse, one and two fetcher processes.
    Fetcher(Options),
    /// Projector: live replication, search, lag, raw read against rebuild.
    Projector(projector::Options),
    /// The projector's apply alone, in-process, no NATS (for profiling).
    Apply(projector::ApplyOptions),
    /// The projector's index on real text (Japanese and English manual
    /// pages) against the sample vocabulary, and at `--scale` entries.
    Text(projector::TextOptions),
    /// Extraction of pages of nested entries against flat ones, in-process.
    Extract(extract::Options),
    /// Faults injected at seeded random times into the whole system on a
    /// three-node cluster, then its invariants checked (exit 1 if one fails).
    Chaos(chaos::Options),
    /// The web view's pages on a node holding many pages, in-process.
    Web(web::Options),
    /// A null node of the projector benchmark (it spawns them): reads the
    /// stream as a projector does and applies nothing.
    #[command(hide = true)]
    NullNode(projector::NullNodeOptions),
    /// One fetcher against Scrapy, the same pages (sample and real ones,
    /// served by nginx) and selectors.
    Scrapy(scrapy::Options),
    /// The scheduler and the fetch state at scale: a tick of 100,000 tasks,
    /// the scheduler's and a fetcher's peak RSS over 10,000 hosts, the
    /// fetch-state bucket's bytes per page.
    Scale(scale::Options),
}

fn main() -> anyhow::Result<()> {
    let options = match Args::parse().command {
        Command::Fetcher(options) => options,
        Command::Scrapy(options) => {
            let machine = Machine::read();
            let pins = Pinning::detect(&machine);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            return runtime.block_on(scrapy::run(options, machine, pins));
        }
        Command::Projector(options) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            return runtime.block_on(projector::run(options, Machine::read()));
        }
        Command::Apply(options) => return projector::apply_only(options),
        Command::NullNode(options) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            return runtime.block_on(projector::null_node(options));
        }
        Command::Text(options) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            return runtime.block_on(projector::run_text(options, Machine::read()));
        }
        Command::Extract(options) => return extract::run(&options),
        Command::Web(options) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            return runtime.block_on(web::run(options, Machine::read()));
        }
        Command::Scale(options) => {
            let machine = Machine::read();
            let pins = Pinning::detect(&machine);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            return runtime.block_on(scale::run(options, machine, pins));
        }
        Command::Chaos(options) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            if !runtime.block_on(chaos::run(options))? {
                std::process::exit(1);
            }
            return Ok(());
        }
    };
    let machine = Machine::read();
    let pins = Pinning::detect(&machine);
    // Before the runtime exists, so that it sizes itself (and its threads
    // inherit the affinity) as a fetcher pinned to one core would.
    pins.pin_self(CLIENT_CORE)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(fetcher::run(options, machine, pins))
}
