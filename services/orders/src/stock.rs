//! The products service's reservations, called over mutual TLS as `orders`.

use std::sync::Arc;
use std::time::Duration;

use cloudshop_api::error::{ErrorBody, ErrorEnvelope};
use cloudshop_api::orders::Line;
pub use cloudshop_api::reservations::ReservedLine;
use cloudshop_api::reservations::{Reservation, ReserveRequest, release_path, reserve_path};
use cloudshop_platform::tls::TlsMaterial;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StockError {
    /// A definite no: out of stock, unknown product, already released; the
    /// products service's error, with its details.
    #[error("{}", .0.message)]
    Refused(ErrorBody),
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
        let url = format!("{}{}", self.base, reserve_path(order_id));
        let request = ReserveRequest {
            lines: lines.to_vec(),
        };
        self.call(url, Some(&request), request_id).await
    }

    pub async fn release(&self, order_id: Uuid, request_id: &str) -> Result<Vec<ReservedLine>, StockError> {
        let url = format!("{}{}", self.base, release_path(order_id));
        self.call(url, None, request_id).await
    }

    async fn call(
        &self,
        url: String,
        body: Option<&ReserveRequest>,
        request_id: &str,
    ) -> Result<Vec<ReservedLine>, StockError> {
        let mut request = self.client.post(url).header("x-request-id", request_id);
        if let Some(body) = body {
            request = request.json(body);
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
            let body: ErrorEnvelope = response
                .json()
                .await
                .map_err(|e| StockError::Unavailable(e.to_string()))?;
            return Err(StockError::Refused(body.error));
        }
        Err(StockError::Unavailable(format!("status {status}")))
    }
}
