//! What every pagefeed binary's `main` does the same way: the NATS flags,
//! config loading that exits with code 2 and a message naming the file, site
//! and field, logging from `RUST_LOG`, SIGINT/SIGTERM turned into a
//! cancellation, and the exit code of a run. The only library of the project
//! that prints or ends the process: it is what the entry points share.

pub mod nats_args;

use std::fmt::Display;
use std::path::Path;

use pagefeed_events::config::NatsConfig;
use pagefeed_events::Config;
use tokio_util::sync::CancellationToken;
use tracing::info;
use tracing_subscriber::EnvFilter;

pub use nats_args::NatsArgs;

/// The exit code of a configuration or flag the services refuse to run
/// with (clap's own usage errors exit with it too).
pub const EXIT_BAD_CONFIG: i32 = 2;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours on a terminal only: log files stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// A token cancelled on the first SIGINT or SIGTERM.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    tokio::spawn(cancel_on_signals(token.clone()));
    token
}

async fn cancel_on_signals(token: CancellationToken) {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => info!("SIGINT: shutting down"),
                    _ = terminate.recv() => info!("SIGTERM: shutting down"),
                }
            }
            Err(_) => {
                let _ = interrupt.await;
                info!("SIGINT: shutting down");
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    token.cancel();
}

/// Loads the config and applies the NATS flags; on any error prints it and
/// exits with [`EXIT_BAD_CONFIG`] before anything is connected or published.
pub fn config_or_exit(path: &Path, nats: &NatsArgs) -> Config {
    let loaded = Config::load(path).and_then(|mut cfg| {
        nats.apply(&mut cfg)?;
        Ok(cfg)
    });
    loaded.unwrap_or_else(|e| refuse(e))
}

/// The `[nats]` settings of a tool that needs only NATS: the config file's
/// with the flags applied when `path` is given ([`config_or_exit`]), the
/// flags' alone otherwise ([`NatsArgs::nats_only`]); exits with
/// [`EXIT_BAD_CONFIG`] on any error.
pub fn nats_config_or_exit(path: Option<&Path>, nats: &NatsArgs) -> NatsConfig {
    match path {
        Some(path) => config_or_exit(path, nats).nats,
        None => nats.nats_only().unwrap_or_else(|e| refuse(e)),
    }
}

/// Prints why the process will not start and exits with
/// [`EXIT_BAD_CONFIG`].
pub fn refuse(message: impl Display) -> ! {
    eprintln!("{message}");
    std::process::exit(EXIT_BAD_CONFIG);
}

/// Ends the process after a run: exit code 0, or the error chain on stderr
/// and exit code 1 (no backtrace dump for an operator to wade through).
pub fn exit_with(result: anyhow::Result<()>) -> ! {
    match result {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}
