//! argon2id hashing on threads of its own ([`threads`]), `max_concurrent` of
//! them at a lower scheduling priority, so a login flood queues instead of
//! starving the async runtime or the other services' requests.
//!
//! Verification for an unknown account runs against a dummy hash with the same
//! parameters, so it costs what a wrong password costs and timing does not tell
//! whether an account exists.

pub mod threads;

use std::sync::Arc;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};

use crate::settings::PasswordSettings;
use threads::HashThreads;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("argon2 setting `passwords`: {0}")]
    Params(argon2::Error),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("cannot start the password-hashing threads: {0}")]
    Threads(std::io::Error),
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
    threads: HashThreads,
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
        let count = match settings.max_concurrent {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let dummy_hash = hash_now(
            &argon,
            b"not a real password, only a timing twin",
            &mut Vec::new(),
        )?;
        Ok(Arc::new(Self {
            argon,
            params,
            threads: HashThreads::start(count, threads::RELEASE_AFTER).map_err(HashError::Threads)?,
            dummy_hash,
            checks,
        }))
    }

    /// Hashes a new password (PHC string with a fresh salt).
    pub async fn hash(self: &Arc<Self>, password: SecretString) -> Result<String, HashError> {
        let hasher = Arc::clone(self);
        self.threads
            .run(move |memory| hash_now(&hasher.argon, password.expose_secret().as_bytes(), memory))
            .await
            .unwrap_or_else(|| Err(HashError::Hash("the hashing thread failed".into())))
    }

    /// Checks `password` against `stored`, or against the dummy hash when there
    /// is no account (then always [`Verification::Invalid`]).
    pub async fn verify(self: &Arc<Self>, stored: Option<String>, password: SecretString) -> Verification {
        let hasher = Arc::clone(self);
        let outcome = self
            .threads
            .run(move |memory| {
                let known = stored.is_some();
                let stored = stored.unwrap_or_else(|| hasher.dummy_hash.clone());
                let Ok(parsed) = PasswordHash::new(&stored) else {
                    return Verification::Invalid;
                };
                let matches = matches(&parsed, password.expose_secret().as_bytes(), memory);
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

/// A PHC string for `password` with a fresh salt, computed in `memory`.
fn hash_now(argon: &Argon2<'_>, password: &[u8], memory: &mut Vec<Block>) -> Result<String, HashError> {
    let failed = |e: &dyn std::fmt::Display| HashError::Hash(e.to_string());
    let mut salt = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| HashError::Hash("no randomness".into()))?;
    let params = argon.params();
    let mut out = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    argon
        .hash_password_into_with_memory(
            password,
            &salt,
            &mut out,
            threads::reserve(memory, params.block_count()),
        )
        .map_err(|e| failed(&e))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| failed(&e))?;
    let hash = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| failed(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
    };
    Ok(hash.to_string())
}

/// Whether `password` gives `stored`'s hash with `stored`'s algorithm, version
/// and parameters (what `PasswordVerifier::verify_password` checks, with the
/// thread's memory instead of a fresh allocation); the comparison is in
/// constant time (`Output`'s equality).
fn matches(stored: &PasswordHash<'_>, password: &[u8], memory: &mut Vec<Block>) -> bool {
    let (Some(salt), Some(expected)) = (stored.salt, stored.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(stored.algorithm), Params::try_from(stored))
    else {
        return false;
    };
    let version = match stored.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let blocks = params.block_count();
    let mut out = vec![0u8; expected.len()];
    let computed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password,
        salt,
        &mut out,
        threads::reserve(memory, blocks),
    );
    computed.is_ok() && Output::new(&out).is_ok_and(|output| output == expected)
}

#[cfg(test)]
mod tests {
    use cloudshop_host::redaction::assert_debug_hides;

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
