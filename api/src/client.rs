//! A typed async client of the gateway: one method per operation, paths from
//! [`crate::paths`], bodies from this crate's types. The storefront, the load
//! generator and the tests use it. Errors keep the envelope: a refusal
//! carries the status and the [`ErrorBody`]; a rejected order its order.

use std::any::Any;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use reqwest::header::{ETAG, HeaderValue, IF_NONE_MATCH};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::auth::{AccessToken, Account, Credentials, Jwks, Registration};
use crate::error::{ErrorBody, ErrorCode, ErrorEnvelope};
use crate::orders::{
    IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED, Order, OrderPage, OrderQuery, OrderRequest, Rejection,
};
use crate::paths;
use crate::products::{Category, Product, ProductInput, ProductPage, ProductPatch, ProductQuery};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The API answered with an error envelope.
    #[error("{status} {}: {}", error.code, error.message)]
    Refused { status: StatusCode, error: ErrorBody },
    /// The order was recorded and rejected (409): why, and the order.
    #[error("order rejected: {}", .0.error.message)]
    Rejected(Box<Rejection>),
    /// No answer to rely on: not reachable, timed out, or not the API's shape.
    #[error("the API is unavailable: {0}")]
    Unavailable(String),
}

impl ClientError {
    /// The HTTP status of the reply (503 when there was none).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Refused { status, .. } => *status,
            Self::Rejected(_) => StatusCode::CONFLICT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The envelope's message, when the API answered with one.
    pub fn message(&self) -> Option<&str> {
        match self {
            Self::Refused { error, .. } => Some(&error.message),
            Self::Rejected(rejection) => Some(&rejection.error.message),
            Self::Unavailable(_) => None,
        }
    }

    /// The envelope's code, when the API answered with one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Refused { error, .. } => Some(error.code),
            Self::Rejected(rejection) => Some(rejection.error.code),
            Self::Unavailable(_) => None,
        }
    }
}

/// The error and its causes ("error sending request …: connection closed
/// before message completed"): reqwest's own message names only the URL.
fn unavailable(err: reqwest::Error) -> ClientError {
    ClientError::Unavailable(with_causes(&err))
}

/// An error and each of its causes, joined by ": ".
pub fn with_causes(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// Who a call is for: the shopper's token, address (sent as
/// `x-forwarded-for`, which the gateway trusts only from its proxies) and
/// the request id to carry.
#[derive(Clone, Copy, Default)]
pub struct Caller<'a> {
    pub token: Option<&'a str>,
    pub address: Option<IpAddr>,
    pub request_id: Option<&'a str>,
}

impl std::fmt::Debug for Caller<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("token", &self.token.map(|_| "[REDACTED]"))
            .field("address", &self.address)
            .field("request_id", &self.request_id)
            .finish()
    }
}

impl<'a> Caller<'a> {
    pub fn anonymous() -> Self {
        Self::default()
    }
    pub fn with_token(token: &'a str) -> Self {
        Self {
            token: Some(token),
            ..Self::default()
        }
    }
}

/// A placed order, and whether the reply was a replay of an earlier request
/// with the same idempotency key.
#[derive(Debug, Clone)]
pub struct Placed {
    pub order: Order,
    pub replayed: bool,
}

/// A picture: its media type and bytes.
#[derive(Debug, Clone)]
pub struct Picture {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Arc<str>,
    /// Set by [`Client::revalidating`]; none by default.
    kept: Option<Arc<Kept>>,
}

/// A kept read: its `ETag` and what its body parsed to.
type KeptRead = (HeaderValue, Arc<dyn Any + Send + Sync>);

/// Catalogue reads kept with their `ETag`, for [`Client::revalidating`].
#[derive(Default)]
struct Kept {
    entries: Mutex<HashMap<String, KeptRead>>,
}

/// Distinct reads kept at most (URLs with their queries); all are dropped
/// when a new one would pass it, and the next read of each fetches it whole.
const KEPT_READS: usize = 512;

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = self.entries.lock().map_or(0, |entries| entries.len());
        f.debug_struct("Kept").field("reads", &kept).finish()
    }
}

impl Kept {
    fn lookup<T: Send + Sync + 'static>(&self, url: &str) -> Option<(HeaderValue, Arc<T>)> {
        let entries = self.entries.lock().ok()?;
        let (etag, value) = entries.get(url)?;
        let value = Arc::clone(value).downcast::<T>().ok()?;
        Some((etag.clone(), value))
    }

    fn keep<T: Send + Sync + 'static>(&self, url: String, etag: HeaderValue, value: Arc<T>) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= KEPT_READS && !entries.contains_key(&url) {
                entries.clear();
            }
            entries.insert(url, (etag, value));
        }
    }
}

impl Client {
    /// A client of the gateway at `base` (`https://host:port`), over `http`
    /// (which holds the TLS configuration and timeouts).
    pub fn new(http: reqwest::Client, base: &str) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').into(),
            kept: None,
        }
    }

    /// This client, keeping the catalogue reads it makes (pages of products,
    /// a product, the categories) with their `ETag`: it asks for each again,
    /// every time, with `If-None-Match`, and on a 304 answers with what it
    /// kept, with no body to receive and parse. Nothing is served without
    /// asking, so nothing is staler than a plain read. The storefront reads
    /// the same page and categories for every visitor; the load generator
    /// and the tests use plain clients.
    pub fn revalidating(mut self) -> Self {
        self.kept = Some(Arc::new(Kept::default()));
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// A request to `path` for `caller`, for what the typed methods do not cover.
    pub fn request(&self, caller: Caller<'_>, method: Method, path: &str) -> RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
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

    async fn send(request: RequestBuilder) -> Result<Response, ClientError> {
        Self::success(request.send().await.map_err(unavailable)?).await
    }

    /// `response` when it is a success, else its refusal.
    async fn success(response: Response) -> Result<Response, ClientError> {
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(refused(response).await)
        }
    }

    async fn json<T: DeserializeOwned>(request: RequestBuilder) -> Result<T, ClientError> {
        Self::send(request).await?.json().await.map_err(unavailable)
    }

    async fn get<T: DeserializeOwned>(&self, caller: Caller<'_>, path: &str) -> Result<T, ClientError> {
        Self::json(self.request(caller, Method::GET, path)).await
    }

    /// A catalogue read, revalidated when this client keeps reads.
    async fn catalogue_read<T>(&self, request: RequestBuilder) -> Result<T, ClientError>
    where
        T: DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let Some(kept) = &self.kept else {
            return Self::json(request).await;
        };
        let mut request = request.build().map_err(unavailable)?;
        let url = request.url().as_str().to_owned();
        let known = kept.lookup::<T>(&url);
        if let Some((etag, _)) = &known {
            request.headers_mut().insert(IF_NONE_MATCH, etag.clone());
        }
        let response = self.http.execute(request).await.map_err(unavailable)?;
        if response.status() == StatusCode::NOT_MODIFIED {
            return match known {
                Some((_, value)) => Ok(T::clone(&value)),
                None => Err(ClientError::Unavailable(format!(
                    "{url} answered 304 Not Modified to a read that named no ETag"
                ))),
            };
        }
        let response = Self::success(response).await?;
        let etag = response.headers().get(ETAG).cloned();
        let value: T = response.json().await.map_err(unavailable)?;
        if let Some(etag) = etag {
            kept.keep(url, etag, Arc::new(value.clone()));
        }
        Ok(value)
    }

    async fn with_body<T: DeserializeOwned, B: Serialize>(
        &self,
        caller: Caller<'_>,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        Self::json(self.request(caller, method, path).json(body)).await
    }

    pub async fn register(
        &self,
        caller: Caller<'_>,
        registration: &Registration,
    ) -> Result<Account, ClientError> {
        self.with_body(caller, Method::POST, paths::REGISTER, registration)
            .await
    }

    pub async fn login(
        &self,
        caller: Caller<'_>,
        credentials: &Credentials,
    ) -> Result<AccessToken, ClientError> {
        self.with_body(caller, Method::POST, paths::LOGIN, credentials)
            .await
    }

    pub async fn me(&self, caller: Caller<'_>) -> Result<Account, ClientError> {
        self.get(caller, paths::ME).await
    }

    pub async fn jwks(&self, caller: Caller<'_>) -> Result<Jwks, ClientError> {
        self.get(caller, paths::JWKS).await
    }

    pub async fn products(
        &self,
        caller: Caller<'_>,
        query: &ProductQuery,
    ) -> Result<ProductPage, ClientError> {
        self.catalogue_read(self.request(caller, Method::GET, paths::PRODUCTS).query(query))
            .await
    }

    pub async fn product(&self, caller: Caller<'_>, id: i64) -> Result<Product, ClientError> {
        self.catalogue_read(self.request(caller, Method::GET, &paths::product(id)))
            .await
    }

    pub async fn product_image(&self, caller: Caller<'_>, id: i64) -> Result<Picture, ClientError> {
        let response = Self::send(self.request(caller, Method::GET, &paths::product_image(id))).await?;
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        let bytes = response.bytes().await.map_err(unavailable)?.to_vec();
        Ok(Picture { content_type, bytes })
    }

    pub async fn categories(&self, caller: Caller<'_>) -> Result<Vec<Category>, ClientError> {
        self.catalogue_read(self.request(caller, Method::GET, paths::CATEGORIES))
            .await
    }

    pub async fn create_product(
        &self,
        caller: Caller<'_>,
        product: &ProductInput,
    ) -> Result<Product, ClientError> {
        self.with_body(caller, Method::POST, paths::PRODUCTS, product)
            .await
    }

    pub async fn replace_product(
        &self,
        caller: Caller<'_>,
        id: i64,
        product: &ProductInput,
    ) -> Result<Product, ClientError> {
        self.with_body(caller, Method::PUT, &paths::product(id), product)
            .await
    }

    pub async fn patch_product(
        &self,
        caller: Caller<'_>,
        id: i64,
        patch: &ProductPatch,
    ) -> Result<Product, ClientError> {
        self.with_body(caller, Method::PATCH, &paths::product(id), patch)
            .await
    }

    pub async fn delete_product(&self, caller: Caller<'_>, id: i64) -> Result<(), ClientError> {
        Self::send(self.request(caller, Method::DELETE, &paths::product(id))).await?;
        Ok(())
    }

    /// Places an order under `idempotency_key`; a 409 is [`ClientError::Rejected`].
    pub async fn place_order(
        &self,
        caller: Caller<'_>,
        idempotency_key: &str,
        order: &OrderRequest,
    ) -> Result<Placed, ClientError> {
        let request = self
            .request(caller, Method::POST, paths::ORDERS)
            .header(IDEMPOTENCY_KEY, idempotency_key)
            .json(order);
        let response = request.send().await.map_err(unavailable)?;
        let replayed = response
            .headers()
            .get(IDEMPOTENT_REPLAYED)
            .is_some_and(|v| v == "true");
        match response.status() {
            status if status.is_success() => Ok(Placed {
                order: response.json().await.map_err(unavailable)?,
                replayed,
            }),
            StatusCode::CONFLICT => {
                let body = response.bytes().await.map_err(unavailable)?;
                match serde_json::from_slice::<Rejection>(&body) {
                    Ok(rejection) => Err(ClientError::Rejected(Box::new(rejection))),
                    Err(_) => Err(envelope(StatusCode::CONFLICT, &body)),
                }
            }
            _ => Err(refused(response).await),
        }
    }

    pub async fn orders(&self, caller: Caller<'_>, query: &OrderQuery) -> Result<OrderPage, ClientError> {
        Self::json(self.request(caller, Method::GET, paths::ORDERS).query(query)).await
    }

    pub async fn order(&self, caller: Caller<'_>, id: Uuid) -> Result<Order, ClientError> {
        self.get(caller, &paths::order(id)).await
    }

    pub async fn cancel_order(&self, caller: Caller<'_>, id: Uuid) -> Result<Order, ClientError> {
        Self::json(self.request(caller, Method::POST, &paths::order_cancel(id))).await
    }

    pub async fn ship_order(&self, caller: Caller<'_>, id: Uuid) -> Result<Order, ClientError> {
        Self::json(self.request(caller, Method::POST, &paths::order_ship(id))).await
    }

    /// The served OpenAPI document.
    pub async fn openapi(&self) -> Result<serde_json::Value, ClientError> {
        self.get(Caller::anonymous(), paths::OPENAPI).await
    }
}

async fn refused(response: Response) -> ClientError {
    let status = response.status();
    match response.bytes().await {
        Ok(body) => envelope(status, &body),
        Err(err) => unavailable(err),
    }
}

/// An error reply: the envelope, or "unavailable" when it is not one.
fn envelope(status: StatusCode, body: &[u8]) -> ClientError {
    match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(envelope) => ClientError::Refused {
            status,
            error: envelope.error,
        },
        Err(_) => ClientError::Unavailable(format!("status {status} without an error envelope")),
    }
}

#[cfg(test)]
mod tests {
    use cloudshop_host::redaction::assert_debug_hides;

    use super::*;

    const TOKEN: &str = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJjYWxsZXIifQ.Sig-Caller-8kWq3ZtN5vRb";

    #[test]
    fn debug_output_holds_none_of_the_callers_token() {
        let caller = Caller {
            address: Some(IpAddr::from([192, 0, 2, 7])),
            request_id: Some("req-1"),
            ..Caller::with_token(TOKEN)
        };
        assert_debug_hides(&caller, TOKEN.as_bytes());
        let shown = format!("{caller:?}");
        assert!(shown.contains("192.0.2.7") && shown.contains("req-1"), "{shown}");
    }
}
