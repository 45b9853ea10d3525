//! Connecting for one command: the services' connection (credentials, TLS)
//! but no waiting forever: NATS not reachable within the given time is an
//! error that names the server (without its credentials).

use std::time::Duration;

use async_nats::connection::State;
use async_nats::jetstream::{self, Context};
use pagefeed_events::config::NatsConfig;
use pagefeed_events::redact::redact_urls;

/// A JetStream context on a connection made within `within`; its requests
/// time out after `within` too.
pub async fn connect(nats: &NatsConfig, within: Duration) -> anyhow::Result<Context> {
    let client = pagefeed_events::connect(nats, "pagefeed-admin").await?;
    let connected = tokio::time::timeout(within, async {
        while client.connection_state() != State::Connected {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    if connected.is_err() {
        anyhow::bail!(
            "cannot connect to NATS at {} within {} (server down, wrong address, or \
             credentials refused; RUST_LOG=warn shows the client's errors)",
            redact_urls(&nats.url),
            humantime::format_duration(within)
        );
    }
    let mut js = jetstream::new(client);
    js.set_timeout(within);
    Ok(js)
}
