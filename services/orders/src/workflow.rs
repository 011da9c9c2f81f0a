//! An order's way from PENDING: stock reserved → CONFIRMED, stock refused →
//! REJECTED with the reason, products unreachable → still PENDING, to be
//! finished by a retry or by the reconciler. Reservations are idempotent per
//! order, so any number of paths may advance the same order.

use std::time::Duration;

use cloudshop_api::orders::OrderLine;
use cloudshop_platform::error::ApiError;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::settings::ReconcilerSettings;
use crate::stock::{StockClient, StockError};
use crate::store::{self, Order, Status};

/// An order after [`advance`]: as it then is, with its lines when the step
/// that confirmed it already had them (the caller then reads nothing more).
#[derive(Debug)]
pub struct Advanced {
    pub order: Order,
    pub lines: Option<Vec<OrderLine>>,
}

impl Advanced {
    /// The order as the API shows it, its lines read when not known.
    pub async fn view(self, pool: &PgPool) -> Result<store::OrderView, sqlx::Error> {
        match self.lines {
            Some(lines) => Ok(store::to_view(self.order, lines)),
            None => store::view(pool, self.order).await,
        }
    }
}

/// Advances a PENDING order as far as it can go now and returns it as it
/// then is. Orders in any other status are returned unchanged.
pub async fn advance(
    pool: &PgPool,
    stock: &StockClient,
    order: Order,
    request_id: &str,
) -> Result<Advanced, ApiError> {
    if order.status != Status::Pending {
        return Ok(Advanced { order, lines: None });
    }
    match stock
        .reserve(order.id, order.requested.0.lines(), request_id)
        .await
    {
        Ok(lines) => match store::confirm(pool, order.id, &lines).await? {
            Some((order, lines)) => {
                return Ok(Advanced {
                    order,
                    lines: Some(lines),
                });
            }
            None => {
                // Someone else finished it first. If it was rejected, the stock
                // we just got must go back.
                if let Some(current) = store::find(pool, order.id).await?
                    && current.status == Status::Rejected
                {
                    let _ = stock.release(order.id, request_id).await;
                }
            }
        },
        Err(StockError::Refused(refusal)) => {
            store::reject(pool, order.id, &refusal).await?;
        }
        Err(StockError::Unavailable(reason)) => {
            tracing::warn!(order_id = %order.id, %reason, "order left pending: products unavailable");
            return Err(ApiError::service_unavailable(
                "the order is recorded but stock could not be checked; retry with the same Idempotency-Key",
            ));
        }
    }
    let order = store::find(pool, order.id)
        .await?
        .ok_or_else(|| ApiError::internal("order vanished"))?;
    Ok(Advanced { order, lines: None })
}

/// Finishes stale PENDING orders and unfinished cancellations at start and
/// then periodically.
pub fn spawn_reconciler(
    pool: PgPool,
    stock: StockClient,
    settings: ReconcilerSettings,
    shutdown: CancellationToken,
) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_millis(settings.interval_ms.max(100)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            reconcile_once(&pool, &stock, settings.pending_after_ms).await;
        }
    });
}

/// One pass of the reconciler: stale PENDING orders are advanced, and
/// cancellations recorded but not finished (a crash, products unreachable)
/// are finished; returns how many orders it finished.
pub async fn reconcile_once(pool: &PgPool, stock: &StockClient, pending_after_ms: u64) -> usize {
    reconcile_pending(pool, stock, pending_after_ms).await
        + reconcile_cancels(pool, stock, pending_after_ms).await
}

async fn reconcile_cancels(pool: &PgPool, stock: &StockClient, after_ms: u64) -> usize {
    let stale = match store::stale_cancels(pool, after_ms).await {
        Ok(stale) => stale,
        Err(err) => {
            tracing::warn!(error = %err, "reconciler cannot read unfinished cancellations");
            return 0;
        }
    };
    let mut finished = 0;
    for id in stale {
        match finish_cancel(pool, stock, id, &format!("reconciler-cancel-{id}")).await {
            Ok(()) => {
                finished += 1;
                tracing::info!(order_id = %id, "reconciled a cancellation: stock returned, order CANCELLED");
            }
            // A retried request finished it meanwhile.
            Err(Finish::Gone) => {}
            Err(Finish::Unavailable(reason)) => {
                tracing::warn!(order_id = %id, %reason, "cancellation not reconciled yet");
            }
            Err(Finish::Database(err)) => {
                tracing::warn!(order_id = %id, error = %err, "cancellation not reconciled yet");
            }
        }
    }
    finished
}

async fn reconcile_pending(pool: &PgPool, stock: &StockClient, pending_after_ms: u64) -> usize {
    let stale = match store::stale_pending(pool, pending_after_ms).await {
        Ok(stale) => stale,
        Err(err) => {
            tracing::warn!(error = %err, "reconciler cannot read pending orders");
            return 0;
        }
    };
    let mut finished = 0;
    for order in stale {
        let id = order.id;
        match advance(pool, stock, order, &format!("reconciler-{id}")).await {
            Ok(advanced) => {
                finished += 1;
                tracing::info!(order_id = %id, status = ?advanced.order.status, "reconciled a pending order");
            }
            Err(err) => tracing::warn!(order_id = %id, error = %err, "pending order not reconciled yet"),
        }
    }
    finished
}

/// Cancels a confirmed, unshipped order and returns its stock, in three
/// steps so that a crash at any point is finished later rather than leaving
/// a CONFIRMED order whose stock went back:
/// 1. on the locked row, the request is recorded (`cancel_requested_at`) and
///    committed; from then on the order cannot ship;
/// 2. the stock is released (idempotent per order);
/// 3. CONFIRMED → CANCELLED.
///
/// A crash after 1 or 2, or a products service that does not answer (503),
/// leaves a recorded request: a retry of the cancel or the reconciler
/// ([`reconcile_once`]) repeats 2 and 3.
pub async fn cancel(
    pool: &PgPool,
    stock: &StockClient,
    id: uuid::Uuid,
    caller: &cloudshop_platform::jwt::Claims,
    request_id: &str,
) -> Result<(), ApiError> {
    let mut tx = pool.begin().await?;
    let Some((owner, status)) = store::lock(&mut tx, id).await? else {
        return Err(ApiError::not_found());
    };
    if owner.to_string() != caller.sub && !caller.is_admin() {
        return Err(ApiError::not_found());
    }
    // The row is locked: a CONFIRMED order is marked.
    if status != Status::Confirmed || !store::request_cancel(&mut tx, id).await? {
        return Err(ApiError::conflict(
            "only confirmed orders that have not shipped can be cancelled",
        ));
    }
    tx.commit().await?;
    finish_cancel(pool, stock, id, request_id)
        .await
        .map_err(|err| match err {
            Finish::Unavailable(reason) => {
                tracing::warn!(order_id = %id, %reason, "cancel recorded, stock not released yet");
                ApiError::service_unavailable(
                    "the cancellation is recorded but the stock could not be returned now; \
                 it completes by itself, or retry",
                )
            }
            Finish::Gone => {
                ApiError::conflict("only confirmed orders that have not shipped can be cancelled")
            }
            Finish::Database(err) => err.into(),
        })
}

enum Finish {
    Unavailable(String),
    /// Another path finished the cancellation first.
    Gone,
    Database(sqlx::Error),
}

/// Steps 2 and 3 of [`cancel`] for an order whose cancellation is recorded.
async fn finish_cancel(
    pool: &PgPool,
    stock: &StockClient,
    id: uuid::Uuid,
    request_id: &str,
) -> Result<(), Finish> {
    stock
        .release(id, request_id)
        .await
        .map_err(|err| Finish::Unavailable(err.to_string()))?;
    match store::finish_cancel(pool, id).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(Finish::Gone),
        Err(err) => Err(Finish::Database(err)),
    }
}
