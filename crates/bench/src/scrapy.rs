//! `pagefeed-bench scrapy`: one pagefeed fetcher against Scrapy, the same
//! pages, the same selectors, in the same run. nginx serves two workloads
//! from a temporary root on one core: a copy of the sample site's pages, and
//! real pages nobody here wrote (the HTML documentation of a Debian package,
//! python3-doc by default). On the other core, Scrapy crawls each workload,
//! then one fetcher crawls it end to end through a fresh nats-server (pinned
//! with nginx). What Scrapy extracted is compared page by page with what
//! pagefeed's extractor gives on the same bytes. See docs/BENCHMARKS.md,
//! "pagefeed against Scrapy".

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use futures::{StreamExt as _, TryStreamExt as _};
use pagefeed_events::config::{Extract, Pages};
use pagefeed_events::Config;
use pagefeed_fetcher::decode::decode;
use pagefeed_fetcher::extract::{Extractor, Limits, Page};
use pagefeed_fetcher::http::{FetchSettings, HttpClient, Outcome, Validators};
use pagefeed_fetcher::policy::AddressPolicy;
use pagefeed_testkit::sample_site::{page_kind, PageKind};

use crate::fetcher::{Bench, Run, Served, SITE};
use crate::procs::{
    cpu_time, Binaries, Child, Machine, Pinning, SampleSiteProcess, CLIENT_CORE, SERVER_CORE,
};
use crate::report::{heading, kib_to_mb, thousands};

/// The spider Scrapy runs.
const SPIDER: &str = include_str!("../scrapy/spider.py");

/// What `--setup` runs, in one shell command.
pub const SETUP: &str = "apt-get install -y nginx python3-doc && \
     python3 -m venv /tmp/pagefeed-scrapy && /tmp/pagefeed-scrapy/bin/pip install scrapy";

/// `pagefeed-bench scrapy` options.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Pages of the sample site copied for nginx to serve.
    #[arg(long, default_value_t = 5_000, value_name = "N")]
    pub pages: usize,
    /// Where the real pages are: every `.html` file below it of at least
    /// --min-bytes (and at most the fetcher's body cap) is served.
    #[arg(
        long,
        default_value = "/usr/share/doc/python3.11/html",
        value_name = "DIR"
    )]
    pub real_dir: PathBuf,
    /// The smallest real page served, in bytes.
    #[arg(long, default_value_t = 30_000, value_name = "BYTES")]
    pub min_bytes: u64,
    /// The Python that has Scrapy.
    #[arg(
        long,
        default_value = "/tmp/pagefeed-scrapy/bin/python",
        value_name = "PATH"
    )]
    pub python: PathBuf,
    /// Requests in flight, for Scrapy and the fetcher alike.
    #[arg(long, default_value_t = 64, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub concurrency: usize,
    /// Runs the setup first: `apt-get install -y nginx python3-doc`, and
    /// Scrapy from PyPI into a virtualenv at /tmp/pagefeed-scrapy.
    #[arg(long)]
    pub setup: bool,
    /// Only these workloads (comma separated; default: both).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "WORKLOADS")]
    pub only: Vec<Workload>,
    /// Keeps the logs and the served pages (their directory is printed).
    #[arg(long)]
    pub keep_logs: bool,
}

/// The pages a run serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Workload {
    /// A copy of the sample site's pages.
    Sample,
    /// Real documentation pages.
    Real,
}

impl Workload {
    fn dir(self) -> &'static str {
        match self {
            Workload::Sample => "sample",
            Workload::Real => "real",
        }
    }

    /// The `[site.extract]` both crawlers use.
    fn extract(self) -> Extract {
        match self {
            Workload::Sample => pagefeed_testkit::config::sample_extract(),
            // Section headings, each with its permalink: every page of
            // Sphinx documentation has at least one.
            Workload::Real => Extract {
                title: "title".into(),
                entry: "h1, h2, h3".into(),
                text: None,
                timestamp: None,
                timestamp_format: None,
                link: Some("a.headerlink".into()),
            },
        }
    }

    fn extract_toml(self) -> String {
        match self {
            Workload::Sample => pagefeed_testkit::config::SAMPLE_EXTRACT.to_owned(),
            Workload::Real => "[site.extract]\ntitle = \"title\"\nentry = \"h1, h2, h3\"\n\
                               link = \"a.headerlink\"\n"
                .to_owned(),
        }
    }
}

/// One crawler's figures over one workload.
struct Crawl {
    pages: u64,
    seconds: f64,
    cpu_seconds: f64,
    peak_rss_kib: u64,
}

impl Crawl {
    fn pages_per_sec(&self) -> f64 {
        self.pages as f64 / self.seconds
    }

    fn pages_per_cpu_sec(&self) -> f64 {
        self.pages as f64 / self.cpu_seconds
    }
}

/// One workload's results.
struct Compared {
    workload: Workload,
    pages: usize,
    bytes: u64,
    /// Pages left out: pagefeed found no entry on them.
    left_out: usize,
    scrapy: Crawl,
    pagefeed: Crawl,
    /// Pages whose title and entries (text, link) Scrapy and pagefeed agree on.
    identical: usize,
    /// A few of the differences, for the report.
    differences: Vec<String>,
}

/// What one page shows, as both crawlers report it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
struct Shown {
    title: String,
    entries: Vec<ShownEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
struct ShownEntry {
    text: String,
    link: Option<String>,
}

impl From<&Page> for Shown {
    fn from(page: &Page) -> Shown {
        Shown {
            title: page.title.clone(),
            entries: page
                .entries
                .iter()
                .map(|e| ShownEntry {
                    text: e.text.clone(),
                    link: e.link.clone(),
                })
                .collect(),
        }
    }
}

/// A line of the spider's output.
#[derive(serde::Deserialize)]
struct ScrapyPage {
    url: String,
    #[serde(flatten)]
    shown: Shown,
}

/// The spider's own figures.
#[derive(serde::Deserialize)]
struct ScrapyStats {
    pages: u64,
    seconds: f64,
    cpu_seconds: f64,
    peak_rss_kib: u64,
}

pub async fn run(options: Options, machine: Machine, pins: Pinning) -> anyhow::Result<()> {
    if options.setup {
        let status = Command::new("sh").args(["-c", SETUP]).status()?;
        anyhow::ensure!(status.success(), "the setup failed ({status}): {SETUP}");
    }
    let nginx = which("nginx").context("nginx is missing: run with --setup")?;
    anyhow::ensure!(
        options.python.is_file(),
        "{} is missing: run with --setup",
        options.python.display()
    );
    let bins = Binaries::locate()?;
    let work = tempfile::Builder::new()
        .prefix("pagefeed-bench-scrapy-")
        .tempdir()?;
    let root = work.path().join("www");
    let workloads: Vec<Workload> = [Workload::Sample, Workload::Real]
        .into_iter()
        .filter(|w| options.only.is_empty() || options.only.contains(w))
        .collect();

    let mut files = HashMap::new();
    for &workload in &workloads {
        let dir = root.join(workload.dir());
        std::fs::create_dir_all(&dir)?;
        let count = match workload {
            Workload::Sample => {
                copy_sample_pages(&bins, &pins, &dir, options.pages, work.path()).await?
            }
            Workload::Real => copy_real_pages(&options.real_dir, options.min_bytes, &dir)?,
        };
        eprintln!("{count} {} pages in {}", workload.dir(), dir.display());
        files.insert(workload, count);
    }

    let server = Nginx::start(&nginx, &pins, work.path(), &root)?;
    let mut results = Vec::new();
    for &workload in &workloads {
        let count = files[&workload];
        let compared = compare(
            &options,
            &bins,
            &pins,
            &server,
            workload,
            count,
            work.path(),
        )
        .await
        .with_context(|| format!("the {} workload", workload.dir()))?;
        results.push(compared);
    }
    let nginx_cpu = cpu_time(server.child.pid())?;
    drop(server);
    print!(
        "{}",
        render(&machine, pins.enabled(), &options, &results, nginx_cpu)
    );
    if options.keep_logs {
        eprintln!("logs and pages kept in {}", work.keep().display());
    }
    Ok(())
}

/// `name` on the `PATH`, or in the sbin directories a non-root `PATH` lacks.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Saves `pages` normal pages of a sample site as `1.html` ... in `dir`,
/// as the site served them at one instant.
async fn copy_sample_pages(
    bins: &Binaries,
    pins: &Pinning,
    dir: &Path,
    pages: usize,
    logs: &Path,
) -> anyhow::Result<usize> {
    let site = SampleSiteProcess::start(bins, pins, 0, logs)?;
    // reqwest is built without a default TLS provider; plain HTTP here.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let ids: Vec<u64> = (1..)
        .filter(|&id| page_kind(id) == PageKind::Normal)
        .take(pages)
        .collect();
    futures::stream::iter(ids.iter().enumerate())
        .map(|(i, id)| {
            let url = site.url_template.replace("{id}", &id.to_string());
            let client = client.clone();
            let file = dir.join(format!("{}.html", i + 1));
            async move {
                let body = client
                    .get(&url)
                    .send()
                    .await?
                    .error_for_status()?
                    .bytes()
                    .await?;
                tokio::fs::write(&file, body).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
    site.stop()?;
    Ok(ids.len())
}

/// Copies every `.html` file below `from` of `min_bytes` up to the body cap
/// as `1.html` ... in `dir`, in path order.
fn copy_real_pages(from: &Path, min_bytes: u64, dir: &Path) -> anyhow::Result<usize> {
    let cap = pagefeed_events::config::FetcherConfig::default().max_body_bytes as u64;
    let mut found = Vec::new();
    let mut stack = vec![from.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d)
            .with_context(|| format!("cannot read {}: run with --setup", d.display()))?;
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            let meta = std::fs::metadata(&path)?;
            if meta.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "html")
                && (min_bytes..=cap).contains(&meta.len())
            {
                found.push(path);
            }
        }
    }
    found.sort();
    anyhow::ensure!(
        !found.is_empty(),
        "no .html file of {min_bytes} bytes or more below {}",
        from.display()
    );
    for (i, path) in found.iter().enumerate() {
        std::fs::copy(path, dir.join(format!("{}.html", i + 1)))?;
    }
    Ok(found.len())
}

/// nginx on [`SERVER_CORE`], one process, serving `root` on a loopback port
/// of its own; killed when dropped.
struct Nginx {
    child: Child,
    base: String,
}

impl Nginx {
    fn start(nginx: &Path, pins: &Pinning, work: &Path, root: &Path) -> anyhow::Result<Nginx> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let dir = work.join("nginx");
        std::fs::create_dir_all(dir.join("logs"))?;
        let conf = dir.join("nginx.conf");
        let d = dir.display();
        std::fs::write(
            &conf,
            format!(
                "daemon off;\nmaster_process off;\nworker_processes 1;\n\
                 pid {d}/nginx.pid;\nerror_log {d}/logs/error.log warn;\n\
                 events {{ worker_connections 1024; }}\n\
                 http {{\n  access_log off;\n  types {{ text/html html; }}\n\
                 default_type application/octet-stream;\n  sendfile on;\n\
                 keepalive_requests 1000000;\n\
                 client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
                 fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n\
                 scgi_temp_path {d}/scgi;\n\
                 server {{\n    listen 127.0.0.1:{port};\n    root {};\n  }}\n}}\n",
                root.display()
            ),
        )?;
        let mut command = pins.command(SERVER_CORE, &[], nginx);
        command.arg("-p").arg(&dir).arg("-c").arg(&conf);
        let mut child = Child::spawn("nginx", command, dir.join("logs/stderr.log"), false)?;
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            child.check_running()?;
            if Instant::now() > deadline {
                bail!("nginx did not listen on {base} within 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Nginx { child, base })
    }
}

/// One workload: pagefeed's extraction of every page (the reference), then
/// Scrapy, then one fetcher end to end, then the comparison.
async fn compare(
    options: &Options,
    bins: &Binaries,
    pins: &Pinning,
    server: &Nginx,
    workload: Workload,
    count: usize,
    work: &Path,
) -> anyhow::Result<Compared> {
    let template = format!("{}/{}/{{id}}.html", server.base, workload.dir());
    let site_toml = |ids: &[u64]| {
        let last = ids.last().copied().unwrap_or(1);
        format!(
            "[[site]]\nname = \"{SITE}\"\nurl = \"{template}\"\nids = {{ first = 1, last = {last} }}\n\
             batch = {last}\ninterval = \"1h\"\nretention = \"7d\"\ntimezone = \"{}\"\n{}",
            pagefeed_testkit::sample_site::TIMEZONE.name(),
            workload.extract_toml()
        )
    };
    let all: Vec<u64> = (1..=count as u64).collect();
    eprintln!(
        "{}: pagefeed's extraction of every page ...",
        workload.dir()
    );
    let reference = extract_all(&site_toml(&all), options.concurrency).await?;
    // A page where pagefeed finds no entry would end as a failure event
    // after retries: left out of both crawls.
    let ids: Vec<u64> = all
        .iter()
        .copied()
        .filter(|id| reference[id].1.is_some())
        .collect();
    let left_out = all.len() - ids.len();
    anyhow::ensure!(!ids.is_empty(), "pagefeed finds no entry on any page");
    let bytes: u64 = ids.iter().map(|id| reference[id].0).sum();
    // One event per distinct entry (an entry's message id is its page and
    // its id), and the page's.
    let events: u64 = ids
        .iter()
        .filter_map(|id| reference[id].1.as_ref())
        .map(|page| {
            let distinct: HashSet<&str> = page.entries.iter().map(|e| e.id.as_str()).collect();
            distinct.len() as u64 + 1
        })
        .sum();

    eprintln!("{}: Scrapy, {} pages ...", workload.dir(), ids.len());
    let dir = work.join(format!("scrapy-{}", workload.dir()));
    std::fs::create_dir_all(&dir)?;
    let urls = dir.join("urls.txt");
    let url_of = |id: u64| template.replace("{id}", &id.to_string());
    let mut listing = String::new();
    for &id in &ids {
        let _ = writeln!(listing, "{}", url_of(id));
    }
    std::fs::write(&urls, listing)?;
    let spider = dir.join("spider.py");
    std::fs::write(&spider, SPIDER)?;
    let (out, stats) = (dir.join("out.jsonl"), dir.join("stats.json"));
    let extract = workload.extract();
    let max_text = Limits::default().max_entry_text_bytes;
    let mut command = pins.command(CLIENT_CORE, &[], &options.python);
    command
        .arg(&spider)
        .arg(&urls)
        .arg(&out)
        .arg(&stats)
        .arg(&extract.title)
        .arg(&extract.entry)
        .arg(extract.text.as_deref().unwrap_or("-"))
        .arg(extract.link.as_deref().unwrap_or("-"))
        .arg(options.concurrency.to_string())
        .arg(max_text.to_string());
    let status = command
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.join("scrapy.log"))?)
        .status()
        .context("cannot run Scrapy")?;
    anyhow::ensure!(
        status.success(),
        "Scrapy exited with {status}:\n{}",
        pagefeed_testkit::logs::tail(&dir.join("scrapy.log"), 30)
    );
    let stats: ScrapyStats = serde_json::from_str(&std::fs::read_to_string(&stats)?)?;
    anyhow::ensure!(
        stats.pages == ids.len() as u64,
        "Scrapy got {} pages of {}",
        stats.pages,
        ids.len()
    );
    let scrapy = Crawl {
        pages: stats.pages,
        seconds: stats.seconds,
        cpu_seconds: stats.cpu_seconds,
        peak_rss_kib: stats.peak_rss_kib,
    };
    eprintln!(
        "  {:.0} pages/s, {:.0} pages per CPU-second",
        scrapy.pages_per_sec(),
        scrapy.pages_per_cpu_sec()
    );

    eprintln!("{}: one fetcher end to end ...", workload.dir());
    let served = Served {
        url_template: template.clone(),
        pid: server.child.pid(),
        site_toml: site_toml(&ids),
        events,
    };
    // The ids run 1..=N without the ones left out: the site's range covers
    // them all, the tasks name only these.
    let bench = Bench {
        site: &served,
        ids: &ids,
        latency_ms: 0,
        concurrency: options.concurrency,
        pins,
    };
    let logs = work.join(format!("fetcher-{}", workload.dir()));
    std::fs::create_dir_all(&logs)?;
    let (measured, _) = bench.end_to_end(Run::One, bins, &[], &logs).await?;
    let pagefeed = Crawl {
        pages: measured.pages,
        seconds: measured.elapsed.as_secs_f64(),
        cpu_seconds: measured.client_cpu.as_secs_f64(),
        peak_rss_kib: measured.peak_rss_kib.iter().copied().max().unwrap_or(0),
    };
    eprintln!(
        "  {:.0} pages/s, {:.0} pages per CPU-second",
        pagefeed.pages_per_sec(),
        pagefeed.pages_per_cpu_sec()
    );

    let by_url: HashMap<String, Shown> = std::fs::read_to_string(&out)?
        .lines()
        .map(|line| {
            let page: ScrapyPage = serde_json::from_str(line)?;
            Ok((page.url, page.shown))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut identical = 0;
    let mut differences = Vec::new();
    for &id in &ids {
        let url = url_of(id);
        let ours = reference[&id].1.as_ref().map(Shown::from);
        let theirs = by_url.get(&url);
        if ours.as_ref() == theirs {
            identical += 1;
        } else if differences.len() < 5 {
            differences.push(describe(&url, ours.as_ref(), theirs));
        }
    }
    Ok(Compared {
        workload,
        pages: ids.len(),
        bytes,
        left_out,
        scrapy,
        pagefeed,
        identical,
        differences,
    })
}

/// The first difference between pagefeed's and Scrapy's view of a page.
fn describe(url: &str, ours: Option<&Shown>, theirs: Option<&Shown>) -> String {
    let (Some(ours), Some(theirs)) = (ours, theirs) else {
        return format!("{url}: missing on one side");
    };
    if ours.title != theirs.title {
        return format!("{url}: title {:?} / Scrapy {:?}", ours.title, theirs.title);
    }
    if ours.entries.len() != theirs.entries.len() {
        return format!(
            "{url}: {} entries / Scrapy {}",
            ours.entries.len(),
            theirs.entries.len()
        );
    }
    let (i, (a, b)) = ours
        .entries
        .iter()
        .zip(&theirs.entries)
        .enumerate()
        .find(|(_, (a, b))| a != b)
        .unwrap_or((0, (&ours.entries[0], &theirs.entries[0])));
    format!("{url}: entry {i}: {a:?} / Scrapy {b:?}")
}

/// Every page of the site in `site_toml` fetched, decoded and extracted as
/// a fetcher does: per id, the body's size and the page (`None` when it has
/// no entry).
async fn extract_all(
    site_toml: &str,
    concurrency: usize,
) -> anyhow::Result<HashMap<u64, (u64, Option<Page>)>> {
    let cfg = Config::parse(
        Path::new("bench.toml"),
        &pagefeed_testkit::config::config_text(
            "nats://127.0.0.1:4222",
            "",
            "",
            &[site_toml.to_owned()],
        ),
    )?;
    let site = &cfg.sites[0];
    let Pages::Ids {
        url, first, last, ..
    } = &site.pages
    else {
        bail!("the bench site is not an id range");
    };
    let http = HttpClient::new(
        FetchSettings::from(&cfg.fetcher),
        AddressPolicy::for_site(site),
    )?;
    let extractor = Arc::new(Extractor::new(
        &site.extract,
        site.timezone,
        Limits::from(&cfg.fetcher),
    )?);
    futures::stream::iter(*first..=*last)
        .map(|id| {
            let http = http.clone();
            let extractor = Arc::clone(&extractor);
            let url = url.replace("{id}", &id.to_string());
            tokio::spawn(async move {
                let fetched = match http.fetch(&url, &Validators::default()).await {
                    Ok(Outcome::Fetched(fetched)) => fetched,
                    Ok(Outcome::NotModified { .. }) => bail!("{url}: 304 to a plain GET"),
                    Err(e) => bail!("{url}: {e}"),
                };
                let size = fetched.body.len() as u64;
                let now = chrono::Utc::now();
                let page = tokio::task::spawn_blocking(move || {
                    let decoded = decode(&fetched.body, fetched.content_type.as_deref());
                    extractor.extract(&decoded.text, &fetched.url, now).ok()
                })
                .await?;
                Ok((id, (size, page)))
            })
        })
        .buffer_unordered(concurrency)
        .map(|joined| joined?)
        .try_collect()
        .await
}

fn render(
    machine: &Machine,
    pinned: bool,
    options: &Options,
    results: &[Compared],
    nginx_cpu: Duration,
) -> String {
    let placement = if pinned {
        "nginx (one process) and nats-server on core 1, Scrapy then the fetcher on core 0 (taskset)"
    } else {
        "no pinning (taskset missing or one core)"
    };
    let mut out = heading("pagefeed against Scrapy", machine, placement);
    let _ = writeln!(
        out,
        "{} requests in flight for both; Scrapy's figures are its own, from its first \
         request to its end; the fetcher's are end to end through NATS, from its start \
         to the last event stored; nginx used {:.1} CPU s in all\n",
        options.concurrency,
        nginx_cpu.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "| workload | pages (MB) | crawler | seconds | pages/s | CPU s | pages per CPU-second | peak RSS |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for r in results {
        for (name, c) in [("Scrapy", &r.scrapy), ("pagefeed fetcher", &r.pagefeed)] {
            let _ = writeln!(
                out,
                "| {} | {} ({:.1}) | {name} | {:.2} | {} | {:.2} | {} | {:.1} MB |",
                r.workload.dir(),
                r.pages,
                r.bytes as f64 / 1e6,
                c.seconds,
                thousands(c.pages_per_sec()),
                c.cpu_seconds,
                thousands(c.pages_per_cpu_sec()),
                kib_to_mb(c.peak_rss_kib)
            );
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| workload | pagefeed ÷ Scrapy, pages/s | pagefeed ÷ Scrapy, pages per CPU-second | pages extracted alike |"
    );
    let _ = writeln!(out, "|---|---|---|---|");
    for r in results {
        let _ = writeln!(
            out,
            "| {} | {:.1}× | {:.1}× | {} of {} |",
            r.workload.dir(),
            r.pagefeed.pages_per_sec() / r.scrapy.pages_per_sec(),
            r.pagefeed.pages_per_cpu_sec() / r.scrapy.pages_per_cpu_sec(),
            r.identical,
            r.pages
        );
    }
    for r in results {
        if r.left_out > 0 {
            let _ = writeln!(
                out,
                "\n- {}: {} pages left out (pagefeed finds no entry on them)",
                r.workload.dir(),
                r.left_out
            );
        }
        for d in &r.differences {
            let _ = writeln!(out, "- {}: {d}", r.workload.dir());
        }
    }
    out
}
