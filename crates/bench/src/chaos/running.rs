//! The faults of a run, several at once: each begins when its planned time
//! has come and the rules allow it beside the faults running then
//! ([`allowed`]), ends when its time is up, and counts as running until
//! what it broke has recovered. Every begin, end and recovery is logged
//! with its time.

use std::time::{Duration, Instant};

use super::faults::{self, Begun, Fault, Holds};
use super::report::Report;
use super::schedule::{allowed, Planned, Schedule};
use super::system::System;

/// The longest a fault's target may take to recover after its end before
/// the fault is called failed.
const RECOVERY: Duration = Duration::from_secs(120);

/// The longest a nats fault that is due waits for both streams to have a
/// leader and every replica current; it begins anyway after that, and says
/// so.
const STREAMS_CURRENT: Duration = Duration::from_secs(60);

/// How long a fault that is due waits for the faults running to allow it
/// before it is skipped.
const GIVE_UP: Duration = Duration::from_secs(15);

/// How often the loop looks at the faults and the processes.
const TICK: Duration = Duration::from_millis(250);

/// A fault that has begun.
struct Running {
    /// Its number in the run, to pair its lines in the log.
    n: usize,
    fault: Fault,
    begun: Begun,
    began: Instant,
    /// When it ended (its target restarted or continued).
    ended: Option<Instant>,
}

/// When the faults were over, and what the full disks did.
pub struct Over {
    /// The end of the last fault.
    pub last_end: Instant,
    /// The last recovery.
    pub last_recovery: Instant,
    /// Each full-disk fault: whether its projector was seen stalled,
    /// whether it applied again after, and what was seen.
    pub full_disks: Vec<(bool, bool, String)>,
    /// Faults skipped: still not allowed [`GIVE_UP`] after their time.
    pub skipped: usize,
    /// The most faults that ran at once.
    pub most_at_once: usize,
}

/// Runs the faults of `schedule` due within `duration`, then waits for the
/// last of them to end and recover. A process that stops running while no
/// fault keeps it down, and a fault that could not be carried out, is
/// added to `exited`.
pub async fn run_faults(
    system: &mut System,
    mut schedule: Schedule,
    duration: Duration,
    report: &mut Report,
    exited: &mut Vec<String>,
) -> Over {
    let started = Instant::now();
    let mut over = Over {
        last_end: started,
        last_recovery: started,
        full_disks: Vec::new(),
        skipped: 0,
        most_at_once: 0,
    };
    let mut next: Option<Planned> = Some(schedule.next());
    let mut running: Vec<Running> = Vec::new();
    let mut begun = 0;
    // Since when the due fault waits for the streams to be current, and
    // when they were last looked at.
    let mut waiting: Option<Instant> = None;
    let mut looked: Option<Instant> = None;
    loop {
        let down: Vec<String> = running
            .iter()
            .filter(|r| r.ended.is_none())
            .filter_map(|r| r.fault.keeps_down(&r.begun))
            .collect();
        watch(system, &down, exited, report);

        for r in running.iter_mut().filter(|r| r.ended.is_none()) {
            if let Some(seen) = faults::during(system, &r.fault, &mut r.begun).await {
                report.line(&format!("fault #{} {}: {seen}", r.n, r.fault.kind()));
            }
        }

        for r in running
            .iter_mut()
            .filter(|r| r.ended.is_none() && r.fault.is_due(&r.begun, r.began))
        {
            let lasted = r.began.elapsed();
            match faults::end(system, &r.fault, &r.begun).await {
                Ok(done) => report.line(&format!(
                    "fault #{} {} ends after {:.1} s: {done}",
                    r.n,
                    r.fault.kind(),
                    lasted.as_secs_f64()
                )),
                Err(e) => {
                    report.line(&format!(
                        "fault #{} {} FAILED to end: {e:#}",
                        r.n,
                        r.fault.kind()
                    ));
                    exited.push(format!(
                        "fault #{} {} failed to end: {e:#}",
                        r.n,
                        r.fault.kind()
                    ));
                }
            }
            r.ended = Some(Instant::now());
            over.last_end = Instant::now();
        }

        let mut still = Vec::with_capacity(running.len());
        for r in running {
            let Some(ended) = r.ended else {
                still.push(r);
                continue;
            };
            let (n, kind) = (r.n, r.fault.kind());
            let recovered = faults::recovered(system, &r.fault, &r.begun).await;
            if matches!(r.fault, Fault::FillDisk { .. })
                && (!matches!(recovered, Ok(false)) || ended.elapsed() > RECOVERY)
            {
                let resumed = matches!(recovered, Ok(true));
                let none_failed = r.begun.failed_commits_before.is_some()
                    && r.begun.failed_commits_last == r.begun.failed_commits_before;
                over.full_disks.push((
                    r.begun.seen.is_some() || none_failed,
                    resumed,
                    format!(
                        "#{n}: {}; {}",
                        r.begun.seen.as_deref().unwrap_or(if none_failed {
                            "no commit failed while the disk was full (nothing to stall)"
                        } else {
                            "never seen stalled, though a commit failed"
                        }),
                        if resumed {
                            format!(
                                "applying again {:.1} s after",
                                ended.elapsed().as_secs_f64()
                            )
                        } else {
                            "NOT applying again".to_owned()
                        }
                    ),
                ));
            }
            match recovered {
                Ok(true) => {
                    report.line(&format!(
                        "fault #{n} {kind}: recovered {:.1} s after its end",
                        ended.elapsed().as_secs_f64()
                    ));
                    over.last_recovery = Instant::now();
                }
                Ok(false) if ended.elapsed() > RECOVERY => {
                    report.line(&format!(
                        "fault #{n} {kind} FAILED: not recovered {RECOVERY:?} after its end"
                    ));
                    exited.push(format!("fault #{n} {kind}: not recovered"));
                }
                Ok(false) => still.push(r),
                Err(e) => {
                    report.line(&format!("fault #{n} {kind} FAILED to recover: {e:#}"));
                    exited.push(format!("fault #{n} {kind} failed to recover: {e:#}"));
                }
            }
        }
        running = still;

        if started.elapsed() >= duration {
            next = None;
        }
        if let Some(due) = next.take_if(|due| started.elapsed() >= due.at) {
            let faults = running.iter().map(|r| &r.fault);
            let refused = if running.len() >= schedule.overlap() {
                Err(format!("{} faults run", running.len()))
            } else {
                allowed(&due.fault, faults, schedule.services())
            };
            if let Err(why) = refused {
                // The faults before it outlasted their plan (a full disk
                // waits for its stall, a restart for its target).
                if started.elapsed() >= due.at + GIVE_UP {
                    report.line(&format!(
                        "fault {} skipped: still not allowed {GIVE_UP:?} after its planned time ({why})",
                        due.fault.kind()
                    ));
                    over.skipped += 1;
                    next = Some(schedule.next());
                } else {
                    next = Some(due);
                }
                tokio::time::sleep(TICK).await;
                continue;
            }
            let mut ready = true;
            let mut note = String::new();
            if ready && due.fault.holds() == Holds::NatsNode {
                // The cluster keeps its quorum only if no other node is
                // still catching up.
                let since = *waiting.get_or_insert_with(Instant::now);
                if since.elapsed() >= STREAMS_CURRENT {
                    note = format!(
                        "; the streams were NOT all current when it began (waited {STREAMS_CURRENT:?})"
                    );
                } else if looked.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
                    looked = Some(Instant::now());
                    ready = system.streams_healthy().await;
                } else {
                    ready = false;
                }
            }
            if ready {
                waiting = None;
                looked = None;
                begun += 1;
                let kind = due.fault.kind();
                let late = started.elapsed().saturating_sub(due.at);
                match faults::begin(system, &due.fault).await {
                    Ok(b) => {
                        report.line(&format!(
                            "fault #{begun} {kind} begins, {}{}: {}{note}",
                            due.fault.length(),
                            if late > Duration::from_secs(1) {
                                format!(" ({:.1} s after its planned time)", late.as_secs_f64())
                            } else {
                                String::new()
                            },
                            b.done
                        ));
                        running.push(Running {
                            n: begun,
                            fault: due.fault,
                            begun: b,
                            began: Instant::now(),
                            ended: None,
                        });
                        over.most_at_once = over.most_at_once.max(running.len());
                    }
                    Err(e) => {
                        report.line(&format!("fault #{begun} {kind} FAILED to begin: {e:#}"));
                        exited.push(format!("fault #{begun} {kind} failed to begin: {e:#}"));
                    }
                }
                report.fault(kind);
                next = Some(schedule.next());
            } else {
                next = Some(due);
            }
        }
        if next.is_none() && running.is_empty() {
            return over;
        }
        tokio::time::sleep(TICK).await;
    }
}

/// Notes every service or nats-server that is not running though no fault
/// keeps it `down` (once each).
pub fn watch(system: &mut System, down: &[String], exited: &mut Vec<String>, report: &Report) {
    for name in system.not_running() {
        if !down.contains(&name) && !exited.contains(&name) {
            report.line(&format!("{name} is not running and no fault stopped it"));
            exited.push(name);
        }
    }
}
