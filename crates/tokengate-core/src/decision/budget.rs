//! The per-address failure budget (SPEC §2.6) as a pure token bucket: `failures_per_minute`
//! units, refilled evenly over a minute. A failure takes a unit *before* its work is done (a
//! password attempt takes it before its hash); an attempt that turns out not to be a failure
//! gives it back. No clock is read here: the caller passes the time elapsed since an origin of
//! its choosing, and keeps one bucket per address.

use std::time::Duration;

/// One address's budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    available: f64,
    updated: Duration,
}

impl Bucket {
    /// A full bucket at `now`.
    pub fn full(per_minute: u32, now: Duration) -> Self {
        Self {
            available: f64::from(per_minute),
            updated: now,
        }
    }

    fn refill(&mut self, per_minute: u32, now: Duration) {
        let elapsed = now.saturating_sub(self.updated).as_secs_f64();
        let capacity = f64::from(per_minute);
        self.available = (self.available + elapsed * capacity / 60.0).min(capacity);
        self.updated = self.updated.max(now);
    }

    /// Takes one unit; `Err(seconds)` (at least 1) until one is back when none is left.
    pub fn take(&mut self, per_minute: u32, now: Duration) -> Result<(), u64> {
        if per_minute == 0 {
            return Ok(());
        }
        self.refill(per_minute, now);
        if self.available >= 1.0 {
            self.available -= 1.0;
            return Ok(());
        }
        let missing = 1.0 - self.available;
        let seconds = (missing * 60.0 / f64::from(per_minute)).ceil();
        // Bounded by 60 s for any budget of at least one a minute.
        Err((seconds as u64).clamp(1, 60))
    }

    /// Gives back a unit taken for an attempt that was not a failure.
    pub fn give_back(&mut self, per_minute: u32) {
        self.available = (self.available + 1.0).min(f64::from(per_minute));
    }

    /// Whether the bucket has refilled completely by `now` (then it can be forgotten).
    pub fn is_full(&self, per_minute: u32, now: Duration) -> bool {
        let mut copy = *self;
        copy.refill(per_minute, now);
        copy.available >= f64::from(per_minute)
    }

    /// Whether a unit could be taken at `now`, without taking it.
    pub fn has_unit(&self, per_minute: u32, now: Duration) -> bool {
        let mut copy = *self;
        per_minute == 0 || copy.take(per_minute, now).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> Duration {
        Duration::from_secs(seconds)
    }

    #[test]
    fn a_budget_allows_its_size_and_then_refuses_until_a_unit_refills() {
        let mut bucket = Bucket::full(3, at(0));
        for _ in 0..3 {
            assert_eq!(bucket.take(3, at(0)), Ok(()));
        }
        assert_eq!(bucket.take(3, at(0)), Err(20), "one unit every 20 s");
        assert!(!bucket.has_unit(3, at(19)));
        assert_eq!(bucket.take(3, at(20)), Ok(()));
        assert_eq!(bucket.take(3, at(20)), Err(20));
    }

    #[test]
    fn a_unit_given_back_can_be_taken_again_but_never_beyond_the_size() {
        let mut bucket = Bucket::full(2, at(0));
        bucket.take(2, at(0)).unwrap_or_default();
        bucket.take(2, at(0)).unwrap_or_default();
        bucket.give_back(2);
        assert_eq!(bucket.take(2, at(0)), Ok(()));
        let mut full = Bucket::full(2, at(0));
        full.give_back(2);
        full.give_back(2);
        assert_eq!(full.take(2, at(0)), Ok(()));
        assert_eq!(full.take(2, at(0)), Ok(()));
        assert!(full.take(2, at(0)).is_err());
    }

    #[test]
    fn a_budget_of_zero_never_refuses_and_refilled_buckets_are_full() {
        let mut off = Bucket::full(0, at(0));
        for _ in 0..1000 {
            assert_eq!(off.take(0, at(0)), Ok(()));
        }
        let mut bucket = Bucket::full(60, at(0));
        for _ in 0..60 {
            bucket.take(60, at(0)).unwrap_or_default();
        }
        assert!(!bucket.is_full(60, at(30)));
        assert!(bucket.is_full(60, at(60)));
        assert!(
            bucket.take(60, at(0)).is_err_and(|seconds| seconds == 1),
            "a minute's budget refills one unit a second"
        );
    }
}
