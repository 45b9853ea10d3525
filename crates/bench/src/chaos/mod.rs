//! `pagefeed-bench chaos --duration 2m --seed 1`: the whole system on a
//! three-node JetStream cluster, faults injected at random (seeded) times
//! for the duration, up to `--overlap` at once, then the faults and
//! schedulers stop (a sweep-only scheduler takes over), the system
//! settles, a third node is rebuilt from scratch, and the invariants are
//! checked (docs/RELIABILITY.md).
//! `system.rs` runs the processes, `faults.rs` injects, `schedule.rs`
//! draws, `running.rs` runs the faults side by side, `invariants.rs`
//! checks (`times.rs`, the replica's times against JetStream's),
//! `report.rs` prints.

mod faults;
mod invariants;
mod nodes;
mod partition;
mod report;
mod running;
mod schedule;
mod system;
mod times;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use pagefeed_events::subject::TASKS_STREAM;
use pagefeed_testkit::streams::events_last_seq;

use crate::procs::Binaries;
use report::Report;
use schedule::Schedule;
use system::{Crawl, System, SMALL_DISK_NODE};

/// `pagefeed-bench chaos` options.
#[derive(clap::Args, Debug, Clone)]
pub struct Options {
    /// How long faults are injected (`2m` short, `1h` long).
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// The seed of the faults' kinds and times: the same seed, the same faults.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How many faults may run at once (on different targets, never two
    /// nats-servers, never every scheduler, fetcher or projector); 1 for
    /// one at a time.
    #[arg(long, default_value_t = 3)]
    pub overlap: usize,
    /// Sample site pages 1..=PAGES, every one published at each tick.
    #[arg(long, default_value_t = 300)]
    pub pages: u64,
    /// The site's crawl interval.
    #[arg(long, default_value = "10s")]
    pub interval: String,
    /// The size of the tmpfs under projector b's data, which the full-disk
    /// fault fills up (mounting it needs root; without, no such fault).
    /// Room for an hour's replica; the filler takes that much memory while
    /// the disk is full.
    #[arg(long, default_value = "1g")]
    pub small_disk: String,
    /// The longest wait for every task to be settled once the schedulers stop.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub settle: Duration,
    /// The run directory (config, logs, replicas); a new one under the
    /// system's temporary directory if not given.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Runs the chaos; `Ok(true)` when every invariant held.
pub async fn run(options: Options) -> anyhow::Result<bool> {
    let bins = Binaries::locate()?;
    let dir = match &options.dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!(
            "pagefeed-chaos-{}-seed{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%S"),
            options.seed
        )),
    };
    std::fs::create_dir_all(&dir)?;
    let mut report = Report::new(&dir);
    report.line(&format!(
        "chaos: seed {}, duration {}, overlap {}, pages {}, interval {}, run directory {}",
        options.seed,
        humantime::format_duration(options.duration),
        options.overlap,
        options.pages,
        options.interval,
        dir.display()
    ));
    let crawl = Crawl {
        pages: options.pages,
        interval: options.interval.clone(),
        entry_period_secs: 60,
        small_disk: options.small_disk.clone(),
    };
    let mut system = System::start(&dir, bins, &crawl).await?;
    report.line(
        "system started: 3 nats-servers, sample site, 2 schedulers, 3 fetchers, projectors a and b",
    );
    // Interrupted, it still ends every process and unmounts the tmpfs.
    let held = tokio::select! {
        held = chaos(&mut system, &options, &mut report) => held,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted (SIGINT)")),
    };
    system.save_nats_logs();
    let held = match held {
        Ok(held) => held,
        Err(e) => {
            report.line(&format!("the run failed: {e:#}"));
            false
        }
    };
    if !held && system.small_disk.is_ok() {
        match system.keep_small_disk().await {
            Ok(to) => report.line(&format!(
                "projector-{SMALL_DISK_NODE}'s data kept in {}",
                to.display()
            )),
            Err(e) => report.line(&format!(
                "projector-{SMALL_DISK_NODE}'s data NOT kept: {e:#}"
            )),
        }
    }
    report.line(&format!(
        "{}: seed {}, run directory {}",
        if held {
            "every invariant held"
        } else {
            "FAILED"
        },
        options.seed,
        dir.display()
    ));
    Ok(held)
}

async fn chaos(
    system: &mut System,
    options: &Options,
    report: &mut Report,
) -> anyhow::Result<bool> {
    // Faults once the crawl has begun.
    wait_until(Duration::from_secs(120), || async {
        events_last_seq(&system.js).await.is_ok_and(|seq| seq > 0)
    })
    .await
    .map_err(|_| anyhow::anyhow!("no event within 120 s of the start"))?;
    report.line("the first events are stored: faults begin");

    let mut exited = Vec::new();
    let mut schedule = Schedule::new(options.seed, system.names(), options.overlap);
    match &system.small_disk {
        Ok(disk) => {
            report.line(&format!(
                "projector-{SMALL_DISK_NODE}'s data is on a {} tmpfs ({}): full-disk faults",
                options.small_disk,
                disk.path().display()
            ));
            schedule = schedule.with_small_disk(&format!("projector-{SMALL_DISK_NODE}"));
        }
        Err(why) => report.line(&format!(
            "no full-disk faults: a tmpfs cannot be mounted here (it needs root): {why}"
        )),
    }
    match system::libfaketime() {
        Ok(lib) => {
            report.line(&format!(
                "libfaketime at {}: clock-skew faults",
                lib.display()
            ));
            schedule = schedule.with_clock_skew();
        }
        Err(why) => report.line(&format!("no clock-skew faults: {why}")),
    }
    let over = running::run_faults(system, schedule, options.duration, report, &mut exited).await;
    report.line(&format!(
        "faults end; {}; at most {} at once; {} skipped (not allowed beside the faults running)",
        report.faults_by_kind(),
        over.most_at_once,
        over.skipped
    ));

    // The events before this sequence may predate the last fault.
    let after_seq = retry(|| events_last_seq(&system.js)).await?;
    let tasks_seq = retry(|| tasks_last_seq(system)).await?;
    report.line(&format!(
        "after the last fault: events last seq {after_seq}, tasks last seq {tasks_seq}; \
         waiting for a whole tick of tasks"
    ));
    let tick = wait_until(Duration::from_secs(180), || async {
        tasks_last_seq(system)
            .await
            .is_ok_and(|seq| seq >= tasks_seq + options.pages)
    })
    .await;
    if tick.is_err() {
        report.line("no whole tick of tasks was published within 180 s of the last fault");
    }
    running::watch(system, &[], &mut exited, report);

    let mut stopped = Vec::new();
    for name in system.names() {
        if name.starts_with("scheduler-") {
            let status = system
                .process(&name)?
                .terminate(Duration::from_secs(30))
                .await;
            match status {
                Ok(status) if status.success() => {}
                Ok(status) => exited.push(format!("{name} exited with {status} on SIGTERM")),
                Err(e) => exited.push(format!("{name}: {e:#}")),
            }
            stopped.push(name);
        }
    }
    system.start_sweeper()?;
    report.line("schedulers stopped (SIGTERM), a sweep-only scheduler started; settling");

    let (settled, settle) = settle(system, options.settle).await;
    let figures = invariants::tasks_figures(&system.js)
        .await
        .map_or_else(|e| format!("{e:#}"), |(_, _, f)| f);
    let after_last = over.last_end.elapsed();
    report.line(&format!(
        "{settled} {:.1} s after the schedulers stopped, {:.1} s after the last fault ended \
         (its target recovered {:.1} s after its end): {figures}",
        settle.as_secs_f64(),
        after_last.as_secs_f64(),
        over.last_recovery
            .saturating_duration_since(over.last_end)
            .as_secs_f64()
    ));

    let check = invariants::no_task_left(system).await;
    report.check(check);
    let last_seq = retry(|| events_last_seq(&system.js)).await?;
    // Nodes a and b at `last_seq` first, so that the stream read after
    // holds every event they applied.
    let replicas = invariants::replica_checks(system, last_seq, options.pages).await;
    let read = invariants::read_events(system, after_seq).await;
    for check in invariants::events_checks(&read, options.pages, after_seq) {
        report.check(check);
    }
    for check in replicas {
        report.check(check);
    }
    report.check(times::stored_times(&system.nodes[0], &read, options.pages).await);
    drop(read);
    if let Some(check) = invariants::full_disks(&over.full_disks) {
        report.check(check);
    }
    let down: Vec<String> = system
        .not_running()
        .into_iter()
        .filter(|name| !stopped.contains(name))
        .collect();
    report.check(invariants::no_hand_restart(&exited, &down));
    report.line(&format!(
        "{}; {settled} {:.1} s after the last fault ended",
        report.faults_by_kind(),
        after_last.as_secs_f64()
    ));
    Ok(report.all_held())
}

/// How long a consumer with nothing to deliver or settle is watched before
/// the tasks its stream still holds are called stranded (above `ack_wait`).
const STRANDED_AFTER: Duration = Duration::from_secs(60);

/// Waits until `PAGEFEED_TASKS` is empty, at most `within`; or until the
/// fetchers' consumer has had nothing pending and nothing unacked for
/// [`STRANDED_AFTER`] while the stream still holds tasks. Says which, and
/// how long it took.
async fn settle(system: &System, within: Duration) -> (&'static str, Duration) {
    let started = Instant::now();
    let mut idle_since: Option<Instant> = None;
    loop {
        match invariants::tasks_figures(&system.js).await {
            Ok((0, _, _)) => return ("settled", started.elapsed()),
            Ok((_, false, _)) => {
                let since = *idle_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= STRANDED_AFTER {
                    return (
                        "NOT settled (tasks stranded: the consumer had nothing pending or unacked for 60 s)",
                        started.elapsed(),
                    );
                }
            }
            _ => idle_since = None,
        }
        if started.elapsed() > within {
            return ("NOT settled (bound reached)", started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn tasks_last_seq(system: &System) -> anyhow::Result<u64> {
    let mut stream = system.js.get_stream(TASKS_STREAM).await?;
    Ok(stream.info().await?.state.last_sequence)
}

/// `read` until it succeeds, for up to a minute (JetStream may be electing a
/// leader).
async fn retry<T, F, Fut>(mut read: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match read().await {
            Ok(value) => return Ok(value),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// Polls `holds` every 500 ms until it does, or fails after `within`.
async fn wait_until<F, Fut>(within: Duration, mut holds: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if holds().await {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!("not within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
