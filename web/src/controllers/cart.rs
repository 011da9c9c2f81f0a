//! The cart (a signed cookie) and checkout.

use axum::extract::State;
use axum::response::Response;
use cloudshop_api::orders::OrderRequest;
use http::StatusCode;
use serde::Deserialize;

use super::{AppState, CsrfForm, LoggedIn, Shopper, capitalise, number};
use crate::gateway::ClientError;
use crate::pages::catalogue::{self, CartRow};
use crate::session::{Cart, MAX_CART_QUANTITY, with_cart};

pub async fn show(State(state): State<AppState>, mut shopper: Shopper) -> Response {
    let mut rows = Vec::new();
    let mut cart = shopper.visitor.cart.clone();
    for line in &shopper.visitor.cart.lines {
        match state.gateway.product(shopper.caller(), line.product_id).await {
            Ok(product) => rows.push(CartRow {
                product,
                quantity: line.quantity,
            }),
            // A product deleted since it was added leaves the cart.
            Err(err) if err.status() == StatusCode::NOT_FOUND => cart.set(line.product_id, 0),
            Err(err) => return shopper.failure(err),
        }
    }
    let checkout_key = uuid::Uuid::new_v4().to_string();
    // The page (its "Cart (n)" too) shows the cart as it is stored now.
    shopper.visitor.cart = cart.clone();
    let markup = catalogue::cart(&shopper.visitor, &rows, &checkout_key);
    shopper
        .map_jar(|jar, policy| with_cart(jar, policy, &cart))
        .render(markup)
}

#[derive(Debug, Deserialize)]
pub struct LineForm {
    product_id: String,
    #[serde(default)]
    quantity: String,
}

fn parse_line(form: &LineForm, minimum: i32) -> Result<(i64, i32), String> {
    let product_id: i64 = number("product", &form.product_id)?;
    let quantity: i32 = number("quantity", &form.quantity)?;
    if !(minimum..=MAX_CART_QUANTITY).contains(&quantity) {
        return Err(format!(
            "Quantity must be between {minimum} and {MAX_CART_QUANTITY}."
        ));
    }
    Ok((product_id, quantity))
}

fn store(shopper: Shopper, cart: &Cart, flash: &str) -> Response {
    shopper
        .map_jar(|jar, policy| with_cart(jar, policy, cart))
        .redirect("/cart", Some(flash))
}

pub async fn add(shopper: Shopper, CsrfForm(form): CsrfForm<LineForm>) -> Response {
    match parse_line(&form, 1) {
        Ok((product_id, quantity)) => {
            let mut cart = shopper.visitor.cart.clone();
            cart.add(product_id, quantity);
            store(shopper, &cart, "Added to your cart.")
        }
        Err(message) => shopper.message(StatusCode::UNPROCESSABLE_ENTITY, "Cannot add to cart", &message),
    }
}

pub async fn update(shopper: Shopper, CsrfForm(form): CsrfForm<LineForm>) -> Response {
    match parse_line(&form, 0) {
        Ok((product_id, quantity)) => {
            let mut cart = shopper.visitor.cart.clone();
            cart.set(product_id, quantity);
            store(shopper, &cart, "Cart updated.")
        }
        Err(message) => shopper.message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Cannot update the cart",
            &message,
        ),
    }
}

pub async fn remove(shopper: Shopper, CsrfForm(form): CsrfForm<LineForm>) -> Response {
    let Ok(product_id) = number::<i64>("product", &form.product_id) else {
        return shopper.message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Cannot update the cart",
            "Unknown product.",
        );
    };
    let mut cart = shopper.visitor.cart.clone();
    cart.set(product_id, 0);
    store(shopper, &cart, "Removed from your cart.")
}

#[derive(Debug, Deserialize)]
pub struct CheckoutForm {
    #[serde(default)]
    checkout_key: String,
}

/// Places the order. The form carries an idempotency key made when the cart
/// page was rendered, so a double-submitted form places one order.
pub async fn checkout(
    State(state): State<AppState>,
    LoggedIn(shopper): LoggedIn,
    CsrfForm(form): CsrfForm<CheckoutForm>,
) -> Response {
    let cart = shopper.visitor.cart.clone();
    if cart.lines.is_empty() {
        return shopper.redirect("/cart", Some("Your cart is empty."));
    }
    if form.checkout_key.is_empty() || form.checkout_key.len() > 64 {
        return shopper.message(
            StatusCode::BAD_REQUEST,
            "Cannot place the order",
            "Please reload the cart and try again.",
        );
    }
    let order = OrderRequest {
        lines: cart.lines.clone(),
    };
    let placed = state
        .gateway
        .place_order(shopper.caller(), &form.checkout_key, &order)
        .await;
    match placed {
        Ok(placed) => shopper
            .map_jar(|jar, policy| with_cart(jar, policy, &Cart::default()))
            .redirect(
                &format!("/orders/{}", placed.order.id),
                Some("Thank you! Your order is confirmed."),
            ),
        Err(ClientError::Rejected(rejection)) => shopper.redirect(
            "/cart",
            Some(&format!(
                "We could not place your order: {}.",
                rejection.error.message
            )),
        ),
        Err(ClientError::Refused { status, error }) if status == StatusCode::UNPROCESSABLE_ENTITY => shopper
            .message(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Cannot place the order",
                &capitalise(&error.message),
            ),
        Err(err) => shopper.failure(err),
    }
}
