//! Order history, order detail, cancel.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use cloudshop_api::orders::OrderQuery;

use super::account::Plain;
use super::{AppState, Shopper};
use crate::pages::orders;

pub async fn list(State(state): State<AppState>, shopper: Shopper) -> Response {
    let shopper = match shopper.require_login() {
        Ok(shopper) => shopper,
        Err(redirect) => return redirect,
    };
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

pub async fn show(State(state): State<AppState>, shopper: Shopper, Path(id): Path<String>) -> Response {
    let shopper = match shopper.require_login() {
        Ok(shopper) => shopper,
        Err(redirect) => return redirect,
    };
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
    shopper: Shopper,
    Path(id): Path<String>,
    Form(form): Form<Plain>,
) -> Response {
    let shopper = match shopper.check_csrf(form.csrf()).and_then(Shopper::require_login) {
        Ok(shopper) => shopper,
        Err(refused) => return refused,
    };
    let Ok(id) = uuid::Uuid::parse_str(&id) else {
        return shopper.redirect("/orders", None);
    };
    let cancelled = state.gateway.cancel_order(shopper.caller(), id).await;
    match cancelled {
        Ok(order) => shopper.redirect(&format!("/orders/{}", order.id), Some("Your order is cancelled.")),
        Err(err) => shopper.failure(err),
    }
}
