//! `GET /orders/{id}`: the caller's own order (an admin may see any); another
//! user's order does not exist as far as the caller can tell (404).

use axum::extract::{Path, State};
use cloudshop_platform::error::{ApiError, ApiResult, Json};
use cloudshop_platform::jwt::Claims;

use super::{AppState, order_id};
use crate::store::{self, OrderView};

pub async fn get(
    State(state): State<AppState>,
    claims: Claims,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderView>> {
    let id = order_id(&id)?;
    let order = store::find(&state.pool, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if order.user_id.to_string() != claims.sub && !claims.is_admin() {
        return Err(ApiError::not_found());
    }
    Ok(Json(store::view(&state.pool, order).await?))
}
