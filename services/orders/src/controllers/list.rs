//! `GET /orders?page=&per_page=`: the caller's orders, newest first;
//! `?all=true` (admin): everyone's. Unknown parameters are refused (400).

use axum::extract::State;
use cloudshop_api::orders::{OrderPage, OrderQuery};
use cloudshop_api::paging::Paging;
use cloudshop_platform::error::{ApiError, ApiResult, Json, Query};
use cloudshop_platform::jwt::Claims;

use super::{AppState, user_id};
use crate::store;

pub async fn list(
    State(state): State<AppState>,
    claims: Claims,
    Query(query): Query<OrderQuery>,
) -> ApiResult<Json<OrderPage>> {
    let paging =
        Paging::parse(query.page, query.per_page).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let user = if query.all == Some(true) {
        claims.require_admin()?;
        None
    } else {
        Some(user_id(&claims)?)
    };
    let (items, total) = store::list(&state.pool, user, paging).await?;
    Ok(Json(OrderPage {
        items,
        page: paging.page,
        per_page: paging.per_page,
        total,
    }))
}
