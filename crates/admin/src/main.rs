//! `pagefeed-admin [--config FILE] [--nats-url URL] [--json] COMMAND`: what
//! an operator asks of pagefeed in NATS (`status`, `nodes`, `tasks`,
//! `events --page KEY`, `fetch-state KEY`), and `retire NODE --yes`. Exit
//! codes as the services': 0 done, 1 failed (NATS unreachable, a stream or
//! node missing), 2 refused (bad flags or config, `retire` without `--yes`).

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use pagefeed_admin::page_events::MAX_LAST;
use pagefeed_admin::{connect, fetch_state, nodes, page_events, render, status, tasks};
use pagefeed_cli::{exit_with, init_tracing, nats_config_or_exit, refuse, NatsArgs};
use pagefeed_events::config::NatsConfig;
use pagefeed_events::PageKey;

/// Inspects pagefeed's streams, consumers, nodes and queue in NATS.
#[derive(Parser)]
#[command(name = "pagefeed-admin", version)]
struct Args {
    /// The pagefeed config file (TOML), for its [nats] settings. Without
    /// it, the --nats-* flags alone (default nats://127.0.0.1:4222).
    #[arg(long, env = "PAGEFEED_CONFIG", value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// Print JSON for scripts instead of tables (`events`: one line per event).
    #[arg(long, global = true)]
    json: bool,
    /// How long to wait for NATS: to connect, and for each answer.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration, global = true)]
    timeout: Duration,
    #[command(flatten)]
    nats: NatsArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Streams, the fetchers' queue, projector nodes, notifiers, fetch state.
    Status,
    /// One page's events, the newest last.
    Events {
        /// The page: <site>.<id>.
        #[arg(long, value_name = "KEY")]
        page: PageKey,
        /// Only events of this type (page_crawled, entry_observed,
        /// page_unchanged, fetch_failed).
        #[arg(long = "type", value_name = "TYPE")]
        event_type: Option<String>,
        /// How many of the newest events.
        #[arg(long, value_name = "N", default_value_t = 20,
              value_parser = clap::value_parser!(u64).range(1..=MAX_LAST as u64))]
        last: u64,
    },
    /// A page's fetch state (validators, title, entry ids of its last crawl).
    FetchState {
        /// The page: <site>.<id>.
        page: PageKey,
    },
    /// The projector nodes: position in the log, lag, last activity.
    Nodes,
    /// Removes a projector node's consumer (stop its projector first).
    Retire {
        /// The node's name (its projector's --node).
        node: String,
        /// Do it: retiring cannot be undone (the node replays the whole
        /// stream if it comes back).
        #[arg(long)]
        yes: bool,
    },
    /// What waits in the work queue: count per site, the oldest tasks.
    Tasks {
        /// How many of the oldest tasks to show.
        #[arg(long, value_name = "N", default_value_t = 10,
              value_parser = clap::value_parser!(u64).range(0..=tasks::MAX_SAMPLE as u64))]
        oldest: u64,
    },
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let nats = nats_config_or_exit(args.config.as_deref(), &args.nats);
    if let Command::Retire { node, yes: false } = &args.command {
        refuse(format!(
            "retire deletes node {node}'s consumer (its position in the log): pass --yes to do it"
        ));
    }
    // Quiet unless asked: the output is the answer.
    if std::env::var_os("RUST_LOG").is_some() {
        init_tracing();
    }
    exit_with(admin(args, nats).await)
}

async fn admin(args: Args, nats: NatsConfig) -> anyhow::Result<()> {
    let js = connect(&nats, args.timeout).await?;
    let now = chrono::Utc::now();
    let json = args.json;
    let out = match args.command {
        Command::Status => {
            let s = status::status(&js).await?;
            if json {
                to_json(&s)?
            } else {
                render::status(&s, now)
            }
        }
        Command::Events {
            page,
            event_type,
            last,
        } => {
            let last = usize::try_from(last)?;
            let found = page_events::page_events(&js, &page, event_type.as_deref(), last).await?;
            if json {
                let mut lines = String::new();
                for event in &found.events {
                    lines.push_str(&serde_json::to_string(event)?);
                    lines.push('\n');
                }
                lines
            } else {
                render::page_events(&found)
            }
        }
        Command::FetchState { page } => {
            let entry = fetch_state::fetch_state(&js, &page).await?;
            if json {
                to_json(&entry)?
            } else {
                render::fetch_state(&entry)
            }
        }
        Command::Nodes => {
            let found = nodes::nodes(&js).await?;
            if json {
                to_json(&found)?
            } else {
                render::nodes(&found, now) + "\n"
            }
        }
        Command::Retire { node, .. } => {
            let retired = nodes::retire(&js, &node).await?;
            if json {
                to_json(&retired)?
            } else {
                render::retired(&retired)
            }
        }
        Command::Tasks { oldest } => {
            let found = tasks::tasks(&js, usize::try_from(oldest)?).await?;
            if json {
                to_json(&found)?
            } else {
                render::tasks(&found)
            }
        }
    };
    // A closed pipe (`| head`) is not an error worth a message.
    let _ = std::io::stdout().write_all(out.as_bytes());
    Ok(())
}

fn to_json(value: &impl serde::Serialize) -> anyhow::Result<String> {
    Ok(serde_json::to_string(value)? + "\n")
}
