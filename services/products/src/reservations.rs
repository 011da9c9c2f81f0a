//! Stock reservations for orders.
//!
//! `reserve` takes every line or nothing, in one transaction: each product row
//! is decremented with `stock >= quantity` in its `WHERE` (the row lock makes
//! concurrent reservations queue, and PostgreSQL re-checks the condition after
//! the wait), in product-id order so two orders never deadlock. It is
//! idempotent per order id: a repeated call returns what was reserved.
//! `release` returns exactly what was reserved, once; a release that arrives
//! before its reservation leaves a tombstone, so a late reserve is refused.

/// Lines per reservation, and quantity per line, at most: an order's bounds.
pub use cloudshop_api::orders::{Line as LineRequest, MAX_LINES, MAX_QUANTITY};
pub use cloudshop_api::products::Shortage;
pub use cloudshop_api::reservations::ReservedLine;
use sqlx::PgPool;
use uuid::Uuid;

use crate::catalogue::notify_change;

#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    #[error("invalid reservation: {0}")]
    Invalid(String),
    #[error("unknown products: {0:?}")]
    UnknownProducts(Vec<i64>),
    #[error("not enough stock")]
    OutOfStock(Vec<Shortage>),
    #[error("this order's reservation was released")]
    Released,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Checks the lines and merges repeated products.
pub fn normalise(lines: &[LineRequest]) -> Result<Vec<LineRequest>, ReserveError> {
    if lines.is_empty() || lines.len() > MAX_LINES {
        return Err(ReserveError::Invalid(format!("between 1 and {MAX_LINES} lines")));
    }
    let mut merged: Vec<LineRequest> = Vec::with_capacity(lines.len());
    for line in lines {
        if line.product_id <= 0 || !(1..=MAX_QUANTITY).contains(&line.quantity) {
            return Err(ReserveError::Invalid(format!(
                "each line needs a product id and a quantity from 1 to {MAX_QUANTITY}"
            )));
        }
        match merged.iter_mut().find(|m| m.product_id == line.product_id) {
            Some(existing) => {
                existing.quantity = existing
                    .quantity
                    .checked_add(line.quantity)
                    .filter(|q| *q <= MAX_QUANTITY)
                    .ok_or_else(|| ReserveError::Invalid(format!("at most {MAX_QUANTITY} of one product")))?;
            }
            None => merged.push(*line),
        }
    }
    merged.sort_by_key(|line| line.product_id);
    Ok(merged)
}

pub async fn reserve(
    pool: &PgPool,
    order_id: Uuid,
    lines: &[LineRequest],
) -> Result<Vec<ReservedLine>, ReserveError> {
    let lines = normalise(lines)?;
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO reservations (order_id, state) VALUES ($1, 'reserved') ON CONFLICT DO NOTHING",
    )
    .bind(order_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        // Seen before: answer as the first time did.
        let state: String = sqlx::query_scalar("SELECT state FROM reservations WHERE order_id = $1")
            .bind(order_id)
            .fetch_one(&mut *tx)
            .await?;
        if state == "released" {
            return Err(ReserveError::Released);
        }
        return Ok(lines_of(&mut tx, order_id).await?);
    }

    // Takes effect at commit, like the rest; asked for here, before any
    // product row is locked, so it adds no round trip while one is.
    notify_change(&mut tx).await?;
    let mut reserved = Vec::with_capacity(lines.len());
    let mut unknown = Vec::new();
    let mut shortages = Vec::new();
    for line in &lines {
        // The product's row stays locked from this statement to the commit,
        // and every order of that product waits for it: one statement takes
        // the stock and writes the line, so for a one-line order the lock is
        // held for it and the commit only (in a longer order, also for the
        // later lines' statements).
        let taken: Option<(String, i64)> = sqlx::query_as(
            "WITH taken AS ( \
                 UPDATE products SET stock = stock - $3, updated_at = now() \
                 WHERE id = $2 AND stock >= $3 RETURNING id, name, price_cents \
             ), line AS ( \
                 INSERT INTO reservation_lines (order_id, product_id, quantity, name, unit_price_cents) \
                 SELECT $1, id, $3, name, price_cents FROM taken \
             ) \
             SELECT name, price_cents FROM taken",
        )
        .bind(order_id)
        .bind(line.product_id)
        .bind(line.quantity)
        .fetch_optional(&mut *tx)
        .await?;
        match taken {
            Some((name, unit_price_cents)) => reserved.push(ReservedLine {
                product_id: line.product_id,
                quantity: line.quantity,
                name,
                unit_price_cents,
            }),
            None => {
                let current: Option<(String, i32)> =
                    sqlx::query_as("SELECT name, stock FROM products WHERE id = $1")
                        .bind(line.product_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                match current {
                    None => unknown.push(line.product_id),
                    Some((name, available)) => shortages.push(Shortage {
                        product_id: line.product_id,
                        name: Some(name),
                        requested: line.quantity,
                        available,
                    }),
                }
            }
        }
    }
    if !unknown.is_empty() {
        tx.rollback().await?;
        return Err(ReserveError::UnknownProducts(unknown));
    }
    if !shortages.is_empty() {
        tx.rollback().await?;
        return Err(ReserveError::OutOfStock(shortages));
    }
    tx.commit().await?;
    Ok(reserved)
}

/// Gives back what `order_id` reserved (nothing, if it reserved nothing) and
/// returns it. Calling it again returns the same lines and changes nothing.
pub async fn release(pool: &PgPool, order_id: Uuid) -> Result<Vec<ReservedLine>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO reservations (order_id, state) VALUES ($1, 'released') ON CONFLICT DO NOTHING")
        .bind(order_id)
        .execute(&mut *tx)
        .await?;
    let state: String = sqlx::query_scalar("SELECT state FROM reservations WHERE order_id = $1 FOR UPDATE")
        .bind(order_id)
        .fetch_one(&mut *tx)
        .await?;
    let lines = lines_of(&mut tx, order_id).await?;
    if state == "reserved" {
        for line in &lines {
            sqlx::query("UPDATE products SET stock = stock + $2, updated_at = now() WHERE id = $1")
                .bind(line.product_id)
                .bind(line.quantity)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE reservations SET state = 'released', updated_at = now() WHERE order_id = $1")
            .bind(order_id)
            .execute(&mut *tx)
            .await?;
        notify_change(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(lines)
}

async fn lines_of(tx: &mut sqlx::PgConnection, order_id: Uuid) -> Result<Vec<ReservedLine>, sqlx::Error> {
    sqlx::query_as(
        "SELECT product_id, quantity, name, unit_price_cents FROM reservation_lines \
         WHERE order_id = $1 ORDER BY product_id",
    )
    .bind(order_id)
    .fetch_all(tx)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(product_id: i64, quantity: i32) -> LineRequest {
        LineRequest { product_id, quantity }
    }

    #[test]
    fn repeated_products_are_merged_and_sorted() {
        let merged = normalise(&[line(3, 1), line(1, 2), line(3, 4)]).expect("valid");
        assert_eq!(merged, vec![line(1, 2), line(3, 5)]);
    }

    #[test]
    fn bad_lines_are_refused() {
        assert!(normalise(&[]).is_err());
        assert!(normalise(&[line(1, 0)]).is_err());
        assert!(normalise(&[line(1, -3)]).is_err());
        assert!(normalise(&[line(0, 1)]).is_err());
        assert!(normalise(&[line(1, MAX_QUANTITY), line(1, 1)]).is_err());
        assert!(normalise(&vec![line(1, 1); MAX_LINES + 1]).is_err());
    }
}
