//! What every service shows its operator: `/metrics` (the Prometheus text
//! format, written by prometheus-client), `/healthz` (the process answers)
//! and `/readyz` (connected to NATS, its streams there) on the address of
//! `--metrics`, bound before anything else starts; the log format
//! (`--log-format`); and the periodic one-line summary (`--summary-every`).

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_nats::connection::State;
use axum::extract::State as Shared;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::refuse;

/// The content type of `/metrics`.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How long `/readyz` waits for NATS to answer about one stream.
const STREAM_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Where `/metrics`, `/healthz` and `/readyz` are served: an address
/// (`127.0.0.1:0` for any free port, logged at start), or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    Off,
    At(SocketAddr),
}

impl FromStr for Listen {
    type Err = String;

    fn from_str(s: &str) -> Result<Listen, String> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(Listen::Off);
        }
        s.parse()
            .map(Listen::At)
            .map_err(|_| format!("{s:?} is neither an address (IP:PORT) nor `off`"))
    }
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event, for people.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The logging flags every binary takes.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// How log lines are written to stderr: `text` for people, `json` (one
    /// object a line) for log shippers.
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        default_value_t = LogFormat::Text,
        env = "PAGEFEED_LOG_FORMAT",
        global = true
    )]
    pub log_format: LogFormat,
    /// How often a one-line summary of the work done is logged at INFO
    /// (`0s`: never).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "60s",
        value_parser = humantime::parse_duration,
        global = true
    )]
    pub summary_every: Duration,
}

/// Binds `listen` (the value of `flag`), or says why it cannot and exits
/// with [`crate::EXIT_BAD_CONFIG`]: called before anything else starts, so
/// that a port in use stops the service at once. `None` for `off`.
pub async fn listen_or_exit(flag: &str, listen: Listen) -> Option<TcpListener> {
    let Listen::At(addr) = listen else {
        return None;
    };
    match TcpListener::bind(addr).await {
        Ok(listener) => Some(listener),
        Err(e) => refuse(format!(
            "{flag} {addr}: cannot listen there: {e} (is another service on that port? \
             give another address, `{flag} 127.0.0.1:0` for any free port, or `{flag} off`)"
        )),
    }
}

/// What `/readyz` checks: the NATS connection is up and each stream the
/// service needs answers. Not ready until [`Readiness::watch`] names them.
#[derive(Clone, Default)]
pub struct Readiness(Arc<OnceLock<Probe>>);

struct Probe {
    client: async_nats::Client,
    js: async_nats::jetstream::Context,
    streams: Vec<String>,
}

impl fmt::Debug for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Readiness")
            .field("streams", &self.0.get().map(|p| &p.streams))
            .finish()
    }
}

/// Why a service is not ready, for the body of a 503.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotReady(pub String);

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Readiness {
    /// From now on, ready means `client` connected and `streams` there.
    /// Call it once the streams are provisioned; later calls change nothing.
    pub fn watch(&self, client: &async_nats::Client, streams: &[&str]) {
        let _ = self.0.set(Probe {
            client: client.clone(),
            js: async_nats::jetstream::new(client.clone()),
            streams: streams.iter().map(|s| (*s).to_owned()).collect(),
        });
    }

    /// Ready, or why not.
    pub async fn check(&self) -> Result<(), NotReady> {
        let Some(probe) = self.0.get() else {
            return Err(NotReady(
                "starting: the streams are not provisioned yet".into(),
            ));
        };
        match probe.client.connection_state() {
            State::Connected => {}
            state => return Err(NotReady(format!("NATS: {state}"))),
        }
        for stream in &probe.streams {
            match tokio::time::timeout(STREAM_CHECK_TIMEOUT, probe.js.get_stream(stream)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(NotReady(format!("stream {stream}: {e}"))),
                Err(_) => {
                    return Err(NotReady(format!(
                        "stream {stream}: no answer within {STREAM_CHECK_TIMEOUT:?}"
                    )))
                }
            }
        }
        Ok(())
    }
}

/// `/healthz`: the process answers.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// The answer of `/readyz`: 200 `ready`, or 503 and the reason.
pub fn readyz_answer(ready: Result<(), NotReady>) -> Response {
    match ready {
        Ok(()) => "ready\n".into_response(),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        )
            .into_response(),
    }
}

/// The answer of `/metrics`: `registry` in the Prometheus text format.
pub fn metrics_answer(registry: &Registry) -> Response {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, registry) {
        Ok(()) => ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response(),
        Err(e) => {
            error!(error = %e, "encoding the metrics failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[derive(Clone)]
struct Served {
    registry: Arc<Registry>,
    readiness: Readiness,
}

/// Serves `/metrics` (`registry`), `/healthz` and `/readyz` (`readiness`)
/// on `listener` until `shutdown`.
pub fn serve(
    listener: TcpListener,
    registry: Registry,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    if let Ok(addr) = listener.local_addr() {
        info!(metrics = %addr, "serving /metrics, /healthz and /readyz");
    }
    let app = Router::new()
        .route(
            "/metrics",
            get(|Shared(s): Shared<Served>| async move { metrics_answer(&s.registry) }),
        )
        .route("/healthz", get(healthz))
        .route(
            "/readyz",
            get(
                |Shared(s): Shared<Served>| async move { readyz_answer(s.readiness.check().await) },
            ),
        )
        .with_state(Served {
            registry: Arc::new(registry),
            readiness,
        });
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            error!(error = %e, "the metrics server stopped");
        }
    })
}

/// [`serve`] on `listener` when there is one (`--metrics off` gives none),
/// with the figures `register` puts in a fresh registry.
pub fn serve_metrics(
    listener: Option<TcpListener>,
    register: impl FnOnce(&mut Registry),
    readiness: Readiness,
    shutdown: CancellationToken,
) {
    if let Some(listener) = listener {
        let mut registry = Registry::default();
        register(&mut registry);
        serve(listener, registry, readiness, shutdown);
    }
}

/// Calls `line` every `every` (never for zero) with the time since the
/// last call, until `shutdown`: for a service's periodic summary.
pub fn summarize_every(
    every: Duration,
    shutdown: CancellationToken,
    mut line: impl FnMut(Duration) + Send + 'static,
) {
    if every.is_zero() {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = Instant::now();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {
                    let now = Instant::now();
                    line(now - last);
                    last = now;
                }
            }
        }
    });
}

/// `count` over `elapsed`, per minute, rounded to a whole number.
pub fn per_minute(count: u64, elapsed: Duration) -> u64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return 0;
    }
    (count as f64 * 60.0 / secs).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_or_off() {
        assert_eq!("off".parse(), Ok(Listen::Off));
        assert_eq!(
            "127.0.0.1:9101".parse(),
            Ok(Listen::At("127.0.0.1:9101".parse().unwrap()))
        );
        let e = "9101".parse::<Listen>().unwrap_err();
        assert!(e.contains("neither an address"), "{e}");
    }

    #[test]
    fn rates_are_per_minute() {
        assert_eq!(per_minute(3, Duration::from_secs(1)), 180);
        assert_eq!(per_minute(30, Duration::from_secs(60)), 30);
        assert_eq!(per_minute(5, Duration::ZERO), 0);
    }
}
