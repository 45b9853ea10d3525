//! A service run in-process (its library's `run(cfg, token)` on the test's
//! runtime), stopped through its own cancellation token.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A service running in-process; dropping it leaves the task running until
/// the runtime ends.
pub struct Running {
    token: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Spawns `run(child token)`, for example
    /// `Running::spawn(|token| pagefeed_scheduler::run(pagefeed_scheduler::Options { cfg }, token))`.
    pub fn spawn<F, Fut>(run: F) -> Running
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let token = CancellationToken::new();
        let handle = tokio::spawn(run(token.child_token()));
        Running { token, handle }
    }

    /// Cancels the service and returns what `run` returned.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.token.cancel();
        tokio::time::timeout(Duration::from_secs(20), self.handle)
            .await
            .map_err(|_| anyhow::anyhow!("the service did not stop within 20 s"))??
    }

    /// Waits for the service to end by itself (an error, typically).
    pub async fn join(self) -> anyhow::Result<()> {
        tokio::time::timeout(Duration::from_secs(20), self.handle)
            .await
            .map_err(|_| anyhow::anyhow!("the service did not end within 20 s"))??
    }

    /// Whether `run` has returned.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}
