//! Typed settings in layers: the service's safe defaults, then an optional TOML
//! file named by `CLOUDSHOP_CONFIG`, then `CLOUDSHOP_*` environment variables
//! (`__` separates levels: `CLOUDSHOP_HTTP__LISTEN=0.0.0.0:8081`).
//!
//! Secrets are never settings: a setting names the file that holds one
//! ([`crate::secret::SecretFile`]). A missing or malformed value stops start-up
//! with a message that names the setting.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Environment variable naming an optional TOML settings file.
pub const CONFIG_FILE_VAR: &str = "CLOUDSHOP_CONFIG";

/// How long a client between services keeps an idle pooled connection.
/// A server closes an idle keep-alive connection after its header-read
/// timeout (5 s by default); a client that kept it longer would send its next
/// request on a closing connection, and a POST (not retried) would fail.
pub const CLIENT_POOL_IDLE: Duration = Duration::from_secs(3);
const ENV_PREFIX: &str = "CLOUDSHOP_";

#[derive(Debug, thiserror::Error)]
#[error("invalid settings: {0}")]
pub struct SettingsError(String);

/// Loads `T` from `defaults`, the optional config file and the environment.
pub fn load<T: Serialize + DeserializeOwned>(defaults: T) -> Result<T, SettingsError> {
    let mut figment = Figment::from(Serialized::defaults(defaults));
    if let Some(path) = std::env::var_os(CONFIG_FILE_VAR) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            return Err(SettingsError(format!(
                "{CONFIG_FILE_VAR} names {}, which is not a readable file",
                path.display()
            )));
        }
        figment = figment.merge(Toml::file(path));
    }
    figment = figment.merge(Env::prefixed(ENV_PREFIX).ignore(&["CONFIG"]).split("__"));
    figment.extract().map_err(|err| {
        // figment's messages name the key ("for key `default.http.listen`");
        // keep every error of a bad file, not just the first.
        SettingsError(
            err.into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        )
    })
}

/// How a service serves HTTP: its public (TLS) listener and its admin listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Address of the service's API listener.
    pub listen: SocketAddr,
    /// Address of the plain-HTTP admin listener (`/livez`, `/readyz`, `/metrics`).
    pub admin_listen: SocketAddr,
    /// Longest time a whole request may take, body included.
    pub request_timeout_ms: u64,
    /// Longest time a client may take to send the request headers.
    pub header_read_timeout_ms: u64,
    /// Longest time a TLS handshake may take.
    pub handshake_timeout_ms: u64,
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// How long in-flight requests may finish after SIGTERM.
    pub shutdown_drain_ms: u64,
    /// Connections served at once; further ones wait in the accept queue.
    pub max_connections: usize,
}

impl HttpSettings {
    /// `service`'s defaults: on 127.0.0.1, at its ports in the topology
    /// (the ports its container listens on too).
    pub fn of(service: cloudshop_topology::ServiceId) -> Self {
        let ports = service.ports();
        Self::with_ports(ports.api, ports.admin)
    }

    pub fn with_ports(api_port: u16, admin_port: u16) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], api_port)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], admin_port)),
            ..Self::default()
        }
    }
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms)
    }
    pub fn shutdown_drain(&self) -> Duration {
        Duration::from_millis(self.shutdown_drain_ms)
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            request_timeout_ms: 10_000,
            header_read_timeout_ms: 5_000,
            handshake_timeout_ms: 5_000,
            body_limit_bytes: 64 * 1024,
            shutdown_drain_ms: 10_000,
            max_connections: 4_096,
        }
    }
}

/// Where a service finds its certificate, key and the internal CA. The defaults
/// match a cert-manager Secret mounted at `/etc/cloudshop/tls`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub ca_file: PathBuf,
    /// How often the files are checked for changes (certificate rotation).
    pub reload_interval_ms: u64,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            cert_file: PathBuf::from("/etc/cloudshop/tls/tls.crt"),
            key_file: PathBuf::from("/etc/cloudshop/tls/tls.key"),
            ca_file: PathBuf::from("/etc/cloudshop/tls/ca.crt"),
            reload_interval_ms: 5_000,
        }
    }
}
