//! Settings of the storefront (defaults: HTTP on 3000, admin on 9000).

use cloudshop_platform::ServiceId;
use cloudshop_platform::jwt::JwtSettings;
use cloudshop_platform::secret::SecretFile;
use cloudshop_platform::settings::{HttpSettings, TlsSettings};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub http: HttpSettings,
    /// The storefront's client certificate towards the gateway, and the CA.
    pub tls: TlsSettings,
    /// Serve the pages over TLS with the same certificate (cookies are then
    /// `Secure` and HSTS is sent). Off when a proxy terminates TLS in front.
    pub serve_tls: bool,
    /// Whether browsers reach the storefront over HTTPS (through a proxy
    /// that terminates TLS, say): cookies are then `Secure` and HSTS is sent.
    pub public_https: bool,
    pub gateway_url: String,
    pub gateway_timeout_ms: u64,
    pub jwt: JwtSettings,
    /// At least 64 bytes that sign the cart and CSRF cookies.
    pub cookie_key_file: SecretFile,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            http: HttpSettings::of(ServiceId::Storefront),
            tls: TlsSettings::default(),
            serve_tls: false,
            public_https: false,
            gateway_url: ServiceId::ApiGateway.local_url(),
            gateway_timeout_ms: 5_000,
            jwt: JwtSettings::default(),
            cookie_key_file: SecretFile::new("/etc/cloudshop/secrets/cookie-key"),
        }
    }
}

impl cloudshop_platform::service::ServiceSettings for Settings {
    fn http(&self) -> &HttpSettings {
        &self.http
    }
}
