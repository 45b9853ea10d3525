//! `pagefeed-projector --config FILE --data DIR --node NAME --http ADDR`
//! replicates `PAGEFEED_EVENTS` into DIR and serves it until SIGINT/SIGTERM;
//! `pagefeed-projector rebuild --config FILE --data DIR --node NAME` replays
//! the stream into a fresh file; `pagefeed-projector digest --data DIR`
//! prints the applied sequence and the state digest. `--api-token-file`
//! (or `--api-token`) makes every API request need that bearer token; an
//! `--http` address other than loopback without one is refused (exit 2)
//! unless `--allow-unauthenticated-api` says so.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, Subcommand};
use pagefeed_cli::{
    config_or_exit, exit_with, init_tracing, refuse, shutdown_on_signals, NatsArgs,
};
use pagefeed_projector::api::{ApiOptions, ApiToken};
use pagefeed_projector::rebuild::{rebuild, Progress, RebuildOptions};
use pagefeed_projector::Options;

/// Keeps a full, queryable replica of pagefeed's events on this node.
#[derive(Parser)]
#[command(
    name = "pagefeed-projector",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Args {
    #[command(flatten)]
    node: NodeArgs,
    #[command(flatten)]
    serve: ServeArgs,
    #[command(flatten)]
    nats: NatsArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print the applied sequence and the digest of the whole state.
    Digest {
        /// Directory of this node's redb file.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
    /// Replay the stream from its first retained sequence into a fresh file
    /// (stop this node's projector first); exits at the sequence the stream
    /// had when it started.
    Rebuild(NodeArgs),
}

/// Which node, where its file lives and which config it follows: what
/// serving and rebuilding both need.
#[derive(clap::Args)]
struct NodeArgs {
    /// The pagefeed config file (TOML).
    #[arg(long, env = "PAGEFEED_CONFIG", value_name = "FILE", required = true)]
    config: Option<PathBuf>,
    /// Directory of this node's redb file.
    #[arg(long, value_name = "DIR", required = true)]
    data: Option<PathBuf>,
    /// This node's name ([a-z0-9_-]+): its consumer is `projector-NAME`.
    #[arg(long, value_name = "NAME", required = true, value_parser = node_name)]
    node: Option<String>,
    /// A node idle this long disappears from NATS (its consumer is removed).
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = humantime::parse_duration)]
    idle: Duration,
}

/// Serving, what the binary does without a subcommand.
#[derive(clap::Args)]
struct ServeArgs {
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
    /// The longest an applied batch stays unsynced to disk: a crash rolls
    /// the file back to its last synced batch and the node replays the rest
    /// from the stream. 0s syncs every batch.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
    sync_every: Duration,
}

fn node_name(name: &str) -> Result<String, String> {
    if pagefeed_events::subject::is_token(name) {
        Ok(name.to_owned())
    } else {
        Err("a node name must match [a-z0-9_-]+".to_owned())
    }
}

/// A node's arguments, present: clap requires each of them.
struct Node {
    config: PathBuf,
    data: PathBuf,
    node: String,
    idle: Duration,
}

impl NodeArgs {
    fn required(self) -> Node {
        let (Some(config), Some(data), Some(node)) = (self.config, self.data, self.node) else {
            unreachable!("clap requires --config, --data and --node")
        };
        Node {
            config,
            data,
            node,
            idle: self.idle,
        }
    }
}

impl ServeArgs {
    /// The API's token, from the flag, its variable or its file; exits 2
    /// when it is empty or unreadable, or when the API would be open to
    /// more than loopback without one.
    fn token_or_exit(&self) -> Option<ApiToken> {
        let token = match (&self.api_token, &self.api_token_file) {
            (Some(token), _) => Some(
                ApiToken::new(token)
                    .unwrap_or_else(|| refuse("--api-token (PAGEFEED_API_TOKEN) is empty")),
            ),
            (None, Some(file)) => Some(token_from_file(file)),
            (None, None) => None,
        };
        if token.is_none() && !self.http.ip().is_loopback() && !self.allow_unauthenticated_api {
            refuse(format!(
                "--http {} is not a loopback address: give the API a token (--api-token-file \
                 FILE, --api-token or PAGEFEED_API_TOKEN), or pass --allow-unauthenticated-api \
                 to serve it to anyone who reaches that address",
                self.http
            ));
        }
        token
    }
}

/// The token in `file`; exits 2 if it cannot be read or is empty.
fn token_from_file(file: &Path) -> ApiToken {
    match std::fs::read_to_string(file) {
        Ok(text) => ApiToken::new(&text).unwrap_or_else(|| {
            refuse(format!(
                "--api-token-file {}: the file is empty",
                file.display()
            ))
        }),
        Err(e) => refuse(format!("--api-token-file {}: {e}", file.display())),
    }
}

/// Threads for replication's small blocking reads and the status it
/// publishes (the API's reads have threads of their own: see
/// `ApiOptions::read_threads`). Each thread that allocates gets a malloc
/// arena of its own and keeps what it freed there: a bounded pool keeps a
/// node's memory bounded (the Tokio default is 512 threads).
const BLOCKING_THREADS: usize = 2;

fn main() {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build();
    match runtime {
        Ok(runtime) => exit_with(runtime.block_on(projector(args))),
        Err(e) => exit_with(Err(anyhow::anyhow!("cannot start the async runtime: {e}"))),
    }
}

async fn projector(args: Args) -> anyhow::Result<()> {
    match args.command {
        Some(Command::Digest { data }) => {
            let (seq, digest) = pagefeed_projector::checked_digest(&data).await?;
            println!("applied_seq {seq}");
            println!("digest {digest}");
            Ok(())
        }
        Some(Command::Rebuild(node)) => {
            let node = node.required();
            let options = RebuildOptions {
                cfg: config_or_exit(&node.config, &args.nats),
                data: node.data.clone(),
                node: node.node,
                idle: node.idle,
                progress: print_progress(),
            };
            init_tracing();
            let Some(r) = rebuild(options, shutdown_on_signals()).await? else {
                anyhow::bail!("rebuild interrupted; {} is unchanged", node.data.display());
            };
            println!(
                "rebuilt {}: applied_seq {} (stream {}..{}), {} events in {:.1}s, {:.0} events/s\n\
                 digest {}",
                node.data.display(),
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
        None => {
            let token = args.serve.token_or_exit();
            let node = args.node.required();
            let options = Options {
                cfg: config_or_exit(&node.config, &args.nats),
                data: node.data,
                node: node.node,
                http: args.serve.http,
                idle: node.idle,
                sync_every: args.serve.sync_every,
                api: ApiOptions {
                    token,
                    ..ApiOptions::default()
                },
            };
            init_tracing();
            pagefeed_projector::run(options, shutdown_on_signals()).await
        }
    }
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
                // indicatif's own {per_sec} writes "76,706.1522/s".
                let style = indicatif::ProgressStyle::with_template(
                    "rebuild {bar:40} {human_pos}/{human_len} events  {rate}  ETA {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .with_key(
                    "rate",
                    |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{} events/s", whole(state.per_sec()));
                    },
                );
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
    format!(
        "rebuild: {done}/{total} events ({percent}%), {} events/s, ETA {eta}",
        whole(rate)
    )
}

/// A rate as a whole number with thousands separated: `76,706`.
fn whole(rate: f64) -> String {
    indicatif::HumanCount(rate.max(0.0).round() as u64).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_progress_line_has_rate_and_eta() {
        let line = progress_line(500, 1000, Duration::from_secs(5));
        assert_eq!(line, "rebuild: 500/1000 events (50%), 100 events/s, ETA 5s");
        assert!(progress_line(0, 0, Duration::ZERO).contains("(100%)"));
        let fast = progress_line(767_061, 1_000_000, Duration::from_secs(10));
        assert!(fast.contains(" 76,706 events/s"), "{fast}");
        assert_eq!(whole(76_706.152_2), "76,706");
        assert_eq!(whole(999.6), "1,000");
        assert_eq!(whole(12.0), "12");
    }
}
