//! When each fault comes and which it is, drawn from a seeded PRNG so that
//! a run can be replayed with the same `--seed` (and `--overlap`); and the
//! rules that faults running at once must keep ([`allowed`]).

use std::time::Duration;

use pagefeed_testkit::nats::Partition;

use super::faults::{service_kind, Fault, Holds, NatsTarget};
use super::partition::Cut;

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

/// A fault drawn for a time of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// When it is due, from the start of the faults.
    pub at: Duration,
    pub fault: Fault,
}

/// The faults of a run: each starts a random gap after the previous one
/// started, or, when `overlap` faults are already planned to run then,
/// that gap after the first of them ends; its kind and target are drawn
/// among those [`allowed`] beside the faults it overlaps.
pub struct Schedule {
    rng: Rng,
    services: Vec<String>,
    overlap: usize,
    last: Duration,
    /// The faults planned so far that may still overlap the next: (start,
    /// end, fault).
    planned: Vec<(Duration, Duration, Fault)>,
    /// The projector whose disk can be filled up, if one can.
    small_disk: Option<String>,
    /// Whether a fetcher's clock can be skewed.
    clock_skew: bool,
}

/// The kinds of fault and their weights.
const KINDS: &[(&str, u64)] = &[
    ("kill fetcher", 2),
    ("kill projector", 2),
    ("kill scheduler", 1),
    ("pause service", 2),
    ("kill nats", 3),
    ("fill projector disk", 1),
    ("skew fetcher clock", 1),
    ("partition service", 2),
    ("partition nats", 2),
];

/// How many draws a fault gets to be allowed beside the faults it
/// overlaps before it is put after the first of them instead.
const DRAWS: usize = 20;

/// Whether `fault` may run while `running` do, among `services`:
///
/// * one fault at a time on a process (its `Holds`);
/// * at most one nats-server of the three down at once, so the cluster
///   keeps its quorum (the streams have 3 replicas);
/// * at least one scheduler, one fetcher and one projector untouched, so
///   that the system goes on working however many faults overlap (the
///   sample site, the outside world, is not counted).
///
/// `Err` says which rule refused it.
pub fn allowed<'a>(
    fault: &Fault,
    running: impl IntoIterator<Item = &'a Fault>,
    services: &[String],
) -> Result<(), String> {
    let holds = fault.holds();
    let mut hit = Vec::new();
    for other in running {
        match (other.holds(), &holds) {
            (Holds::NatsNode, Holds::NatsNode) => {
                return Err("a nats-server is already down".to_owned())
            }
            (Holds::Service(a), Holds::Service(b)) if &a == b => {
                return Err(format!("{a} is already under a fault"))
            }
            (Holds::Service(a), _) => hit.push(a),
            _ => {}
        }
    }
    if let Holds::Service(process) = holds {
        let kind = service_kind(&process);
        if kind != process {
            let of_kind = services.iter().filter(|s| service_kind(s) == kind).count();
            let hit = hit.iter().filter(|s| service_kind(s) == kind).count();
            if hit + 1 >= of_kind {
                return Err(format!("it would leave no {kind} untouched"));
            }
        }
    }
    Ok(())
}

impl Schedule {
    /// Faults among `services` (every process's name but the sample site's
    /// for kills; any of them for a pause), up to `overlap` at once.
    pub fn new(seed: u64, services: Vec<String>, overlap: usize) -> Schedule {
        Schedule {
            rng: Rng::new(seed),
            services,
            overlap: overlap.max(1),
            last: Duration::ZERO,
            planned: Vec::new(),
            small_disk: None,
            clock_skew: false,
        }
    }

    /// Draws full-disk faults too, on `process` (a projector on a tmpfs).
    pub fn with_small_disk(mut self, process: &str) -> Schedule {
        self.small_disk = Some(process.to_owned());
        self
    }

    /// Draws clock-skew faults too (libfaketime is there).
    pub fn with_clock_skew(mut self) -> Schedule {
        self.clock_skew = true;
        self
    }

    /// How many faults may run at once.
    pub fn overlap(&self) -> usize {
        self.overlap
    }

    /// The services faults are drawn among.
    pub fn services(&self) -> &[String] {
        &self.services
    }

    /// The next fault and when it is due.
    pub fn next(&mut self) -> Planned {
        let gap = self.gap();
        let mut at = self.last + gap;
        loop {
            self.planned.retain(|(_, end, _)| *end > at);
            let mut ends: Vec<Duration> = self.planned.iter().map(|(_, end, _)| *end).collect();
            ends.sort();
            if self.planned.len() >= self.overlap {
                at = ends[0] + gap;
                continue;
            }
            for _ in 0..DRAWS {
                let fault = self.draw();
                let running = self.planned.iter().map(|(_, _, f)| f);
                if allowed(&fault, running, &self.services).is_ok() {
                    self.last = at;
                    self.planned.push((at, at + fault.lasts(), fault.clone()));
                    return Planned { at, fault };
                }
            }
            at = ends[0] + gap;
        }
    }

    /// The quiet time before the next fault.
    fn gap(&mut self) -> Duration {
        self.rng
            .between(Duration::from_secs(2), Duration::from_secs(8))
    }

    /// A partition of `cut`, silent or refused, for 3 to 20 s.
    fn partition(&mut self, cut: Cut) -> Fault {
        let kind = if self.rng.below(2) == 0 {
            Partition::Silent
        } else {
            Partition::Refused
        };
        Fault::Partition {
            cut,
            kind,
            lasts: self
                .rng
                .between(Duration::from_secs(3), Duration::from_secs(20)),
        }
    }

    /// A fault of a kind drawn by weight.
    fn draw(&mut self) -> Fault {
        let kinds: Vec<(&str, u64)> = KINDS
            .iter()
            .copied()
            .filter(|(kind, _)| match *kind {
                "fill projector disk" => self.small_disk.is_some(),
                "skew fetcher clock" => self.clock_skew,
                _ => true,
            })
            .collect();
        let total: u64 = kinds.iter().map(|(_, w)| w).sum();
        let mut roll = self.rng.below(total);
        let kind = kinds
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
            "fill projector disk" => Fault::FillDisk {
                process: self.small_disk.clone().unwrap_or_default(),
                full: self
                    .rng
                    .between(Duration::from_secs(5), Duration::from_secs(20)),
            },
            "skew fetcher clock" => {
                let candidates = of("fetcher-");
                let process = self.rng.pick(&candidates).clone();
                let minutes = self
                    .rng
                    .between(Duration::from_secs(120), Duration::from_secs(600));
                let skew_secs = minutes.as_secs() as i64;
                Fault::SkewClock {
                    process,
                    skew_secs: if self.rng.below(2) == 0 {
                        skew_secs
                    } else {
                        -skew_secs
                    },
                    lasts: self
                        .rng
                        .between(Duration::from_secs(20), Duration::from_secs(60)),
                }
            }
            "partition service" => {
                let candidates: Vec<String> = ["scheduler-", "fetcher-", "projector-"]
                    .into_iter()
                    .flat_map(of)
                    .collect();
                let cut = Cut::Service(self.rng.pick(&candidates).clone());
                self.partition(cut)
            }
            "partition nats" => {
                let cut = Cut::Nats(self.rng.below(3) as usize);
                self.partition(cut)
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
        let mut one = Schedule::new(7, services(), 3);
        let mut two = Schedule::new(7, services(), 3);
        for _ in 0..50 {
            assert_eq!(one.next(), two.next());
        }
    }

    #[test]
    fn only_services_are_killed_and_every_kind_comes() {
        let mut schedule = Schedule::new(1, services(), 1)
            .with_small_disk("projector-b")
            .with_clock_skew();
        let mut kinds = std::collections::BTreeSet::new();
        for _ in 0..500 {
            let fault = schedule.draw();
            if let Fault::Kill { process, .. } = &fault {
                assert_ne!(process, "sample-site");
            }
            kinds.insert(fault.kind());
        }
        assert!(kinds.contains("pause sample-site"), "{kinds:?}");
        assert!(kinds.contains("fill projector disk"), "{kinds:?}");
        assert!(kinds.contains("skew fetcher clock ahead"), "{kinds:?}");
        assert!(kinds.contains("skew fetcher clock behind"), "{kinds:?}");
        for partitioned in ["scheduler", "fetcher", "projector", "nats node"] {
            for kind in ["silent", "refused"] {
                let name = format!("partition {partitioned} {kind}");
                assert!(kinds.contains(&name), "{name} in {kinds:?}");
            }
        }
        assert_eq!(kinds.len(), 22, "{kinds:?}");
        let mut plain = Schedule::new(1, services(), 1);
        for _ in 0..500 {
            let fault = plain.draw();
            assert!(
                !matches!(fault, Fault::FillDisk { .. } | Fault::SkewClock { .. }),
                "{fault:?} drawn though the run cannot inject it"
            );
        }
    }

    #[test]
    fn one_at_a_time_each_starts_after_the_previous_ends() {
        let mut schedule = Schedule::new(3, services(), 1);
        let mut free_from = Duration::ZERO;
        for _ in 0..200 {
            let Planned { at, fault } = schedule.next();
            assert!(at >= free_from, "{at:?} {free_from:?}");
            free_from = at + fault.lasts();
        }
    }

    #[test]
    fn overlapping_faults_keep_the_rules() {
        for overlap in [2, 3] {
            let mut schedule = Schedule::new(11, services(), overlap)
                .with_small_disk("projector-b")
                .with_clock_skew();
            let mut planned: Vec<Planned> = Vec::new();
            let mut most = 0;
            for _ in 0..500 {
                let next = schedule.next();
                planned.retain(|p| p.at + p.fault.lasts() > next.at);
                let running: Vec<&Fault> = planned.iter().map(|p| &p.fault).collect();
                assert!(
                    running.len() < overlap,
                    "{overlap}: {running:?} and {next:?}"
                );
                assert_eq!(
                    allowed(&next.fault, running, &services()),
                    Ok(()),
                    "{next:?} beside {planned:?}"
                );
                planned.push(next);
                most = most.max(planned.len());
            }
            assert_eq!(most, overlap, "faults do overlap, up to {overlap}");
        }
    }

    #[test]
    fn the_rules_refuse_a_second_nats_server_and_the_last_of_a_kind() {
        let services = services();
        let nats = |i| Fault::KillNats {
            target: NatsTarget::Any(i),
            down: Duration::from_secs(5),
        };
        let kill = |p: &str| Fault::Kill {
            process: p.to_owned(),
            down: Duration::from_secs(1),
        };
        assert!(allowed(&nats(1), [&nats(0)], &services).is_err());
        let partition = |cut| Fault::Partition {
            cut,
            kind: Partition::Silent,
            lasts: Duration::from_secs(5),
        };
        let cut_off = partition(Cut::Nats(2));
        assert!(allowed(&cut_off, [&nats(0)], &services).is_err());
        assert!(allowed(&nats(0), [&cut_off], &services).is_err());
        let fetcher_cut = partition(Cut::Service("fetcher-1".to_owned()));
        assert!(allowed(&fetcher_cut, [&kill("fetcher-1")], &services).is_err());
        assert!(allowed(&fetcher_cut, [&cut_off], &services).is_ok());
        assert!(allowed(&kill("fetcher-1"), [&nats(0)], &services).is_ok());
        assert!(allowed(&kill("fetcher-1"), [&kill("fetcher-1")], &services).is_err());
        let two = [kill("fetcher-1"), kill("fetcher-2")];
        assert!(allowed(&kill("fetcher-3"), &two, &services).is_err());
        assert!(allowed(&kill("projector-b"), [&kill("projector-a")], &services).is_err());
        assert!(allowed(&kill("scheduler-2"), [&kill("projector-a")], &services).is_ok());
        let pause_site = Fault::Pause {
            process: "sample-site".to_owned(),
            paused: Duration::from_secs(3),
        };
        assert!(allowed(&pause_site, &two, &services).is_ok());
    }
}
