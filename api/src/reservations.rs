//! The internal stock reservations: `POST /internal/reservations/{order_id}`
//! and `.../release` on the products service, callable by the orders service
//! alone (mutual TLS). Never routed by the gateway, so not in the document.
//! A refusal is a 409 in the error envelope: `out_of_stock` with
//! `details.shortages`, or `unknown_product` with `details.unknown_products`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::orders::Line;

/// What the orders service asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReserveRequest {
    pub lines: Vec<Line>,
}

/// A reserved (or released) line, with the name and price at that moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct ReservedLine {
    pub product_id: i64,
    pub quantity: i32,
    pub name: String,
    pub unit_price_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub order_id: Uuid,
    pub lines: Vec<ReservedLine>,
}

/// Internal paths, on the products service.
pub fn reserve_path(order_id: Uuid) -> String {
    format!("/internal/reservations/{order_id}")
}

pub fn release_path(order_id: Uuid) -> String {
    format!("/internal/reservations/{order_id}/release")
}
