//! The human-readable form of each command's answer: plain aligned tables
//! (the `--json` form is the same data, serialised).

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use comfy_table::{presets, Table};

use crate::fetch_state::FetchStateEntry;
use crate::nodes::NodeStatus;
use crate::page_events::PageEvents;
use crate::status::Status;
use crate::tasks::Tasks;

/// The longest an event's payload is shown in the `events` table.
const EVENT_COLUMN_CHARS: usize = 120;

fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_style(presets::NOTHING).set_header(header);
    table
}

/// `12s ago`, `3h 2m ago`; `-` when there is no time.
fn ago(time: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match time {
        Some(t) => format!(
            "{} ago",
            age(u64::try_from((now - t).num_seconds()).unwrap_or(0))
        ),
        None => "-".to_owned(),
    }
}

/// Seconds, shown in at most two units (`3h 2m`).
fn age(secs: u64) -> String {
    let text = humantime::format_duration(Duration::from_secs(secs)).to_string();
    text.split(' ').take(2).collect::<Vec<_>>().join(" ")
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "-".to_owned(),
        |t| t.to_rfc3339_opts(SecondsFormat::Secs, true),
    )
}

pub fn status(status: &Status, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let mut streams = table(&[
        "STREAM",
        "MESSAGES",
        "BYTES",
        "FIRST SEQ",
        "LAST SEQ",
        "LAST MESSAGE",
    ]);
    for s in &status.streams {
        if s.exists {
            streams.add_row(vec![
                s.name.clone(),
                s.messages.to_string(),
                s.bytes.to_string(),
                s.first_seq.to_string(),
                s.last_seq.to_string(),
                ago(s.last_time, now),
            ]);
        } else {
            streams.add_row(vec![s.name.as_str(), "(missing)"]);
        }
    }
    out.push_str(&format!("{}\n\n", streams.trim_fmt()));

    let mut fetchers = table(&[
        "FETCHERS",
        "PENDING",
        "ACK PENDING",
        "REDELIVERED",
        "WAITING",
        "LAST ACTIVE",
    ]);
    match &status.fetchers {
        Some(f) => fetchers.add_row(vec![
            f.name.clone(),
            f.pending.to_string(),
            f.ack_pending.to_string(),
            f.redelivered.to_string(),
            f.waiting.to_string(),
            ago(f.last_active, now),
        ]),
        None => fetchers.add_row(vec!["(no fetcher has started)"]),
    };
    out.push_str(&format!("{}\n\n", fetchers.trim_fmt()));

    out.push_str(&nodes(&status.nodes, now));
    out.push_str("\n\n");

    let mut notifiers = table(&[
        "NOTIFIER",
        "PENDING",
        "ACK PENDING",
        "REDELIVERED",
        "ACK FLOOR",
        "LAST ACTIVE",
    ]);
    for n in &status.notifiers {
        notifiers.add_row(vec![
            n.name.clone(),
            n.pending.to_string(),
            n.ack_pending.to_string(),
            n.redelivered.to_string(),
            n.ack_floor_seq.to_string(),
            ago(n.last_active, now),
        ]);
    }
    if status.notifiers.is_empty() {
        notifiers.add_row(vec!["(none)"]);
    }
    out.push_str(&format!("{}\n\n", notifiers.trim_fmt()));

    for (what, kv) in [
        ("fetch state", &status.fetch_state),
        ("robots.txt", &status.robots),
    ] {
        if kv.exists {
            out.push_str(&format!(
                "{what}: bucket {}, {} keys, {} bytes\n",
                kv.bucket, kv.keys, kv.bytes
            ));
        } else {
            out.push_str(&format!("{what}: bucket {} (missing)\n", kv.bucket));
        }
    }
    if !status.other_consumers.is_empty() {
        out.push_str(&format!(
            "other consumers of PAGEFEED_EVENTS (replays, made by hand): {}\n",
            status.other_consumers.join(", ")
        ));
    }
    out
}

pub fn nodes(nodes: &[NodeStatus], now: DateTime<Utc>) -> String {
    let mut t = table(&[
        "NODE",
        "CONSUMER",
        "POSITION",
        "LAG",
        "LAST ACTIVE",
        "REMOVED AFTER IDLE",
    ]);
    for n in nodes {
        t.add_row(vec![
            n.node.clone(),
            n.consumer.clone(),
            n.position.to_string(),
            n.lag.to_string(),
            ago(n.last_active, now),
            n.idle_timeout_secs.map_or_else(|| "never".to_owned(), age),
        ]);
    }
    if nodes.is_empty() {
        t.add_row(vec!["(no projector node)"]);
    }
    t.trim_fmt()
}

pub fn page_events(events: &PageEvents) -> String {
    let mut t = table(&["SEQ", "STORED", "TYPE", "EVENT"]);
    for e in &events.events {
        let mut json = e.event.to_string();
        if json.chars().count() > EVENT_COLUMN_CHARS {
            json = json
                .chars()
                .take(EVENT_COLUMN_CHARS - 1)
                .collect::<String>()
                + "…";
        }
        t.add_row(vec![
            e.seq.to_string(),
            time(Some(e.time)),
            e.event_type.clone(),
            json,
        ]);
    }
    format!(
        "{}\n{} of {} events of page {} (--json shows them whole)\n",
        t.trim_fmt(),
        events.events.len(),
        events.total,
        events.page
    )
}

pub fn fetch_state(entry: &FetchStateEntry) -> String {
    let pretty = serde_json::to_string_pretty(&entry.state).unwrap_or_default();
    format!(
        "page {}, revision {}, written {}\n{pretty}\n",
        entry.page,
        entry.revision,
        time(Some(entry.updated))
    )
}

pub fn tasks(tasks: &Tasks) -> String {
    let mut out = format!(
        "{} tasks queued, {}; oldest stored {} ({})\n\n",
        tasks.total,
        tasks.in_flight.map_or_else(
            || "no fetcher has started".to_owned(),
            |n| format!("{n} being fetched")
        ),
        time(tasks.oldest_time),
        tasks
            .oldest_age_secs
            .map_or_else(|| "-".to_owned(), |s| format!("{} ago", age(s)))
    );
    let mut sites = table(&["SITE", "TASKS"]);
    for s in &tasks.by_site {
        sites.add_row(vec![s.site.clone(), s.tasks.to_string()]);
    }
    if tasks.by_site.is_empty() {
        sites.add_row(vec!["(none)"]);
    }
    out.push_str(&format!("{}\n\n", sites.trim_fmt()));
    let mut oldest = table(&["SEQ", "PAGE", "STORED", "AGE", "REQUEUES", "URL"]);
    for task in &tasks.oldest {
        oldest.add_row(vec![
            task.seq.to_string(),
            task.page.clone(),
            time(Some(task.stored)),
            age(task.age_secs),
            task.requeues.to_string(),
            task.url.clone(),
        ]);
    }
    if tasks.oldest.is_empty() {
        oldest.add_row(vec!["(none)"]);
    }
    out.push_str(&format!("{}\n", oldest.trim_fmt()));
    out
}

pub fn retired(node: &NodeStatus) -> String {
    format!(
        "retired node {}: consumer {} deleted (it was at sequence {}, {} behind)\n",
        node.node, node.consumer, node.position, node.lag
    )
}
