//! `GET /products?q=&category=&page=&per_page=`: a page of the catalogue in a
//! stable order (by id), with the total count.

use axum::extract::State;
use axum::response::Response;
use cloudshop_platform::error::{ApiError, ApiResult, Query};

use super::{AppState, cached};
use crate::catalogue;
use crate::domain::{ProductQuery, Search};

pub async fn list(State(state): State<AppState>, Query(params): Query<ProductQuery>) -> ApiResult<Response> {
    let search = Search::parse(params).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let key = format!("list:{search:?}");
    cached(&state, key, async {
        Ok(catalogue::search(&state.pool, &search).await?)
    })
    .await
}
