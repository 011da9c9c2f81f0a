//! argon2id hashing on the blocking thread pool, at most `max_concurrent` at a
//! time, so a login flood queues instead of starving the async runtime.
//!
//! Verification for an unknown account runs against a dummy hash with the same
//! parameters, so it costs what a wrong password costs and timing does not tell
//! whether an account exists.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use crate::settings::PasswordSettings;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("argon2 setting `passwords`: {0}")]
    Params(argon2::Error),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The password matches; `needs_rehash` when the stored hash is weaker than
    /// the current parameters.
    Valid {
        needs_rehash: bool,
    },
    Invalid,
}

pub struct PasswordHasher {
    argon: Argon2<'static>,
    params: Params,
    permits: Semaphore,
    dummy_hash: String,
    checks: prometheus::IntCounter,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// `checks` counts password verifications, known account or not.
    pub fn new(settings: &PasswordSettings, checks: prometheus::IntCounter) -> Result<Arc<Self>, HashError> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(HashError::Params)?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let permits = match settings.max_concurrent {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let dummy_hash = hash_now(&argon, b"not a real password, only a timing twin")?;
        Ok(Arc::new(Self {
            argon,
            params,
            permits: Semaphore::new(permits),
            dummy_hash,
            checks,
        }))
    }

    /// Hashes a new password (PHC string with a fresh salt).
    pub async fn hash(self: &Arc<Self>, password: SecretString) -> Result<String, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| HashError::Hash(e.to_string()))?;
        let hasher = Arc::clone(self);
        tokio::task::spawn_blocking(move || hash_now(&hasher.argon, password.expose_secret().as_bytes()))
            .await
            .map_err(|e| HashError::Hash(e.to_string()))?
    }

    /// Checks `password` against `stored`, or against the dummy hash when there
    /// is no account (then always [`Verification::Invalid`]).
    pub async fn verify(self: &Arc<Self>, stored: Option<String>, password: SecretString) -> Verification {
        let Ok(_permit) = self.permits.acquire().await else {
            return Verification::Invalid;
        };
        let hasher = Arc::clone(self);
        let outcome = tokio::task::spawn_blocking(move || {
            let known = stored.is_some();
            let stored = stored.unwrap_or_else(|| hasher.dummy_hash.clone());
            let Ok(parsed) = PasswordHash::new(&stored) else {
                return Verification::Invalid;
            };
            let matches = hasher
                .argon
                .verify_password(password.expose_secret().as_bytes(), &parsed)
                .is_ok();
            hasher.checks.inc();
            if known && matches {
                Verification::Valid {
                    needs_rehash: hasher.is_weaker(&parsed),
                }
            } else {
                Verification::Invalid
            }
        })
        .await;
        outcome.unwrap_or(Verification::Invalid)
    }

    fn is_weaker(&self, stored: &PasswordHash<'_>) -> bool {
        if stored.algorithm != argon2::ARGON2ID_IDENT {
            return true;
        }
        match Params::try_from(stored) {
            Ok(p) => {
                p.m_cost() < self.params.m_cost()
                    || p.t_cost() < self.params.t_cost()
                    || p.p_cost() < self.params.p_cost()
            }
            Err(_) => true,
        }
    }
}

fn hash_now(argon: &Argon2<'_>, password: &[u8]) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| HashError::Hash("no randomness".into()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| HashError::Hash(e.to_string()))?;
    argon
        .hash_password(password, &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| HashError::Hash(e.to_string()))
}

#[cfg(test)]
mod tests {
    use cloudshop_devkit::redaction::assert_debug_hides;

    use super::*;

    fn settings(memory_kib: u32) -> PasswordSettings {
        PasswordSettings {
            memory_kib,
            iterations: 2,
            parallelism: 1,
            max_concurrent: 2,
        }
    }

    #[tokio::test]
    async fn verifies_and_asks_for_rehash_when_parameters_rise() -> Result<(), HashError> {
        let counter = || prometheus::IntCounter::new("checks", "checks").expect("counter");
        let old = PasswordHasher::new(&settings(8 * 1024), counter())?;
        let current = PasswordHasher::new(&settings(19 * 1024), counter())?;
        let stored = old.hash(SecretString::from("tJ8#qv2!Lm9zRw")).await?;
        assert!(stored.starts_with("$argon2id$v=19$m=8192,t=2,p=1$"));
        let good = current
            .verify(Some(stored.clone()), SecretString::from("tJ8#qv2!Lm9zRw"))
            .await;
        assert_eq!(good, Verification::Valid { needs_rehash: true });
        let bad = current
            .verify(Some(stored), SecretString::from("wrong password!"))
            .await;
        assert_eq!(bad, Verification::Invalid);
        let unknown = current.verify(None, SecretString::from("tJ8#qv2!Lm9zRw")).await;
        assert_eq!(unknown, Verification::Invalid);
        let fresh = current.hash(SecretString::from("tJ8#qv2!Lm9zRw")).await?;
        let again = current
            .verify(Some(fresh), SecretString::from("tJ8#qv2!Lm9zRw"))
            .await;
        assert_eq!(again, Verification::Valid { needs_rehash: false });
        Ok(())
    }

    #[tokio::test]
    async fn debug_output_holds_no_password_and_no_hash() -> Result<(), HashError> {
        let counter = prometheus::IntCounter::new("checks", "checks").expect("counter");
        let hasher = PasswordHasher::new(&settings(8 * 1024), counter)?;
        let password = "Pw-hasher-distinctive-4kQz8Lm";
        let stored = hasher.hash(SecretString::from(password)).await?;
        let verified = hasher
            .verify(Some(stored.clone()), SecretString::from(password))
            .await;
        assert_eq!(verified, Verification::Valid { needs_rehash: false });

        assert_debug_hides(&hasher, password.as_bytes());
        assert_debug_hides(&hasher, stored.as_bytes());
        assert_debug_hides(&hasher, hasher.dummy_hash.as_bytes());
        Ok(())
    }
}
