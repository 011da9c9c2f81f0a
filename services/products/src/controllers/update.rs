//! `PUT /products/{id}` replaces a product, `PATCH /products/{id}` changes
//! some of its fields (setting stock, say). Admin only.

use axum::extract::{Path, State};
use cloudshop_platform::error::{ApiError, ApiResult, Json};
use cloudshop_platform::jwt::Claims;

use super::{AppState, product_id};
use crate::catalogue::{self, ProductView};
use crate::domain::{ProductInput, ProductPatch, Validate};

pub async fn replace(
    State(state): State<AppState>,
    claims: Claims,
    Path(id): Path<String>,
    Json(input): Json<ProductInput>,
) -> ApiResult<Json<ProductView>> {
    claims.require_admin()?;
    let id = product_id(&id)?;
    let input = input
        .validate()
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let product = catalogue::replace(&state.pool, id, &input)
        .await?
        .ok_or_else(ApiError::not_found)?;
    state.cache.invalidate();
    tracing::info!(product_id = id, "product replaced");
    Ok(Json(ProductView::from(product)))
}

pub async fn patch(
    State(state): State<AppState>,
    claims: Claims,
    Path(id): Path<String>,
    Json(change): Json<ProductPatch>,
) -> ApiResult<Json<ProductView>> {
    claims.require_admin()?;
    let id = product_id(&id)?;
    let product = catalogue::patch(&state.pool, id, |current| change.apply(current).validate())
        .await?
        .ok_or_else(ApiError::not_found)?
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    state.cache.invalidate();
    tracing::info!(product_id = id, "product changed");
    Ok(Json(ProductView::from(product)))
}
