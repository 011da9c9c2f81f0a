//! What CloudShop needs from the machine it runs on, used by `cloudshop up`,
//! `bench` and `cluster`, the release tool and the tests: a development
//! certificate authority issuing one certificate per service ([`pki`]),
//! generated secrets laid out as the services read them ([`files`]), a private
//! PostgreSQL cluster run from the machine's server binaries ([`postgres`]),
//! TCP ports reserved for listeners that are bound later ([`ports`]),
//! background processes that outlive the command that starts them
//! ([`daemon`]), waiting for a started process to be ready ([`readiness`]), a
//! program run from a test within a deadline ([`bounded`]), progress lines on
//! stderr ([`progress`]), and the check that a secret stays out of `Debug`
//! output ([`redaction`]).

pub mod bounded;
pub mod daemon;
pub mod files;
pub mod pki;
pub mod ports;
pub mod postgres;
pub mod progress;
pub mod readiness;
pub mod redaction;
pub mod signals;
pub mod testing;

/// A random secret of `bytes` bytes, URL-safe base64 (no padding).
pub fn random_secret(bytes: usize) -> anyhow::Result<String> {
    use base64::Engine;
    let mut buffer = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buffer).map_err(|_| anyhow::anyhow!("no randomness available"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buffer))
}
