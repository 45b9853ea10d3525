//! A projector node seen through its HTTP API: a free loopback address for
//! it, a client, and its `/api/status` (whether it answers, what it has
//! applied).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::Deserialize;

/// `GET /api/status`.
#[derive(Debug, Clone, Deserialize)]
pub struct Status {
    pub node: String,
    pub applied_seq: u64,
    pub stream_last_seq: u64,
    pub lag: u64,
    pub digest: String,
    pub pages: u64,
    pub entries: u64,
    pub rejected: u64,
}

/// A reqwest client (rustls needs its crypto provider chosen first).
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// A free loopback address for a node's API.
pub fn free_http() -> anyhow::Result<SocketAddr> {
    Ok(SocketAddr::from((
        [127, 0, 0, 1],
        crate::nats::free_port()?,
    )))
}

/// The status of the node listening on `http`; `None` while it does not
/// answer (not started yet, or gone) or does not answer 200.
pub async fn try_status(client: &reqwest::Client, http: SocketAddr) -> Option<Status> {
    let resp = client
        .get(format!("http://{http}/api/status"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    resp.json().await.ok()
}

/// Waits until the node on `http` has applied `seq` and returns its status.
/// Polls every 200 ms.
pub async fn wait_applied(
    client: &reqwest::Client,
    http: SocketAddr,
    seq: u64,
    timeout: Duration,
) -> anyhow::Result<Status> {
    let deadline = Instant::now() + timeout;
    let mut seen = None;
    loop {
        if let Some(status) = try_status(client, http).await {
            if status.applied_seq >= seq {
                return Ok(status);
            }
            seen = Some(status);
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "timed out after {timeout:?} waiting for the node on {http} to apply \
                 sequence {seq}; last status {seen:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
