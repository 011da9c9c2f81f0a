//! Orders: `/api/orders...`.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::Timestamp;
use crate::error::ErrorBody;
use crate::paging::Page;

pub const MAX_LINES: usize = 100;
pub const MAX_QUANTITY: i32 = 1_000;
/// The header that makes `POST /api/orders` safe to retry.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Set to `true` on a reply to a retried order.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// Where an order is. PENDING → CONFIRMED (stock reserved) or REJECTED;
/// CONFIRMED → SHIPPED or CANCELLED (stock returned).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "text", rename_all = "UPPERCASE"))]
#[serde(rename_all = "UPPERCASE")]
pub enum OrderStatus {
    Pending,
    Confirmed,
    Rejected,
    Cancelled,
    Shipped,
}

impl OrderStatus {
    /// Whether it may still be cancelled (or shipped): confirmed, not shipped.
    pub fn is_open(self) -> bool {
        self == Self::Confirmed
    }
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Confirmed => "CONFIRMED",
            Self::Rejected => "REJECTED",
            Self::Cancelled => "CANCELLED",
            Self::Shipped => "SHIPPED",
        }
    }
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A product and how many, in an order request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Line {
    #[schema(minimum = 1)]
    pub product_id: i64,
    #[schema(minimum = 1, maximum = 1000)]
    pub quantity: i32,
}

/// `POST /api/orders`, with an `Idempotency-Key` header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    #[schema(min_items = 1, max_items = 100)]
    pub lines: Vec<Line>,
}

/// A line of a placed order, at the price it was reserved at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct OrderLine {
    pub product_id: i64,
    pub name: String,
    pub quantity: i32,
    pub unit_price_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Order {
    pub id: Uuid,
    pub user_id: Uuid,
    pub status: OrderStatus,
    /// Why it was rejected or cancelled.
    pub reason: Option<String>,
    #[schema(minimum = 0)]
    pub total_cents: i64,
    pub lines: Vec<OrderLine>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

pub type OrderPage = Page<Order>;

/// The 409 of `POST /api/orders`: the error (`out_of_stock` with the
/// shortages, `unknown_product`, `rejected`) and the order, recorded REJECTED.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Rejection {
    pub error: ErrorBody,
    pub order: Order,
}

/// `GET /api/orders` query parameters. Unknown parameters are refused (400).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrderQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 100_000)]
    pub page: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
    /// Everyone's orders (administrators only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<bool>,
}
