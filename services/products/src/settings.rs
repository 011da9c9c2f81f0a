//! Settings of the products service (defaults: API on 8082, admin on 9082).

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
    /// Fill an empty catalogue with the demo products at start.
    pub seed: bool,
    /// Cache catalogue reads in memory (invalidated on every change).
    pub cache: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            http: HttpSettings::of(ServiceId::Products),
            tls: TlsSettings::default(),
            database: DatabaseSettings::for_service(ServiceId::Products),
            jwt: JwtSettings::default(),
            seed: true,
            cache: true,
        }
    }
}

impl cloudshop_platform::service::ServiceSettings for Settings {
    fn http(&self) -> &HttpSettings {
        &self.http
    }
}
