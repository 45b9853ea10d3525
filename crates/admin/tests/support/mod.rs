//! Running the real `pagefeed-admin` binary, as an operator would.
// Each test file uses its own share of these helpers.
#![allow(dead_code)]

use std::time::Duration;

/// What one run printed and how it ended.
#[derive(Debug)]
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Its stdout as one JSON value; panics, showing the run, unless it
    /// succeeded.
    pub fn json(&self) -> serde_json::Value {
        assert_eq!(self.code, Some(0), "pagefeed-admin failed: {self:?}");
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}): {self:?}"))
    }

    /// Its stdout as JSON lines.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        assert_eq!(self.code, Some(0), "pagefeed-admin failed: {self:?}");
        self.stdout
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("a line is not JSON ({e}): {line}"))
            })
            .collect()
    }
}

/// `pagefeed-admin args`, with no `PAGEFEED_*` variable of the test's
/// environment; fails after 60 s.
pub async fn admin(args: &[&str]) -> Ran {
    admin_with_env(args, &[]).await
}

/// [`admin`], with these environment variables set.
pub async fn admin_with_env(args: &[&str], env: &[(&str, &str)]) -> Ran {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_pagefeed-admin"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PAGEFEED_") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().copied());
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        command.args(args).kill_on_drop(true).output(),
    )
    .await
    .expect("pagefeed-admin ends within 60 s")
    .expect("pagefeed-admin runs");
    Ran {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
