//! `POST /orders/{id}/cancel`: a confirmed, unshipped order of the caller's
//! is cancelled and its stock returns.

use axum::Extension;
use axum::extract::{Path, State};
use cloudshop_platform::error::{ApiError, ApiResult, Json};
use cloudshop_platform::http::RequestId;
use cloudshop_platform::jwt::Claims;

use super::{AppState, order_id, request_id};
use crate::store::{self, OrderView};
use crate::workflow;

pub async fn cancel(
    State(state): State<AppState>,
    claims: Claims,
    rid: Option<Extension<RequestId>>,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderView>> {
    let id = order_id(&id)?;
    workflow::cancel(&state.pool, &state.stock, id, &claims, &request_id(rid.as_ref())).await?;
    state.metrics.cancelled.inc();
    tracing::info!(order_id = %id, "order cancelled");
    let order = store::find(&state.pool, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(store::view(&state.pool, order).await?))
}
