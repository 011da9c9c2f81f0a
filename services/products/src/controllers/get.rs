//! `GET /products/{id}`.

use axum::extract::{Path, State};
use axum::response::Response;
use cloudshop_platform::error::{ApiError, ApiResult};

use super::{AppState, cached, product_id};
use crate::catalogue::{self, ProductView};

pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let id = product_id(&id)?;
    cached(&state, format!("product:{id}"), async {
        let product = catalogue::find(&state.pool, id)
            .await?
            .ok_or_else(ApiError::not_found)?;
        Ok(ProductView::from(product))
    })
    .await
}
