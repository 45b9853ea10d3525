//! Being a polite crawler, per host and per process: at most N requests to a
//! host at once, and at least a minimum delay between the starts of two
//! requests to the same host, however many tasks the fetcher runs. A host
//! with nothing in flight whose delay has passed is forgotten.

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
    hosts: Mutex<Hosts>,
}

/// The hosts with something to remember: a request in flight or waiting,
/// or a delay not yet over. Idle ones are swept out when the map has
/// doubled since the last sweep, so it stays within twice the busy hosts
/// (plus [`SWEEP_FLOOR`]) at an amortised constant cost per request.
#[derive(Debug, Default)]
struct Hosts {
    map: HashMap<String, Arc<Host>>,
    /// The size that triggers the next sweep.
    sweep_at: usize,
}

/// Below this many hosts the map is never swept.
const SWEEP_FLOOR: usize = 64;

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
            hosts: Mutex::new(Hosts {
                map: HashMap::new(),
                sweep_at: SWEEP_FLOOR,
            }),
        }
    }

    /// Waits for a free slot for `host` and for its turn after the previous
    /// start, and returns the permit to hold while the request runs.
    pub async fn acquire(&self, host: &str) -> HostPermit {
        self.acquire_spaced(host, Duration::ZERO).await
    }

    /// [`Politeness::acquire`], keeping the next start to `host` at least
    /// `delay` after this one when that is longer than the minimum delay.
    pub async fn acquire_spaced(&self, host: &str, delay: Duration) -> HostPermit {
        let state = {
            let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
            match hosts.map.get(host) {
                Some(state) => Arc::clone(state),
                None => {
                    if hosts.map.len() >= hosts.sweep_at {
                        self.sweep(&mut hosts);
                    }
                    let state = Arc::new(Host {
                        slots: Arc::new(Semaphore::new(self.per_host)),
                        next_start: Mutex::new(Instant::now()),
                    });
                    hosts.map.insert(host.to_owned(), Arc::clone(&state));
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
            *next = start + self.min_delay.max(delay);
            start
        };
        tokio::time::sleep_until(start).await;
        HostPermit { _slot: slot }
    }

    /// Forgets the idle hosts: no one holds or awaits their state (the map's
    /// is the only reference, and acquirers clone it under the same lock),
    /// no permit is out, and their next start is not in the future, so a
    /// fresh entry would behave the same.
    fn sweep(&self, hosts: &mut Hosts) {
        let now = Instant::now();
        hosts.map.retain(|_, host| {
            let idle = Arc::strong_count(host) == 1
                && host.slots.available_permits() == self.per_host
                && *host
                    .next_start
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    <= now;
            !idle
        });
        hosts.sweep_at = (2 * hosts.map.len()).max(SWEEP_FLOOR);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    impl Politeness {
        /// How many hosts are remembered now.
        fn hosts(&self) -> usize {
            self.hosts
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .map
                .len()
        }
    }

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
    async fn a_longer_delay_of_a_host_wins() {
        let polite = Politeness::new(10, Duration::from_millis(10));
        let begin = Instant::now();
        let _first = polite
            .acquire_spaced("a.example", Duration::from_millis(200))
            .await;
        let _second = polite.acquire("a.example").await;
        assert!(begin.elapsed() >= Duration::from_millis(200));
        // A shorter one than the minimum changes nothing.
        let mark = Instant::now();
        let _third = polite.acquire_spaced("b.example", Duration::ZERO).await;
        let _fourth = polite.acquire("b.example").await;
        assert!(mark.elapsed() >= Duration::from_millis(10));
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
    async fn idle_hosts_are_forgotten() {
        let polite = Politeness::new(2, Duration::ZERO);
        for n in 0..10_000 {
            let _permit = polite.acquire(&format!("host{n}.example")).await;
        }
        let remembered = polite.hosts();
        assert!(
            remembered <= 2 * SWEEP_FLOOR,
            "{remembered} hosts remembered"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn busy_and_waiting_hosts_are_kept() {
        let polite = Politeness::new(1, Duration::from_secs(10));
        let held = polite.acquire("busy.example").await;
        let _ = polite.acquire("delayed.example").await;
        for n in 0..1_000 {
            let _permit = polite.acquire(&format!("host{n}.example")).await;
        }
        // Nothing passed: every host seen is within its delay, so all kept.
        assert_eq!(polite.hosts(), 1_002);
        tokio::time::advance(Duration::from_secs(11)).await;
        for n in 0..1_000 {
            let _permit = polite.acquire(&format!("later{n}.example")).await;
        }
        assert!(polite.hosts() < 1_002, "{}", polite.hosts());
        // The busy host kept its slot: a second request still waits.
        let second = polite.acquire("busy.example");
        tokio::pin!(second);
        tokio::select! {
            biased;
            _ = &mut second => panic!("the busy host was forgotten with a request in flight"),
            _ = std::future::ready(()) => {}
        }
        drop(held);
        let _ = second.await;
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
