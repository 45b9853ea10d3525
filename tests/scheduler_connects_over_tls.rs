//! A nats-server that speaks only TLS, with a certificate from a private CA
//! made at test time: the scheduler that trusts the CA (`nats.tls_ca`)
//! publishes; one that does not rejects the certificate, publishes nothing
//! and keeps retrying until it is stopped.

use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream;
use pagefeed_e2e::spawn_scheduler;
use pagefeed_events::Config;
use pagefeed_testkit::config::{config, id_site};
use pagefeed_testkit::nats::NatsServer;
use pagefeed_testkit::streams::stored_tasks;
use pagefeed_testkit::wait::wait_for;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tempfile::TempDir;

/// A private CA and a server certificate it signed for 127.0.0.1 and localhost, as PEM files.
struct Pki {
    _dir: TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Pki {
    fn new() -> anyhow::Result<Pki> {
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "pagefeed test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca, ca_key);

        let server_key = KeyPair::generate()?;
        let mut server =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
        server
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        server.use_authority_key_identifier_extension = true;
        server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server.signed_by(&server_key, &issuer)?;

        let dir = tempfile::Builder::new().prefix("pagefeed-pki-").tempdir()?;
        let pki = Pki {
            ca: dir.path().join("ca.pem"),
            cert: dir.path().join("server.pem"),
            key: dir.path().join("server-key.pem"),
            _dir: dir,
        };
        std::fs::write(&pki.ca, ca_cert.pem())?;
        std::fs::write(&pki.cert, server_cert.pem())?;
        std::fs::write(&pki.key, server_key.serialize_pem())?;
        Ok(pki)
    }

    /// A nats-server that requires TLS with this certificate.
    async fn server(&self) -> anyhow::Result<NatsServer> {
        NatsServer::start_with(&format!(
            "tls {{ cert_file: \"{}\", key_file: \"{}\" }}",
            self.cert.display(),
            self.key.display()
        ))
        .await
    }

    /// A JetStream context on a client that trusts the private CA.
    async fn jetstream(&self, nats: &NatsServer) -> anyhow::Result<jetstream::Context> {
        let client = async_nats::ConnectOptions::new()
            .add_root_certificates(self.ca.clone())
            .require_tls(true)
            .connect(nats.url())
            .await?;
        Ok(jetstream::new(client))
    }
}

fn scheduler_config(nats: &NatsServer) -> Config {
    config(
        &nats.url(),
        1,
        &[id_site("tls", "http://127.0.0.1:9/{id}", 1, 3, 3, "1h")],
    )
}

#[tokio::test]
async fn trusting_the_private_ca_publishes() -> anyhow::Result<()> {
    pagefeed_testkit::logs::init_logs();
    let pki = Pki::new()?;
    let nats = pki.server().await?;
    let mut cfg = scheduler_config(&nats);
    cfg.nats.tls_ca = Some(pki.ca.clone());
    let scheduler = spawn_scheduler(cfg);

    let js = pki.jetstream(&nats).await?;
    let tasks = wait_for(
        Duration::from_secs(20),
        "the first tick's 3 tasks over TLS",
        || async {
            let tasks = stored_tasks(&js).await.unwrap_or_default();
            Ok((tasks.len() >= 3).then_some(tasks))
        },
    )
    .await?;
    let mut ids: Vec<String> = tasks.iter().map(|(t, _)| t.page.id().to_owned()).collect();
    ids.sort();
    assert_eq!(ids, ["1", "2", "3"]);
    scheduler.stop().await
}

#[tokio::test]
async fn without_the_ca_nothing_is_published() -> anyhow::Result<()> {
    pagefeed_testkit::logs::init_logs();
    let pki = Pki::new()?;
    let nats = pki.server().await?;
    let scheduler = spawn_scheduler(scheduler_config(&nats));

    // The server sees the scheduler try, reject the certificate, and try
    // again with backoff: five refusals take about 1.5 s.
    wait_for(
        Duration::from_secs(10),
        "five handshakes refused for an unknown CA in the server log",
        || async {
            let refused = nats
                .log_tail(1000)
                .matches("unknown certificate authority")
                .count();
            Ok((refused >= 5).then_some(()))
        },
    )
    .await?;
    // Still running (not crashed), and it stops cleanly.
    scheduler.stop().await?;

    let js = pki.jetstream(&nats).await?;
    assert!(
        js.get_stream(pagefeed_events::subject::TASKS_STREAM)
            .await
            .is_err(),
        "no stream was created"
    );
    assert_eq!(
        js.query_account().await?.streams,
        0,
        "no stream was created"
    );
    Ok(())
}
