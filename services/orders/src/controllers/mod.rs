//! One file per action.

pub mod cancel;
pub mod create;
pub mod get;
pub mod list;
pub mod ship;

use std::sync::Arc;

use axum::extract::FromRef;
use cloudshop_platform::error::ApiError;
use cloudshop_platform::http::RequestId;
use cloudshop_platform::jwt::{Claims, JwtVerifier};
use cloudshop_platform::metrics::Metrics;
use prometheus::IntCounter;
use sqlx::PgPool;
use uuid::Uuid;

use crate::stock::StockClient;

#[derive(Debug, Clone)]
pub struct OrdersMetrics {
    pub created: IntCounter,
    pub confirmed: IntCounter,
    pub rejected: IntCounter,
    pub cancelled: IntCounter,
}

impl OrdersMetrics {
    pub fn register(metrics: &Metrics) -> Result<Self, prometheus::Error> {
        Ok(Self {
            created: metrics.counter("orders_created_total", "Orders recorded (new idempotency keys).")?,
            confirmed: metrics.counter(
                "orders_confirmed_total",
                "Orders confirmed with their stock reserved.",
            )?,
            rejected: metrics.counter(
                "orders_rejected_total",
                "Orders rejected (out of stock, unknown product).",
            )?,
            cancelled: metrics.counter(
                "orders_cancelled_total",
                "Orders cancelled, their stock returned.",
            )?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub stock: StockClient,
    pub verifier: Arc<JwtVerifier>,
    pub metrics: OrdersMetrics,
}

impl FromRef<AppState> for Arc<JwtVerifier> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.verifier)
    }
}

/// The caller's user id, from the token's subject.
pub fn user_id(claims: &Claims) -> Result<Uuid, ApiError> {
    claims
        .sub
        .parse()
        .map_err(|_| ApiError::unauthorized("invalid token subject"))
}

/// Order ids in paths: anything that is not a UUID names no order.
pub fn order_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

pub fn request_id(id: Option<&axum::Extension<RequestId>>) -> String {
    id.map(|id| id.as_str().to_owned()).unwrap_or_default()
}
