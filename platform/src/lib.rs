//! The plumbing every CloudShop service shares, written once.
//!
//! - [`settings`]: typed settings in layers (defaults, a TOML file, `CLOUDSHOP_*`
//!   environment variables); [`secret`]: secrets read from files only.
//! - [`tls`]: mutual TLS 1.3 material reloaded from disk, caller identities.
//! - [`server`]: serving a router over TLS or plain HTTP with timeouts, limits and
//!   graceful shutdown; [`http`]: the middleware stack every API router gets.
//! - [`error`]: the one JSON error envelope; [`telemetry`]: JSON logs;
//!   [`metrics`] and [`admin`]: Prometheus metrics and the admin listener.
//! - [`db`]: PostgreSQL over verified TLS with per-service roles and schemas.
//! - [`jwt`]: verification of access tokens, as an extractor.
//! - [`rate_limit`]: keyed rate limiters that answer with `Retry-After`.

pub mod admin;
pub mod db;
pub mod error;
pub mod http;
pub mod jwt;
pub mod metrics;
pub mod rate_limit;
pub mod secret;
pub mod server;
pub mod service;
pub mod settings;
pub mod telemetry;
pub mod tls;

/// Installs aws-lc-rs as the process-wide rustls crypto provider.
///
/// rustls, reqwest, sqlx and the HTTP clients all pick the process default; with
/// one provider installed explicitly no build can panic choosing between two.
/// Calling it more than once is harmless.
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is what we want.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
