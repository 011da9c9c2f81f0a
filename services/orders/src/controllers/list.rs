//! `GET /orders?page=&per_page=`: the caller's orders, newest first;
//! `?all=true` (admin): everyone's.

use axum::extract::State;
use cloudshop_platform::error::{ApiResult, Json, Query};
use cloudshop_platform::jwt::Claims;
use serde::Serialize;

use super::{AppState, Paging, user_id};
use crate::store::{self, OrderView};

#[derive(Debug, Serialize)]
pub struct OrderPage {
    pub items: Vec<OrderView>,
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
}

pub async fn list(
    State(state): State<AppState>,
    claims: Claims,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<OrderPage>> {
    let (page, per_page) = paging.checked()?;
    let user = if paging.all == Some(true) {
        claims.require_admin()?;
        None
    } else {
        Some(user_id(&claims)?)
    };
    let (orders, total) = store::list(&state.pool, user, page, per_page).await?;
    let mut items = Vec::with_capacity(orders.len());
    for order in orders {
        items.push(store::view(&state.pool, order).await?);
    }
    Ok(Json(OrderPage {
        items,
        page,
        per_page,
        total,
    }))
}
