//! `POST /orders/{id}/ship` (admin): a confirmed order is shipped.

use axum::extract::{Path, State};
use cloudshop_platform::error::{ApiError, ApiResult, Json};
use cloudshop_platform::jwt::Claims;

use super::{AppState, order_id};
use crate::store::{self, OrderView, Status};

pub async fn ship(
    State(state): State<AppState>,
    claims: Claims,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderView>> {
    claims.require_admin()?;
    let id = order_id(&id)?;
    if !store::ship(&state.pool, id).await? {
        return match store::find(&state.pool, id).await? {
            None => Err(ApiError::not_found()),
            Some(order) if order.status == Status::Confirmed => Err(ApiError::conflict(
                "the order's cancellation is in progress; it cannot be shipped",
            )),
            Some(_) => Err(ApiError::conflict("only confirmed orders can be shipped")),
        };
    }
    tracing::info!(order_id = %id, "order shipped");
    let order = store::find(&state.pool, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(store::view(&state.pool, order).await?))
}
