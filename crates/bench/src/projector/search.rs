//! Search latency: queries of 1 to 4 characters cut from the published
//! texts, timed one after another against one node's `/api/entries?q=`.

use std::time::Instant;

use pagefeed_events::event::Event;
use pagefeed_events::publish::Outgoing;

use super::nodes::{get_json, Node};
use super::Bench;
use crate::report::{millis, ms, percentiles, verdict, Limit};

/// The median search's target, in ms.
const P50_TARGET_MS: f64 = 10.0;

impl Bench {
    /// Step 2: `count` searches over the entries of `messages` on `node`.
    pub(super) async fn search(
        &mut self,
        node: &Node,
        messages: &[Outgoing],
        count: usize,
    ) -> anyhow::Result<()> {
        eprintln!("timing {count} searches ...");
        let queries = queries(messages, count);
        let mut latencies = Vec::with_capacity(queries.len());
        let mut hits = 0usize;
        for q in &queries {
            let t = Instant::now();
            let body = get_json(
                &self.http,
                &format!("{}/api/entries?q={}&limit=20", node.http, encode(q)),
            )
            .await?;
            latencies.push(t.elapsed());
            hits += body["entries"].as_array().map_or(0, Vec::len);
        }
        let (p50, p99) = percentiles(&mut latencies);
        self.figures.row(
            format!(
                "keyword search over {} entries, limit 20 ({} queries of 1–4 chars from the texts, {:.1} hits each)",
                messages.len(),
                queries.len(),
                hits as f64 / queries.len().max(1) as f64
            ),
            format!("p50 {} / p99 {}", ms(p50), ms(p99)),
            format!("p50 < {P50_TARGET_MS:.0} ms"),
            verdict(millis(p50), Limit::Below(P50_TARGET_MS)),
        );
        Ok(())
    }
}

/// Search terms: 1 to 4 characters cut from the texts, spread over them.
fn queries(messages: &[Outgoing], count: usize) -> Vec<String> {
    cut_queries(count, messages.len(), |i| {
        match Event::decode(&messages[i].payload) {
            Ok(Event::EntryObserved(e)) => Some(e.text),
            _ => None,
        }
    })
}

/// `count` search terms of 1 to 4 characters, each cut from one of `len`
/// texts (`text(i)`, none where it has none) picked by a fixed,
/// reproducible spread.
pub(super) fn cut_queries<T: AsRef<str>>(
    count: usize,
    len: usize,
    text: impl Fn(usize) -> Option<T>,
) -> Vec<String> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        // xorshift64*: a fixed, reproducible spread.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut out = Vec::with_capacity(count);
    while out.len() < count && len > 0 {
        let Some(text) = text((next() % len as u64) as usize) else {
            continue;
        };
        let chars: Vec<char> = text.as_ref().chars().collect();
        let n = 1 + (next() % 4) as usize;
        if chars.len() < n {
            continue;
        }
        let start = (next() % (chars.len() - n + 1) as u64) as usize;
        let q: String = chars[start..start + n].iter().collect();
        if !q.trim().is_empty() {
            out.push(q);
        }
    }
    out
}

/// Percent-encodes a query for a URL.
fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
