//! What the edge adds to every exchange: per-address rate limits and the
//! security headers of an API served to browsers and scripts alike.
//!
//! The headers go on as the outermost layer ([`with_security_headers`]), so
//! that no reply escapes them: not the router's 404 and 405, not the error
//! envelope (which rebuilds a reply), not the stack's timeout 503.

use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use cloudshop_platform::error::ApiError;
use cloudshop_platform::rate_limit::KeyedLimiter;
use http::HeaderValue;

#[derive(Debug, Clone)]
pub struct EdgeState {
    pub limiter: Arc<KeyedLimiter<IpAddr>>,
    pub trusted_proxies: Arc<Vec<cloudshop_platform::ServiceId>>,
}

/// 429 with `Retry-After` once a client address is over its limit.
pub async fn rate_limit(State(edge): State<EdgeState>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    if let Some(client) = cloudshop_platform::http::client_address(&parts, &edge.trusted_proxies)
        && let Err(wait) = edge.limiter.check(&client)
    {
        tracing::info!(%client, "rate limited");
        return ApiError::too_many_requests(wait).into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

/// Wraps the whole stack (after [`cloudshop_platform::http::api_stack`]) in
/// [`security_headers`].
pub fn with_security_headers(router: Router) -> Router {
    router.layer(middleware::from_fn(security_headers))
}

pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        ("strict-transport-security", "max-age=63072000; includeSubDomains"),
        (
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        ),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-resource-policy", "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
