//! Every route of the gateway: `/health`, `/api/openapi.json`, and each prefix
//! of the route table, forwarded to its service. The security headers are not
//! added here but around the whole stack ([`crate::edge::with_security_headers`]).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use cloudshop_platform::error::ApiError;
use cloudshop_platform::http::client_address;
use cloudshop_platform::jwt::JwtVerifier;
use http::{Method, header};

use crate::edge::{EdgeState, rate_limit};
use crate::proxy::{Upstreams, set_forwarded_for};
use crate::routes::{Access, ROUTES, resolve};

#[derive(Debug, Clone)]
pub struct Gateway {
    pub upstreams: Upstreams,
    pub verifier: Arc<JwtVerifier>,
    pub body_limit: usize,
    pub trusted_proxies: Arc<Vec<cloudshop_platform::ServiceId>>,
}

pub fn router(gateway: Gateway, edge: EdgeState) -> Router {
    let mut api = Router::new().route(cloudshop_api::paths::OPENAPI, get(openapi));
    for route in ROUTES {
        api = api
            .route(route.public, any(proxy))
            .route(&format!("{}/{{*rest}}", route.public), any(proxy));
    }
    let api = api.route_layer(middleware::from_fn_with_state(edge, rate_limit));
    Router::new()
        .route(cloudshop_api::paths::HEALTH, get(health))
        .merge(api)
        // Shared, not cloned: the state is handed to every request, and a
        // clone of the upstream client (its pool, connector and executor
        // handles) and its drop cost about 2 % of the gateway's CPU per
        // catalogue request when it was cloned.
        .with_state(Arc::new(gateway))
}

async fn health() -> impl IntoResponse {
    axum::Json(cloudshop_api::Health { status: "ok".into() })
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], crate::openapi())
}

async fn proxy(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    match forward(&gateway, request).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

async fn forward(gateway: &Gateway, request: Request) -> Result<Response, ApiError> {
    let (route, upstream_path) = resolve(request.uri().path()).ok_or_else(ApiError::not_found)?;
    let is_read = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let needs_token = match route.access {
        Access::Public => false,
        Access::Bearer => true,
        Access::BearerForWrites => !is_read,
    };
    if needs_token {
        gateway
            .verifier
            .verify_bearer(request.headers().get(header::AUTHORIZATION))?;
    }
    let (mut parts, body) = request.into_parts();
    let client = client_address(&parts, &gateway.trusted_proxies);
    set_forwarded_for(&mut parts.headers, client);
    let body = axum::body::to_bytes(body, gateway.body_limit)
        .await
        .map_err(|_| {
            ApiError::new(
                http::StatusCode::PAYLOAD_TOO_LARGE,
                cloudshop_platform::error::ErrorCode::PayloadTooLarge,
                format!("request bodies are limited to {} bytes", gateway.body_limit),
            )
        })?;
    let path_and_query = match parts.uri.query() {
        Some(query) => format!("{upstream_path}?{query}"),
        None => upstream_path,
    };
    Ok(gateway
        .upstreams
        .forward(route.backend, parts.method, &path_and_query, &parts.headers, body)
        .await)
}
