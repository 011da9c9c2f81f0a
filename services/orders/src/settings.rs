//! Settings of the orders service (defaults: API on 8083, admin on 9083).

use cloudshop_platform::ServiceId;
use cloudshop_platform::db::DatabaseSettings;
use cloudshop_platform::jwt::JwtSettings;
use cloudshop_platform::settings::{HttpSettings, TlsSettings};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub http: HttpSettings,
    pub tls: TlsSettings,
    pub database: DatabaseSettings,
    pub jwt: JwtSettings,
    /// Base URL of the products service.
    pub products_url: String,
    /// Longest wait for the products service.
    pub products_timeout_ms: u64,
    pub reconciler: ReconcilerSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            http: HttpSettings::of(ServiceId::Orders),
            tls: TlsSettings::default(),
            database: DatabaseSettings::for_service(ServiceId::Orders),
            jwt: JwtSettings::default(),
            products_url: ServiceId::Products.local_url(),
            products_timeout_ms: 3_000,
            reconciler: ReconcilerSettings::default(),
        }
    }
}

/// The reconciler runs at start and then every `interval_ms`, finishing
/// orders that have been PENDING for longer than `pending_after_ms`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcilerSettings {
    pub interval_ms: u64,
    pub pending_after_ms: u64,
}

impl Default for ReconcilerSettings {
    fn default() -> Self {
        Self {
            interval_ms: 30_000,
            pending_after_ms: 30_000,
        }
    }
}

impl cloudshop_platform::service::ServiceSettings for Settings {
    fn http(&self) -> &HttpSettings {
        &self.http
    }
}
