//! The TCP proxy forwards bytes both ways to a real echo server on loopback;
//! `cut` breaks the live connection and refuses new ones; `restore` lets a
//! new connection through; dropping the proxy closes what it forwards.
//! `silence` keeps connections open but moves no byte, old connection or
//! new, until `restore` delivers what was held, closes included.

use std::net::SocketAddr;
use std::time::Duration;

use pagefeed_testkit::proxy::TcpProxy;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

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

/// What the recording echo server saw: bytes on its n-th connection, or
/// that connection's end.
#[derive(Debug, PartialEq)]
enum Seen {
    Bytes(usize, Vec<u8>),
    Closed(usize),
}

/// An echo server that also reports what it reads, connection by
/// connection (numbered from 0 in accept order).
async fn recording_echo_server() -> (SocketAddr, mpsc::UnboundedReceiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (seen, reports) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((mut socket, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(read @ 1..) = socket.read(&mut buf).await {
                    let _ = seen.send(Seen::Bytes(n, buf[..read].to_vec()));
                    if socket.write_all(&buf[..read]).await.is_err() {
                        break;
                    }
                }
                let _ = seen.send(Seen::Closed(n));
            });
            n += 1;
        }
    });
    (addr, reports)
}

/// Whether nothing comes from `stream` for a second: no byte and no close.
async fn quiet(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 16];
    tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf))
        .await
        .is_err()
}

/// The next report of the server, waiting up to 10 s.
async fn next_seen(reports: &mut mpsc::UnboundedReceiver<Seen>) -> Option<Seen> {
    tokio::time::timeout(Duration::from_secs(10), reports.recv())
        .await
        .ok()
        .flatten()
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

#[tokio::test]
async fn a_silence_holds_bytes_and_connections_until_restored() {
    let (echo, mut seen) = recording_echo_server().await;
    let proxy = TcpProxy::start_on("127.0.0.2:0".parse().unwrap(), echo)
        .await
        .unwrap();
    assert_eq!(proxy.addr().ip().to_string(), "127.0.0.2");
    let mut talker = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut talker, b"hello").await.unwrap(), b"hello");
    let mut leaver = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut leaver, b"bye").await.unwrap(), b"bye");
    assert_eq!(
        next_seen(&mut seen).await,
        Some(Seen::Bytes(0, b"hello".to_vec()))
    );
    assert_eq!(
        next_seen(&mut seen).await,
        Some(Seen::Bytes(1, b"bye".to_vec()))
    );

    proxy.silence();
    assert!(proxy.is_silent() && !proxy.is_cut());
    talker.write_all(b"during").await.unwrap();
    drop(leaver); // an end that gives up during the silence
    let mut newcomer = TcpStream::connect(proxy.addr())
        .await
        .expect("a silenced proxy still accepts");
    newcomer.write_all(b"new").await.unwrap();
    assert!(
        quiet(&mut talker).await,
        "no echo and no close while silent"
    );
    assert!(
        quiet(&mut newcomer).await,
        "a new connection forwards nothing"
    );
    assert!(
        seen.try_recv().is_err(),
        "the server received nothing and saw no close while silent"
    );

    proxy.restore();
    assert!(!proxy.is_silent());
    let mut echoed = [0u8; 6];
    tokio::time::timeout(Duration::from_secs(10), talker.read_exact(&mut echoed))
        .await
        .expect("the held bytes arrive after the restore")
        .unwrap();
    assert_eq!(&echoed, b"during");
    let mut echoed = [0u8; 3];
    tokio::time::timeout(Duration::from_secs(10), newcomer.read_exact(&mut echoed))
        .await
        .expect("the new connection goes through after the restore")
        .unwrap();
    assert_eq!(&echoed, b"new");
    let mut after = Vec::new();
    while after.len() < 3 {
        after.push(
            next_seen(&mut seen)
                .await
                .expect("a report after the restore"),
        );
    }
    for expected in [
        Seen::Bytes(0, b"during".to_vec()),
        Seen::Closed(1),
        Seen::Bytes(2, b"new".to_vec()),
    ] {
        assert!(after.contains(&expected), "{expected:?} in {after:?}");
    }
    assert_eq!(round_trip(&mut talker, b"again").await.unwrap(), b"again");
}
