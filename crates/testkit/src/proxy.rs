//! A TCP proxy between a client and a server that the test controls, to
//! play the two kinds of network partition. [`TcpProxy::cut`] is the
//! refused kind: it closes every connection and refuses new ones.
//! [`TcpProxy::silence`] is the silent kind, packets dropped: connections
//! stay open but no byte moves, so heartbeats go unanswered and each side
//! holds a half-open connection. [`TcpProxy::restore`] heals both.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::debug;

/// What `cut` and the accept loop share; one lock, so a connection accepted
/// while the proxy is being cut is either closed by the cut or refused.
struct State {
    cut: bool,
    /// Cancelled by `cut`: closes every connection accepted before it.
    connections: CancellationToken,
    /// `true` while silenced: every connection stops reading and writing.
    silent: watch::Sender<bool>,
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
        TcpProxy::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), upstream).await
    }

    /// Listens on `bind` (port 0: a free one) and forwards to `upstream`.
    pub async fn start_on(bind: SocketAddr, upstream: SocketAddr) -> anyhow::Result<TcpProxy> {
        let listener = TcpListener::bind(bind)
            .await
            .with_context(|| format!("the proxy cannot listen on {bind}"))?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            cut: false,
            connections: CancellationToken::new(),
            silent: watch::Sender::new(false),
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

    /// `nats://IP:PORT`, for a NATS client going through the proxy.
    pub fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    /// The refused partition: closes every live connection at once; until
    /// [`TcpProxy::restore`], new connections are closed as soon as they are
    /// accepted.
    pub fn cut(&self) {
        let mut state = lock(&self.state);
        state.cut = true;
        state.connections.cancel();
        state.connections = CancellationToken::new();
    }

    /// The silent partition: every live connection stays open (no FIN, no
    /// RST) but the proxy stops reading and writing both ways, so what the
    /// ends send waits in their kernel buffers, which fill, as when packets
    /// are dropped. New connections are accepted and forward nothing.
    pub fn silence(&self) {
        lock(&self.state).silent.send_replace(true);
    }

    /// Heals either partition: new connections go through again, and the
    /// bytes held during a silence flow on (as TCP would retransmit them),
    /// unless an end closed meanwhile, in which case the close goes through.
    pub fn restore(&self) {
        let mut state = lock(&self.state);
        state.cut = false;
        state.silent.send_replace(false);
    }

    /// Whether the proxy is cut.
    pub fn is_cut(&self) -> bool {
        lock(&self.state).cut
    }

    /// Whether the proxy is silenced.
    pub fn is_silent(&self) -> bool {
        *lock(&self.state).silent.borrow()
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
        let link = {
            let state = lock(&state);
            (!state.cut).then(|| (state.connections.clone(), state.silent.subscribe()))
        };
        let Some((closed, silent)) = link else {
            debug!(%peer, "the proxy is cut: connection refused");
            drop(client);
            continue;
        };
        tokio::spawn(forward(client, upstream, closed, silent));
    }
}

/// Copies bytes both ways until both sides have closed, either fails, or the
/// proxy is cut; returning drops (closes) both sockets. While silenced it
/// neither connects upstream nor moves a byte.
async fn forward(
    client: TcpStream,
    upstream: SocketAddr,
    closed: CancellationToken,
    silent: watch::Receiver<bool>,
) {
    let connect = async {
        flowing(&mut silent.clone()).await?;
        TcpStream::connect(upstream).await.ok()
    };
    let server = tokio::select! {
        server = connect => match server {
            Some(server) => server,
            None => {
                debug!(%upstream, "the proxy cannot reach upstream");
                return;
            }
        },
        () = closed.cancelled() => return,
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let both_ways = async {
        tokio::try_join!(
            pipe(client_read, server_write, silent.clone()),
            pipe(server_read, client_write, silent.clone()),
        )
    };
    tokio::select! {
        copied = both_ways => {
            if let Err(e) = copied {
                debug!(error = %e, "a proxied connection ended with an error");
            }
        }
        () = closed.cancelled() => debug!("the proxy cut a connection"),
    }
}

/// One direction: reads from `from` and writes to `to` whenever the proxy is
/// not silenced; at the end of `from`, shuts `to` down for writing.
async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut silent: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let gone = || std::io::Error::other("the proxy stopped");
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        flowing(&mut silent).await.ok_or_else(gone)?;
        // Both `read` and `write` are cancel safe: a silence that starts
        // while one waits loses no byte.
        let n = tokio::select! {
            read = from.read(&mut buf) => read?,
            () = silenced(&mut silent) => continue,
        };
        if n == 0 {
            return to.shutdown().await;
        }
        let mut sent = 0;
        while sent < n {
            flowing(&mut silent).await.ok_or_else(gone)?;
            tokio::select! {
                written = to.write(&buf[sent..n]) => match written? {
                    0 => return Err(std::io::ErrorKind::WriteZero.into()),
                    written => sent += written,
                },
                () = silenced(&mut silent) => {}
            }
        }
    }
}

/// Returns once the proxy is not silenced; `None` if it is gone.
async fn flowing(silent: &mut watch::Receiver<bool>) -> Option<()> {
    silent.wait_for(|silent| !silent).await.ok().map(drop)
}

/// Returns once the proxy is silenced; never if it is gone.
async fn silenced(silent: &mut watch::Receiver<bool>) {
    if silent.wait_for(|silent| *silent).await.is_err() {
        std::future::pending::<()>().await;
    }
}
