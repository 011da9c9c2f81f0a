//! `POST /internal/reservations/{order_id}/release` (the orders service
//! only): returns the order's stock; repeating it changes nothing.

use axum::extract::{Path, State};
use cloudshop_platform::error::{ApiResult, Json};
use uuid::Uuid;

use super::AppState;
use crate::reservations;
use cloudshop_api::reservations::Reservation;

pub async fn release(
    State(state): State<AppState>,
    Path(order_id): Path<Uuid>,
) -> ApiResult<Json<Reservation>> {
    let lines = reservations::release(&state.pool, order_id).await?;
    state.cache.invalidate();
    state.metrics.releases.inc();
    tracing::info!(%order_id, lines = lines.len(), "reservation released");
    Ok(Json(Reservation { order_id, lines }))
}
