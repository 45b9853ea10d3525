//! The one back-off of pagefeed's retry loops: backon's exponential schedule
//! with jitter, capped, and a wait that ends early on shutdown. Jitter keeps
//! processes that lost NATS together from all retrying in step.

use std::time::Duration;

use backon::{BackoffBuilder as _, ExponentialBackoff, ExponentialBuilder};
use tokio_util::sync::CancellationToken;

/// Delays between attempts: each step doubles from `first` up to half of
/// `max`, and each delay is its step plus a random part of up to the same
/// again, so the n-th delay lies in `[step, 2 * step)` and none reaches `max`.
#[derive(Debug)]
pub struct Backoff {
    schedule: ExponentialBuilder,
    delays: ExponentialBackoff,
    max: Duration,
}

impl Backoff {
    /// The first delay is at least `first`; every delay is under `max`
    /// (`first` is lowered to half of `max` if it is more).
    pub fn new(first: Duration, max: Duration) -> Backoff {
        let step_max = max / 2;
        let schedule = ExponentialBuilder::new()
            .with_min_delay(first.min(step_max))
            .with_max_delay(step_max)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times();
        Backoff {
            schedule,
            delays: schedule.build(),
            max,
        }
    }

    /// The next delay, longer each time up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        // The schedule has no end; `max` only if that ever changed. Jitter
        // is added to the step with f32 arithmetic, so the sum is bounded
        // again here.
        let delay = self.delays.next().unwrap_or(self.max);
        delay.min(self.max.saturating_sub(Duration::from_nanos(1)))
    }

    /// Starts the schedule again from its first delay (after a success).
    pub fn reset(&mut self) {
        self.delays = self.schedule.build();
    }

    /// Sleeps for the next delay. `false` if `cancel` fired first: the caller
    /// stops.
    pub async fn wait(&mut self, cancel: &CancellationToken) -> bool {
        sleep(self.next_delay(), cancel).await
    }
}

/// Sleeps for `delay`. `false` if `cancel` fired first.
pub async fn sleep(delay: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = cancel.cancelled() => false,
    }
}

impl Default for Backoff {
    /// The schedule for waiting on NATS (a connection, a stream, a consumer):
    /// from 100 ms, under 5 s.
    fn default() -> Backoff {
        Backoff::new(Duration::from_millis(100), Duration::from_secs(5))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(5);

    #[test]
    fn delays_grow_from_the_first_and_stay_under_the_cap() {
        for _ in 0..100 {
            let mut backoff = Backoff::new(FIRST, MAX);
            let delays: Vec<Duration> = (0..20).map(|_| backoff.next_delay()).collect();
            // The n-th delay lies in [step, 2 * step), step = FIRST * 2^n.
            for (n, delay) in delays.iter().take(5).enumerate() {
                let step = FIRST * 2u32.pow(n as u32);
                assert!(*delay >= step && *delay < step * 2, "delay {n}: {delay:?}");
            }
            // Then capped: in [MAX / 2, MAX).
            for delay in &delays[6..] {
                assert!(*delay >= MAX / 2 && *delay < MAX, "{delay:?}");
            }
        }
    }

    #[test]
    fn delays_are_jittered() {
        let firsts: Vec<Duration> = (0..50)
            .map(|_| Backoff::new(FIRST, MAX).next_delay())
            .collect();
        let distinct: std::collections::HashSet<_> = firsts.iter().collect();
        assert!(distinct.len() > 10, "{firsts:?}");
        // Capped delays are jittered too, not all equal to the cap.
        let mut backoff = Backoff::new(FIRST, MAX);
        let capped: std::collections::HashSet<_> =
            (0..60).map(|_| backoff.next_delay()).skip(10).collect();
        assert!(capped.len() > 10, "{capped:?}");
    }

    #[test]
    fn reset_starts_again_from_the_first_delay() {
        let mut backoff = Backoff::new(FIRST, MAX);
        for _ in 0..10 {
            backoff.next_delay();
        }
        assert!(backoff.next_delay() >= MAX / 2);
        backoff.reset();
        let delay = backoff.next_delay();
        assert!(delay >= FIRST && delay < FIRST * 2, "{delay:?}");
    }

    #[test]
    fn a_first_delay_over_the_cap_is_lowered() {
        let mut backoff = Backoff::new(Duration::from_secs(60), Duration::from_secs(2));
        for _ in 0..10 {
            let delay = backoff.next_delay();
            assert!(delay >= Duration::from_secs(1) && delay < Duration::from_secs(2));
        }
    }

    #[tokio::test]
    async fn a_wait_ends_at_once_on_cancellation() {
        let cancel = CancellationToken::new();
        let mut short = Backoff::new(Duration::from_millis(1), Duration::from_millis(4));
        assert!(short.wait(&cancel).await, "a wait that ran out");
        cancel.cancel();
        let mut long = Backoff::new(Duration::from_secs(3600), Duration::from_secs(7200));
        let started = std::time::Instant::now();
        assert!(!long.wait(&cancel).await, "a wait cut short");
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
