//! Every page and form of the storefront, the stylesheet, and the headers
//! every response carries ([`with_security_headers`], put around the whole
//! stack so that no reply escapes them, the stack's timeout 503 included).

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderValue, header};

use crate::controllers::{AppState, account, admin, cart, catalogue, orders};
use crate::pages::layout;
use crate::session::Visitor;

/// Only what the pages need: our stylesheet, our images, forms to ourselves.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(catalogue::home))
        .route("/products/{id}", get(catalogue::product))
        .route("/images/{file}", get(catalogue::picture))
        .route("/cart", get(cart::show))
        .route("/cart/add", post(cart::add))
        .route("/cart/update", post(cart::update))
        .route("/cart/remove", post(cart::remove))
        .route("/checkout", post(cart::checkout))
        .route("/login", get(account::login_form).post(account::login))
        .route("/register", get(account::register_form).post(account::register))
        .route("/logout", post(account::logout))
        .route("/orders", get(orders::list))
        .route("/orders/{id}", get(orders::show))
        .route("/orders/{id}/cancel", post(orders::cancel))
        .route("/admin/products", get(admin::products).post(admin::create))
        .route("/admin/products/{id}", get(admin::edit).post(admin::update))
        .route("/admin/products/{id}/stock", post(admin::stock))
        .route("/admin/products/{id}/delete", post(admin::delete))
        .route("/admin/orders", get(admin::orders))
        .route("/admin/orders/{id}/ship", post(admin::ship))
        .route("/static/style.css", get(stylesheet))
        .route("/static/favicon.svg", get(favicon))
        .route("/favicon.ico", get(favicon))
        .route("/health", get(|| async { "ok" }))
        .fallback(not_found)
        .with_state(state)
}

/// Wraps the whole stack (after [`cloudshop_platform::http::page_stack`]) in
/// the error pages, so that the stack's own answers (a 413 for an oversized
/// body, the timeout's 503) are pages too, and then in the security headers;
/// HSTS only when the shop is reached over HTTPS.
pub fn with_security_headers(router: Router, https: bool) -> Router {
    router
        .layer(middleware::from_fn(error_pages))
        .layer(middleware::from_fn_with_state(https, security_headers))
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        crate::STYLESHEET,
    )
}

async fn favicon() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        crate::FAVICON,
    )
}

async fn not_found() -> Response {
    let page = layout::message("Not found", &Visitor::anonymous(), "There is no such page.");
    (http::StatusCode::NOT_FOUND, Html(page.into_string())).into_response()
}

/// Errors no handler rendered (a malformed form, a wrong method, a body too
/// large) still get a page, never a bare status or a stack trace. The
/// answer's other headers (`Retry-After`, `Connection: close`) are kept.
async fn error_pages(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_html {
        return response;
    }
    let text = if status.is_server_error() {
        "Something went wrong on our side. Please try again in a moment."
    } else {
        "That request could not be handled. Please go back and try again."
    };
    let text = if status == http::StatusCode::PAYLOAD_TOO_LARGE {
        "That form was too large to send. Please shorten it and try again."
    } else {
        text
    };
    let title = status.canonical_reason().unwrap_or("Error");
    let page = layout::message(title, &Visitor::anonymous(), text);
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    (parts, Html(page.into_string())).into_response()
}

async fn security_headers(State(https): State<bool>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    response
}
