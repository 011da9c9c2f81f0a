//! Login rate limits, per client address and per account: a caller over either
//! gets 429 with `Retry-After` before any password is hashed.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use cloudshop_platform::rate_limit::KeyedLimiter;
use tokio_util::sync::CancellationToken;

use crate::settings::ThrottleSettings;

#[derive(Debug)]
pub struct LoginThrottle {
    per_address: Arc<KeyedLimiter<IpAddr>>,
    per_account: Arc<KeyedLimiter<String>>,
}

impl LoginThrottle {
    pub fn new(settings: &ThrottleSettings, shutdown: &CancellationToken) -> Self {
        let per_address = KeyedLimiter::new(settings.per_address);
        let per_account = KeyedLimiter::new(settings.per_account);
        per_address.spawn_cleanup(shutdown.clone());
        per_account.spawn_cleanup(shutdown.clone());
        Self {
            per_address,
            per_account,
        }
    }

    /// `Err(wait)` when this address or this account has tried too often.
    pub fn check(&self, address: Option<IpAddr>, account: &str) -> Result<(), Duration> {
        if let Some(address) = address {
            self.per_address.check(&address)?;
        }
        self.per_account.check(&account.to_lowercase())
    }
}
