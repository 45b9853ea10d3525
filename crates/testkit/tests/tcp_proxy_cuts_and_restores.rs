//! The TCP proxy forwards bytes both ways to a real echo server on loopback;
//! `cut` breaks the live connection and refuses new ones; `restore` lets a
//! new connection through; dropping the proxy closes what it forwards.

use std::net::SocketAddr;
use std::time::Duration;

use pagefeed_testkit::proxy::TcpProxy;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// A server that writes back whatever it reads, on each connection.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = socket.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// Sends `msg` and reads the same number of bytes back.
async fn round_trip(stream: &mut TcpStream, msg: &[u8]) -> std::io::Result<Vec<u8>> {
    stream.write_all(msg).await?;
    let mut back = vec![0; msg.len()];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut back))
        .await
        .map_err(|_| std::io::Error::other("no echo within 10 s"))??;
    Ok(back)
}

/// Whether the peer closed `stream` (EOF or a reset) within 10 s.
async fn closed_by_peer(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 16];
    match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) | Err(_) => false,
    }
}

#[tokio::test]
async fn a_cut_closes_connections_and_refuses_new_ones_until_restored() {
    let echo = echo_server().await;
    let proxy = TcpProxy::start(echo).await.unwrap();
    assert_eq!(
        proxy.url(),
        format!("nats://127.0.0.1:{}", proxy.addr().port())
    );

    let mut conn = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut conn, b"hello").await.unwrap(), b"hello");
    // Larger than one socket buffer, both ways.
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(round_trip(&mut conn, &big).await.unwrap(), big);

    proxy.cut();
    assert!(proxy.is_cut());
    assert!(
        closed_by_peer(&mut conn).await,
        "the live connection is closed"
    );
    // A new connection may be accepted by the kernel, but it is closed at
    // once and nothing reaches the server.
    if let Ok(mut refused) = TcpStream::connect(proxy.addr()).await {
        let _ = refused.write_all(b"anyone?").await;
        assert!(
            closed_by_peer(&mut refused).await,
            "a new connection is refused"
        );
    }

    proxy.restore();
    assert!(!proxy.is_cut());
    let mut again = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut again, b"back").await.unwrap(), b"back");

    drop(proxy);
    assert!(
        closed_by_peer(&mut again).await,
        "drop closes the connection"
    );
}
