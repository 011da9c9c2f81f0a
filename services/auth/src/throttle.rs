//! Login throttling that a stranger cannot turn against an account.
//!
//! Only failed logins count (a success gives its reservation back), in three
//! budgets, each a leaky bucket of `burst` failures that drains at
//! `per_minute`:
//! - per client address, whatever the account: a guesser is slowed;
//! - per (account, address): one client's guesses at one account;
//! - per account across every address: guesses spread over many addresses.
//!   Once it is spent it refuses only clients without a valid device token
//!   for the account (one that an earlier successful login gave them), so the
//!   owner's own browser or client still gets in while the account is under
//!   attack (OWASP's "device cookies").
//!
//! A refusal is a 429 with `Retry-After`, given before any password is hashed.
//! An attempt reserves its place in every budget before the password check
//! and keeps it when the check fails, so concurrent guesses cannot slip past
//! a budget while their hashes run.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cloudshop_platform::rate_limit::RateLimit;
use tokio_util::sync::CancellationToken;

use crate::settings::ThrottleSettings;

/// Failures per key, each bucket holding at most `burst` and draining at
/// `per_minute`.
#[derive(Debug)]
struct FailureBudget<K> {
    capacity: f64,
    drain_per_sec: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    level: f64,
    at: Instant,
}

impl Bucket {
    fn level_at(&self, now: Instant, drain_per_sec: f64) -> f64 {
        let drained = now.saturating_duration_since(self.at).as_secs_f64() * drain_per_sec;
        (self.level - drained).max(0.0)
    }
}

impl<K: Hash + Eq + Clone> FailureBudget<K> {
    fn new(limit: RateLimit) -> Self {
        Self {
            capacity: f64::from(limit.burst.max(1)),
            drain_per_sec: f64::from(limit.per_minute.max(1)) / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn buckets(&self) -> MutexGuard<'_, HashMap<K, Bucket>> {
        // A panic while holding the lock leaves plain numbers behind: usable.
        self.buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How long until `key` has room for one more failure; zero when it has.
    fn wait(&self, key: &K, now: Instant) -> Duration {
        let level = self
            .buckets()
            .get(key)
            .map_or(0.0, |b| b.level_at(now, self.drain_per_sec));
        self.wait_for(level)
    }

    fn wait_for(&self, level: f64) -> Duration {
        let over = level + 1.0 - self.capacity;
        if over <= 0.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(over / self.drain_per_sec)
    }

    /// Takes one place for `key`, or says how long to wait for one.
    fn reserve(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets();
        let bucket = buckets
            .entry(key.clone())
            .or_insert(Bucket { level: 0.0, at: now });
        let level = bucket.level_at(now, self.drain_per_sec);
        let wait = self.wait_for(level);
        if !wait.is_zero() {
            return Err(wait);
        }
        *bucket = Bucket {
            level: level + 1.0,
            at: now,
        };
        Ok(())
    }

    /// Gives back a place taken by `reserve` (the attempt did not fail).
    fn release(&self, key: &K, now: Instant) {
        if let Some(bucket) = self.buckets().get_mut(key) {
            let level = bucket.level_at(now, self.drain_per_sec);
            *bucket = Bucket {
                level: (level - 1.0).max(0.0),
                at: now,
            };
        }
    }

    /// Forgets the keys whose bucket has drained, so memory stays bounded by
    /// the failures of the last few minutes.
    fn forget_drained(&self, now: Instant) {
        let drain = self.drain_per_sec;
        self.buckets()
            .retain(|_, bucket| bucket.level_at(now, drain) > 0.0);
    }

    fn len(&self) -> usize {
        self.buckets().len()
    }
}

/// The three budgets of failed logins.
#[derive(Debug)]
pub struct LoginThrottle {
    per_address: FailureBudget<IpAddr>,
    per_account_address: FailureBudget<(String, IpAddr)>,
    per_account: FailureBudget<String>,
}

/// Which budget refused an attempt (for logs and metrics), and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub budget: Budget,
    pub wait: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    Address,
    AccountAddress,
    Account,
}

impl Budget {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Address => "address",
            Self::AccountAddress => "account_address",
            Self::Account => "account",
        }
    }
}

/// An admitted attempt: its places in the budgets stay taken (a failure)
/// unless [`Attempt::succeeded`] gives them back.
#[derive(Debug)]
#[must_use = "an attempt counts as a failure unless `succeeded` is called"]
pub struct Attempt {
    throttle: Arc<LoginThrottle>,
    address: Option<IpAddr>,
    account: String,
    taken: Vec<Budget>,
}

impl Attempt {
    /// The password was right: this attempt does not count.
    pub fn succeeded(self) {
        let now = Instant::now();
        for &budget in &self.taken {
            self.throttle.release(budget, self.address, &self.account, now);
        }
    }
}

impl LoginThrottle {
    pub fn new(settings: &ThrottleSettings, shutdown: &CancellationToken) -> Arc<Self> {
        let throttle = Arc::new(Self::with_settings(settings));
        let sweeper = Arc::downgrade(&throttle);
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = ticker.tick() => match sweeper.upgrade() {
                        Some(throttle) => throttle.forget_drained(Instant::now()),
                        None => return,
                    },
                }
            }
        });
        throttle
    }

    fn with_settings(settings: &ThrottleSettings) -> Self {
        Self {
            per_address: FailureBudget::new(settings.per_address),
            per_account_address: FailureBudget::new(settings.per_account_address),
            per_account: FailureBudget::new(settings.per_account),
        }
    }

    /// Refuses an attempt from `address` when its own budgets are spent.
    /// Checked before the account is looked up; nothing is taken yet.
    pub fn check_address(&self, address: Option<IpAddr>, account: &str) -> Result<(), Refusal> {
        let Some(address) = address else { return Ok(()) };
        let now = Instant::now();
        let checks = [
            (Budget::Address, self.per_address.wait(&address, now)),
            (
                Budget::AccountAddress,
                self.per_account_address.wait(&(account.to_owned(), address), now),
            ),
        ];
        refusal(&checks)
    }

    /// Admits an attempt on `account` (its lowercased e-mail) from `address`,
    /// taking a place in each budget that applies: the account's own budget
    /// only when the client shows no valid device token for it. A refusal
    /// gives back what it took.
    pub fn admit(
        self: &Arc<Self>,
        address: Option<IpAddr>,
        account: &str,
        proven_device: bool,
    ) -> Result<Attempt, Refusal> {
        let now = Instant::now();
        let mut budgets = Vec::with_capacity(3);
        if address.is_some() {
            budgets.extend([Budget::Address, Budget::AccountAddress]);
        }
        if !proven_device {
            budgets.push(Budget::Account);
        }
        let mut attempt = Attempt {
            throttle: Arc::clone(self),
            address,
            account: account.to_owned(),
            taken: Vec::with_capacity(budgets.len()),
        };
        for budget in budgets {
            if let Err(wait) = self.reserve(budget, address, account, now) {
                attempt.succeeded();
                return Err(Refusal { budget, wait });
            }
            attempt.taken.push(budget);
        }
        Ok(attempt)
    }

    fn reserve(
        &self,
        budget: Budget,
        address: Option<IpAddr>,
        account: &str,
        now: Instant,
    ) -> Result<(), Duration> {
        match (budget, address) {
            (Budget::Address, Some(address)) => self.per_address.reserve(&address, now),
            (Budget::AccountAddress, Some(address)) => self
                .per_account_address
                .reserve(&(account.to_owned(), address), now),
            (Budget::Account, _) => self.per_account.reserve(&account.to_owned(), now),
            (Budget::Address | Budget::AccountAddress, None) => Ok(()),
        }
    }

    fn release(&self, budget: Budget, address: Option<IpAddr>, account: &str, now: Instant) {
        match (budget, address) {
            (Budget::Address, Some(address)) => self.per_address.release(&address, now),
            (Budget::AccountAddress, Some(address)) => self
                .per_account_address
                .release(&(account.to_owned(), address), now),
            (Budget::Account, _) => self.per_account.release(&account.to_owned(), now),
            (Budget::Address | Budget::AccountAddress, None) => {}
        }
    }

    fn forget_drained(&self, now: Instant) {
        self.per_address.forget_drained(now);
        self.per_account_address.forget_drained(now);
        self.per_account.forget_drained(now);
    }

    /// Keys held in all budgets (for tests of the sweep).
    pub fn tracked_keys(&self) -> usize {
        self.per_address.len() + self.per_account_address.len() + self.per_account.len()
    }
}

/// The longest wait among the budgets that are spent, if any is.
fn refusal(checks: &[(Budget, Duration)]) -> Result<(), Refusal> {
    match checks
        .iter()
        .filter(|(_, wait)| !wait.is_zero())
        .max_by_key(|(_, wait)| *wait)
    {
        Some(&(budget, wait)) => Err(Refusal { budget, wait }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(burst: u32, per_minute: u32) -> RateLimit {
        RateLimit { per_minute, burst }
    }

    fn throttle(address: RateLimit, account_address: RateLimit, account: RateLimit) -> Arc<LoginThrottle> {
        Arc::new(LoginThrottle::with_settings(&ThrottleSettings {
            per_address: address,
            per_account_address: account_address,
            per_account: account,
            ..ThrottleSettings::default()
        }))
    }

    const ROOMY: RateLimit = RateLimit {
        per_minute: 1000,
        burst: 1000,
    };

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([192, 0, 2, last]))
    }

    #[test]
    fn a_bucket_refuses_past_its_burst_and_drains_at_its_rate() {
        let budget = FailureBudget::new(limit(2, 60));
        let t0 = Instant::now();
        assert!(budget.reserve(&"k", t0).is_ok());
        assert!(budget.reserve(&"k", t0).is_ok());
        let wait = budget.reserve(&"k", t0).expect_err("third refused");
        assert_eq!(wait, Duration::from_secs(1), "one a second drains");
        assert!(budget.reserve(&"k", t0 + Duration::from_secs(1)).is_ok());
        assert!(budget.reserve(&"other", t0).is_ok(), "keys are separate");
    }

    #[test]
    fn successes_give_their_places_back() {
        let throttle = throttle(limit(2, 1), limit(2, 1), limit(2, 1));
        for _ in 0..10 {
            throttle
                .admit(ip(1), "ada@example.com", false)
                .expect("admitted")
                .succeeded();
        }
        let _failure = throttle.admit(ip(1), "ada@example.com", false).expect("admitted");
    }

    #[test]
    fn the_account_budget_spares_a_proven_device() {
        let throttle = throttle(ROOMY, ROOMY, limit(3, 1));
        for last in 0..3 {
            let _failed = throttle
                .admit(ip(last), "admin@example.com", false)
                .expect("admitted");
        }
        let refused = throttle
            .admit(ip(50), "admin@example.com", false)
            .expect_err("the account's budget is spent");
        assert_eq!(refused.budget, Budget::Account);
        assert!(refused.wait >= Duration::from_secs(59));
        throttle
            .admit(ip(50), "admin@example.com", true)
            .expect("a proven device gets through")
            .succeeded();
        let _other = throttle
            .admit(ip(50), "someone@example.com", false)
            .expect("other accounts are not affected");
    }

    #[test]
    fn a_refusal_takes_nothing() {
        let throttle = throttle(limit(3, 1), ROOMY, limit(1, 1));
        let _failed = throttle.admit(ip(1), "a@example.com", false).expect("admitted");
        for _ in 0..5 {
            throttle
                .admit(ip(1), "a@example.com", false)
                .expect_err("account budget spent");
        }
        // Only the one failure used the address's budget of three.
        let _b = throttle.admit(ip(1), "b@example.com", false).expect("admitted");
        let _c = throttle.admit(ip(1), "c@example.com", false).expect("admitted");
        assert_eq!(
            throttle
                .admit(ip(1), "d@example.com", false)
                .expect_err("spent")
                .budget,
            Budget::Address
        );
    }

    #[test]
    fn drained_keys_are_forgotten() {
        let throttle = throttle(limit(5, 60), limit(5, 60), limit(5, 60));
        let _failed = throttle.admit(ip(1), "a@example.com", false).expect("admitted");
        assert_eq!(throttle.tracked_keys(), 3);
        throttle.forget_drained(Instant::now() + Duration::from_secs(2));
        assert_eq!(throttle.tracked_keys(), 0);
    }
}
