//! The API gateway: the public edge of CloudShop's JSON API.
//!
//! - [`routes`]: the table of public prefixes, their backend and who may call them.
//! - [`proxy`]: forwarding over mutual TLS with pooled connections, timeouts and
//!   retries for idempotent reads; 503 with the JSON error while a backend is down.
//! - [`edge`]: per-address rate limits and security headers.
//! - [`router`]: `/health`, `/api/openapi.json` and the routed prefixes.
//! - [`settings`], [`startup`]: configuration and start-up.

pub mod edge;
pub mod proxy;
pub mod router;
pub mod routes;
pub mod settings;
pub mod startup;

/// The OpenAPI 3.1 document of the public API, served at `/api/openapi.json`:
/// generated from the types of `cloudshop-api`, once per process.
pub fn openapi() -> &'static str {
    static DOCUMENT: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(cloudshop_api::openapi::document_json);
    &DOCUMENT
}
