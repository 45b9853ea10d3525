//! What a chaos run tells: each fault as it is injected (elapsed and wall
//! clock), the faults by kind, and each invariant with its figure; the same
//! lines go to `<run dir>/chaos.log`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{SecondsFormat, Utc};

/// One invariant, whether it held, and the figure that says so.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub held: bool,
    pub figure: String,
}

/// The run's log: printed, and appended to `chaos.log` in the run directory.
pub struct Report {
    started: Instant,
    file: PathBuf,
    faults: BTreeMap<String, usize>,
    checks: Vec<Check>,
}

impl Report {
    pub fn new(dir: &Path) -> Report {
        Report {
            started: Instant::now(),
            file: dir.join("chaos.log"),
            faults: BTreeMap::new(),
            checks: Vec::new(),
        }
    }

    /// Prints `line` prefixed by the elapsed and wall-clock times.
    pub fn line(&self, line: &str) {
        let stamped = format!(
            "[{:>7.1}s {}] {line}",
            self.started.elapsed().as_secs_f64(),
            Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
        );
        println!("{stamped}");
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.file)
        {
            let _ = writeln!(file, "{stamped}");
        }
    }

    /// Counts a fault of `kind`.
    pub fn fault(&mut self, kind: String) {
        *self.faults.entry(kind).or_default() += 1;
    }

    pub fn check(&mut self, check: Check) {
        self.line(&format!(
            "invariant {:<40} {:<8} {}",
            check.name,
            if check.held { "held" } else { "VIOLATED" },
            check.figure
        ));
        self.checks.push(check);
    }

    pub fn all_held(&self) -> bool {
        self.checks.iter().all(|c| c.held)
    }

    /// The faults by kind, on one line.
    pub fn faults_by_kind(&self) -> String {
        let total: usize = self.faults.values().sum();
        let kinds: Vec<String> = self
            .faults
            .iter()
            .map(|(kind, n)| format!("{kind} {n}"))
            .collect();
        format!("{total} faults: {}", kinds.join(", "))
    }
}
