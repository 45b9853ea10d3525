//! The time one page's decoding, parsing and extraction may take
//! (`[fetcher] parse_deadline`). html5ever and the selector matching cannot
//! be interrupted, so the work checks [`Deadline::passed`] as it goes.

use std::time::{Duration, Instant};

/// A point in time, and the budget it was set from (for messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    /// `None` when `budget` is too large to add to now: never passes.
    at: Option<Instant>,
    budget: Duration,
}

impl Deadline {
    /// `budget` from now.
    pub fn after(budget: Duration) -> Deadline {
        Deadline {
            at: Instant::now().checked_add(budget),
            budget,
        }
    }

    pub fn passed(&self) -> bool {
        self.at.is_some_and(|at| Instant::now() >= at)
    }

    pub fn budget(&self) -> Duration {
        self.budget
    }
}

/// The deadline passed before the work was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expired;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_budget_has_passed_and_a_huge_one_never_does() {
        assert!(Deadline::after(Duration::ZERO).passed());
        assert!(!Deadline::after(Duration::MAX).passed());
        assert!(!Deadline::after(Duration::from_secs(60)).passed());
    }
}
