//! `GET /categories`.

use axum::extract::State;
use axum::response::Response;
use cloudshop_platform::error::ApiResult;
use http::HeaderMap;
use http::header::IF_NONE_MATCH;

use super::{AppState, cached};
use crate::catalogue;

pub async fn categories(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    cached(&state, "categories".into(), headers.get(IF_NONE_MATCH), async {
        Ok(catalogue::categories(&state.pool).await?)
    })
    .await
}
