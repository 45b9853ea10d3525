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
use pagefeed_projector::rebuild::{rebuild, RebuildOptions};
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
