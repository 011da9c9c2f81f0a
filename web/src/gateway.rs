//! The storefront's client of the public API: the typed client of
//! `cloudshop-api`, through the gateway over TLS with the storefront's client
//! certificate. The shopper's address travels in `x-forwarded-for` (the
//! gateway trusts it from this identity), so rate limits apply per shopper,
//! not to the storefront as a whole.

use std::sync::Arc;
use std::time::Duration;

pub use cloudshop_api::client::{Caller, Client as Gateway, ClientError};
use cloudshop_platform::tls::TlsMaterial;

/// A client of the gateway at `base`, with the storefront's certificate. It
/// keeps the catalogue reads and revalidates them (`If-None-Match`, a 304
/// without a body when nothing changed): every visitor's home page reads the
/// same page of products and the same categories.
pub fn connect(tls: &Arc<TlsMaterial>, base: &str, timeout: Duration) -> anyhow::Result<Gateway> {
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(tls.client_config()?)
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(2))
        .pool_idle_timeout(cloudshop_platform::settings::CLIENT_POOL_IDLE)
        .build()?;
    Ok(Gateway::new(http, base).revalidating())
}

/// A refusal the shopper can act on (a 4xx other than 429), with the API's
/// message.
pub fn refusal(err: &ClientError) -> Option<(http::StatusCode, &str)> {
    let status = err.status();
    if !status.is_client_error() || status == http::StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    err.message().map(|message| (status, message))
}
