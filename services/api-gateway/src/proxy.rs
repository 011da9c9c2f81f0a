//! Forwarding to the services over mutual TLS.
//!
//! Request bodies are read whole (they are small and capped by the body limit),
//! so a GET or HEAD whose connection fails can be retried safely; nothing else
//! is retried. Responses stream back. A backend that is down gives 503, one that
//! does not answer in time gives 504, both in the JSON error envelope.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use cloudshop_platform::error::{ApiError, Enveloped};
use cloudshop_platform::tls::TlsMaterial;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, header};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::routes::Backend;
use crate::settings::{Backends, UpstreamSettings};

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Headers that describe one connection, not the message: never forwarded.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

#[derive(Debug, Clone)]
pub struct Upstreams {
    client: HttpsClient,
    backends: Arc<Backends>,
    timeout: Duration,
    retries: u32,
}

impl Upstreams {
    pub fn new(
        tls: &Arc<TlsMaterial>,
        backends: &Backends,
        settings: &UpstreamSettings,
    ) -> anyhow::Result<Self> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_millis(settings.connect_timeout_ms)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls.client_config()?)
            .https_only()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(cloudshop_platform::settings::CLIENT_POOL_IDLE)
            .pool_max_idle_per_host(settings.max_idle_per_backend)
            .build(https);
        Ok(Self {
            client,
            backends: Arc::new(backends.clone()),
            timeout: Duration::from_millis(settings.timeout_ms),
            retries: settings.retries,
        })
    }

    fn base(&self, backend: Backend) -> &str {
        match backend {
            Backend::Auth => &self.backends.auth,
            Backend::Products => &self.backends.products,
            Backend::Orders => &self.backends.orders,
        }
    }

    /// Sends the request to `backend` at `path_and_query` and returns its
    /// response, or the error envelope when the backend cannot answer.
    pub async fn forward(
        &self,
        backend: Backend,
        method: Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Response {
        let uri = format!("{}{path_and_query}", self.base(backend).trim_end_matches('/'));
        let retries = if method == Method::GET || method == Method::HEAD {
            self.retries
        } else {
            0
        };
        let mut attempt = 0;
        loop {
            let mut request = Request::builder().method(method.clone()).uri(&uri);
            if let Some(target) = request.headers_mut() {
                copy_end_to_end(headers, target);
            }
            let request = match request.body(Full::new(body.clone())) {
                Ok(request) => request,
                Err(err) => {
                    return ApiError::bad_request(format!("cannot forward this request: {err}"))
                        .into_response();
                }
            };
            match tokio::time::timeout(self.timeout, self.client.request(request)).await {
                Ok(Ok(response)) => return relay(response),
                Ok(Err(err)) if err.is_connect() && attempt < retries => {
                    attempt += 1;
                    tracing::info!(backend = backend.name(), error = %err, attempt, "retrying");
                }
                Ok(Err(err)) => {
                    tracing::warn!(backend = backend.name(), error = %err, "backend unavailable");
                    return ApiError::service_unavailable(format!(
                        "the {} service is unavailable, retry later",
                        backend.name()
                    ))
                    .into_response();
                }
                Err(_) => {
                    tracing::warn!(backend = backend.name(), "backend timed out");
                    return ApiError::new(
                        http::StatusCode::GATEWAY_TIMEOUT,
                        cloudshop_platform::error::ErrorCode::Timeout,
                        format!("the {} service did not answer in time", backend.name()),
                    )
                    .into_response();
                }
            }
        }
    }
}

fn copy_end_to_end(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        if !HOP_BY_HOP.contains(name) && name != header::HOST {
            to.append(name.clone(), value.clone());
        }
    }
}

fn relay(upstream: http::Response<hyper::body::Incoming>) -> Response {
    let (parts, body) = upstream.into_parts();
    let mut response = Response::new(Body::new(body));
    *response.status_mut() = parts.status;
    copy_end_to_end(&parts.headers, response.headers_mut());
    let is_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        // The services answer errors in the envelope already.
        response.extensions_mut().insert(Enveloped);
    }
    response
}

/// Sets `x-forwarded-for` to the client's address (replacing anything the
/// client sent, since the gateway is the edge).
pub fn set_forwarded_for(headers: &mut HeaderMap, client: Option<std::net::IpAddr>) {
    headers.remove("x-forwarded-for");
    headers.remove("forwarded");
    if let Some(ip) = client
        && let Ok(value) = HeaderValue::from_str(&ip.to_string())
    {
        headers.insert("x-forwarded-for", value);
    }
}
