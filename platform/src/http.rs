//! The middleware stack every API router gets, outermost first:
//! request id (accepted or created, echoed, logged) → error envelope →
//! oversized bodies refused ([`refuse_oversized`]) → request timeout → body
//! limit for extractors → per-route metrics and access log → the handler.
//!
//! The access log is one line per request at `debug` under the target
//! [`ACCESS_LOG`], so it is off with the default filter: a JSON line for every
//! request cost about 15 % of a catalogue request's CPU (docs/benchmarks.md),
//! and the per-route metrics already count every request by route, method and
//! status, with its latency. `RUST_LOG=info,cloudshop::access=debug` turns it
//! on, for example while chasing one client's requests by request id.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, header};
use tracing::Instrument;

use crate::error::{ApiError, normalize_errors};
use crate::metrics::HttpMetrics;
use crate::settings::HttpSettings;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The `tracing` target of the per-request access log line.
pub const ACCESS_LOG: &str = "cloudshop::access";

/// The request id of the current request, carried to downstream calls.
#[derive(Debug, Clone)]
pub struct RequestId(pub HeaderValue);

impl RequestId {
    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or("")
    }
}

/// Wraps an API `router` in the standard stack, errors in the JSON envelope.
pub fn api_stack(router: Router, metrics: &HttpMetrics, settings: &HttpSettings) -> Router {
    stack(router, metrics, settings, true)
}

/// The same stack for HTML pages, which render their own error pages.
pub fn page_stack(router: Router, metrics: &HttpMetrics, settings: &HttpSettings) -> Router {
    stack(router, metrics, settings, false)
}

fn stack(router: Router, metrics: &HttpMetrics, settings: &HttpSettings, json_errors: bool) -> Router {
    let timeout = settings.request_timeout();
    let limit = settings.body_limit_bytes;
    let router = router
        .layer(middleware::from_fn_with_state(Arc::new(metrics.clone()), observe))
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            enforce_timeout(timeout, request, next)
        }))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            refuse_oversized(limit, request, next)
        }));
    let router = if json_errors {
        router.layer(middleware::from_fn(normalize_errors))
    } else {
        router
    };
    router.layer(middleware::from_fn(request_id))
}

fn acceptable_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    (1..=128).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Accepts a well-formed `x-request-id` or creates one; puts it in the request
/// (for handlers and downstream calls), the log span and the response.
async fn request_id(mut request: Request, next: Next) -> Response {
    let id = match request.headers().get(&REQUEST_ID) {
        Some(value) if acceptable_request_id(value) => value.clone(),
        _ => {
            let fresh = HeaderValue::from_str(&uuid::Uuid::now_v7().to_string());
            fresh.unwrap_or_else(|_| HeaderValue::from_static("invalid"))
        }
    };
    request.headers_mut().insert(REQUEST_ID, id.clone());
    request.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id.to_str().unwrap_or(""));
    let mut response = next.run(request).instrument(span).await;
    let headers = response.headers_mut();
    headers.insert(REQUEST_ID, id);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// What a refused body may still send before the 413 goes out anyway: read
/// and thrown away so that the client, which sends its whole body before it
/// reads an answer, sees the 413 instead of a connection reset.
const DRAIN_BYTES: usize = 8 << 20;
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Refuses a request body over `limit` bytes with a 413 the client can read,
/// and closes the connection after it:
/// - a `Content-Length` over the limit is refused before the body is read,
///   so hyper never says `100 Continue` (it does when the body is first
///   read) and a client that waits for it sends nothing; a client that sends
///   at once has its body drained (bounded by [`DRAIN_BYTES`] and
///   [`DRAIN_TIME`]) before the answer;
/// - a chunked body is read here up to the limit (every route takes small
///   bodies whole anyway); one that grows past it is drained the same way.
async fn refuse_oversized(limit: usize, request: Request, next: Next) -> Response {
    use http_body_util::BodyExt;

    let (parts, body) = request.into_parts();
    match axum::body::HttpBody::size_hint(&body).exact() {
        Some(length) if length > limit as u64 => {
            let waits_for_continue = parts
                .headers
                .get(header::EXPECT)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
            if !waits_for_continue {
                drain(body).await;
            }
            too_large(limit)
        }
        Some(_) => next.run(Request::from_parts(parts, body)).await,
        None => {
            let mut body = body;
            let mut buffered = bytes::BytesMut::new();
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else {
                    return ApiError::bad_request("the request body could not be read").into_response();
                };
                if let Ok(data) = frame.into_data() {
                    if buffered.len() + data.len() > limit {
                        drain(body).await;
                        return too_large(limit);
                    }
                    buffered.extend_from_slice(&data);
                }
            }
            let body = axum::body::Body::from(buffered.freeze());
            next.run(Request::from_parts(parts, body)).await
        }
    }
}

/// Reads and drops what is left of a body, within the drain bounds.
async fn drain(mut body: axum::body::Body) {
    use http_body_util::BodyExt;

    let mut read = 0usize;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while read <= DRAIN_BYTES {
            match body.frame().await {
                Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len()),
                _ => return,
            }
        }
    })
    .await;
}

fn too_large(limit: usize) -> Response {
    let mut response = ApiError::new(
        http::StatusCode::PAYLOAD_TOO_LARGE,
        crate::error::ErrorCode::PayloadTooLarge,
        format!("request bodies are limited to {limit} bytes"),
    )
    .into_response();
    // What is left of the body is not read: the connection cannot be reused.
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Runs the request in a task of its own (in the request's span), to its end:
/// its client going away (a load generator stopping, a caller's timeout) or
/// `limit` passing (then the answer is a 503) does not drop the handler
/// halfway. Dropped halfway, a handler can leave a pooled database
/// connection inside a transaction sqlx no longer knows of (a `begin`
/// cancelled after sending BEGIN), and the next statement on that connection
/// is then never committed; the bench saw an order vanish that way. Every
/// service's API goes through this stack, so this one task per request covers
/// them all.
async fn enforce_timeout(limit: Duration, request: Request, next: Next) -> Response {
    let mut work = tokio::spawn(next.run(request).in_current_span());
    match tokio::time::timeout(limit, &mut work).await {
        Ok(Ok(response)) => response,
        Ok(Err(err)) => {
            tracing::error!(error = %err, "request handler failed");
            ApiError::internal("the request handler failed").into_response()
        }
        Err(_) => {
            tracing::warn!(timeout_ms = limit.as_millis() as u64, "request timed out");
            ApiError::service_unavailable("the request took too long").into_response()
        }
    }
}

/// One request in `http_requests_in_flight`, for as long as it lives.
struct InFlight(prometheus::IntGauge);

impl InFlight {
    fn start(gauge: prometheus::IntGauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

async fn observe(State(metrics): State<Arc<HttpMetrics>>, request: Request, next: Next) -> Response {
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", |path| path.as_str());
    let method = request.method().clone();
    // Counted down when the request ends however it ends: also when its
    // future is dropped (the client went away, a timeout above gave up).
    let in_flight = InFlight::start(metrics.in_flight.with_label_values(&[route, method.as_str()]));
    let started = Instant::now();
    let response = next.run(request).await;
    drop(in_flight);
    let elapsed = started.elapsed();
    let status = response.status();
    let labels = [route, method.as_str(), status.as_str()];
    metrics.requests.with_label_values(&labels).inc();
    metrics
        .duration
        .with_label_values(&labels)
        .observe(elapsed.as_secs_f64());
    tracing::debug!(
        target: ACCESS_LOG,
        method = %method,
        route = %route,
        status = status.as_u16(),
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    response
}

/// The address of the client a request is for: the peer's, or the first
/// `x-forwarded-for` entry when the peer is one of the `trusted_proxies`
/// identities (the gateway forwards the real client's address that way).
pub fn client_address(
    parts: &http::request::Parts,
    trusted_proxies: &[cloudshop_topology::ServiceId],
) -> Option<std::net::IpAddr> {
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    let trusted = parts
        .extensions
        .get::<crate::tls::PeerIdentity>()
        .and_then(crate::tls::PeerIdentity::service)
        .is_some_and(|id| trusted_proxies.contains(&id));
    if trusted
        && let Some(forwarded) = parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok())
        && let Some(first) = forwarded.split(',').next()
        && let Ok(ip) = first.trim().parse()
    {
        return Some(ip);
    }
    peer
}
