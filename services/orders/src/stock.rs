//! The products service's reservations, called over mutual TLS as `orders`.

use std::sync::Arc;
use std::time::Duration;

use cloudshop_platform::tls::TlsMaterial;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::Line;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReservedLine {
    pub product_id: i64,
    pub quantity: i32,
    pub name: String,
    pub unit_price_cents: i64,
}

#[derive(Debug, Deserialize)]
struct Reservation {
    lines: Vec<ReservedLine>,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StockError {
    /// A definite no: out of stock, unknown product, already released.
    #[error("{message}")]
    Refused { code: String, message: String },
    /// No answer to rely on (down, timed out, 5xx): try again later.
    #[error("products service unavailable: {0}")]
    Unavailable(String),
}

#[derive(Debug, Clone)]
pub struct StockClient {
    client: reqwest::Client,
    base: Arc<str>,
}

impl StockClient {
    pub fn new(tls: &Arc<TlsMaterial>, base: &str, timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls.client_config()?)
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(1))
            .pool_max_idle_per_host(64)
            .pool_idle_timeout(cloudshop_platform::settings::CLIENT_POOL_IDLE)
            .build()?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').into(),
        })
    }

    pub async fn reserve(
        &self,
        order_id: Uuid,
        lines: &[Line],
        request_id: &str,
    ) -> Result<Vec<ReservedLine>, StockError> {
        let url = format!("{}/internal/reservations/{order_id}", self.base);
        self.call(url, Some(serde_json::json!({ "lines": lines })), request_id)
            .await
    }

    pub async fn release(&self, order_id: Uuid, request_id: &str) -> Result<Vec<ReservedLine>, StockError> {
        let url = format!("{}/internal/reservations/{order_id}/release", self.base);
        self.call(url, None, request_id).await
    }

    async fn call(
        &self,
        url: String,
        body: Option<serde_json::Value>,
        request_id: &str,
    ) -> Result<Vec<ReservedLine>, StockError> {
        let mut request = self.client.post(url).header("x-request-id", request_id);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| StockError::Unavailable(e.to_string()))?;
        let status = response.status();
        if status.is_success() {
            let reservation: Reservation = response
                .json()
                .await
                .map_err(|e| StockError::Unavailable(e.to_string()))?;
            return Ok(reservation.lines);
        }
        if status == reqwest::StatusCode::CONFLICT || status == reqwest::StatusCode::UNPROCESSABLE_ENTITY {
            let body: ErrorBody = response
                .json()
                .await
                .map_err(|e| StockError::Unavailable(e.to_string()))?;
            return Err(StockError::Refused {
                code: body.error.code,
                message: body.error.message,
            });
        }
        Err(StockError::Unavailable(format!("status {status}")))
    }
}
