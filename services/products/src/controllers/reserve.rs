//! `POST /internal/reservations/{order_id}` (the orders service only):
//! reserves every line or none; repeating it returns the same reservation.

use axum::extract::{Path, State};
use cloudshop_platform::error::{ApiError, ApiResult, Json};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AppState;
use crate::reservations::{self, LineRequest, ReserveError, ReservedLine, Shortage};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReserveRequest {
    pub lines: Vec<LineRequest>,
}

#[derive(Debug, Serialize)]
pub struct Reservation {
    pub order_id: Uuid,
    pub lines: Vec<ReservedLine>,
}

/// The body of a 409: which lines could not be had.
#[derive(Debug, Serialize)]
struct Refusal<'a> {
    error: RefusalBody<'a>,
}

#[derive(Debug, Serialize)]
struct RefusalBody<'a> {
    code: &'a str,
    message: String,
    shortages: &'a [Shortage],
    unknown_products: &'a [i64],
}

pub async fn reserve(
    State(state): State<AppState>,
    Path(order_id): Path<Uuid>,
    Json(request): Json<ReserveRequest>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    match reservations::reserve(&state.pool, order_id, &request.lines).await {
        Ok(lines) => {
            // Stock changed: this replica's cache now, the others on NOTIFY.
            state.cache.invalidate();
            state.metrics.reservations.inc();
            Ok(Json(Reservation { order_id, lines }).into_response())
        }
        Err(ReserveError::Invalid(message)) => Err(ApiError::unprocessable(message)),
        Err(ReserveError::Released) => Err(ApiError::conflict("this order's reservation was released")),
        Err(ReserveError::Db(err)) => Err(err.into()),
        Err(ReserveError::OutOfStock(shortages)) => {
            state.metrics.reservations_refused.inc();
            Ok(refusal("out_of_stock", &shortages, &[]))
        }
        Err(ReserveError::UnknownProducts(unknown)) => {
            state.metrics.reservations_refused.inc();
            Ok(refusal("unknown_product", &[], &unknown))
        }
    }
}

/// A 409 naming the lines that could not be had.
fn refusal(code: &str, shortages: &[Shortage], unknown: &[i64]) -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = Refusal {
        error: RefusalBody {
            code,
            message: describe(shortages, unknown),
            shortages,
            unknown_products: unknown,
        },
    };
    let mut response = (http::StatusCode::CONFLICT, Json(body)).into_response();
    response
        .extensions_mut()
        .insert(cloudshop_platform::error::Enveloped);
    response
}

/// "Out of stock: Mug (requested 3, available 1)".
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
