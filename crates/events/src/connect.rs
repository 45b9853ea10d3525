//! Connecting to NATS the same way in every service: user/password, token,
//! `.creds` file or TLS with a custom CA; reconnecting forever; disconnects
//! logged. Flags and `PAGEFEED_NATS_*` variables override the config file.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::{Client, ConnectOptions, Event, ServerAddr};
use tracing::{error, info, warn};

use crate::config::{ConfigError, NatsConfig};
use crate::redact::split_credentials;

/// Where a local nats-server listens by default.
pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";

/// Checks what a config's `[nats]` says once every override is applied: a
/// user needs a password (and the reverse), and the URL must parse.
pub fn check_nats(cfg: &crate::Config) -> Result<(), ConfigError> {
    let nats = &cfg.nats;
    let refuse = |field: &str, message: String| ConfigError {
        file: cfg.path.clone(),
        line: None,
        site: None,
        field: Some(field.to_owned()),
        message,
    };
    // A user without a password would connect anonymously, silently.
    match (&nats.user, &nats.password) {
        (Some(_), None) => {
            return Err(refuse(
                "nats.password",
                "a NATS user needs a password (`nats.password`, --nats-password or \
                 PAGEFEED_NATS_PASSWORD)"
                    .to_owned(),
            ))
        }
        (None, Some(_)) => {
            return Err(refuse(
                "nats.user",
                "a NATS password needs a user (`nats.user`, --nats-user or PAGEFEED_NATS_USER)"
                    .to_owned(),
            ))
        }
        _ => {}
    }
    server_addrs(&nats.url).map_err(|message| refuse("nats.url", message))?;
    Ok(())
}

/// Parses `nats.url`: one or more URLs separated by commas.
pub fn server_addrs(url: &str) -> Result<Vec<ServerAddr>, String> {
    let addrs = url
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            u.parse::<ServerAddr>()
                .map_err(|e| format!("\"{u}\" is not a NATS URL: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if addrs.is_empty() {
        return Err("no NATS URL given".to_owned());
    }
    Ok(addrs)
}

/// Connects to NATS. Returns at once even if the server is not up yet: the
/// client keeps trying in the background, forever, and so after any
/// disconnect; callers retry their requests until the connection is back.
/// Credentials written into a URL (`nats://user:password@host`) are given to
/// the client as options and taken out of the addresses, which the client
/// prints in its debug logs.
pub async fn connect(cfg: &NatsConfig, client_name: &str) -> anyhow::Result<Client> {
    let mut url_credentials = None;
    let urls: Vec<String> = cfg
        .url
        .split(',')
        .map(|u| {
            let (url, credentials) = split_credentials(u.trim());
            url_credentials = url_credentials.take().or(credentials);
            url
        })
        .collect();
    let addrs = server_addrs(&urls.join(",")).map_err(anyhow::Error::msg)?;
    let mut opts = ConnectOptions::new()
        .name(client_name)
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(5))
        .reconnect_delay_callback(reconnect_delay)
        .event_callback(|event| async move { log_event(event) });
    match (&cfg.user, &cfg.password, url_credentials) {
        (Some(user), Some(password), _) => {
            opts = opts.user_and_password(user.clone(), password.clone());
        }
        (_, _, Some((user, Some(password)))) => opts = opts.user_and_password(user, password),
        (_, _, Some((token, None))) if cfg.token.is_none() => opts = opts.token(token),
        _ => {}
    }
    if let Some(token) = &cfg.token {
        opts = opts.token(token.clone());
    }
    if let Some(creds) = &cfg.creds {
        opts = opts
            .credentials_file(creds)
            .await
            .with_context(|| format!("cannot read NATS credentials {}", creds.display()))?;
    }
    if let Some(ca) = &cfg.tls_ca {
        opts = opts.add_root_certificates(ca.clone()).require_tls(true);
    }
    if let (Some(cert), Some(key)) = (&cfg.tls_cert, &cfg.tls_key) {
        opts = opts.add_client_certificate(cert.clone(), key.clone());
    }
    if cfg.tls_required {
        opts = opts.require_tls(true);
    }
    let client = opts
        .connect(addrs)
        .await
        .with_context(|| format!("cannot connect to NATS at {}", urls.join(",")))?;
    Ok(client)
}

/// 0 s, then doubling from 100 ms up to 1 s: a restarted server is found
/// within a second.
fn reconnect_delay(attempts: usize) -> Duration {
    if attempts <= 1 {
        return Duration::ZERO;
    }
    let exp = u32::try_from(attempts.min(8)).unwrap_or(8);
    Duration::from_millis(100 * 2u64.pow(exp - 2)).min(Duration::from_secs(1))
}

fn log_event(event: Event) {
    match event {
        Event::Connected => info!("connected to NATS"),
        Event::Disconnected => warn!("disconnected from NATS; reconnecting"),
        Event::ServerError(e) => error!(error = %e, "NATS server error"),
        Event::ClientError(e) => warn!(error = %e, "NATS client error"),
        other => info!(event = %other, "NATS connection event"),
    }
}

/// Closes a service's connection at its end: writes what is still queued
/// (acks, negative acks, publishes not awaited), then drains. The client's
/// `drain()` alone closes at once when no subscription is left, dropping
/// what is queued: a task handed back that way waited out its `ack_wait`.
pub async fn close(client: &Client) {
    if let Err(e) = client.flush().await {
        warn!(error = %e, "could not write what was queued for NATS");
    }
    if let Err(e) = client.drain().await {
        warn!(error = %e, "draining the NATS connection failed");
    }
}
