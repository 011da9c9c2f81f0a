//! `POST /internal/reservations/{order_id}` (the orders service only):
//! reserves every line or none; repeating it returns the same reservation.
//! A refusal is a 409 whose `details` name the lines that could not be had.

use axum::extract::{Path, State};
use cloudshop_api::reservations::{Reservation, ReserveRequest};
use cloudshop_platform::error::{ApiError, ApiResult, ErrorCode, ErrorDetails, Json};
use http::StatusCode;
use uuid::Uuid;

use super::AppState;
use crate::reservations::{self, ReserveError, Shortage};

pub async fn reserve(
    State(state): State<AppState>,
    Path(order_id): Path<Uuid>,
    Json(request): Json<ReserveRequest>,
) -> ApiResult<Json<Reservation>> {
    match reservations::reserve(&state.pool, order_id, &request.lines).await {
        Ok(lines) => {
            // Stock changed: this replica's cache now, the others on NOTIFY.
            state.cache.invalidate();
            state.metrics.reservations.inc();
            Ok(Json(Reservation { order_id, lines }))
        }
        Err(ReserveError::Invalid(message)) => Err(ApiError::unprocessable(message)),
        Err(ReserveError::Released) => Err(ApiError::conflict("this order's reservation was released")),
        Err(ReserveError::Db(err)) => Err(err.into()),
        Err(ReserveError::OutOfStock(shortages)) => {
            state.metrics.reservations_refused.inc();
            Err(refusal(ErrorCode::OutOfStock, shortages, Vec::new()))
        }
        Err(ReserveError::UnknownProducts(unknown)) => {
            state.metrics.reservations_refused.inc();
            Err(refusal(ErrorCode::UnknownProduct, Vec::new(), unknown))
        }
    }
}

/// A 409 naming the lines that could not be had.
fn refusal(code: ErrorCode, shortages: Vec<Shortage>, unknown_products: Vec<i64>) -> ApiError {
    let message = describe(&shortages, &unknown_products);
    ApiError::new(StatusCode::CONFLICT, code, message).with_details(ErrorDetails {
        shortages,
        unknown_products,
    })
}

/// "out of stock: Mug (requested 3, available 1)".
pub fn describe(shortages: &[Shortage], unknown: &[i64]) -> String {
    if !unknown.is_empty() {
        let ids: Vec<String> = unknown.iter().map(i64::to_string).collect();
        return format!("unknown products: {}", ids.join(", "));
    }
    let items: Vec<String> = shortages
        .iter()
        .map(|s| {
            format!(
                "{} (requested {}, available {})",
                s.name.as_deref().unwrap_or("unknown product"),
                s.requested,
                s.available
            )
        })
        .collect();
    format!("out of stock: {}", items.join("; "))
}
