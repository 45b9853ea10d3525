//! Logs in a failing test's output: those of services run in-process,
//! and the last lines of a process's log file.

use std::path::Path;

/// Installs a tracing subscriber writing to the test's captured output
/// (`RUST_LOG` filters, default `info`); a second call does nothing.
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// The last `n` lines of the log file at `path` (empty if it cannot be read).
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
