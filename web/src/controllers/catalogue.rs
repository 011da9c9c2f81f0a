//! The home page (catalogue grid), product pages and product pictures.

use std::net::SocketAddr;

use axum::Extension;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::response::{IntoResponse, Response};
use cloudshop_platform::http::RequestId;
use http::StatusCode;
use serde::Deserialize;

use super::{AppState, Shopper};
use crate::gateway::Caller;
use crate::pages::{Category, Product, ProductPage, catalogue, urlencode};

#[derive(Debug, Default, Deserialize)]
pub struct Browse {
    pub q: Option<String>,
    pub category: Option<String>,
    pub page: Option<String>,
}

pub async fn home(State(state): State<AppState>, shopper: Shopper, Query(browse): Query<Browse>) -> Response {
    let q = browse.q.unwrap_or_default();
    let category = browse.category.unwrap_or_default();
    let page: u32 = browse
        .page
        .and_then(|p| p.parse().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1);
    let path = format!(
        "/api/products?per_page=12&page={page}&q={}&category={}",
        urlencode(&q),
        urlencode(&category)
    );
    let products = state.gateway.get::<ProductPage>(shopper.caller(), &path).await;
    let categories = state
        .gateway
        .get::<Vec<Category>>(shopper.caller(), "/api/categories")
        .await;
    match (products, categories) {
        (Ok(products), Ok(categories)) => {
            let markup = catalogue::home(&shopper.visitor, &products, &categories, &q, &category);
            shopper.render(markup)
        }
        (Err(err), _) | (_, Err(err)) => shopper.failure(err),
    }
}

pub async fn product(State(state): State<AppState>, shopper: Shopper, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return shopper.message(StatusCode::NOT_FOUND, "Not found", "There is no such product.");
    };
    match state
        .gateway
        .get::<Product>(shopper.caller(), &format!("/api/products/{id}"))
        .await
    {
        Ok(product) => {
            let markup = catalogue::product(&shopper.visitor, &product);
            shopper.render(markup)
        }
        Err(err) => shopper.failure(err),
    }
}

/// `/images/{id}.svg`: the product picture, served from our own origin.
/// Pictures are public, so this reads no cookies and verifies no session:
/// a home page asks for a dozen of them.
pub async fn picture(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request_id: Option<Extension<RequestId>>,
    Path(file): Path<String>,
) -> Response {
    let Some(id) = file.strip_suffix(".svg").and_then(|id| id.parse::<i64>().ok()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let caller = Caller {
        token: None,
        address: Some(peer.ip()),
        request_id: request_id.as_ref().map(|id| id.as_str()),
    };
    match state
        .gateway
        .bytes(caller, &format!("/api/products/{id}/image.svg"))
        .await
    {
        Ok((content_type, bytes)) if content_type.starts_with("image/svg+xml") => (
            [
                (http::header::CONTENT_TYPE, "image/svg+xml"),
                (http::header::CACHE_CONTROL, "public, max-age=300"),
            ],
            bytes,
        )
            .into_response(),
        Ok(_) => StatusCode::BAD_GATEWAY.into_response(),
        Err(err) => StatusCode::from_u16(err.status())
            .unwrap_or(StatusCode::BAD_GATEWAY)
            .into_response(),
    }
}
