//! The admin listener: plain HTTP on its own port, never routed from outside.
//! `/livez` (the process answers), `/readyz` (its dependencies answer, the
//! database above all), `/metrics` (Prometheus text format).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::future::BoxFuture;
use http::{StatusCode, header};

use crate::error::ApiError;
use crate::metrics::Metrics;

/// Answers whether the service can do its work now; `Err` carries the reason.
pub type ReadinessCheck = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// A readiness check for services without dependencies.
pub fn always_ready() -> ReadinessCheck {
    Arc::new(|| Box::pin(async { Ok(()) }))
}

#[derive(Clone)]
struct AdminState {
    metrics: Arc<Metrics>,
    ready: ReadinessCheck,
}

pub fn router(metrics: Arc<Metrics>, ready: ReadinessCheck) -> Router {
    Router::new()
        .route(
            "/livez",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(AdminState { metrics, ready })
}

async fn readyz(State(state): State<AdminState>) -> Response {
    match (state.ready)().await {
        Ok(()) => axum::Json(serde_json::json!({"status": "ready"})).into_response(),
        Err(reason) => {
            tracing::warn!(%reason, "not ready");
            ApiError::service_unavailable(format!("not ready: {reason}")).into_response()
        }
    }
}

async fn metrics_text(State(state): State<AdminState>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
