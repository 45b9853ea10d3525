//! `pagefeed-projector --config FILE --data DIR --node NAME --http ADDR`
//! replicates `PAGEFEED_EVENTS` into DIR and serves it until SIGINT/SIGTERM;
//! `pagefeed-projector rebuild --config FILE --data DIR --node NAME` replays
//! the stream into a fresh file; `pagefeed-projector digest --data DIR`
//! prints the applied sequence and the state digest. `--api-token-file`
//! (or `--api-token`) makes every API request need that bearer token; an
//! `--http` address other than loopback without one is refused (exit 2)
//! unless `--allow-unauthenticated-api` says so.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory as _, Parser, Subcommand};
use pagefeed_events::cli::{cancel_on_signals, exit_with, init_tracing, load_config_or_exit};
use pagefeed_events::NatsArgs;
use pagefeed_projector::api::{ApiOptions, ApiToken};
use pagefeed_projector::rebuild::{rebuild, Progress, RebuildOptions};
use pagefeed_projector::Options;
use tokio_util::sync::CancellationToken;

/// Keeps a full, queryable replica of pagefeed's events on this node.
#[derive(Parser)]
#[command(name = "pagefeed-projector", version)]
struct Args {
    /// The pagefeed config file (TOML).
    #[arg(long, env = "PAGEFEED_CONFIG", value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// Directory of this node's redb file.
    #[arg(long, value_name = "DIR", global = true)]
    data: Option<PathBuf>,
    /// This node's name ([a-z0-9_-]+): its consumer is `projector-NAME`.
    #[arg(long, value_name = "NAME", global = true)]
    node: Option<String>,
    /// Where the HTTP API listens. An address other than loopback needs
    /// a token (or --allow-unauthenticated-api).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8780")]
    http: SocketAddr,
    /// Every API request must carry `Authorization: Bearer TOKEN`.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "PAGEFEED_API_TOKEN",
        hide_env_values = true
    )]
    api_token: Option<String>,
    /// Read the API token from this file (its surrounding whitespace
    /// ignored): out of `ps` and the environment.
    #[arg(long, value_name = "FILE", conflicts_with = "api_token")]
    api_token_file: Option<PathBuf>,
    /// Serve the API without a token on an address other than loopback.
    #[arg(long)]
    allow_unauthenticated_api: bool,
    /// A node idle this long disappears from NATS (its consumer is removed).
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = humantime::parse_duration, global = true)]
    idle: Duration,
    /// The longest an applied batch stays unsynced to disk: a crash rolls
    /// the file back to its last synced batch and the node replays the rest
    /// from the stream. 0s syncs every batch.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
    sync_every: Duration,
    #[command(flatten)]
    nats: NatsArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print the applied sequence and the digest of the whole state.
    Digest,
    /// Replay the stream from its first retained sequence into a fresh file
    /// (stop this node's projector first); exits at the sequence the stream
    /// had when it started.
    Rebuild,
}

/// A flag that stops the projector before it starts: exit code 2.
fn bad_flag(message: String) -> ! {
    eprintln!("{message}");
    std::process::exit(pagefeed_events::EXIT_BAD_CONFIG);
}

/// The token in `file`; exits 2 if it cannot be read or is empty.
fn token_from_file(file: &std::path::Path) -> ApiToken {
    match std::fs::read_to_string(file) {
        Ok(text) => ApiToken::new(&text).unwrap_or_else(|| {
            bad_flag(format!(
                "--api-token-file {}: the file is empty",
                file.display()
            ))
        }),
        Err(e) => bad_flag(format!("--api-token-file {}: {e}", file.display())),
    }
}

fn missing(what: &str) -> ! {
    Args::command()
        .error(clap::error::ErrorKind::MissingRequiredArgument, what)
        .exit()
}

/// Threads for replication's small blocking reads and the status it
/// publishes (the API's reads have threads of their own: see
/// `ApiOptions::read_threads`). Each thread that allocates gets a malloc
/// arena of its own and keeps what it freed there: a bounded pool keeps a
/// node's memory bounded (the Tokio default is 512 threads).
const BLOCKING_THREADS: usize = 2;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(projector()),
        Err(e) => exit_with(Err(anyhow::anyhow!("cannot start the async runtime: {e}"))),
    }
}

async fn projector() {
    let args = Args::parse();
    let Some(data) = args.data else {
        missing("--data DIR is required")
    };
    if let Some(Command::Digest) = args.command {
        exit_with(pagefeed_projector::print_digest(&data).await);
    }
    let Some(config) = args.config else {
        missing("--config FILE is required")
    };
    let Some(node) = args.node else {
        missing("--node NAME is required")
    };
    let token =
        match (&args.api_token, &args.api_token_file) {
            (Some(token), _) => Some(ApiToken::new(token).unwrap_or_else(|| {
                bad_flag("--api-token (PAGEFEED_API_TOKEN) is empty".to_owned())
            })),
            (None, Some(file)) => Some(token_from_file(file)),
            (None, None) => None,
        };
    if args.command.is_none()
        && token.is_none()
        && !args.http.ip().is_loopback()
        && !args.allow_unauthenticated_api
    {
        bad_flag(format!(
            "--http {} is not a loopback address: give the API a token (--api-token-file FILE, \
             --api-token or PAGEFEED_API_TOKEN), or pass --allow-unauthenticated-api to serve \
             it to anyone who reaches that address",
            args.http
        ));
    }
    let cfg = load_config_or_exit(&config, &args.nats);
    if !pagefeed_events::subject::is_token(&node) {
        eprintln!("--node \"{node}\" must match [a-z0-9_-]+");
        std::process::exit(pagefeed_events::EXIT_BAD_CONFIG);
    }
    init_tracing();
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signals(shutdown.clone()));
    if let Some(Command::Rebuild) = args.command {
        let options = RebuildOptions {
            cfg,
            data: data.clone(),
            node,
            idle: args.idle,
            progress: print_progress(),
        };
        exit_with(rebuild(options, shutdown).await.and_then(|done| match done {
            Some(r) => {
                println!(
                "rebuilt {}: applied_seq {} (stream {}..{}), {} events in {:.1}s, {:.0} events/s\ndigest {}",
                data.display(),
                r.applied_seq,
                r.first_seq,
                r.target_seq,
                r.events,
                r.elapsed.as_secs_f64(),
                r.rate(),
                r.digest
                );
                Ok(())
            }
            None => Err(anyhow::anyhow!(
                "rebuild interrupted; {} is unchanged",
                data.display()
            )),
        }));
    }
    let options = Options {
        cfg,
        data,
        node,
        http: args.http,
        idle: args.idle,
        sync_every: args.sync_every,
        api: ApiOptions {
            token,
            ..ApiOptions::default()
        },
    };
    exit_with(pagefeed_projector::run(options, shutdown).await)
}

/// How often plain progress lines are printed when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(2);

/// Rebuild progress on stderr: a bar with rate and ETA on a terminal, plain
/// lines every [`LINE_EVERY`] otherwise (logs, CI), and a last one at the end.
fn print_progress() -> Box<dyn FnMut(Progress) + Send> {
    use std::io::IsTerminal as _;
    if std::io::stderr().is_terminal() {
        let mut bar: Option<indicatif::ProgressBar> = None;
        Box::new(move |p: Progress| {
            let bar = bar.get_or_insert_with(|| {
                let style = indicatif::ProgressStyle::with_template(
                    "rebuild {bar:40} {human_pos}/{human_len} events  {per_sec}  ETA {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
                indicatif::ProgressBar::new(p.total).with_style(style)
            });
            bar.set_position(p.done);
            if p.finished {
                bar.finish();
            }
        })
    } else {
        let mut printed = std::time::Instant::now();
        Box::new(move |p: Progress| {
            if p.finished || printed.elapsed() >= LINE_EVERY {
                printed = std::time::Instant::now();
                eprintln!("{}", progress_line(p.done, p.total, p.elapsed));
            }
        })
    }
}

/// `rebuild: 512000/1000000 events (51%), 120000 events/s, ETA 4s`
fn progress_line(done: u64, total: u64, elapsed: Duration) -> String {
    let rate = done as f64 / elapsed.as_secs_f64().max(1e-9);
    let percent = (done * 100).checked_div(total).unwrap_or(100);
    let eta = if rate > 0.0 {
        let secs = total.saturating_sub(done) as f64 / rate;
        format!("{}s", secs.ceil() as u64)
    } else {
        "?".to_owned()
    };
    format!("rebuild: {done}/{total} events ({percent}%), {rate:.0} events/s, ETA {eta}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_progress_line_has_rate_and_eta() {
        let line = progress_line(500, 1000, Duration::from_secs(5));
        assert_eq!(line, "rebuild: 500/1000 events (50%), 100 events/s, ETA 5s");
        assert!(progress_line(0, 0, Duration::ZERO).contains("(100%)"));
    }
}
