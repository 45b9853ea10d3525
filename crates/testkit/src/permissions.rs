//! A nats-server behind the shipped least-privilege users
//! (`deploy/nats/permissions.conf`): their passwords, and the config lines
//! that define them in front of the shipped file.

use std::path::Path;

/// Every user of `deploy/nats/permissions.conf`.
pub const USERS: [&str; 5] = ["scheduler", "fetcher", "projector", "notifier", "operator"];

/// The password the test server gives `user`.
pub fn password(user: &str) -> String {
    format!("{user}-pw-7Qx")
}

/// The shipped permissions, with the passwords the server would take from
/// its environment defined in front of them: extra lines for
/// [`crate::nats::NatsServer::start_with`] or
/// [`crate::services::Services::start_with`].
pub fn server_config() -> String {
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/nats/permissions.conf"),
    )
    .expect("deploy/nats/permissions.conf");
    let mut text = String::new();
    for user in USERS {
        text.push_str(&format!(
            "PAGEFEED_{}_PASSWORD: \"{}\"\n",
            user.to_uppercase(),
            password(user)
        ));
    }
    text + &shipped
}
