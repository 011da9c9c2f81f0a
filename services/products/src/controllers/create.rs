//! `POST /products` (admin): adds a product.

use axum::extract::State;
use axum::http::StatusCode;
use cloudshop_platform::error::{ApiError, ApiResult, Json};
use cloudshop_platform::jwt::Claims;

use super::AppState;
use crate::catalogue::{self, ProductView};
use crate::domain::{ProductInput, Validate};

pub async fn create(
    State(state): State<AppState>,
    claims: Claims,
    Json(input): Json<ProductInput>,
) -> ApiResult<(StatusCode, Json<ProductView>)> {
    claims.require_admin()?;
    let input = input
        .validate()
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let product = catalogue::create(&state.pool, &input).await?;
    state.cache.invalidate();
    tracing::info!(product_id = product.id, sku = %product.sku, "product created");
    Ok((StatusCode::CREATED, Json(ProductView::from(product))))
}
