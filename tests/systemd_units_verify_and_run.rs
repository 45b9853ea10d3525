//! The systemd units in `deploy/systemd/` are valid for systemd
//! (`systemd-analyze verify` finds nothing to say about any of them), and
//! the command line each one runs works: the units' own `ExecStart` lines,
//! with their environment, instance names and state directories filled in
//! as systemd would, start a whole system that crawls a page into the
//! projector's replica.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context as _};
use pagefeed_testkit::config::{config_text, id_site};
use pagefeed_testkit::nats::{free_port, nats_server_bin};
use pagefeed_testkit::process::{Process, ServiceCommand};
use pagefeed_testkit::projector_api::{free_http, http_client, try_status};
use pagefeed_testkit::services::workspace_bin;
use pagefeed_testkit::wait::wait_for;

fn units_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/systemd")
}

/// Every unit file in `deploy/systemd/`, by file name.
fn units() -> anyhow::Result<BTreeMap<String, String>> {
    let mut units = BTreeMap::new();
    for entry in std::fs::read_dir(units_dir())? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "service") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            units.insert(name, std::fs::read_to_string(&path)?);
        }
    }
    Ok(units)
}

/// Where the units expect a program (`/usr/local/bin/NAME`), the program
/// this test runs instead: the workspace's binaries, the pinned nats-server.
fn program(name: &str) -> anyhow::Result<PathBuf> {
    match name {
        "nats-server" => nats_server_bin(),
        _ => Ok(workspace_bin(name)),
    }
}

/// `systemd-analyze verify` on copies of `units` (templates instantiated as
/// `NAME@test`) whose `/usr/local/bin/` programs exist: what it printed.
fn verify(units: &BTreeMap<String, String>) -> anyhow::Result<String> {
    let dir = tempfile::tempdir()?;
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin)?;
    let mut files = Vec::new();
    for (name, text) in units {
        for program_name in programs(text) {
            let link = bin.join(&program_name);
            if !link.exists() {
                std::os::unix::fs::symlink(program(&program_name)?, &link)?;
            }
        }
        let file = dir.path().join(name.replace("@.", "@test."));
        let text = text.replace("/usr/local/bin/", &format!("{}/", bin.display()));
        std::fs::write(&file, text)?;
        files.push(file);
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&files)
        .output()
        .context(
            "cannot run systemd-analyze (Debian's package systemd): the units cannot be checked",
        )?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() && said.trim().is_empty() {
        bail!("systemd-analyze verify failed with {}", out.status);
    }
    Ok(said)
}

/// The programs a unit runs from `/usr/local/bin/`.
fn programs(unit: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.strip_prefix("ExecStart="))
        .filter_map(|cmd| cmd.split_whitespace().next())
        .filter_map(|p| p.strip_prefix("/usr/local/bin/"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_unit_passes_systemd_analyze_verify() -> anyhow::Result<()> {
    let units = units()?;
    for expected in [
        "nats-server.service",
        "pagefeed-scheduler.service",
        "pagefeed-fetcher@.service",
        "pagefeed-projector@.service",
        "pagefeed-notifier.service",
    ] {
        assert!(units.contains_key(expected), "{expected} is missing");
    }
    let said = verify(&units)?;
    assert!(
        said.trim().is_empty(),
        "systemd-analyze verify said:\n{said}"
    );

    // The check is live: a unit with a misspelt key does not pass.
    let mut broken = BTreeMap::new();
    let scheduler = &units["pagefeed-scheduler.service"];
    broken.insert(
        "pagefeed-scheduler.service".to_owned(),
        scheduler.replace("Restart=", "Restartt="),
    );
    let said = verify(&broken)?;
    assert!(
        said.contains("Restartt"),
        "a misspelt key went unnoticed: {said:?}"
    );
    Ok(())
}

/// What systemd would run for `unit` (instance `instance`): its
/// `ExecStart` words after expanding `%i`, `${VAR}` from its
/// `Environment=` lines and `${STATE_DIRECTORY}`, and the paths that are
/// the machine's (`/usr/local/bin/`, `/etc/pagefeed/`) replaced by the
/// test's.
fn exec_start(
    unit: &str,
    instance: &str,
    state: &Path,
    paths: &[(&str, &Path)],
    env_file: &[(&str, String)],
) -> anyhow::Result<Vec<String>> {
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    vars.insert("STATE_DIRECTORY".into(), state.display().to_string());
    let mut exec = None;
    for line in unit.lines() {
        if let Some(assignment) = line.strip_prefix("Environment=") {
            let (key, value) = assignment.split_once('=').context("Environment=K=V")?;
            vars.insert(key.to_owned(), value.to_owned());
        } else if let Some(cmd) = line.strip_prefix("ExecStart=") {
            exec = Some(cmd.to_owned());
        }
    }
    // An EnvironmentFile= is read after the Environment= lines.
    for (key, value) in env_file {
        vars.insert((*key).to_owned(), value.clone());
    }
    let mut cmd = exec.context("no ExecStart=")?.replace("%i", instance);
    for (key, value) in &vars {
        cmd = cmd.replace(&format!("${{{key}}}"), value);
    }
    for (from, to) in paths {
        cmd = cmd.replace(from, &to.display().to_string());
    }
    Ok(cmd.split_whitespace().map(str::to_owned).collect())
}

fn start(name: &str, words: &[String], logs: &Path) -> anyhow::Result<Process> {
    let program = program(
        words[0]
            .strip_prefix("/usr/local/bin/")
            .with_context(|| format!("{name} runs {} instead of /usr/local/bin/…", words[0]))?,
    )?;
    Process::start(
        ServiceCommand::new(name, program).args(&words[1..]),
        logs.join(format!("{name}.log")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_units_command_lines_run_a_crawl() -> anyhow::Result<()> {
    let units = units()?;
    let dir = tempfile::tempdir()?;
    let logs = dir.path();

    // nats-server as its unit runs it, on a config like deploy/nats's with
    // the test's own ports.
    let nats_port = free_port()?;
    let nats_conf = dir.path().join("nats-server.conf");
    std::fs::write(
        &nats_conf,
        format!("server_name: units-test\nlisten: 127.0.0.1:{nats_port}\njetstream {{}}\n"),
    )?;
    let nats_state = dir.path().join("nats");
    std::fs::create_dir(&nats_state)?;
    let nats_words = exec_start(
        &units["nats-server.service"],
        "",
        &nats_state,
        &[("/etc/pagefeed/nats-server.conf", &nats_conf)],
        &[],
    )?;
    let _nats = start("nats-server", &nats_words, logs)?;
    let nats_url = format!("nats://127.0.0.1:{nats_port}");

    // The sample site, and the one config file every service reads.
    let site = free_http()?;
    let _site = Process::start(
        ServiceCommand::new("sample-site", workspace_bin("pagefeed-sample-site"))
            .args(["--listen", &site.to_string()]),
        logs.join("sample-site.log"),
    )?;
    let url = format!("http://{site}/recent_page_feed?page_id={{id}}");
    let config = dir.path().join("pagefeed.toml");
    std::fs::write(
        &config,
        config_text(&nats_url, "", "", &[id_site("sample", &url, 1, 3, 3, "2s")]),
    )?;
    let etc: &[(&str, &Path)] = &[("/etc/pagefeed/pagefeed.toml", &config)];

    let http = free_http()?;
    let projector_state = dir.path().join("projector-a");
    std::fs::create_dir(&projector_state)?;
    let mut running = Vec::new();
    for (unit, instance, state, env_file) in [
        ("pagefeed-scheduler.service", "", dir.path(), vec![]),
        ("pagefeed-fetcher@.service", "1", dir.path(), vec![]),
        (
            "pagefeed-projector@.service",
            "a",
            projector_state.as_path(),
            vec![("PAGEFEED_HTTP", http.to_string())],
        ),
    ] {
        let words = exec_start(&units[unit], instance, state, etc, &env_file)?;
        running.push(start(unit, &words, logs)?);
    }

    let client = http_client();
    let crawled = wait_for(
        Duration::from_secs(60),
        "the projector applied a crawl",
        || {
            let client = client.clone();
            async move {
                Ok(try_status(&client, http)
                    .await
                    .filter(|s| s.applied_seq > 0)
                    .map(|_| ()))
            }
        },
    )
    .await;
    if crawled.is_err() {
        for process in &mut running {
            eprintln!("--- {} ---\n{}", process.name(), process.log_tail(20));
        }
    }
    crawled?;
    for process in &mut running {
        process.check_running()?;
    }
    assert!(
        projector_state.read_dir()?.next().is_some(),
        "the projector keeps its replica in its unit's state directory"
    );
    assert!(
        nats_state.join("jetstream").is_dir(),
        "nats-server keeps its store in its unit's state directory"
    );
    Ok(())
}
