//! What every binary's `main` does the same way: tracing from `RUST_LOG`,
//! SIGINT/SIGTERM turned into a cancellation, and config loading that exits
//! with code 2 and a message naming the file, site and field.

use std::path::Path;

use tokio_util::sync::CancellationToken;
use tracing::info;
use tracing_subscriber::EnvFilter;

use crate::config::{Config, EXIT_BAD_CONFIG};
use crate::connect::NatsArgs;

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

/// Cancels `token` on the first SIGINT or SIGTERM.
pub async fn cancel_on_signals(token: CancellationToken) {
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

/// Loads the config and applies the NATS overrides; on any error prints it
/// and exits with code 2 before anything is connected or published.
pub fn load_config_or_exit(path: &Path, nats: &NatsArgs) -> Config {
    let loaded = Config::load(path).and_then(|mut cfg| {
        nats.apply(&mut cfg)?;
        Ok(cfg)
    });
    match loaded {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(EXIT_BAD_CONFIG);
        }
    }
}

/// Ends the process after `run`: exit code 0, or the error chain on stderr
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
