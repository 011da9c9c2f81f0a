//! `DELETE /products/{id}` (admin). Orders keep their own copy of what they
//! bought, so deleting a product loses no order.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use cloudshop_platform::error::{ApiError, ApiResult};
use cloudshop_platform::jwt::Claims;

use super::{AppState, product_id};
use crate::catalogue;

pub async fn delete(
    State(state): State<AppState>,
    claims: Claims,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    claims.require_admin()?;
    let id = product_id(&id)?;
    if !catalogue::delete(&state.pool, id).await? {
        return Err(ApiError::not_found());
    }
    state.cache.invalidate();
    tracing::info!(product_id = id, "product deleted");
    Ok(StatusCode::NO_CONTENT)
}
