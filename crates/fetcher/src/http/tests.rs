//! The client against loopback listeners: refusals before any request,
//! clean TLS errors, no credential in an error, DNS failures.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolving};

use super::*;

fn client() -> HttpClient {
    HttpClient::new(
        FetchSettings {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            ..FetchSettings::default()
        },
        AddressPolicy::allowing(["127.0.0.0/8".parse().unwrap()]),
    )
    .unwrap()
}

/// A loopback port whose every connection is read once and answered
/// with `answer`.
async fn answering(answer: &'static [u8]) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            let _ = socket.write_all(answer).await;
        }
    });
    port
}

#[test]
fn defaults_are_the_config_defaults() {
    let d = FetchSettings::default();
    assert!(d.user_agent.starts_with("pagefeed/"), "{}", d.user_agent);
    assert_eq!(d.connect_timeout, Duration::from_secs(10));
    assert_eq!(d.timeout, Duration::from_secs(30));
    assert_eq!(d.max_body, 5 * 1024 * 1024);
    assert_eq!(d.max_redirects, 5);
}

#[test]
fn retry_after_reads_seconds_and_dates() {
    assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
    assert_eq!(
        parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
        Some(Duration::ZERO)
    );
    let later = (Utc::now() + chrono::Duration::seconds(3600))
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let wait = parse_retry_after(&later).unwrap();
    assert!(wait > Duration::from_secs(3500), "{wait:?}");
    assert_eq!(parse_retry_after("soon"), None);
}

#[tokio::test]
async fn non_http_schemes_are_refused_without_a_request() {
    let client = client();
    for url in [
        "ftp://x/",
        "file:///etc/passwd",
        "x",
        "http://",
        "mailto:a@b",
    ] {
        let err = client.fetch(url, &Validators::default()).await.unwrap_err();
        assert_eq!(err.reason(), "bad_url", "{url}: {err}");
    }
}

#[tokio::test]
async fn https_to_a_plain_tcp_port_is_a_clean_error() {
    // Reads whatever the TLS client sends, answers garbage.
    let port = answering(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
    let err = client()
        .fetch(
            &format!("https://127.0.0.1:{port}/"),
            &Validators::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "connect", "{err}");
}

#[tokio::test]
async fn no_credential_shows_in_an_error() {
    let client = client();
    for url in [
        "ftp://me:secret@127.0.0.1/",
        "http://me:secret@/",
        "http://me:secret@127.0.0.1:1/",
    ] {
        let err = client.fetch(url, &Validators::default()).await.unwrap_err();
        assert!(
            !err.to_string().contains("secret") && !err.detail().contains("secret"),
            "{url}: {err}"
        );
    }
    let strict = HttpClient::new(FetchSettings::default(), AddressPolicy::default()).unwrap();
    let err = strict
        .fetch("http://me:secret@10.0.0.1/", &Validators::default())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "blocked_address", "{err}");
    assert!(!err.to_string().contains("secret"), "{err}");
}

/// Knows the names it is given and no other, as a hosts file would.
struct KnownNames(Vec<(&'static str, IpAddr)>);

impl Resolve for KnownNames {
    fn resolve(&self, name: Name) -> Resolving {
        let found = self.0.iter().find(|(known, _)| *known == name.as_str());
        let found = found.map(|(_, ip)| SocketAddr::new(*ip, 0));
        Box::pin(async move {
            let addr = found.ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{}: no such host", name.as_str()),
                )
            })?;
            Ok(Box::new(std::iter::once(addr)) as Addrs)
        })
    }
}

#[tokio::test]
async fn an_unresolvable_host_is_a_dns_error() {
    let port =
        answering(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await;
    let names = KnownNames(vec![("site.test", IpAddr::V4(Ipv4Addr::LOCALHOST))]);
    let client = HttpClient::resolving_with(
        FetchSettings::default(),
        AddressPolicy::allowing(["127.0.0.0/8".parse().unwrap()]),
        Arc::new(names),
    )
    .unwrap();
    // The client asks that resolver: a name it knows is fetched...
    let known = client
        .fetch(&format!("http://site.test:{port}/"), &Validators::default())
        .await
        .unwrap();
    assert!(
        matches!(&known, Outcome::Fetched(page) if page.body == "ok"),
        "{known:?}"
    );
    // ...and one it does not know fails before any connection.
    let err = client
        .fetch(
            &format!("http://nonexistent.invalid:{port}/"),
            &Validators::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "dns", "{}", err.detail());
}

/// A listener on `ip` that keeps the head of every request it reads and
/// answers with what `answer` gives for it.
async fn recording(
    ip: &str,
    answer: impl Fn(&str) -> String + Send + Sync + 'static,
) -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = Arc::clone(&heads);
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = vec![0u8; 8192];
            let n = socket.read(&mut buf).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).into_owned();
            let reply = answer(&head);
            kept.lock().unwrap().push(head);
            let _ = socket.write_all(reply.as_bytes()).await;
        }
    });
    (port, heads)
}

#[tokio::test]
async fn url_credentials_follow_a_redirect_on_their_host_only() {
    let page = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".to_owned();
    let (other, elsewhere) = recording("127.0.0.2", {
        let page = page.clone();
        move |_| page.clone()
    })
    .await;
    let (port, heads) = recording("127.0.0.1", move |head| {
        let to = if head.starts_with("GET /start ") {
            "/next".to_owned()
        } else if head.starts_with("GET /next ") {
            format!("http://127.0.0.2:{other}/landing")
        } else {
            return page.clone();
        };
        format!("HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
    })
    .await;
    let outcome = client()
        .fetch(
            &format!("http://me:secret@127.0.0.1:{port}/start"),
            &Validators::default(),
        )
        .await
        .unwrap();
    let Outcome::Fetched(fetched) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(fetched.url, format!("http://127.0.0.2:{other}/landing"));
    let heads = heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 2, "{heads:?}");
    for head in &heads {
        // me:secret in base64.
        assert!(head.contains("bWU6c2VjcmV0"), "{head}");
    }
    let elsewhere = elsewhere.lock().unwrap().clone();
    assert_eq!(elsewhere.len(), 1);
    assert!(
        !elsewhere[0].to_ascii_lowercase().contains("authorization"),
        "{}",
        elsewhere[0]
    );
}

#[tokio::test]
async fn a_prefix_fetch_keeps_the_first_bytes_of_a_long_body() {
    const LONG: usize = 600 * 1024;
    let mut answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {LONG}\r\n\
         Connection: close\r\n\r\n"
    )
    .into_bytes();
    answer.extend(std::iter::repeat_n(b'a', LONG));
    let port = answering(Box::leak(answer.into_boxed_slice())).await;
    let url = format!("http://127.0.0.1:{port}/robots.txt");
    let Outcome::Fetched(fetched) = client().fetch_prefix(&url, 5, 500 * 1024).await.unwrap()
    else {
        panic!("a 200 is fetched");
    };
    assert_eq!(fetched.body.len(), 500 * 1024);
    // The same body is refused by a page fetch capped at that size.
    let capped = HttpClient::new(
        FetchSettings {
            max_body: 500 * 1024,
            ..FetchSettings::default()
        },
        AddressPolicy::allowing(["127.0.0.0/8".parse().unwrap()]),
    )
    .unwrap();
    let err = capped
        .fetch(&url, &Validators::default())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "too_large", "{err}");
}
