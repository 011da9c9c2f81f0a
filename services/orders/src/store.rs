//! The `orders` and `order_lines` tables. Every status change is conditional
//! on the status it leaves, so two paths racing on one order (a retried
//! request and the reconciler, say) cannot both apply.

use cloudshop_api::error::ErrorBody;
use cloudshop_api::orders::OrderLine;
pub use cloudshop_api::orders::OrderStatus as Status;
use sqlx::PgPool;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::OrderLines;
use crate::stock::ReservedLine;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Order {
    pub id: Uuid,
    pub user_id: Uuid,
    pub status: Status,
    pub reason: Option<String>,
    pub total_cents: i64,
    pub request_hash: String,
    pub requested: Json<OrderLines>,
    /// The products service's refusal, for a REJECTED order.
    pub rejection: Option<Json<ErrorBody>>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// An order as the API shows it.
pub type OrderView = cloudshop_api::orders::Order;

const COLUMNS: &str =
    "id, user_id, status, reason, total_cents, request_hash, requested, rejection, created_at, updated_at";

/// Whether `insert_pending` created the order or found it under the same key.
#[derive(Debug)]
pub enum Recorded {
    New(Order),
    Existing(Order),
}

pub async fn insert_pending(
    pool: &PgPool,
    user_id: Uuid,
    key: &str,
    lines: &OrderLines,
) -> Result<Recorded, sqlx::Error> {
    let inserted: Option<Order> = sqlx::query_as(&format!(
        "INSERT INTO orders (id, user_id, status, idempotency_key, request_hash, requested) \
         VALUES ($1, $2, 'PENDING', $3, $4, $5) ON CONFLICT (user_id, idempotency_key) DO NOTHING \
         RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(user_id)
    .bind(key)
    .bind(lines.digest())
    .bind(Json(lines))
    .fetch_optional(pool)
    .await?;
    if let Some(order) = inserted {
        return Ok(Recorded::New(order));
    }
    let existing = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM orders WHERE user_id = $1 AND idempotency_key = $2"
    ))
    .bind(user_id)
    .bind(key)
    .fetch_one(pool)
    .await?;
    Ok(Recorded::Existing(existing))
}

pub async fn find(pool: &PgPool, id: Uuid) -> Result<Option<Order>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM orders WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// PENDING → CONFIRMED with the reserved lines: the order as it now is and
/// its lines (product-id order), or None when it had already left PENDING.
///
/// One statement (the status change and the lines, atomic as any statement
/// is), and the order comes back from it: the caller needs neither a
/// transaction nor reads afterwards. It used to be BEGIN, UPDATE, one INSERT
/// per line, COMMIT and two SELECTs for the answer: six round trips per
/// order, where this is one.
pub async fn confirm(
    pool: &PgPool,
    id: Uuid,
    lines: &[ReservedLine],
) -> Result<Option<(Order, Vec<OrderLine>)>, sqlx::Error> {
    let mut lines: Vec<OrderLine> = lines
        .iter()
        .map(|l| OrderLine {
            product_id: l.product_id,
            name: l.name.clone(),
            quantity: l.quantity,
            unit_price_cents: l.unit_price_cents,
        })
        .collect();
    lines.sort_by_key(|l| l.product_id);
    let total: i64 = lines
        .iter()
        .map(|l| l.unit_price_cents * i64::from(l.quantity))
        .sum();
    let confirmed: Option<Order> = sqlx::query_as(&format!(
        "WITH confirmed AS ( \
             UPDATE orders SET status = 'CONFIRMED', total_cents = $2, updated_at = now() \
             WHERE id = $1 AND status = 'PENDING' RETURNING {COLUMNS} \
         ), lines AS ( \
             INSERT INTO order_lines (order_id, product_id, name, quantity, unit_price_cents) \
             SELECT confirmed.id, l.product_id, l.name, l.quantity, l.unit_price_cents \
             FROM confirmed, UNNEST($3::bigint[], $4::text[], $5::integer[], $6::bigint[]) \
                 AS l (product_id, name, quantity, unit_price_cents) \
         ) \
         SELECT {COLUMNS} FROM confirmed"
    ))
    .bind(id)
    .bind(total)
    .bind(lines.iter().map(|l| l.product_id).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.name.as_str()).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.quantity).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.unit_price_cents).collect::<Vec<_>>())
    .fetch_optional(pool)
    .await?;
    Ok(confirmed.map(|order| (order, lines)))
}

/// PENDING → REJECTED with the products service's refusal; false when the
/// order had already left PENDING.
pub async fn reject(pool: &PgPool, id: Uuid, refusal: &ErrorBody) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE orders SET status = 'REJECTED', reason = $2, rejection = $3, updated_at = now() \
         WHERE id = $1 AND status = 'PENDING'",
    )
    .bind(id)
    .bind(&refusal.message)
    .bind(Json(refusal))
    .execute(pool)
    .await?
    .rows_affected();
    Ok(updated > 0)
}

/// An order and its lines as the API shows them.
pub fn to_view(order: Order, lines: Vec<OrderLine>) -> OrderView {
    OrderView {
        id: order.id,
        user_id: order.user_id,
        status: order.status,
        reason: order.reason,
        total_cents: order.total_cents,
        lines,
        created_at: order.created_at,
        updated_at: order.updated_at,
    }
}

pub async fn view(pool: &PgPool, order: Order) -> Result<OrderView, sqlx::Error> {
    let lines = sqlx::query_as(
        "SELECT product_id, name, quantity, unit_price_cents FROM order_lines WHERE order_id = $1 ORDER BY product_id",
    )
    .bind(order.id)
    .fetch_all(pool)
    .await?;
    Ok(to_view(order, lines))
}

/// An order with its lines, as one row of the list query.
#[derive(sqlx::FromRow)]
struct ListedOrder {
    #[sqlx(flatten)]
    order: Order,
    lines: Json<Vec<OrderLine>>,
    total: i64,
}

/// A page of orders with their lines, newest first, and the count of all:
/// the user's, or everyone's when `user` is None. One query for the page.
pub async fn list(
    pool: &PgPool,
    user: Option<Uuid>,
    paging: cloudshop_api::paging::Paging,
) -> Result<(Vec<OrderView>, i64), sqlx::Error> {
    let rows: Vec<ListedOrder> = sqlx::query_as(&format!(
        "SELECT {COLUMNS}, count(*) OVER () AS total, \
         COALESCE((SELECT json_agg(json_build_object('product_id', l.product_id, 'name', l.name, \
         'quantity', l.quantity, 'unit_price_cents', l.unit_price_cents) ORDER BY l.product_id) \
         FROM order_lines l WHERE l.order_id = orders.id), '[]'::json) AS lines \
         FROM orders WHERE ($1::uuid IS NULL OR user_id = $1) \
         ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
    ))
    .bind(user)
    .bind(paging.limit())
    .bind(paging.offset())
    .fetch_all(pool)
    .await?;
    let total = match rows.first() {
        Some(row) => row.total,
        // An empty page: past the end, or nothing at all.
        None => {
            sqlx::query_scalar("SELECT count(*) FROM orders WHERE ($1::uuid IS NULL OR user_id = $1)")
                .bind(user)
                .fetch_one(pool)
                .await?
        }
    };
    let orders = rows
        .into_iter()
        .map(|row| to_view(row.order, row.lines.0))
        .collect();
    Ok((orders, total))
}

/// Orders PENDING for longer than `age_ms`, oldest first.
pub async fn stale_pending(pool: &PgPool, age_ms: u64) -> Result<Vec<Order>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM orders WHERE status = 'PENDING' \
         AND created_at < now() - make_interval(secs => $1) ORDER BY created_at LIMIT 500"
    ))
    .bind(age_ms as f64 / 1000.0)
    .fetch_all(pool)
    .await
}

/// Records, on the order locked by `tx`, that its cancellation was asked
/// for (kept when it already was); false when it is not CONFIRMED.
pub async fn request_cancel(tx: &mut sqlx::PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE orders SET cancel_requested_at = COALESCE(cancel_requested_at, now()), updated_at = now() \
         WHERE id = $1 AND status = 'CONFIRMED'",
    )
    .bind(id)
    .execute(tx)
    .await?
    .rows_affected();
    Ok(updated > 0)
}

/// CONFIRMED → CANCELLED for an order whose cancellation was recorded and
/// whose stock has been released; false when it was not in that state.
pub async fn finish_cancel(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE orders SET status = 'CANCELLED', reason = 'cancelled', updated_at = now() \
         WHERE id = $1 AND status = 'CONFIRMED' AND cancel_requested_at IS NOT NULL",
    )
    .bind(id)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(updated > 0)
}

/// CONFIRMED → SHIPPED, unless a cancellation was asked for; false otherwise.
pub async fn ship(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE orders SET status = 'SHIPPED', reason = 'shipped', updated_at = now() \
         WHERE id = $1 AND status = 'CONFIRMED' AND cancel_requested_at IS NULL",
    )
    .bind(id)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(updated > 0)
}

/// Orders whose cancellation was asked for more than `age_ms` ago and is not
/// finished (the process died, or the products service did not answer).
pub async fn stale_cancels(pool: &PgPool, age_ms: u64) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM orders WHERE status = 'CONFIRMED' AND cancel_requested_at IS NOT NULL \
         AND cancel_requested_at < now() - make_interval(secs => $1) ORDER BY cancel_requested_at LIMIT 500",
    )
    .bind(age_ms as f64 / 1000.0)
    .fetch_all(pool)
    .await
}

/// Locks the order's row until `tx` ends; its owner and status.
pub async fn lock(tx: &mut sqlx::PgConnection, id: Uuid) -> Result<Option<(Uuid, Status)>, sqlx::Error> {
    sqlx::query_as("SELECT user_id, status FROM orders WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(tx)
        .await
}
