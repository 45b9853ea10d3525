//! The logs of services run in-process, shown in a failing test's output.

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
