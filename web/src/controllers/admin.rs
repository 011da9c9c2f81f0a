//! Admin pages: products (create, edit, stock, delete) and all orders (ship).
//! Only admins see them; the API enforces the role again.

// Guards return the page to send as their error; handlers send it at once.
#![allow(clippy::result_large_err)]

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use http::StatusCode;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::account::Plain;
use super::{AppState, Shopper, capitalise, number};
use crate::gateway::ApiError;
use crate::pages::{Category, OrderPage, Product, ProductPage, admin};

#[derive(Debug, Deserialize)]
pub struct ProductForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    sku: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    price_cents: String,
    #[serde(default)]
    stock: String,
}

impl ProductForm {
    fn body(&self) -> Result<Value, String> {
        let price_cents: i64 = number("Price", &self.price_cents)?;
        let stock: i32 = number("Stock", &self.stock)?;
        Ok(json!({
            "sku": self.sku.trim(), "name": self.name.trim(), "description": self.description.trim(),
            "category": self.category, "price_cents": price_cents, "stock": stock,
        }))
    }
}

async fn catalogue(state: &AppState, shopper: &Shopper) -> Result<(Vec<Product>, Vec<Category>), ApiError> {
    let mut products = Vec::new();
    let mut page = 1;
    loop {
        let batch: ProductPage = state
            .gateway
            .get(
                shopper.caller(),
                &format!("/api/products?per_page=100&page={page}"),
            )
            .await?;
        let done = batch.items.len() < 100;
        products.extend(batch.items);
        if done || page >= 50 {
            break;
        }
        page += 1;
    }
    let categories = state.gateway.get(shopper.caller(), "/api/categories").await?;
    Ok((products, categories))
}

async fn products_page(
    state: &AppState,
    shopper: Shopper,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    match catalogue(state, &shopper).await {
        Ok((products, categories)) => {
            let markup = admin::products(&shopper.visitor, &products, &categories, error);
            shopper.render_status(status, markup)
        }
        Err(err) => shopper.failure(err),
    }
}

pub async fn products(State(state): State<AppState>, shopper: Shopper) -> Response {
    match shopper.require_admin() {
        Ok(shopper) => products_page(&state, shopper, StatusCode::OK, None).await,
        Err(refused) => refused,
    }
}

fn guard(shopper: Shopper, csrf: &str) -> Result<Shopper, Response> {
    shopper.require_admin()?.check_csrf(csrf)
}

/// Shows an API refusal on the admin page instead of losing the form.
async fn refused(state: &AppState, shopper: Shopper, err: ApiError) -> Response {
    match err {
        ApiError::Refused { status, message, .. } if (400..500).contains(&status) && status != 401 => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            products_page(state, shopper, status, Some(&capitalise(&message))).await
        }
        err => shopper.failure(err),
    }
}

pub async fn create(
    State(state): State<AppState>,
    shopper: Shopper,
    Form(form): Form<ProductForm>,
) -> Response {
    let shopper = match guard(shopper, &form.csrf) {
        Ok(shopper) => shopper,
        Err(refused) => return refused,
    };
    let body = match form.body() {
        Ok(body) => body,
        Err(message) => {
            return products_page(&state, shopper, StatusCode::UNPROCESSABLE_ENTITY, Some(&message)).await;
        }
    };
    match state
        .gateway
        .send::<Product, _>(shopper.caller(), Method::POST, "/api/products", Some(&body), None)
        .await
    {
        Ok(product) => shopper.redirect("/admin/products", Some(&format!("Created {}.", product.name))),
        Err(err) => refused(&state, shopper, err).await,
    }
}

pub async fn edit(State(state): State<AppState>, shopper: Shopper, Path(id): Path<i64>) -> Response {
    let shopper = match shopper.require_admin() {
        Ok(shopper) => shopper,
        Err(refused) => return refused,
    };
    let product = state
        .gateway
        .get::<Product>(shopper.caller(), &format!("/api/products/{id}"))
        .await;
    let categories = state
        .gateway
        .get::<Vec<Category>>(shopper.caller(), "/api/categories")
        .await;
    match (product, categories) {
        (Ok(product), Ok(categories)) => {
            let markup = admin::edit(&shopper.visitor, &product, &categories, None);
            shopper.render(markup)
        }
        (Err(err), _) | (_, Err(err)) => shopper.failure(err),
    }
}

pub async fn update(
    State(state): State<AppState>,
    shopper: Shopper,
    Path(id): Path<i64>,
    Form(form): Form<ProductForm>,
) -> Response {
    let shopper = match guard(shopper, &form.csrf) {
        Ok(shopper) => shopper,
        Err(refused) => return refused,
    };
    let body = match form.body() {
        Ok(body) => body,
        Err(message) => {
            return products_page(&state, shopper, StatusCode::UNPROCESSABLE_ENTITY, Some(&message)).await;
        }
    };
    let path = format!("/api/products/{id}");
    match state
        .gateway
        .send::<Product, _>(shopper.caller(), Method::PUT, &path, Some(&body), None)
        .await
    {
        Ok(product) => shopper.redirect("/admin/products", Some(&format!("Saved {}.", product.name))),
        Err(err) => refused(&state, shopper, err).await,
    }
}

#[derive(Debug, Deserialize)]
pub struct StockForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    stock: String,
}

pub async fn stock(
    State(state): State<AppState>,
    shopper: Shopper,
    Path(id): Path<i64>,
    Form(form): Form<StockForm>,
) -> Response {
    let shopper = match guard(shopper, &form.csrf) {
        Ok(shopper) => shopper,
        Err(refused) => return refused,
    };
    let stock: i32 = match number("Stock", &form.stock) {
        Ok(stock) => stock,
        Err(message) => {
            return products_page(&state, shopper, StatusCode::UNPROCESSABLE_ENTITY, Some(&message)).await;
        }
    };
    let path = format!("/api/products/{id}");
    let body = json!({ "stock": stock });
    match state
        .gateway
        .send::<Product, _>(shopper.caller(), Method::PATCH, &path, Some(&body), None)
        .await
    {
        Ok(product) => shopper.redirect(
            "/admin/products",
            Some(&format!("{} now has {} in stock.", product.name, product.stock)),
        ),
        Err(err) => refused(&state, shopper, err).await,
    }
}

pub async fn delete(
    State(state): State<AppState>,
    shopper: Shopper,
    Path(id): Path<i64>,
    Form(form): Form<Plain>,
) -> Response {
    let shopper = match guard(shopper, form.csrf()) {
        Ok(shopper) => shopper,
        Err(refused) => return refused,
    };
    let path = format!("/api/products/{id}");
    match state
        .gateway
        .send::<Value, ()>(shopper.caller(), Method::DELETE, &path, None, None)
        .await
    {
        Ok(_) => shopper.redirect("/admin/products", Some("Product deleted.")),
        Err(err) => refused(&state, shopper, err).await,
    }
}

pub async fn orders(State(state): State<AppState>, shopper: Shopper) -> Response {
    let shopper = match shopper.require_admin() {
        Ok(shopper) => shopper,
        Err(refused) => return refused,
    };
    match state
        .gateway
        .get::<OrderPage>(shopper.caller(), "/api/orders?all=true&per_page=100")
        .await
    {
        Ok(page) => {
            let markup = admin::orders(&shopper.visitor, &page);
            shopper.render(markup)
        }
        Err(err) => shopper.failure(err),
    }
}

pub async fn ship(
    State(state): State<AppState>,
    shopper: Shopper,
    Path(id): Path<uuid::Uuid>,
    Form(form): Form<Plain>,
) -> Response {
    let shopper = match guard(shopper, form.csrf()) {
        Ok(shopper) => shopper,
        Err(refused) => return refused,
    };
    let path = format!("/api/orders/{id}/ship");
    match state
        .gateway
        .send::<Value, ()>(shopper.caller(), Method::POST, &path, None, None)
        .await
    {
        Ok(_) => shopper.redirect("/admin/orders", Some("Order shipped.")),
        Err(err) => shopper.failure(err),
    }
}
