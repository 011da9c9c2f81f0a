//! One file per action.

pub mod categories;
pub mod create;
pub mod delete;
pub mod get;
pub mod list;
pub mod picture;
pub mod release;
pub mod reserve;
pub mod update;

use std::sync::Arc;

use axum::extract::FromRef;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use cloudshop_platform::error::ApiError;
use cloudshop_platform::jwt::JwtVerifier;
use cloudshop_platform::metrics::Metrics;
use http::{HeaderValue, StatusCode, header};
use prometheus::IntCounter;
use sqlx::PgPool;

use crate::cache::{Cached, CatalogueCache};
use crate::catalogue::WriteError;

#[derive(Debug, Clone)]
pub struct ProductsMetrics {
    pub reservations: IntCounter,
    pub reservations_refused: IntCounter,
    pub releases: IntCounter,
    pub cache_hits: IntCounter,
    pub cache_misses: IntCounter,
}

impl ProductsMetrics {
    pub fn register(metrics: &Metrics) -> Result<Self, prometheus::Error> {
        Ok(Self {
            reservations: metrics.counter("products_reservations_total", "Stock reservations made.")?,
            reservations_refused: metrics.counter(
                "products_reservations_refused_total",
                "Stock reservations refused (out of stock or unknown product).",
            )?,
            releases: metrics.counter("products_releases_total", "Reservations released.")?,
            cache_hits: metrics.counter(
                "products_cache_hits_total",
                "Catalogue reads served from the cache.",
            )?,
            cache_misses: metrics.counter(
                "products_cache_misses_total",
                "Catalogue reads served from the database.",
            )?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub cache: Arc<CatalogueCache>,
    pub verifier: Arc<JwtVerifier>,
    pub metrics: ProductsMetrics,
}

impl FromRef<AppState> for Arc<JwtVerifier> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.verifier)
    }
}

/// Product ids in paths: anything that is not a positive integer names no product.
pub fn product_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(ApiError::not_found)
}

impl From<WriteError> for ApiError {
    fn from(err: WriteError) -> Self {
        match err {
            WriteError::DuplicateSku => ApiError::conflict(err.to_string()),
            WriteError::UnknownCategory => ApiError::unprocessable(err.to_string()),
            WriteError::Db(db) => ApiError::from(db),
        }
    }
}

/// Serves a catalogue read from the cache, or runs `load` and caches it.
/// Every answer carries the body's `ETag` and `Cache-Control: no-cache` (keep
/// it, ask again before using it); a caller whose `If-None-Match` names the
/// current body gets a 304 without it. The storefront revalidates that way.
pub async fn cached<T, F>(
    state: &AppState,
    key: String,
    if_none_match: Option<&HeaderValue>,
    load: F,
) -> Result<Response, ApiError>
where
    T: serde::Serialize,
    F: Future<Output = Result<T, ApiError>>,
{
    let cached = match state.cache.get(&key) {
        Some(cached) => {
            state.metrics.cache_hits.inc();
            cached
        }
        None => {
            state.metrics.cache_misses.inc();
            let generation = state.cache.generation();
            let value = load.await?;
            let body = Bytes::from(serde_json::to_vec(&value).map_err(ApiError::internal)?);
            let cached = Cached::new(body);
            state.cache.put(key, generation, cached.clone());
            cached
        }
    };
    let validators = [
        (header::ETAG, cached.etag.clone()),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    if cached.matches(if_none_match) {
        return Ok((StatusCode::NOT_MODIFIED, validators).into_response());
    }
    Ok((
        validators,
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        cached.body,
    )
        .into_response())
}
