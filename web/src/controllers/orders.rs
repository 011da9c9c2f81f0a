//! Order history, order detail, cancel.

use axum::extract::{Path, State};
use axum::response::Response;
use cloudshop_api::orders::OrderQuery;

use super::{AppState, CsrfForm, LoggedIn};
use crate::pages::orders;

pub async fn list(State(state): State<AppState>, LoggedIn(shopper): LoggedIn) -> Response {
    let query = OrderQuery {
        per_page: Some(50),
        ..OrderQuery::default()
    };
    match state.gateway.orders(shopper.caller(), &query).await {
        Ok(page) => {
            let markup = orders::list(&shopper.visitor, &page);
            shopper.render(markup)
        }
        Err(err) => shopper.failure(err),
    }
}

pub async fn show(
    State(state): State<AppState>,
    LoggedIn(shopper): LoggedIn,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = uuid::Uuid::parse_str(&id) else {
        return shopper.not_found();
    };
    match state.gateway.order(shopper.caller(), id).await {
        Ok(order) => {
            let markup = orders::detail(&shopper.visitor, &order);
            shopper.render(markup)
        }
        Err(err) => shopper.failure(err),
    }
}

pub async fn cancel(
    State(state): State<AppState>,
    LoggedIn(shopper): LoggedIn,
    Path(id): Path<String>,
    CsrfForm(()): CsrfForm,
) -> Response {
    let Ok(id) = uuid::Uuid::parse_str(&id) else {
        return shopper.redirect("/orders", None);
    };
    let cancelled = state.gateway.cancel_order(shopper.caller(), id).await;
    match cancelled {
        Ok(order) => shopper.redirect(&format!("/orders/{}", order.id), Some("Your order is cancelled.")),
        Err(err) => shopper.failure(err),
    }
}
