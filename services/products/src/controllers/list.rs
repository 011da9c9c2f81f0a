//! `GET /products?q=&category=&page=&per_page=`: a page of the catalogue in a
//! stable order (by id), with the total count.

use axum::extract::State;
use axum::response::Response;
use cloudshop_platform::error::{ApiError, ApiResult, Query};
use http::HeaderMap;
use http::header::IF_NONE_MATCH;

use super::{AppState, cached};
use crate::catalogue;
use crate::domain::{ProductQuery, Search};

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<ProductQuery>,
) -> ApiResult<Response> {
    let search = Search::parse(params).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let key = format!("list:{search:?}");
    cached(&state, key, headers.get(IF_NONE_MATCH), async {
        Ok(catalogue::search(&state.pool, &search).await?)
    })
    .await
}
