//! What only the end-to-end scenarios share: the scheduler run in-process.
//! Everything else (configs, reading streams back, waiting with a deadline,
//! the services as real processes) is in `pagefeed_testkit`.

use pagefeed_events::Config;
use pagefeed_testkit::in_process::Running;

/// Runs the scheduler in-process.
pub fn spawn_scheduler(cfg: Config) -> Running {
    Running::spawn(|token| pagefeed_scheduler::run(pagefeed_scheduler::Options { cfg }, token))
}
