//! The NATS flags every binary takes (`--nats-url`, `--nats-user`, ...; or
//! their `PAGEFEED_NATS_*` variables): each overrides the config file's
//! `[nats]` field of the same name.

use std::path::PathBuf;

use std::time::Duration;

use pagefeed_events::config::NatsConfig;
use pagefeed_events::connect::{check_nats, server_addrs, DEFAULT_URL};
use pagefeed_events::{Config, ConfigError};

/// NATS connection overrides shared by every binary.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NatsArgs {
    /// NATS server URL(s), comma separated (overrides `nats.url`).
    #[arg(
        id = "nats_url",
        long = "nats-url",
        env = "PAGEFEED_NATS_URL",
        value_name = "URL",
        global = true
    )]
    pub url: Option<String>,
    /// NATS user (with --nats-password).
    #[arg(
        id = "nats_user",
        long = "nats-user",
        value_name = "USER",
        env = "PAGEFEED_NATS_USER",
        global = true
    )]
    pub user: Option<String>,
    /// NATS password.
    #[arg(
        id = "nats_password",
        value_name = "PASSWORD",
        long = "nats-password",
        env = "PAGEFEED_NATS_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub password: Option<String>,
    /// NATS token.
    #[arg(
        id = "nats_token",
        value_name = "TOKEN",
        long = "nats-token",
        env = "PAGEFEED_NATS_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub token: Option<String>,
    /// NATS credentials file (.creds).
    #[arg(
        id = "nats_creds",
        long = "nats-creds",
        env = "PAGEFEED_NATS_CREDS",
        value_name = "FILE",
        global = true
    )]
    pub creds: Option<PathBuf>,
    /// CA certificate (PEM) that signed the server's TLS certificate.
    #[arg(
        id = "nats_ca",
        long = "nats-ca",
        env = "PAGEFEED_NATS_CA",
        value_name = "FILE",
        global = true
    )]
    pub tls_ca: Option<PathBuf>,
}

impl NatsArgs {
    /// Applies the overrides that are set, then checks the resulting
    /// `[nats]` ([`check_nats`]).
    pub fn apply(&self, cfg: &mut Config) -> Result<(), ConfigError> {
        let nats = &mut cfg.nats;
        if let Some(url) = &self.url {
            nats.url.clone_from(url);
        }
        if self.user.is_some() {
            nats.user.clone_from(&self.user);
        }
        if self.password.is_some() {
            nats.password.clone_from(&self.password);
        }
        if self.token.is_some() {
            nats.token.clone_from(&self.token);
        }
        if self.creds.is_some() {
            nats.creds.clone_from(&self.creds);
        }
        if self.tls_ca.is_some() {
            nats.tls_ca.clone_from(&self.tls_ca);
        }
        check_nats(cfg)
    }

    /// The `[nats]` settings of these flags alone, for a tool that needs
    /// nothing but NATS and runs without a config file (`pagefeed-admin`):
    /// the defaults of an empty `[nats]` table (`nats://127.0.0.1:4222`)
    /// with the flags applied, checked as [`check_nats`] checks a config's.
    pub fn nats_only(&self) -> Result<NatsConfig, String> {
        match (&self.user, &self.password) {
            (Some(_), None) => {
                return Err("a NATS user needs a password (--nats-password or \
                            PAGEFEED_NATS_PASSWORD)"
                    .to_owned())
            }
            (None, Some(_)) => {
                return Err(
                    "a NATS password needs a user (--nats-user or PAGEFEED_NATS_USER)".to_owned(),
                )
            }
            _ => {}
        }
        let url = self.url.clone().unwrap_or_else(|| DEFAULT_URL.to_owned());
        // The message shows the URL as given: masked where it carries credentials.
        server_addrs(&url)
            .map_err(|e| format!("--nats-url: {}", pagefeed_events::redact::redact_urls(&e)))?;
        Ok(NatsConfig {
            url,
            replicas: 1,
            user: self.user.clone(),
            password: self.password.clone(),
            token: self.token.clone(),
            creds: self.creds.clone(),
            tls_ca: self.tls_ca.clone(),
            tls_cert: None,
            tls_key: None,
            tls_required: false,
            task_ttl: Duration::from_secs(3600),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn a_bad_nats_url_override_is_refused() {
        use clap::Parser as _;

        #[derive(clap::Parser)]
        struct Args {
            #[command(flatten)]
            nats: NatsArgs,
        }
        // The variable is the same argument as the flag.
        let command = <Args as clap::CommandFactory>::command();
        let url = command
            .get_arguments()
            .find(|a| a.get_id() == "nats_url")
            .unwrap();
        assert_eq!(
            url.get_env().and_then(|v| v.to_str()),
            Some("PAGEFEED_NATS_URL")
        );
        let args = Args::try_parse_from(["x", "--nats-url", "not a url::"]).unwrap();
        let mut cfg = Config::parse(
            Path::new("pagefeed.toml"),
            "[[site]]\nname = \"s\"\nurl = \"http://127.0.0.1:1/{id}\"\nids = { first = 1, last = 2 }\n\
             interval = \"1h\"\nretention = \"7d\"\n[site.extract]\ntitle = \"title\"\n\
             entry = \"div\"\ntext = \"p\"\n",
        )
        .unwrap();
        let e = args.nats.apply(&mut cfg).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("nats.url"), "{e}");
        assert!(
            e.to_string().contains("\"not a url::\" is not a NATS URL"),
            "{e}"
        );
    }

    #[test]
    fn flags_alone_make_a_nats_config() {
        let nats = NatsArgs::default().nats_only().unwrap();
        assert_eq!(nats.url, DEFAULT_URL);
        let half = NatsArgs {
            user: Some("operator".into()),
            ..NatsArgs::default()
        };
        assert!(half.nats_only().unwrap_err().contains("needs a password"));
        let bad = NatsArgs {
            url: Some("nats://u:s3cret@bad host".into()),
            ..NatsArgs::default()
        };
        let e = bad.nats_only().unwrap_err();
        assert!(e.starts_with("--nats-url") && !e.contains("s3cret"), "{e}");
    }
}
