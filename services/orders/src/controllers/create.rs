//! `POST /orders` with an `Idempotency-Key` header.
//!
//! The order is recorded PENDING first (so it is never lost once
//! acknowledged), then stock is reserved and it becomes CONFIRMED, or REJECTED
//! with the reason. The same key with the same lines returns the same order;
//! with other lines, 422. Concurrent duplicates meet at the unique key and
//! all advance the one order.

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cloudshop_api::error::{ErrorBody, ErrorCode};
use cloudshop_api::orders::{IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED, Rejection};
use cloudshop_platform::error::{ApiError, ApiResult, Enveloped, Json};
use cloudshop_platform::http::RequestId;
use cloudshop_platform::jwt::Claims;

use super::{AppState, request_id, user_id};
use crate::domain::{IdempotencyKey, OrderLines, OrderRequest};
use crate::store::{self, Recorded, Status};
use crate::workflow;

pub async fn create(
    State(state): State<AppState>,
    claims: Claims,
    rid: Option<Extension<RequestId>>,
    headers: HeaderMap,
    Json(request): Json<OrderRequest>,
) -> ApiResult<Response> {
    let key = IdempotencyKey::parse(headers.get(IDEMPOTENCY_KEY))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let lines = OrderLines::parse(request).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let user = user_id(&claims)?;
    let (order, replayed) = match store::insert_pending(&state.pool, user, key.as_str(), &lines).await? {
        Recorded::New(order) => {
            state.metrics.created.inc();
            (order, false)
        }
        Recorded::Existing(order) if order.request_hash != lines.digest() => {
            return Err(ApiError::unprocessable(
                "this Idempotency-Key was already used for a different order",
            ));
        }
        Recorded::Existing(order) => (order, true),
    };
    let was_pending = order.status == Status::Pending;
    let advanced = workflow::advance(&state.pool, &state.stock, order, &request_id(rid.as_ref())).await?;
    let order = &advanced.order;
    if was_pending {
        match order.status {
            Status::Confirmed => state.metrics.confirmed.inc(),
            Status::Rejected => state.metrics.rejected.inc(),
            _ => {}
        }
    }
    let status = order.status;
    // The products service's refusal as it was recorded; an order rejected
    // before that was recorded has only its reason.
    let refusal = match (&order.rejection, &order.reason) {
        (Some(recorded), _) => recorded.0.clone(),
        (None, reason) => ErrorBody::new(
            ErrorCode::Rejected,
            reason.clone().unwrap_or_else(|| "rejected".into()),
        ),
    };
    let view = advanced.view(&state.pool).await?;
    tracing::info!(order_id = %view.id, status = ?status, replayed, "order placed");
    let mut response = if status == Status::Rejected {
        let body = Rejection {
            error: refusal,
            order: view,
        };
        let mut response = (StatusCode::CONFLICT, Json(body)).into_response();
        response.extensions_mut().insert(Enveloped);
        response
    } else {
        (StatusCode::CREATED, Json(view)).into_response()
    };
    if replayed {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED, http::HeaderValue::from_static("true"));
    }
    Ok(response)
}
