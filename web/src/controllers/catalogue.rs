//! The home page (catalogue grid), product pages and product pictures.

use std::net::SocketAddr;

use axum::Extension;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::response::{IntoResponse, Response};
use cloudshop_platform::http::RequestId;
use http::StatusCode;
use serde::Deserialize;

use super::{AppState, Shopper};
use cloudshop_api::products::ProductQuery;

use crate::gateway::Caller;
use crate::pages::catalogue;

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
    let query = ProductQuery {
        q: Some(q.clone()),
        category: Some(category.clone()),
        page: Some(page),
        per_page: Some(12),
    };
    // Two independent reads: asked at once, the page waits for the slower.
    let (products, categories) = tokio::join!(
        state.gateway.products(shopper.caller(), &query),
        state.gateway.categories(shopper.caller())
    );
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
    match state.gateway.product(shopper.caller(), id).await {
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
    match state.gateway.product_image(caller, id).await {
        Ok(picture) if picture.content_type.starts_with("image/svg+xml") => (
            [
                (http::header::CONTENT_TYPE, "image/svg+xml"),
                (http::header::CACHE_CONTROL, "public, max-age=300"),
            ],
            picture.bytes,
        )
            .into_response(),
        Ok(_) => StatusCode::BAD_GATEWAY.into_response(),
        Err(err) => err.status().into_response(),
    }
}
