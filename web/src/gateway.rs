//! The storefront's client of the public API, through the gateway over TLS
//! with the storefront's client certificate. The shopper's address travels in
//! `x-forwarded-for` (the gateway trusts it from this identity), so rate
//! limits apply per shopper, not to the storefront as a whole.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use cloudshop_platform::tls::TlsMaterial;
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// The API answered with an error envelope.
    #[error("{message}")]
    Refused { status: u16, message: String },
    /// The API could not be reached, or answered nonsense.
    #[error("the shop's services are unavailable")]
    Unavailable,
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            Self::Refused { status, .. } => *status,
            Self::Unavailable => 503,
        }
    }
}

/// Who the call is for: the shopper's token and address.
#[derive(Debug, Clone, Copy, Default)]
pub struct Caller<'a> {
    pub token: Option<&'a str>,
    pub address: Option<IpAddr>,
    pub request_id: Option<&'a str>,
}

#[derive(Debug, Clone)]
pub struct Gateway {
    client: reqwest::Client,
    base: Arc<str>,
}

impl Gateway {
    pub fn new(tls: &Arc<TlsMaterial>, base: &str, timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls.client_config()?)
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(cloudshop_platform::settings::CLIENT_POOL_IDLE)
            .build()?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').into(),
        })
    }

    pub async fn get<T: DeserializeOwned>(&self, caller: Caller<'_>, path: &str) -> Result<T, ApiError> {
        self.send(caller, Method::GET, path, None::<&()>, None).await
    }

    /// Raw bytes and content type (product pictures).
    pub async fn bytes(&self, caller: Caller<'_>, path: &str) -> Result<(String, Vec<u8>), ApiError> {
        let response = self
            .request(caller, Method::GET, path)
            .send()
            .await
            .map_err(unavailable)?;
        if !response.status().is_success() {
            return Err(refused(response).await);
        }
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        let bytes = response.bytes().await.map_err(unavailable)?;
        Ok((content_type, bytes.to_vec()))
    }

    fn request(&self, caller: Caller<'_>, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = caller.token {
            request = request.bearer_auth(token);
        }
        if let Some(address) = caller.address {
            request = request.header("x-forwarded-for", address.to_string());
        }
        if let Some(id) = caller.request_id {
            request = request.header("x-request-id", id);
        }
        request
    }

    pub async fn send<T: DeserializeOwned, B: Serialize>(
        &self,
        caller: Caller<'_>,
        method: Method,
        path: &str,
        body: Option<&B>,
        idempotency_key: Option<&str>,
    ) -> Result<T, ApiError> {
        let mut request = self.request(caller, method, path);
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.map_err(unavailable)?;
        if response.status() == reqwest::StatusCode::NO_CONTENT {
            return serde_json::from_value(Value::Null).map_err(|_| ApiError::Unavailable);
        }
        if !response.status().is_success() {
            return Err(refused(response).await);
        }
        response.json().await.map_err(unavailable)
    }
}

fn unavailable(err: reqwest::Error) -> ApiError {
    tracing::warn!(error = %err, "gateway call failed");
    ApiError::Unavailable
}

async fn refused(response: reqwest::Response) -> ApiError {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    match body["error"]["message"].as_str() {
        Some(message) if status < 500 => ApiError::Refused {
            status,
            message: message.to_owned(),
        },
        _ => {
            tracing::warn!(status, "gateway answered an error");
            ApiError::Unavailable
        }
    }
}
