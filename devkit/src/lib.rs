//! A development environment for CloudShop, used by the tests and by
//! `cloudshop up`: a development certificate authority issuing one certificate
//! per service ([`pki`]), generated secrets laid out as the services read them
//! ([`files`]), a private PostgreSQL cluster run from the machine's server
//! binaries ([`postgres`]), TCP ports reserved for listeners that are bound
//! later ([`ports`]), and background processes that outlive the command that
//! starts them ([`daemon`]).

pub mod daemon;
pub mod files;
pub mod pki;
pub mod ports;
pub mod postgres;
pub mod testing;

/// The five services, by the names their certificates carry.
pub const SERVICES: [&str; 5] = ["storefront", "api-gateway", "auth", "products", "orders"];

/// The services with a database role and schema of their own.
pub const DATABASE_ROLES: [&str; 3] = ["auth", "products", "orders"];

/// A random secret of `bytes` bytes, URL-safe base64 (no padding).
pub fn random_secret(bytes: usize) -> anyhow::Result<String> {
    use base64::Engine;
    let mut buffer = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buffer).map_err(|_| anyhow::anyhow!("no randomness available"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buffer))
}
