//! Per-address failure budget (SPEC §2.6): `failures_per_minute` failed attempts per client
//! address, then 429 until the budget refills. governor keeps the budget; a small cache
//! remembers which addresses are over it so the check before a password hash is a lookup.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use moka::sync::Cache;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

pub struct FailureThrottle {
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    blocked: Cache<IpAddr, Instant>,
    clock: DefaultClock,
}

impl FailureThrottle {
    /// `per_minute = 0` turns the limit off.
    pub fn new(per_minute: u32) -> Self {
        let limiter =
            NonZeroU32::new(per_minute).map(|burst| RateLimiter::keyed(Quota::per_minute(burst)));
        let blocked = Cache::builder()
            .max_capacity(100_000)
            .time_to_live(Duration::from_secs(61))
            .build();
        Self {
            limiter,
            blocked,
            clock: DefaultClock::default(),
        }
    }

    /// Counts one failure from `client`.
    pub fn record_failure(&self, client: IpAddr) {
        let Some(limiter) = &self.limiter else {
            return;
        };
        if let Err(not_until) = limiter.check_key(&client) {
            let wait = not_until.wait_time_from(self.clock.now());
            self.blocked
                .insert(client, Instant::now() + wait.max(Duration::from_secs(1)));
        }
    }

    /// Seconds until `client` may try again, when it is over its budget.
    pub fn throttled_for(&self, client: IpAddr) -> Option<u64> {
        let until = self.blocked.get(&client)?;
        let left = until.checked_duration_since(Instant::now())?;
        Some(left.as_secs().max(1))
    }

    /// Drops state of addresses that have been quiet (governor's keyed state grows otherwise).
    pub fn forget_quiet(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_blocks_an_address_after_its_budget_and_not_others() {
        let throttle = FailureThrottle::new(3);
        let attacker: IpAddr = "203.0.113.9".parse().expect("ip");
        let bystander: IpAddr = "203.0.113.10".parse().expect("ip");
        for _ in 0..3 {
            throttle.record_failure(attacker);
        }
        assert_eq!(
            throttle.throttled_for(attacker),
            None,
            "the budget itself is allowed"
        );
        throttle.record_failure(attacker);
        assert!(
            throttle
                .throttled_for(attacker)
                .is_some_and(|seconds| (1..=60).contains(&seconds))
        );
        assert_eq!(throttle.throttled_for(bystander), None);
    }

    #[test]
    fn throttle_zero_means_no_limit() {
        let throttle = FailureThrottle::new(0);
        let client: IpAddr = "203.0.113.9".parse().expect("ip");
        for _ in 0..1000 {
            throttle.record_failure(client);
        }
        assert_eq!(throttle.throttled_for(client), None);
    }
}
