//! Settings of the gateway (defaults: HTTPS on 8080, admin on 9080).

use cloudshop_platform::ServiceId;
use cloudshop_platform::jwt::JwtSettings;
use cloudshop_platform::rate_limit::RateLimit;
use cloudshop_platform::settings::{HttpSettings, TlsSettings};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub http: HttpSettings,
    pub tls: TlsSettings,
    pub jwt: JwtSettings,
    pub backends: Backends,
    pub upstream: UpstreamSettings,
    /// Requests per client address.
    pub rate_limit: RateLimit,
    /// Peer identities whose `x-forwarded-for` names the real client (the
    /// storefront calls on behalf of shoppers).
    pub trusted_proxies: Vec<ServiceId>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            http: HttpSettings::of(ServiceId::ApiGateway),
            tls: TlsSettings::default(),
            jwt: JwtSettings::default(),
            backends: Backends::default(),
            upstream: UpstreamSettings::default(),
            rate_limit: RateLimit {
                per_minute: 60_000,
                burst: 2_000,
            },
            trusted_proxies: vec![ServiceId::Storefront],
        }
    }
}

/// Base URLs of the services (`https://host:port`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Backends {
    pub auth: String,
    pub products: String,
    pub orders: String,
}

impl Default for Backends {
    fn default() -> Self {
        Self {
            auth: ServiceId::Auth.local_url(),
            products: ServiceId::Products.local_url(),
            orders: ServiceId::Orders.local_url(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamSettings {
    /// Longest wait for a backend's response headers.
    pub timeout_ms: u64,
    pub connect_timeout_ms: u64,
    /// Extra attempts for GET and HEAD when a connection fails.
    pub retries: u32,
    pub max_idle_per_backend: usize,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        Self {
            timeout_ms: 5_000,
            connect_timeout_ms: 1_000,
            retries: 1,
            max_idle_per_backend: 256,
        }
    }
}

impl cloudshop_platform::service::ServiceSettings for Settings {
    fn http(&self) -> &HttpSettings {
        &self.http
    }
}
