//! A node given an API token answers only requests that carry it
//! (`Authorization: Bearer <token>`): without it, or with another, every
//! route (the web view's too) is 401, and the token is never in an answer
//! nor in the node's log.

mod common;
mod node;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use pagefeed_projector::api::{ApiOptions, ApiState, ApiToken, Live};
use reqwest::StatusCode;

const TOKEN: &str = "pf-test-token-5b8e0c1d9a";

async fn get(
    client: &reqwest::Client,
    url: &str,
    auth: Option<&str>,
) -> (StatusCode, Option<String>, String) {
    let mut req = client.get(url).timeout(Duration::from_secs(10));
    if let Some(auth) = auth {
        req = req.header("authorization", auth);
    }
    let resp = req.send().await.unwrap();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (resp.status(), challenge, resp.text().await.unwrap())
}

#[tokio::test]
async fn every_route_needs_the_token() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (_dir, store) = fresh();
    apply(&store, &numbered(1, &history()));
    let live = Arc::new(Live::new("a"));
    live.publish(&store).unwrap();
    let options = ApiOptions {
        token: ApiToken::new(TOKEN),
        ..ApiOptions::default()
    };
    let state = ApiState::new(Arc::new(store), live, options).unwrap();
    let (base, shutdown, server) = serve_api(state).await;
    let client = reqwest::Client::new();

    let wrong = format!("Bearer {}x", &TOKEN[..TOKEN.len() - 1]);
    let routes = [
        ("/api/status", StatusCode::OK),
        ("/api/pages", StatusCode::OK),
        ("/api/pages/sample.1", StatusCode::OK),
        ("/api/pages/sample.1/entries", StatusCode::OK),
        ("/api/entries", StatusCode::OK),
        ("/api/entries?q=rust", StatusCode::OK),
        ("/metrics", StatusCode::OK),
        ("/", StatusCode::OK),
        ("/pages", StatusCode::OK),
        ("/pages/sample.1", StatusCode::OK),
        ("/search?q=rust", StatusCode::OK),
        ("/pages/nothing", StatusCode::NOT_FOUND),
        ("/api/nothing", StatusCode::NOT_FOUND),
    ];
    for (route, answered) in routes {
        let url = format!("{base}{route}");
        for auth in [
            None,
            Some(wrong.as_str()),
            Some(TOKEN),
            Some(&format!("Basic {TOKEN}")),
            Some("Bearer "),
        ] {
            let (status, challenge, body) = get(&client, &url, auth).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{route} with {auth:?}");
            assert_eq!(challenge.as_deref(), Some("Bearer"), "{route}");
            assert!(body.contains("\"error\""), "{route}: {body}");
            assert!(!body.contains(&TOKEN[3..]), "{route}: the token in {body}");
        }
        for scheme in ["Bearer", "bearer"] {
            let auth = format!("{scheme} {TOKEN}");
            let (status, _, body) = get(&client, &url, Some(&auth)).await;
            assert_eq!(status, answered, "{route}: {body}");
        }
    }
    shutdown.cancel();
    server.await.unwrap().unwrap();
}

/// A feed behind the token answers a reader that sends it as a bearer
/// token, or as the password of HTTP Basic (what feed readers can send);
/// without it, 401 with both challenges. Basic is taken for the feeds
/// only, and never a token in the URL.
#[tokio::test]
async fn feeds_take_the_token_as_a_basic_password_too() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (_dir, store) = fresh();
    apply(&store, &numbered(1, &history()));
    let live = Arc::new(Live::new("a"));
    live.publish(&store).unwrap();
    let options = ApiOptions {
        token: ApiToken::new(TOKEN),
        ..ApiOptions::default()
    };
    let state = ApiState::new(Arc::new(store), live, options).unwrap();
    let (base, shutdown, server) = serve_api(state).await;
    let client = reqwest::Client::new();
    let basic = |user: &str, password: &str| {
        format!(
            "Basic {}",
            data_encoding::BASE64.encode(format!("{user}:{password}").as_bytes())
        )
    };

    for route in [
        "/feeds/pages/sample.1/atom",
        "/feeds/sites/sample/rss",
        "/feeds/search/json?q=rust",
    ] {
        let url = format!("{base}{route}");
        for auth in [
            format!("Bearer {TOKEN}"),
            basic("reader", TOKEN),
            basic("", TOKEN),
            format!(
                "basic {}",
                data_encoding::BASE64.encode(format!(":{TOKEN}").as_bytes())
            ),
        ] {
            let (status, _, body) = get(&client, &url, Some(&auth)).await;
            assert_eq!(status, StatusCode::OK, "{route} with {auth}: {body}");
        }
        for auth in [
            None,
            Some(basic("reader", "nope")),
            Some(basic(TOKEN, "")),
            Some(format!("Basic {TOKEN}")),
        ] {
            let (status, _, body) = get(&client, &url, auth.as_deref()).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{route} with {auth:?}");
            assert!(!body.contains(&TOKEN[3..]), "{route}: the token in {body}");
        }
        let resp = client.get(&url).send().await.unwrap();
        let challenges: Vec<_> = resp
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            challenges,
            ["Bearer", "Basic realm=\"pagefeed\", charset=\"UTF-8\""]
        );
        let sep = if route.contains('?') { '&' } else { '?' };
        let in_url = format!("{url}{sep}token={TOKEN}");
        let (status, _, _) = get(&client, &in_url, None).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "a token in the URL is not taken"
        );
    }
    // The API itself takes a bearer token only.
    let (status, challenge, _) = get(
        &client,
        &format!("{base}/api/pages"),
        Some(&basic("reader", TOKEN)),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge.as_deref(), Some("Bearer"));
    shutdown.cancel();
    server.await.unwrap().unwrap();
}

/// The real binary, its token in a file (as systemd's credentials give
/// it), on loopback: 401 without the token, 200 with it, and the token is
/// nowhere in its log, even at debug level.
#[tokio::test]
async fn the_binary_reads_its_token_from_a_file_and_never_logs_it() {
    let (mut system, _cfg, _js) = node::with_services("").await.unwrap();
    let token_file = system.dir().join("api-token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let token_file = token_file.to_str().unwrap().to_owned();
    let (command, node) = system
        .projector_command(node::BIN, "a", &["--api-token-file", &token_file])
        .unwrap();
    system.spawn(command.env("RUST_LOG", "debug")).unwrap();
    // Ready: the API answers (with 401).
    system.wait_ready(Duration::from_secs(30)).await.unwrap();
    let client = node::http_client();
    let url = node.url("/api/status");
    let refused = client.get(&url).send().await.unwrap().status();
    assert_eq!(refused, StatusCode::UNAUTHORIZED);
    let (status, _, body) = get(&client, &url, Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = get(&client, &url, Some("Bearer nope")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let process = &mut system[node.process.as_str()];
    process.kill().unwrap();
    let logged = process.log();
    assert!(logged.contains("projector started"), "{logged}");
    assert!(
        !logged.contains(TOKEN),
        "the token is in the log:\n{logged}"
    );
}
