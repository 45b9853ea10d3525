//! The chaos run in its short mode, as CI runs it: the real
//! `pagefeed-bench chaos` (the whole system on a three-node cluster, faults
//! overlapping for two minutes, then the invariants), with the seed of
//! `PAGEFEED_CHAOS_SEED` or one drawn from the clock. A failure names the
//! seed, the command that replays it, the run directory (kept) and the
//! invariants' lines.
//!
//! It lives in the bench's package rather than in `tests/` so that
//! `cargo test --workspace` builds the `pagefeed-bench` binary it runs.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// Sample site pages: fewer than the bench's default, for two cores.
const PAGES: &str = "100";

#[test]
fn chaos_short_run_holds_every_invariant() -> anyhow::Result<()> {
    let seed: u64 = match std::env::var("PAGEFEED_CHAOS_SEED") {
        Ok(seed) => seed.parse()?,
        Err(_) => SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() % 100_000,
    };
    let args = [
        "chaos",
        "--duration",
        "2m",
        "--seed",
        &seed.to_string(),
        "--pages",
        PAGES,
        "--settle",
        "2m",
    ];
    let replay = format!(
        "PAGEFEED_CHAOS_SEED={seed} cargo test -p pagefeed-bench --test \
         chaos_short_run_holds_every_invariant -- --nocapture \
         (or: cargo build --bins && target/debug/pagefeed-bench {})",
        args.join(" ")
    );
    eprintln!("chaos seed {seed}; replay: {replay}");
    let dir = tempfile::Builder::new()
        .prefix(&format!("pagefeed-chaos-seed{seed}-"))
        .tempdir()?;
    let out = Command::new(env!("CARGO_BIN_EXE_pagefeed-bench"))
        .args(args)
        .arg("--dir")
        .arg(dir.path())
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let held = out.status.success() && stdout.contains("every invariant held");
    if !held {
        let kept = dir.keep();
        let lines: Vec<&str> = stdout
            .lines()
            .filter(|l| l.contains("invariant") || l.contains("FAILED") || l.contains("settled"))
            .collect();
        panic!(
            "the chaos with seed {seed} exited with {}; replay: {replay}\n\
             run directory (kept): {}\n{}\n--- stderr ---\n{}",
            out.status,
            kept.display(),
            lines.join("\n"),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    eprintln!("{stdout}");
    Ok(())
}
