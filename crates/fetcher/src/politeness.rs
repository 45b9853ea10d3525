//! Being a polite crawler, per host and per process: at most N requests to a
//! host at once, and at least a minimum delay between the starts of two
//! requests to the same host, however many tasks the fetcher runs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The per-host limits of one process.
#[derive(Debug)]
pub struct Politeness {
    per_host: usize,
    min_delay: Duration,
    // One small entry per host ever seen; hosts come from the config, so the
    // map stays as small as the set of sites.
    hosts: Mutex<HashMap<String, Arc<Host>>>,
}

#[derive(Debug)]
struct Host {
    slots: Arc<Semaphore>,
    /// The earliest start of the next request.
    next_start: Mutex<Instant>,
}

/// The right to send one request to a host; dropping it frees the slot.
#[derive(Debug)]
pub struct HostPermit {
    _slot: OwnedSemaphorePermit,
}

impl Politeness {
    /// `per_host_concurrency` of 0 is taken as 1.
    pub fn new(per_host_concurrency: usize, min_delay: Duration) -> Self {
        Politeness {
            per_host: per_host_concurrency.max(1),
            min_delay,
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for a free slot for `host` and for its turn after the previous
    /// start, and returns the permit to hold while the request runs.
    pub async fn acquire(&self, host: &str) -> HostPermit {
        let state = {
            let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
            match hosts.get(host) {
                Some(state) => Arc::clone(state),
                None => {
                    let state = Arc::new(Host {
                        slots: Arc::new(Semaphore::new(self.per_host)),
                        next_start: Mutex::new(Instant::now()),
                    });
                    hosts.insert(host.to_owned(), Arc::clone(&state));
                    state
                }
            }
        };
        let slot = Arc::clone(&state.slots)
            .acquire_owned()
            .await
            .unwrap_or_else(|_| unreachable!("the semaphore is never closed"));
        // Reserve a start time under the lock, then sleep without it. If this
        // future is dropped while sleeping, its turn is simply skipped.
        let start = {
            let mut next = state
                .next_start
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let start = (*next).max(Instant::now());
            *next = start + self.min_delay;
            start
        };
        tokio::time::sleep_until(start).await;
        HostPermit { _slot: slot }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn starts_to_one_host_are_spaced() {
        let polite = Politeness::new(10, Duration::from_millis(50));
        let begin = Instant::now();
        let mut starts = Vec::new();
        for _ in 0..5 {
            let _permit = polite.acquire("a.example").await;
            starts.push(Instant::now());
        }
        // Lower bounds from the beginning only: a late wake-up may shorten
        // the gap after it, never the time since the first start.
        assert!(
            begin.elapsed() >= Duration::from_millis(200),
            "{:?}",
            begin.elapsed()
        );
        for (k, start) in starts.iter().enumerate() {
            assert!(*start - begin >= Duration::from_millis(50) * k as u32);
        }
    }

    #[tokio::test]
    async fn concurrent_acquirers_are_spaced_too() {
        let polite = Arc::new(Politeness::new(10, Duration::from_millis(50)));
        let begin = Instant::now();
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let polite = Arc::clone(&polite);
                tokio::spawn(async move {
                    let _permit = polite.acquire("a.example").await;
                    Instant::now()
                })
            })
            .collect();
        let mut starts = Vec::new();
        for t in tasks {
            starts.push(t.await.unwrap());
        }
        starts.sort();
        for (k, start) in starts.iter().enumerate() {
            assert!(*start - begin >= Duration::from_millis(50) * k as u32);
        }
    }

    #[tokio::test]
    async fn other_hosts_do_not_wait() {
        let polite = Politeness::new(1, Duration::from_secs(3600));
        let _a = polite.acquire("a.example").await;
        // Would take an hour if hosts shared their limits.
        let _b = tokio::time::timeout(Duration::from_secs(60), polite.acquire("b.example"))
            .await
            .expect("another host is independent");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_than_n_at_once() {
        let polite = Arc::new(Politeness::new(3, Duration::ZERO));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (polite, running, most) = (polite.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    let _permit = polite.acquire("a.example").await;
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let most = most.load(Ordering::SeqCst);
        assert!((1..=3).contains(&most), "{most} at once");
    }

    #[tokio::test]
    async fn a_slot_frees_when_a_permit_drops() {
        let polite = Politeness::new(2, Duration::ZERO);
        let first = polite.acquire("a.example").await;
        let _second = polite.acquire("a.example").await;
        let third = polite.acquire("a.example");
        tokio::pin!(third);
        tokio::select! {
            biased;
            _ = &mut third => panic!("a third request got a slot while two were held"),
            _ = std::future::ready(()) => {}
        }
        drop(first);
        tokio::time::timeout(Duration::from_secs(60), third)
            .await
            .expect("the freed slot goes to the waiter");
    }
}
