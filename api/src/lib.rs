//! CloudShop's public API, written once as types.
//!
//! - [`error`]: the one JSON error envelope and its [`error::ErrorCode`]s;
//! - [`paging`]: page parameters with their bounds, and a page of results;
//! - [`auth`], [`products`], [`orders`]: every request and response body the
//!   gateway routes;
//! - [`reservations`]: the internal stock reservations (orders → products),
//!   never routed from outside;
//! - [`paths`]: every public path, used by the servers' tests, the client and
//!   the document;
//! - [`openapi`]: the OpenAPI 3.1 document, generated from these types;
//! - `client` (feature `client`): a typed async client of the gateway.
//!
//! The services serialise these types; nothing else writes a public body by
//! hand.

pub mod auth;
#[cfg(feature = "client")]
pub mod client;
pub mod error;
pub mod openapi;
pub mod orders;
pub mod paging;
pub mod paths;
pub mod products;
pub mod reservations;

/// Timestamps in bodies: RFC 3339 (`2026-12-02T12:00:00Z`).
pub type Timestamp = time::OffsetDateTime;

/// `GET /health`: `{"status": "ok"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[schema(as = Status)]
pub struct Health {
    pub status: String,
}
