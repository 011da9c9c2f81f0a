//! `GET /products/{id}/image.svg`: the product's picture.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use cloudshop_platform::error::{ApiError, ApiResult};
use http::header;

use super::{AppState, product_id};
use crate::catalogue;

pub async fn picture(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let id = product_id(&id)?;
    let product = catalogue::find(&state.pool, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        crate::picture::svg(&product),
    )
        .into_response())
}
