//! A TCP proxy between a client and a server that the test controls: it
//! forwards bytes both ways until [`TcpProxy::cut`] closes every connection
//! and refuses new ones, as a network partition would look to the client,
//! and [`TcpProxy::restore`] lets connections through again.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::debug;

/// What `cut` and the accept loop share; one lock, so a connection accepted
/// while the proxy is being cut is either closed by the cut or refused.
struct State {
    cut: bool,
    /// Cancelled by `cut`: closes every connection accepted before it.
    connections: CancellationToken,
}

/// A loopback TCP proxy to `upstream`; dropping it stops it and closes every
/// connection.
pub struct TcpProxy {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    accept: JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on 127.0.0.1 on a free port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> anyhow::Result<TcpProxy> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .context("the proxy cannot listen on 127.0.0.1")?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            cut: false,
            connections: CancellationToken::new(),
        }));
        let accept = tokio::spawn(accept_loop(listener, upstream, state.clone()));
        Ok(TcpProxy {
            addr,
            state,
            accept,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `nats://127.0.0.1:PORT`, for a NATS client going through the proxy.
    pub fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    /// Closes every live connection at once; until [`TcpProxy::restore`],
    /// new connections are closed as soon as they are accepted.
    pub fn cut(&self) {
        let mut state = lock(&self.state);
        state.cut = true;
        state.connections.cancel();
        state.connections = CancellationToken::new();
    }

    /// Lets new connections through again.
    pub fn restore(&self) {
        lock(&self.state).cut = false;
    }

    /// Whether the proxy is cut.
    pub fn is_cut(&self) -> bool {
        lock(&self.state).cut
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
        lock(&self.state).connections.cancel();
    }
}

/// The state stays consistent even if a holder panicked (nothing in a
/// critical section can leave it half-written), so a poisoned lock is used
/// as is.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, state: Arc<Mutex<State>>) {
    loop {
        let (client, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, typically: try again shortly.
                debug!(error = %e, "the proxy could not accept");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let closed = {
            let state = lock(&state);
            (!state.cut).then(|| state.connections.clone())
        };
        let Some(closed) = closed else {
            debug!(%peer, "the proxy is cut: connection refused");
            drop(client);
            continue;
        };
        tokio::spawn(forward(client, upstream, closed));
    }
}

/// Copies bytes both ways until either side closes or the proxy is cut;
/// returning drops (closes) both sockets.
async fn forward(mut client: TcpStream, upstream: SocketAddr, closed: CancellationToken) {
    let mut server = tokio::select! {
        server = TcpStream::connect(upstream) => match server {
            Ok(server) => server,
            Err(e) => {
                debug!(error = %e, %upstream, "the proxy cannot reach upstream");
                return;
            }
        },
        () = closed.cancelled() => return,
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    tokio::select! {
        copied = tokio::io::copy_bidirectional(&mut client, &mut server) => {
            if let Err(e) = copied {
                debug!(error = %e, "a proxied connection ended with an error");
            }
        }
        () = closed.cancelled() => debug!("the proxy cut a connection"),
    }
}
