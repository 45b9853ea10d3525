//! What must hold once the faults stop and the system settles: no task left,
//! every page with an outcome after the last fault, no entry published
//! twice, nothing rejected, every replica (a rebuilt one too) alike, a full
//! disk that stalled its projector and let it resume, and no service that
//! needed a hand.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream;
use chrono::{DateTime, Utc};
use pagefeed_events::streams::FETCHERS_CONSUMER;
use pagefeed_events::subject::{EVENTS_STREAM, TASKS_STREAM};
use pagefeed_events::Event;
use pagefeed_testkit::projector_api::{http_client, try_status, wait_applied, Status};
use pagefeed_testkit::streams::{each_stored, stored};

use super::nodes;
use super::report::Check;
use super::system::System;

/// The tasks stream and the fetchers' consumer: messages the stream holds,
/// whether the consumer has anything left to deliver or settle, the figures.
pub async fn tasks_figures(js: &jetstream::Context) -> anyhow::Result<(u64, bool, String)> {
    let mut stream = js.get_stream(TASKS_STREAM).await?;
    let state = stream.info().await?.state.clone();
    let mut consumer: jetstream::consumer::PullConsumer = stream
        .get_consumer(FETCHERS_CONSUMER)
        .await
        .map_err(|e| anyhow::anyhow!("the fetchers' consumer: {e}"))?;
    let info = consumer.info().await?;
    Ok((
        state.messages,
        info.num_pending > 0 || info.num_ack_pending > 0,
        format!(
            "stream messages {}, first seq {}, last seq {}; consumer num_pending {}, \
             num_ack_pending {}, num_redelivered {}, delivered stream seq {}, ack floor stream seq {}",
            state.messages,
            state.first_sequence,
            state.last_sequence,
            info.num_pending,
            info.num_ack_pending,
            info.num_redelivered,
            info.delivered.stream_sequence,
            info.ack_floor.stream_sequence
        ),
    ))
}

/// No task left in `PAGEFEED_TASKS`; when some are, which slots they
/// belong to and what each server holds of the stream and the consumer.
pub async fn no_task_left(system: &mut System) -> Check {
    match tasks_figures(&system.js).await {
        Ok((messages, _, figure)) => Check {
            name: "no task left in PAGEFEED_TASKS",
            held: messages == 0,
            figure: if messages == 0 {
                figure
            } else {
                format!("{figure}; {}", stranded(system).await)
            },
        },
        Err(e) => Check {
            name: "no task left in PAGEFEED_TASKS",
            held: false,
            figure: format!("cannot read the stream: {e:#}"),
        },
    }
}

/// The tasks left: their sequences and slots, and each server's own view
/// of the stream and the fetchers' consumer (monitoring `/jsz`).
async fn stranded(system: &mut System) -> String {
    let mut out = Vec::new();
    match stored(&system.js, TASKS_STREAM).await {
        Ok(tasks) => {
            let mut slots = BTreeMap::<i64, (Vec<u64>, Vec<String>)>::new();
            for task in &tasks {
                let (slot, page) = pagefeed_events::Task::decode(&task.payload)
                    .map_or((-1, "?".to_owned()), |t| (t.slot, t.page.id().to_owned()));
                let entry = slots.entry(slot).or_default();
                entry.0.push(task.seq);
                entry.1.push(page);
            }
            let slots: Vec<String> = slots
                .iter()
                .map(|(slot, (seqs, pages))| {
                    let at = chrono::DateTime::from_timestamp(*slot, 0)
                        .map_or_else(|| slot.to_string(), |t| t.format("%H:%M:%S").to_string());
                    format!(
                        "slot {at}: {} tasks, seqs {}..={}, page ids {}",
                        seqs.len(),
                        seqs.first().unwrap_or(&0),
                        seqs.last().unwrap_or(&0),
                        if pages.len() <= 30 {
                            pages.join(" ")
                        } else {
                            format!("{} ...", pages[..30].join(" "))
                        }
                    )
                })
                .collect();
            out.push(format!("left by slot: {}", slots.join(", ")));
        }
        Err(e) => out.push(format!("cannot read the tasks left: {e:#}")),
    }
    let client = http_client();
    for server in &mut system.cluster.servers {
        let name = server.name().to_owned();
        let Some(url) = server.monitor_url() else {
            continue;
        };
        let jsz = client
            .get(format!(
                "{url}/jsz?accounts=true&streams=true&consumers=true"
            ))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        let Ok(jsz) = jsz else {
            out.push(format!("{name}: no answer"));
            continue;
        };
        let Ok(jsz) = jsz.json::<serde_json::Value>().await else {
            out.push(format!("{name}: unreadable /jsz"));
            continue;
        };
        let accounts = jsz["account_details"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for stream in accounts
            .iter()
            .flat_map(|a| a["stream_detail"].as_array().cloned().unwrap_or_default())
            .filter(|s| s["name"] == TASKS_STREAM)
        {
            let state = &stream["state"];
            let mut line = format!(
                "{name} (leader {}): messages {}, first seq {}, last seq {}",
                stream["cluster"]["leader"],
                state["messages"],
                state["first_seq"],
                state["last_seq"]
            );
            for consumer in stream["consumer_detail"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter(|c| c["name"] == FETCHERS_CONSUMER)
            {
                line.push_str(&format!(
                    "; consumer num_pending {}, num_ack_pending {}, delivered stream seq {}, \
                     ack floor stream seq {}",
                    consumer["num_pending"],
                    consumer["num_ack_pending"],
                    consumer["delivered"]["stream_seq"],
                    consumer["ack_floor"]["stream_seq"]
                ));
            }
            out.push(line);
        }
    }
    out.join("; ")
}

/// What one pass over the whole events stream found, kept small: the
/// pages with an outcome after a sequence, each entry's sequences and
/// JetStream times, each page's last JetStream time, and how far the
/// events' own times were from JetStream's.
#[derive(Debug, Default)]
pub struct EventsRead {
    pub read: usize,
    pub undecodable: usize,
    /// Pages (`sample.7`) with an outcome event above `after_seq`.
    pub outcomes: BTreeSet<String>,
    /// `(page, entry id)` → its sequences and its first and last JetStream
    /// times.
    pub entries: BTreeMap<(String, String), Seen>,
    /// Page → the last JetStream time of its outcome events.
    pub pages: BTreeMap<String, DateTime<Utc>>,
    /// Events whose own time (observed, crawled, failed at) was more than
    /// [`SKEW_NOTED`] ahead of when JetStream stored them; the most ahead.
    pub ahead: (usize, chrono::Duration),
    /// The same, behind.
    pub behind: (usize, chrono::Duration),
}

/// The sequences and JetStream times of one entry's events.
#[derive(Debug)]
pub struct Seen {
    pub seqs: Vec<u64>,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
}

/// How far an event's own time may be from JetStream's before it is
/// counted as skewed (a fetch, its retries and a publish during a leader
/// election take seconds, not minutes).
pub const SKEW_NOTED: chrono::Duration = chrono::Duration::seconds(60);

/// Reads the whole events stream once, message by message.
pub async fn read_events(system: &System, after_seq: u64) -> anyhow::Result<EventsRead> {
    let mut read = EventsRead::default();
    each_stored(&system.js, EVENTS_STREAM, |message| {
        read.read += 1;
        let Ok(event) = Event::decode(&message.payload) else {
            read.undecodable += 1;
            return;
        };
        let published = message.time;
        let (page, own) = match &event {
            Event::PageCrawled(r) | Event::PageUnchanged(r) => (r.page.to_string(), r.crawled_at),
            Event::FetchFailed(f) => (f.page.to_string(), f.failed_at),
            Event::EntryObserved(e) => (e.page.to_string(), e.observed_at),
            Event::Retention(_) => return,
        };
        let off = own - published;
        if off > SKEW_NOTED {
            read.ahead = (read.ahead.0 + 1, read.ahead.1.max(off));
        } else if -off > SKEW_NOTED {
            read.behind = (read.behind.0 + 1, read.behind.1.max(-off));
        }
        if let Event::EntryObserved(e) = event {
            read.entries
                .entry((page, e.id))
                .and_modify(|seen| {
                    seen.seqs.push(message.seq);
                    seen.last = seen.last.max(published);
                })
                .or_insert(Seen {
                    seqs: vec![message.seq],
                    first: published,
                    last: published,
                });
            return;
        }
        if message.seq > after_seq {
            read.outcomes.insert(page.clone());
        }
        let last = read.pages.entry(page).or_insert(published);
        *last = (*last).max(published);
    })
    .await?;
    Ok(read)
}

/// Every page `1..=pages` has an outcome event (`page_crawled`,
/// `page_unchanged` or `fetch_failed`) at a sequence above `after_seq`;
/// and no `(page, entry id)` stored twice in the whole stream.
pub fn events_checks(read: &anyhow::Result<EventsRead>, pages: u64, after_seq: u64) -> Vec<Check> {
    let read = match read {
        Ok(read) => read,
        Err(e) => {
            let figure = format!("cannot read PAGEFEED_EVENTS: {e:#}");
            return vec![
                Check {
                    name: "every page has an outcome after the last fault",
                    held: false,
                    figure: figure.clone(),
                },
                Check {
                    name: "no (page, entry id) published twice",
                    held: false,
                    figure,
                },
            ];
        }
    };
    let missing: Vec<u64> = (1..=pages)
        .filter(|id| !read.outcomes.contains(&format!("sample.{id}")))
        .collect();
    let twice: Vec<String> = read
        .entries
        .iter()
        .filter(|(_, seen)| seen.seqs.len() > 1)
        .map(|((page, id), seen)| format!("{page} {id} at seqs {:?}", seen.seqs))
        .collect();
    vec![
        Check {
            name: "every page has an outcome after the last fault",
            held: missing.is_empty(),
            figure: format!(
                "{} of {pages} pages after seq {after_seq} (of {} events read{}); missing {}",
                pages - missing.len() as u64,
                read.read,
                if read.undecodable > 0 {
                    format!(", {} undecodable", read.undecodable)
                } else {
                    String::new()
                },
                if missing.is_empty() {
                    "none".to_owned()
                } else {
                    format!("{:?}", &missing[..missing.len().min(20)])
                }
            ),
        },
        Check {
            name: "no (page, entry id) published twice",
            held: twice.is_empty(),
            figure: format!(
                "{} entries, {} stored more than once{}",
                read.entries.len(),
                twice.len(),
                if twice.is_empty() {
                    String::new()
                } else {
                    format!(": {}", twice[..twice.len().min(10)].join("; "))
                }
            ),
        },
    ]
}

/// Waits for nodes a and b to apply the stream's last sequence, rebuilds node
/// r from scratch, and compares the three: nothing rejected, same applied
/// sequence, same digest.
pub async fn replica_checks(system: &System, last_seq: u64, pages: u64) -> Vec<Check> {
    let client = http_client();
    let mut statuses: Vec<Status> = Vec::new();
    let mut problems = Vec::new();
    for node in &system.nodes {
        match wait_applied(&client, node.http, last_seq, Duration::from_secs(180)).await {
            Ok(_) => {
                // The status of a node that has caught up, read again so
                // that it is the newest.
                if let Some(status) = try_status(&client, node.http).await {
                    statuses.push(status);
                }
            }
            Err(e) => problems.push(format!("node {}: {e:#}", node.name)),
        }
    }
    let rejected: Vec<String> = statuses
        .iter()
        .map(|s| format!("{} rejected {}", s.node, s.rejected))
        .collect();
    let rejected_check = Check {
        name: "nothing rejected",
        held: problems.is_empty() && statuses.iter().all(|s| s.rejected == 0),
        figure: format!("{}{}", rejected.join(", "), problems.join("; ")),
    };
    let rebuilt = rebuild(system).await;
    let mut figures: Vec<String> = statuses
        .iter()
        .map(|s| format!("{} seq {} digest {}", s.node, s.applied_seq, s.digest))
        .collect();
    let mut sames = statuses
        .iter()
        .map(|s| (s.applied_seq, s.digest.clone()))
        .collect::<Vec<_>>();
    match rebuilt {
        Ok((seq, digest, took)) => {
            figures.push(format!(
                "r (rebuilt in {:.1} s) seq {seq} digest {digest}",
                took.as_secs_f64()
            ));
            sames.push((seq, digest));
        }
        Err(e) => problems.push(format!("rebuild of node r: {e:#}")),
    }
    let alike = problems.is_empty()
        && sames.len() == system.nodes.len() + 1
        && sames.windows(2).all(|w| w[0] == w[1]);
    if let [a, b] = &system.nodes[..] {
        if statuses.len() == 2 && statuses[0].digest != statuses[1].digest {
            problems.push(nodes::differences(a, b, pages, 5).await);
        }
    }
    vec![
        rejected_check,
        Check {
            name: "a, b and rebuilt r alike (seq, digest)",
            held: alike,
            figure: format!(
                "stream last seq {last_seq}; {}{}",
                figures.join("; "),
                if problems.is_empty() {
                    String::new()
                } else {
                    format!("; {}", problems.join("; "))
                }
            ),
        },
    ]
}

/// `pagefeed-projector rebuild` into `<run dir>/projector-r`, then its
/// `digest`: the applied sequence, the digest and how long the rebuild took.
async fn rebuild(system: &System) -> anyhow::Result<(u64, String, Duration)> {
    let data = system.dir.join("projector-r");
    let log = system.dir.join("logs").join("projector-r-rebuild.log");
    let started = std::time::Instant::now();
    let status = tokio::process::Command::new(&system.bins.projector)
        .arg("rebuild")
        .arg("--config")
        .arg(&system.config)
        .arg("--data")
        .arg(&data)
        .args(["--node", "r"])
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&log)?)
        .stderr(std::fs::OpenOptions::new().append(true).open(&log)?)
        .status()
        .await?;
    let took = started.elapsed();
    anyhow::ensure!(
        status.success(),
        "rebuild exited with {status}: see {}",
        log.display()
    );
    let (seq, digest) = digest(&system.bins.projector, &data).await?;
    Ok((seq, digest, took))
}

/// `pagefeed-projector digest --data DIR`: the applied sequence and digest.
async fn digest(projector: &Path, data: &Path) -> anyhow::Result<(u64, String)> {
    let out = tokio::process::Command::new(projector)
        .arg("digest")
        .arg("--data")
        .arg(data)
        .output()
        .await?;
    anyhow::ensure!(
        out.status.success(),
        "digest exited with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .with_context(|| format!("no `{name}` in the digest's output: {text}"))
    };
    Ok((field("applied_seq ")?.parse()?, field("digest ")?))
}

/// Every full-disk fault under which a commit failed stalled its projector
/// (its status said so while the disk was full; a fault under which no
/// commit failed has nothing to stall: no event reached the node, or its
/// file had room), and the projector applied again once the disk was freed;
/// `None` when the run had no such fault.
pub fn full_disks(faults: &[(bool, bool, String)]) -> Option<Check> {
    if faults.is_empty() {
        return None;
    }
    let seen = faults.iter().filter(|(seen, _, _)| *seen).count();
    let resumed = faults.iter().filter(|(_, resumed, _)| *resumed).count();
    let figures: Vec<&str> = faults.iter().map(|(_, _, f)| f.as_str()).collect();
    Some(Check {
        name: "a full disk stalls the projector, it resumes",
        held: seen == faults.len() && resumed == faults.len(),
        figure: format!(
            "{} full-disk faults, {seen} seen stalled or without a failed commit, {resumed} applying again: {}",
            faults.len(),
            figures.join("; ")
        ),
    })
}

/// No service needed a restart by hand: every process the chaos did not
/// stop itself still runs, and nothing exited on its own during the run.
pub fn no_hand_restart(exited_on_their_own: &[String], down_at_end: &[String]) -> Check {
    Check {
        name: "no service needed a restart by hand",
        held: exited_on_their_own.is_empty() && down_at_end.is_empty(),
        figure: format!(
            "exited on their own during the run: {}; not running at the end: {}",
            if exited_on_their_own.is_empty() {
                "none".to_owned()
            } else {
                exited_on_their_own.join(", ")
            },
            if down_at_end.is_empty() {
                "none".to_owned()
            } else {
                down_at_end.join(", ")
            }
        ),
    }
}
