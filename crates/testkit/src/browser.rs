//! A real browser for the web view's tests: Debian's Chromium, headless,
//! driven through WebDriver (fantoccini) by chromedriver, which runs as a
//! child process on a free loopback port, in a process group of its own
//! that is killed on drop (Chromium with it); a fresh profile in a TempDir;
//! screenshots saved as PNG files.
//!
//! Missing binaries or a browser that does not start are errors naming
//! the fix (`apt-get install -y chromium chromium-driver`), never a skip.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use tempfile::TempDir;

use crate::nats::free_port;

/// Where Debian's chromium-driver puts chromedriver; `PAGEFEED_CHROMEDRIVER` overrides it.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Where Debian's chromium puts the browser; `PAGEFEED_CHROMIUM` overrides it.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// The flags Chromium runs with: headless, and nothing of its own on the
/// network (no background updates, sync or component downloads).
const CHROMIUM_FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
];

/// How to install what is missing.
const INSTALL_HINT: &str = "install them with `apt-get install -y chromium chromium-driver` \
     (scripts/test.sh does, as root), or name others in PAGEFEED_CHROMEDRIVER and PAGEFEED_CHROMIUM";

/// The path in environment variable `var`, else `default`.
fn binary(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

/// chromedriver, in a process group of its own, killed with its browser on drop.
struct Driver {
    child: Child,
    log: PathBuf,
}

impl Driver {
    fn log_tail(&self) -> String {
        crate::logs::tail(&self.log, 20)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: chromedriver and the browser it started.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session; see the module documentation.
pub struct Browser {
    client: Client,
    // Dropped after the client: the driver first, then the profile.
    driver: Driver,
    dir: TempDir,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and a browser session
    /// with a fresh profile. Fails, saying why and how to fix it, when
    /// either cannot start.
    pub async fn start() -> anyhow::Result<Browser> {
        let chromedriver = binary("PAGEFEED_CHROMEDRIVER", CHROMEDRIVER);
        let chromium = binary("PAGEFEED_CHROMIUM", CHROMIUM);
        Browser::start_with(&chromedriver, &chromium).await
    }

    /// [`Browser::start`] with these binaries.
    pub async fn start_with(chromedriver: &Path, chromium: &Path) -> anyhow::Result<Browser> {
        for path in [chromedriver, chromium] {
            anyhow::ensure!(
                path.is_file(),
                "the browser tests need {}, which is missing: {INSTALL_HINT}",
                path.display()
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("pagefeed-browser-")
            .tempdir()?;
        let mut last_error = None;
        // A free port may be taken before chromedriver binds it: try again.
        for _ in 0..3 {
            let port = free_port()?;
            let driver = spawn_driver(chromedriver, port, dir.path())?;
            match ready(driver, port).await {
                Ok(driver) => {
                    let client = session(chromium, port, dir.path()).await.with_context(|| {
                        format!(
                            "the browser ({}) did not start; chromedriver's log:\n{}",
                            chromium.display(),
                            driver.log_tail()
                        )
                    })?;
                    return Ok(Browser {
                        client,
                        driver,
                        dir,
                    });
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("chromedriver did not start")))
    }

    /// The WebDriver session.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Resizes the browser's window (the viewport a page lays out in).
    pub async fn resize(&self, width: u32, height: u32) -> anyhow::Result<()> {
        self.client.set_window_size(width, height).await?;
        Ok(())
    }

    /// Saves a PNG of the viewport to `path` and returns it.
    pub async fn screenshot(&self, path: impl AsRef<Path>) -> anyhow::Result<PathBuf> {
        let png = self.client.screenshot().await?;
        let path = path.as_ref().to_owned();
        std::fs::write(&path, png).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    /// The text of every element `css` selects, in document order.
    pub async fn texts(&self, css: &str) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        for element in self.client.find_all(Locator::Css(css)).await? {
            out.push(element.text().await?);
        }
        Ok(out)
    }

    /// Attribute `name` of every element `css` selects (as written in the
    /// page, not resolved), in document order; `None` where it is absent.
    pub async fn attrs(&self, css: &str, name: &str) -> anyhow::Result<Vec<Option<String>>> {
        let mut out = Vec::new();
        for element in self.client.find_all(Locator::Css(css)).await? {
            out.push(element.attr(name).await?);
        }
        Ok(out)
    }

    /// Clicks the element `css` selects and waits until the browser has
    /// left the page it was on for one at `path` ([`Browser::wait_left`]).
    pub async fn click_to(&self, css: &str, path: &str) -> anyhow::Result<url::Url> {
        let before = self.client.current_url().await?;
        self.client.find(Locator::Css(css)).await?.click().await?;
        self.wait_left(&before, path).await
    }

    /// Waits (up to 10 s) until the browser has left `before` for a page at
    /// `path`, and returns its URL.
    pub async fn wait_left(&self, before: &url::Url, path: &str) -> anyhow::Result<url::Url> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let url = self.client.current_url().await?;
            if url != *before && url.path() == path {
                return Ok(url);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the browser went from {before} to {url}, not to {path}, within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Presses Tab from the top of the page until the element with `id`
    /// has the focus (at most `presses` times), as a person at a keyboard
    /// would; returns that element.
    pub async fn tab_to(
        &self,
        id: &str,
        presses: usize,
    ) -> anyhow::Result<fantoccini::elements::Element> {
        let tab = Key::Tab.to_string();
        self.client
            .find(Locator::Css("body"))
            .await?
            .send_keys(&tab)
            .await?;
        for _ in 0..presses {
            let focused = self.client.active_element().await?;
            if focused.attr("id").await?.as_deref() == Some(id) {
                return Ok(focused);
            }
            focused.send_keys(&tab).await?;
        }
        anyhow::bail!("#{id} did not get the focus after {presses} presses of Tab")
    }

    /// The directory of the browser's profile and chromedriver's log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Ends the session (the browser quits), then chromedriver.
    pub async fn close(self) -> anyhow::Result<()> {
        let Browser {
            client,
            driver,
            dir,
        } = self;
        let closed = client.close().await;
        drop(driver);
        drop(dir);
        closed.context("closing the browser session")
    }
}

fn spawn_driver(chromedriver: &Path, port: u16, dir: &Path) -> anyhow::Result<Driver> {
    let log = dir.join(format!("chromedriver-{port}.log"));
    let out = std::fs::File::create(&log)?;
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .arg(format!("--log-path={}", log.display()))
        .stdout(Stdio::null())
        .stderr(out)
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot run {}: {INSTALL_HINT}", chromedriver.display()))?;
    Ok(Driver { child, log })
}

/// `driver` once its `/status` says it is ready.
async fn ready(mut driver: Driver, port: u16) -> anyhow::Result<Driver> {
    let url = format!("http://127.0.0.1:{port}/status");
    let http = crate::projector_api::http_client();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(exit) = driver.child.try_wait()? {
            anyhow::bail!(
                "chromedriver exited ({exit}) before answering on port {port}:\n{}",
                driver.log_tail()
            );
        }
        if let Ok(answer) = http.get(&url).timeout(Duration::from_secs(2)).send().await {
            let status: serde_json::Value = answer.json().await.unwrap_or_default();
            if status["value"]["ready"] == true {
                return Ok(driver);
            }
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "chromedriver did not answer on port {port} within 20 s:\n{}",
                driver.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn session(chromium: &Path, port: u16, dir: &Path) -> anyhow::Result<Client> {
    let profile = dir.join("profile");
    let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| (*f).to_owned()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".into(), "chrome".into());
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "binary": chromium, "args": args }),
    );
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await?;
    Ok(client)
}

/// `<temp dir>/pagefeed-screenshots/<test>`, emptied: where a test saves
/// its screenshots, kept after the test for a person to look at (each run
/// replaces the last run's).
pub fn screenshot_dir(test: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join("pagefeed-screenshots").join(test);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot empty {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}
