//! A bad destination stops the notifier before it connects, with exit code
//! 2 and the field named; a config without destinations too. A destination
//! that keeps refusing is logged by name, and neither its URL nor its token
//! appears in the log (at debug), `/status` or `/metrics`.

mod support;

use std::process::Command;

use pagefeed_events::streams::ensure_streams;
use pagefeed_testkit::services::Services;
use pagefeed_testkit::streams::publish_events;
use pagefeed_testkit::wait::wait_for;

use support::*;

const TOKEN: &str = "tk_V3ryS3cret";

fn run_with(config: &std::path::Path) -> anyhow::Result<(i32, String)> {
    let out = Command::new(NOTIFIER)
        .arg("--config")
        .arg(config)
        .env_remove("PAGEFEED_CONFIG")
        .output()?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_errors_name_the_field_and_secrets_stay_out() -> anyhow::Result<()> {
    let mut system = Services::start().await?;
    let url = system.nats_url();
    let path = system.config_path().to_owned();
    let refused = |extra: &str| -> anyhow::Result<String> {
        std::fs::write(&path, config(&url, extra))?;
        let (code, stderr) = run_with(&path)?;
        assert_eq!(code, 2, "{stderr}");
        assert!(
            !stderr.contains(TOKEN) && !stderr.contains("s3cret-path"),
            "{stderr}"
        );
        Ok(stderr)
    };
    let stderr = refused(&format!(
        "{}\n[[notify]]\nname = \"ops\"\nntfy = \"http://127.0.0.1:9/s3cret-path\"\ntoken = \"{TOKEN}\"\n",
        webhook("ops", "http://127.0.0.1:9/s3cret-path")
    ))?;
    assert!(
        stderr.contains("`notify.ops.name`") && stderr.contains("duplicate"),
        "{stderr}"
    );
    let stderr = refused(
        "[[notify]]\nname = \"ops\"\nwebhook = \"http://127.0.0.1:9/s3cret-path\"\nntfy = \"http://127.0.0.1:9/s3cret-path\"\n",
    )?;
    assert!(stderr.contains("`notify.ops.ntfy`"), "{stderr}");
    let stderr = refused("[[notify]]\nname = \"ops\"\nwebhook = \"file:///s3cret-path\"\n")?;
    assert!(stderr.contains("`notify.ops.webhook`"), "{stderr}");
    let stderr = refused(&format!(
        "[[notify]]\nname = \"ops\"\nwebhook = \"http://127.0.0.1:9/s3cret-path\"\ntoken = \"{TOKEN}\"\n"
    ))?;
    assert!(stderr.contains("`notify.ops.token`"), "{stderr}");
    let stderr = refused("")?;
    assert!(stderr.contains("no [[notify]] destination"), "{stderr}");

    // A destination that refuses everything, watched at debug level.
    let refusing = Receiver::start(|_, _| Answer::Status(401)).await?;
    let cfg = system.write_config(&config(
        &url,
        &format!(
            "{QUICK}\n[[notify]]\nname = \"phone\"\nntfy = \"{}\"\ntoken = \"{TOKEN}\"\n",
            refusing.url
        ),
    ))?;
    let js = system.jetstream().await?;
    ensure_streams(&js, &cfg).await?;
    let status_url = start_notifier(&mut system, "notifier-1", &[])?;
    let command = system["notifier-1"]
        .command()
        .clone()
        .env("RUST_LOG", "debug");
    system["notifier-1"].restart_as(command)?;
    system.wait_ready(PATIENCE).await?;
    wait_following(&status_url).await?;
    publish_events(&js, &[entry(9, 1)]).await?;
    let status = wait_for(PATIENCE, "two failed attempts", || async {
        let Some(status) = status(&status_url).await else {
            return Ok(None);
        };
        Ok((figure(&status, "phone", "failed_attempts") >= 2).then_some(status))
    })
    .await?;
    assert!(refusing
        .received()
        .iter()
        .all(|r| r.header("authorization") == Some(&format!("Bearer {TOKEN}"))));
    let metrics = pagefeed_testkit::projector_api::http_client()
        .get(status_url.replace("/status", "/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let log = system["notifier-1"].log();
    assert!(log.contains("destination=phone"), "{log}");
    assert!(log.contains("HTTP 401"), "{log}");
    for (what, text) in [
        ("log", log),
        ("status", status.to_string()),
        ("metrics", metrics),
    ] {
        assert!(!text.contains(TOKEN), "the token in the {what}: {text}");
        assert!(
            !text.contains("s3cret-path"),
            "the URL in the {what}: {text}"
        );
    }
    Ok(())
}
