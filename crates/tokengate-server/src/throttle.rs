//! Per-address failure budget (SPEC §2.6): `failures_per_minute` failed attempts per client
//! address, then 429 until the budget refills. The rule is `tokengate_core::decision::budget`;
//! this keeps one bucket per address in sharded maps. Attempts take their unit *before* their
//! work (a password attempt before its hash), so concurrent guesses cannot overdraw the budget.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;
use tokengate_core::decision::budget::Bucket;

/// Independent maps, so addresses rarely wait for each other's lock.
const SHARDS: usize = 16;
/// Buckets a shard holds before it drops the full ones on its own (between `forget_quiet`s).
const SHARD_SOFT_LIMIT: usize = 65_536;

pub struct FailureThrottle {
    per_minute: u32,
    shards: Vec<Mutex<HashMap<IpAddr, Bucket>>>,
    origin: Instant,
}

impl FailureThrottle {
    /// `per_minute = 0` turns the limit off.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            origin: Instant::now(),
        }
    }

    fn shard(&self, client: IpAddr) -> MutexGuard<'_, HashMap<IpAddr, Bucket>> {
        let index = match client.to_canonical() {
            IpAddr::V4(v4) => usize::from(v4.octets()[3]),
            IpAddr::V6(v6) => usize::from(v6.octets()[15] ^ v6.octets()[7]),
        } % SHARDS;
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes one unit of `client`'s budget; `Err(seconds)` until one is back when none is left.
    pub fn take(&self, client: IpAddr) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let now = self.origin.elapsed();
        let per_minute = self.per_minute;
        let mut shard = self.shard(client);
        if shard.len() >= SHARD_SOFT_LIMIT {
            shard.retain(|_, bucket| !bucket.is_full(per_minute, now));
        }
        shard
            .entry(client.to_canonical())
            .or_insert_with(|| Bucket::full(per_minute, now))
            .take(per_minute, now)
    }

    /// Gives back a unit taken for an attempt that was not a failure.
    pub fn give_back(&self, client: IpAddr) {
        if let Some(bucket) = self.shard(client).get_mut(&client.to_canonical()) {
            bucket.give_back(self.per_minute);
        }
    }

    /// Seconds until `client` may try again, when it is over its budget (nothing taken).
    pub fn throttled_for(&self, client: IpAddr) -> Option<u64> {
        let now = self.origin.elapsed();
        let mut bucket = *self.shard(client).get(&client.to_canonical())?;
        bucket.take(self.per_minute, now).err()
    }

    /// Drops the buckets of addresses that have been quiet long enough to be full again.
    pub fn forget_quiet(&self) {
        let now = self.origin.elapsed();
        for shard in &self.shards {
            shard
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|_, bucket| !bucket.is_full(self.per_minute, now));
        }
    }

    /// Addresses with a bucket (for tests: quiet ones are forgotten).
    pub fn tracked(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_refuses_an_address_beyond_its_budget_and_not_others() {
        let throttle = FailureThrottle::new(3);
        let attacker: IpAddr = "203.0.113.9".parse().expect("ip");
        let bystander: IpAddr = "203.0.113.10".parse().expect("ip");
        for _ in 0..3 {
            assert_eq!(throttle.take(attacker), Ok(()));
        }
        assert!(
            throttle
                .throttled_for(attacker)
                .is_some_and(|seconds| (1..=60).contains(&seconds))
        );
        assert!(throttle.take(attacker).is_err(), "the fourth is beyond");
        assert_eq!(throttle.throttled_for(bystander), None);
        assert_eq!(throttle.take(bystander), Ok(()));
    }

    #[test]
    fn a_unit_given_back_is_available_again_and_mapped_addresses_share_a_bucket() {
        let throttle = FailureThrottle::new(2);
        let client: IpAddr = "198.51.100.4".parse().expect("ip");
        let mapped: IpAddr = "::ffff:198.51.100.4".parse().expect("ip");
        assert_eq!(throttle.take(client), Ok(()));
        assert_eq!(throttle.take(mapped), Ok(()));
        assert!(throttle.take(client).is_err());
        throttle.give_back(mapped);
        assert_eq!(throttle.take(client), Ok(()));
    }

    #[test]
    fn throttle_zero_means_no_limit() {
        let throttle = FailureThrottle::new(0);
        let client: IpAddr = "203.0.113.9".parse().expect("ip");
        for _ in 0..1000 {
            assert_eq!(throttle.take(client), Ok(()));
        }
        assert_eq!(throttle.throttled_for(client), None);
        assert_eq!(throttle.tracked(), 0);
    }

    #[test]
    fn quiet_addresses_with_a_full_budget_are_forgotten() {
        let throttle = FailureThrottle::new(60);
        let client: IpAddr = "2001:db8::1".parse().expect("ip");
        assert_eq!(throttle.take(client), Ok(()));
        throttle.give_back(client);
        assert_eq!(throttle.tracked(), 1);
        throttle.forget_quiet();
        assert_eq!(throttle.tracked(), 0);
    }
}
