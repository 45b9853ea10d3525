//! When the next fault comes and which it is, drawn from a seeded PRNG so
//! that a run can be replayed with the same `--seed`.

use std::time::Duration;

use super::faults::{Fault, NatsTarget};

/// SplitMix64: small, seedable, and good enough to pick faults.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A duration in `[low, high]`, to the millisecond.
    pub fn between(&mut self, low: Duration, high: Duration) -> Duration {
        let span = (high - low).as_millis() as u64;
        low + Duration::from_millis(self.below(span + 1))
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// The faults of a run, one at a time, each after a random quiet gap.
pub struct Schedule {
    rng: Rng,
    services: Vec<String>,
}

/// The kinds of fault and their weights.
const KINDS: &[(&str, u64)] = &[
    ("kill fetcher", 2),
    ("kill projector", 2),
    ("kill scheduler", 1),
    ("pause service", 2),
    ("kill nats", 3),
];

impl Schedule {
    /// Faults among `services` (every process's name but the sample site's
    /// for kills; any of them for a pause).
    pub fn new(seed: u64, services: Vec<String>) -> Schedule {
        Schedule {
            rng: Rng::new(seed),
            services,
        }
    }

    /// The quiet time before the next fault.
    pub fn gap(&mut self) -> Duration {
        self.rng
            .between(Duration::from_secs(2), Duration::from_secs(8))
    }

    /// The next fault.
    pub fn next_fault(&mut self) -> Fault {
        let total: u64 = KINDS.iter().map(|(_, w)| w).sum();
        let mut roll = self.rng.below(total);
        let kind = KINDS
            .iter()
            .find(|(_, w)| {
                if roll < *w {
                    true
                } else {
                    roll -= w;
                    false
                }
            })
            .map_or("kill nats", |(k, _)| k);
        let of = |prefix: &str| -> Vec<String> {
            self.services
                .iter()
                .filter(|s| s.starts_with(prefix))
                .cloned()
                .collect()
        };
        match kind {
            "kill fetcher" | "kill projector" | "kill scheduler" => {
                let prefix = kind.trim_start_matches("kill ");
                let candidates = of(prefix);
                Fault::Kill {
                    process: self.rng.pick(&candidates).clone(),
                    down: self
                        .rng
                        .between(Duration::from_millis(200), Duration::from_secs(3)),
                }
            }
            "pause service" => {
                let candidates = self.services.clone();
                Fault::Pause {
                    process: self.rng.pick(&candidates).clone(),
                    paused: self
                        .rng
                        .between(Duration::from_secs(2), Duration::from_secs(8)),
                }
            }
            _ => {
                let target = match self.rng.below(4) {
                    0 => NatsTarget::Any(self.rng.below(3) as usize),
                    1 => NatsTarget::MetaLeader,
                    2 => NatsTarget::StreamLeader(pagefeed_events::subject::TASKS_STREAM),
                    _ => NatsTarget::StreamLeader(pagefeed_events::subject::EVENTS_STREAM),
                };
                Fault::KillNats {
                    target,
                    down: self
                        .rng
                        .between(Duration::from_secs(2), Duration::from_secs(10)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn services() -> Vec<String> {
        [
            "sample-site",
            "projector-a",
            "projector-b",
            "scheduler-1",
            "scheduler-2",
        ]
        .into_iter()
        .chain(["fetcher-1", "fetcher-2", "fetcher-3"])
        .map(str::to_owned)
        .collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_faults() {
        let mut one = Schedule::new(7, services());
        let mut two = Schedule::new(7, services());
        for _ in 0..50 {
            assert_eq!(one.gap(), two.gap());
            assert_eq!(
                format!("{:?}", one.next_fault()),
                format!("{:?}", two.next_fault())
            );
        }
    }

    #[test]
    fn only_services_are_killed_and_every_kind_comes() {
        let mut schedule = Schedule::new(1, services());
        let mut kinds = std::collections::BTreeSet::new();
        for _ in 0..500 {
            let fault = schedule.next_fault();
            if let Fault::Kill { process, .. } = &fault {
                assert_ne!(process, "sample-site");
            }
            kinds.insert(fault.kind());
        }
        assert!(kinds.contains("pause sample-site"), "{kinds:?}");
        assert_eq!(kinds.len(), 11, "{kinds:?}");
    }
}
