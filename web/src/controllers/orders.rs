//! Order history, order detail, cancel.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use reqwest::Method;

use super::account::Plain;
use super::{AppState, Shopper};
use crate::pages::{Order, OrderPage, orders};

pub async fn list(State(state): State<AppState>, shopper: Shopper) -> Response {
    let shopper = match shopper.require_login() {
        Ok(shopper) => shopper,
        Err(redirect) => return redirect,
    };
    match state
        .gateway
        .get::<OrderPage>(shopper.caller(), "/api/orders?per_page=50")
        .await
    {
        Ok(page) => {
            let markup = orders::list(&shopper.visitor, &page);
            shopper.render(markup)
        }
        Err(err) => shopper.failure(err),
    }
}

fn order_path(id: &str) -> Option<String> {
    uuid::Uuid::parse_str(id)
        .ok()
        .map(|id| format!("/api/orders/{id}"))
}

pub async fn show(State(state): State<AppState>, shopper: Shopper, Path(id): Path<String>) -> Response {
    let shopper = match shopper.require_login() {
        Ok(shopper) => shopper,
        Err(redirect) => return redirect,
    };
    let Some(path) = order_path(&id) else {
        return shopper.not_found();
    };
    match state.gateway.get::<Order>(shopper.caller(), &path).await {
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
    let Some(path) = order_path(&id) else {
        return shopper.redirect("/orders", None);
    };
    let cancelled = state
        .gateway
        .send::<Order, ()>(
            shopper.caller(),
            Method::POST,
            &format!("{path}/cancel"),
            None,
            None,
        )
        .await;
    match cancelled {
        Ok(order) => shopper.redirect(&format!("/orders/{}", order.id), Some("Your order is cancelled.")),
        Err(err) => shopper.failure(err),
    }
}
