//! Admin pages: products (create, edit, stock, delete) and all orders (ship).
//! Only admins see them; the API enforces the role again.

use axum::extract::{Path, State};
use axum::response::Response;
use cloudshop_api::orders::OrderQuery;
use cloudshop_api::paging::MAX_PER_PAGE;
use cloudshop_api::products::{ProductInput, ProductPatch, ProductQuery};
use http::StatusCode;
use serde::Deserialize;

use super::{Admin, AppState, CsrfForm, Shopper, capitalise, number};
use crate::gateway::{ClientError, refusal};
use crate::pages::{Category, Product, admin};

#[derive(Debug, Deserialize)]
pub struct ProductForm {
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
    fn body(&self) -> Result<ProductInput, String> {
        Ok(ProductInput {
            sku: self.sku.trim().to_owned(),
            name: self.name.trim().to_owned(),
            description: self.description.trim().to_owned(),
            category: self.category.clone(),
            price_cents: number("Price", &self.price_cents)?,
            stock: number("Stock", &self.stock)?,
        })
    }
}

async fn catalogue(
    state: &AppState,
    shopper: &Shopper,
) -> Result<(Vec<Product>, Vec<Category>), ClientError> {
    let mut products = Vec::new();
    let mut page = 1;
    loop {
        let query = ProductQuery {
            page: Some(page),
            per_page: Some(MAX_PER_PAGE),
            ..ProductQuery::default()
        };
        let batch = state.gateway.products(shopper.caller(), &query).await?;
        let done = batch.items.len() < MAX_PER_PAGE as usize;
        products.extend(batch.items);
        if done || page >= 50 {
            break;
        }
        page += 1;
    }
    let categories = state.gateway.categories(shopper.caller()).await?;
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

pub async fn products(State(state): State<AppState>, Admin(shopper): Admin) -> Response {
    products_page(&state, shopper, StatusCode::OK, None).await
}

/// Shows an API refusal on the admin page instead of losing the form.
async fn refused(state: &AppState, shopper: Shopper, err: ClientError) -> Response {
    match refusal(&err) {
        Some((status, message)) if status != StatusCode::UNAUTHORIZED => {
            products_page(state, shopper, status, Some(&capitalise(message))).await
        }
        _ => shopper.failure(err),
    }
}

pub async fn create(
    State(state): State<AppState>,
    Admin(shopper): Admin,
    CsrfForm(form): CsrfForm<ProductForm>,
) -> Response {
    let body = match form.body() {
        Ok(body) => body,
        Err(message) => {
            return products_page(&state, shopper, StatusCode::UNPROCESSABLE_ENTITY, Some(&message)).await;
        }
    };
    match state.gateway.create_product(shopper.caller(), &body).await {
        Ok(product) => shopper.redirect("/admin/products", Some(&format!("Created {}.", product.name))),
        Err(err) => refused(&state, shopper, err).await,
    }
}

pub async fn edit(State(state): State<AppState>, Admin(shopper): Admin, Path(id): Path<i64>) -> Response {
    let product = state.gateway.product(shopper.caller(), id).await;
    let categories = state.gateway.categories(shopper.caller()).await;
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
    Admin(shopper): Admin,
    Path(id): Path<i64>,
    CsrfForm(form): CsrfForm<ProductForm>,
) -> Response {
    let body = match form.body() {
        Ok(body) => body,
        Err(message) => {
            return products_page(&state, shopper, StatusCode::UNPROCESSABLE_ENTITY, Some(&message)).await;
        }
    };
    match state.gateway.replace_product(shopper.caller(), id, &body).await {
        Ok(product) => shopper.redirect("/admin/products", Some(&format!("Saved {}.", product.name))),
        Err(err) => refused(&state, shopper, err).await,
    }
}

#[derive(Debug, Deserialize)]
pub struct StockForm {
    #[serde(default)]
    stock: String,
}

pub async fn stock(
    State(state): State<AppState>,
    Admin(shopper): Admin,
    Path(id): Path<i64>,
    CsrfForm(form): CsrfForm<StockForm>,
) -> Response {
    let stock: i32 = match number("Stock", &form.stock) {
        Ok(stock) => stock,
        Err(message) => {
            return products_page(&state, shopper, StatusCode::UNPROCESSABLE_ENTITY, Some(&message)).await;
        }
    };
    let patch = ProductPatch {
        stock: Some(stock),
        ..ProductPatch::default()
    };
    match state.gateway.patch_product(shopper.caller(), id, &patch).await {
        Ok(product) => shopper.redirect(
            "/admin/products",
            Some(&format!("{} now has {} in stock.", product.name, product.stock)),
        ),
        Err(err) => refused(&state, shopper, err).await,
    }
}

pub async fn delete(
    State(state): State<AppState>,
    Admin(shopper): Admin,
    Path(id): Path<i64>,
    CsrfForm(()): CsrfForm,
) -> Response {
    match state.gateway.delete_product(shopper.caller(), id).await {
        Ok(_) => shopper.redirect("/admin/products", Some("Product deleted.")),
        Err(err) => refused(&state, shopper, err).await,
    }
}

pub async fn orders(State(state): State<AppState>, Admin(shopper): Admin) -> Response {
    let query = OrderQuery {
        all: Some(true),
        per_page: Some(MAX_PER_PAGE),
        ..OrderQuery::default()
    };
    match state.gateway.orders(shopper.caller(), &query).await {
        Ok(page) => {
            let markup = admin::orders(&shopper.visitor, &page);
            shopper.render(markup)
        }
        Err(err) => shopper.failure(err),
    }
}

pub async fn ship(
    State(state): State<AppState>,
    Admin(shopper): Admin,
    Path(id): Path<uuid::Uuid>,
    CsrfForm(()): CsrfForm,
) -> Response {
    match state.gateway.ship_order(shopper.caller(), id).await {
        Ok(_) => shopper.redirect("/admin/orders", Some("Order shipped.")),
        Err(err) => shopper.failure(err),
    }
}
