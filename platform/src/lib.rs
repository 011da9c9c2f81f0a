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

/// Which service a binary, setting or peer is (from the topology crate).
pub use cloudshop_topology::ServiceId;
/// The allocator the gateway, products, orders and the storefront install
/// (`#[global_allocator]` in their `main.rs`): mimalloc instead of musl's.
/// In the same `cloudshop bench` run it made a catalogue request through the
/// gateway cost 40 % less shop CPU and raised the storefront's pages/s by
/// half (docs/benchmarks.md has the figures). It keeps more memory: idle RSS
/// went from 5–7 MB to 13–17 MB per service, still under the 20 MB budget.
///
/// Auth keeps musl's allocator: its memory is mostly argon2's 19 MiB per hash,
/// which musl hands back to the kernel as soon as it is freed, while mimalloc
/// purges freed memory only on later allocator activity, so an idle auth
/// stayed at 33 MB. Auth's hashing reuses its blocks instead
/// (`cloudshop_auth::passwords::threads`), which is where musl cost it.
/// Tests and the `cloudshop` command keep the system allocator. The crate is
/// behind this crate's `mimalloc` feature, which auth does not enable, so its
/// binary holds no mimalloc code; its SBOM still lists the crate, because
/// cargo-auditable records the dependency graph cargo resolves for the
/// workspace, where the other services enable it.
#[cfg(feature = "mimalloc")]
pub use mimalloc::MiMalloc as Allocator;

/// Installs aws-lc-rs as the process-wide rustls crypto provider.
///
/// rustls, reqwest, sqlx and the HTTP clients all pick the process default; with
/// one provider installed explicitly no build can panic choosing between two.
/// Calling it more than once is harmless.
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is what we want.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
