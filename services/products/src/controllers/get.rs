//! `GET /products/{id}`.

use axum::extract::{Path, State};
use axum::response::Response;
use cloudshop_platform::error::{ApiError, ApiResult};
use http::HeaderMap;
use http::header::IF_NONE_MATCH;

use super::{AppState, cached, product_id};
use crate::catalogue::{self, ProductView};

pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = product_id(&id)?;
    cached(
        &state,
        format!("product:{id}"),
        headers.get(IF_NONE_MATCH),
        async {
            let product = catalogue::find(&state.pool, id)
                .await?
                .ok_or_else(ApiError::not_found)?;
            Ok(ProductView::from(product))
        },
    )
    .await
}
