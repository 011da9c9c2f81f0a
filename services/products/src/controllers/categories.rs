//! `GET /categories`.

use axum::extract::State;
use axum::response::Response;
use cloudshop_platform::error::ApiResult;

use super::{AppState, cached};
use crate::catalogue;

pub async fn categories(State(state): State<AppState>) -> ApiResult<Response> {
    cached(&state, "categories".into(), async {
        Ok(catalogue::categories(&state.pool).await?)
    })
    .await
}
