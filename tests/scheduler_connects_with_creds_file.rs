//! A nats-server in operator mode (decentralised JWT auth): an operator, an
//! account with JetStream and a user, all made at test time. The scheduler
//! given the user's `.creds` file (`nats.creds`) publishes its tasks; a client
//! without credentials is refused by the same server.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::{jetstream, ConnectErrorKind};
use data_encoding::{BASE32_NOPAD, BASE64URL_NOPAD};
use nkeys::KeyPair;
use pagefeed_e2e::spawn_scheduler;
use pagefeed_testkit::config::{config, id_site};
use pagefeed_testkit::nats::NatsServer;
use pagefeed_testkit::streams::stored_tasks;
use pagefeed_testkit::wait::wait_for;
use serde_json::{json, Value};
use sha2::{Digest, Sha512_256};
use tempfile::TempDir;

/// A JWT the way nats-io/jwt v2 encodes one: `jti` is the base32 SHA-512/256
/// of the standard claims, `nats` carries the type-specific claims, and the
/// signature is the issuer's ed25519 nkey signature over `header.payload`.
fn encode_jwt(issuer: &KeyPair, subject: &str, name: &str, nats: Value) -> anyhow::Result<String> {
    let iat = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    // serde_json sorts keys, which is also the Go struct's field order.
    let standard = json!({ "iat": iat, "iss": issuer.public_key(), "name": name, "sub": subject });
    let jti = BASE32_NOPAD.encode(&Sha512_256::digest(serde_json::to_vec(&standard)?));
    let mut claims = standard;
    claims["jti"] = json!(jti);
    claims["nats"] = nats;
    let header = json!({ "typ": "JWT", "alg": "ed25519-nkey" });
    let signed = format!(
        "{}.{}",
        BASE64URL_NOPAD.encode(&serde_json::to_vec(&header)?),
        BASE64URL_NOPAD.encode(&serde_json::to_vec(&claims)?)
    );
    let signature = issuer.sign(signed.as_bytes())?;
    Ok(format!("{signed}.{}", BASE64URL_NOPAD.encode(&signature)))
}

/// An operator, one account it signed (unlimited, JetStream enabled) and one
/// user that account signed, with the server config that trusts them and the
/// user's `.creds` file.
struct Trust {
    _dir: TempDir,
    server_config: String,
    creds: PathBuf,
}

impl Trust {
    fn new() -> anyhow::Result<Trust> {
        let operator = KeyPair::new_operator();
        // JetStream cannot start without a system account.
        let system = KeyPair::new_account();
        let account = KeyPair::new_account();
        let user = KeyPair::new_user();

        let operator_jwt = encode_jwt(
            &operator,
            &operator.public_key(),
            "pagefeed-test-operator",
            json!({ "system_account": system.public_key(), "type": "operator", "version": 2 }),
        )?;
        let system_jwt = encode_jwt(
            &operator,
            &system.public_key(),
            "SYS",
            json!({ "type": "account", "version": 2 }),
        )?;
        let account_jwt = encode_jwt(
            &operator,
            &account.public_key(),
            "pagefeed",
            json!({
                "limits": {
                    "subs": -1, "data": -1, "payload": -1,
                    "imports": -1, "exports": -1, "wildcards": true,
                    "conn": -1, "leaf": -1,
                    "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1,
                },
                "default_permissions": { "pub": {}, "sub": {} },
                "type": "account",
                "version": 2,
            }),
        )?;
        let user_jwt = encode_jwt(
            &account,
            &user.public_key(),
            "scheduler",
            json!({
                "pub": {}, "sub": {},
                "subs": -1, "data": -1, "payload": -1,
                "type": "user",
                "version": 2,
            }),
        )?;

        let server_config = format!(
            "operator: \"{operator_jwt}\"\nresolver: MEMORY\nresolver_preload: {{\n  \
             {}: \"{system_jwt}\"\n  {}: \"{account_jwt}\"\n}}\n",
            system.public_key(),
            account.public_key()
        );
        let dir = tempfile::Builder::new()
            .prefix("pagefeed-creds-")
            .tempdir()?;
        let creds = dir.path().join("scheduler.creds");
        std::fs::write(&creds, creds_file(&user_jwt, &user.seed()?))?;
        Ok(Trust {
            _dir: dir,
            server_config,
            creds,
        })
    }
}

/// The `.creds` format `nsc` writes.
fn creds_file(jwt: &str, seed: &str) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
         *************************************************************\n"
    )
}

async fn jetstream_with_creds(url: &str, creds: &Path) -> anyhow::Result<jetstream::Context> {
    let client = async_nats::ConnectOptions::new()
        .credentials_file(creds)
        .await?
        .connect(url)
        .await?;
    Ok(jetstream::new(client))
}

#[tokio::test]
async fn scheduler_publishes_with_a_creds_file() -> anyhow::Result<()> {
    pagefeed_testkit::logs::init_logs();
    let trust = Trust::new()?;
    let nats = NatsServer::start_with(&trust.server_config).await?;

    let refused = async_nats::connect(nats.url()).await;
    match refused {
        Err(e) => assert_eq!(
            e.kind(),
            ConnectErrorKind::AuthorizationViolation,
            "a client without credentials is refused: {e}"
        ),
        Ok(_) => panic!(
            "a client without credentials was let in\n{}",
            nats.log_tail(30)
        ),
    }

    let mut cfg = config(
        &nats.url(),
        1,
        &[id_site("creds", "http://127.0.0.1:9/{id}", 1, 2, 2, "1h")],
    );
    cfg.nats.creds = Some(trust.creds.clone());
    let scheduler = spawn_scheduler(cfg);

    let js = jetstream_with_creds(&nats.url(), &trust.creds).await?;
    let published = wait_for(
        Duration::from_secs(20),
        "a batch published with a .creds file",
        || async { Ok((stored_tasks(&js).await.unwrap_or_default().len() >= 2).then_some(())) },
    )
    .await;
    if let Err(e) = published {
        let stopped = scheduler.stop().await;
        anyhow::bail!("{e}; scheduler: {stopped:?}\n{}", nats.log_tail(30));
    }
    scheduler.stop().await?;

    let tasks = stored_tasks(&js).await?;
    for (slot, ids) in pagefeed_testkit::streams::ids_by_slot(&tasks) {
        assert_eq!(ids, [1, 2], "slot {slot} holds the whole batch");
    }
    Ok(())
}
