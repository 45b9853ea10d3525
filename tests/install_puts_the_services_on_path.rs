//! `scripts/install.sh --systemd PREFIX`, staged under `DESTDIR` with the
//! binaries this test run built: every service and the pinned nats-server
//! land in PREFIX/bin and run from there by name; the units land beside
//! `/etc/pagefeed`'s files and name PREFIX/bin's programs, and systemd
//! finds nothing to say about them.

use std::path::Path;
use std::process::Command;

use pagefeed_testkit::nats::nats_server_bin;
use pagefeed_testkit::services::workspace_bin;

/// The services, installed; the project's own tools are not.
const SERVICES: [&str; 5] = [
    "pagefeed-scheduler",
    "pagefeed-fetcher",
    "pagefeed-projector",
    "pagefeed-notifier",
    "pagefeed-admin",
];

const PREFIX: &str = "/opt/pagefeed-test";

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn install_puts_the_services_on_path_and_the_units_beside_them() {
    let stage = tempfile::tempdir().unwrap();
    let bins = workspace_bin("pagefeed-scheduler");
    let nats = nats_server_bin().unwrap();
    let out = Command::new("bash")
        .arg(repo().join("scripts/install.sh"))
        .args(["--systemd", PREFIX])
        .env("DESTDIR", stage.path())
        .env("PAGEFEED_BIN_DIR", bins.parent().unwrap())
        // deploy/nats/install.sh takes the first good nats-server on PATH.
        .env(
            "PATH",
            format!(
                "{}:{}",
                nats.parent().unwrap().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "install.sh failed: {said}");

    let bin = stage
        .path()
        .join(PREFIX.trim_start_matches('/'))
        .join("bin");
    let mut installed: Vec<String> = std::fs::read_dir(&bin)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    installed.sort();
    let mut expected: Vec<String> = SERVICES.iter().map(|s| s.to_string()).collect();
    expected.push("nats-server".into());
    expected.sort();
    assert_eq!(installed, expected, "{said}");

    // By name, from PATH, as the README's commands run them.
    let path = format!("{}:/usr/bin:/bin", bin.display());
    for name in SERVICES.iter().chain(&["nats-server"]) {
        let out = Command::new(name)
            .arg("--version")
            .env("PATH", &path)
            .output()
            .unwrap_or_else(|e| panic!("{name} from {}: {e}", bin.display()));
        assert!(out.status.success(), "{name} --version: {out:?}");
    }

    let units = stage.path().join("etc/systemd/system");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(repo().join("deploy/systemd")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !name.ends_with(".service") {
            continue;
        }
        let text = std::fs::read_to_string(units.join(&name))
            .unwrap_or_else(|e| panic!("{name} was not installed: {e}"));
        let exec = text
            .lines()
            .find(|l| l.starts_with("ExecStart="))
            .unwrap_or_else(|| panic!("{name} has no ExecStart"));
        assert!(
            exec.starts_with(&format!("ExecStart={PREFIX}/bin/")),
            "{name}: {exec}"
        );
        assert!(
            !text.contains("/usr/local/"),
            "{name} still names /usr/local"
        );
        names.push(name);
    }
    assert!(names.len() >= 5, "{names:?}");
    let config = stage.path().join("etc/pagefeed/pagefeed.toml");
    pagefeed_events::config::Config::load(&config).expect("the installed config loads");
    assert!(stage.path().join("etc/pagefeed/nats-server.conf").is_file());

    // What systemd finds in them, with PREFIX where it was staged (and
    // templates instantiated): the programs they name are the ones
    // installed.
    let check = tempfile::tempdir().unwrap();
    let staged_prefix = stage.path().join(PREFIX.trim_start_matches('/'));
    let mut files = Vec::new();
    for name in &names {
        let text = std::fs::read_to_string(units.join(name))
            .unwrap()
            .replace(PREFIX, &staged_prefix.display().to_string());
        let file = check.path().join(name.replace("@.", "@test."));
        std::fs::write(&file, text).unwrap();
        files.push(file);
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&files)
        .output()
        .expect("systemd-analyze (Debian's package systemd)");
    let verified = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && verified.trim().is_empty(),
        "systemd-analyze verify: {verified}"
    );
}
