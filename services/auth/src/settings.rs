//! Settings of the auth service (defaults: API on 8081, admin on 9081).

use cloudshop_platform::ServiceId;
use cloudshop_platform::db::DatabaseSettings;
use cloudshop_platform::rate_limit::RateLimit;
use cloudshop_platform::secret::SecretFile;
use cloudshop_platform::settings::{HttpSettings, TlsSettings};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub http: HttpSettings,
    pub tls: TlsSettings,
    pub database: DatabaseSettings,
    pub tokens: TokenSettings,
    pub passwords: PasswordSettings,
    pub throttle: ThrottleSettings,
    pub admin: AdminAccount,
    /// Peer identities whose `x-forwarded-for` names the real client.
    pub trusted_proxies: Vec<ServiceId>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            http: HttpSettings::of(ServiceId::Auth),
            tls: TlsSettings::default(),
            database: DatabaseSettings::for_service(ServiceId::Auth),
            tokens: TokenSettings::default(),
            passwords: PasswordSettings::default(),
            throttle: ThrottleSettings::default(),
            admin: AdminAccount::default(),
            trusted_proxies: vec![ServiceId::ApiGateway],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
    /// Ed25519 private key, PKCS#8 PEM.
    pub signing_key_file: SecretFile,
    pub lifetime_secs: u64,
}

impl Default for TokenSettings {
    fn default() -> Self {
        let jwt = cloudshop_platform::jwt::JwtSettings::default();
        Self {
            issuer: jwt.issuer,
            audience: jwt.audience,
            signing_key_file: SecretFile::new("/etc/cloudshop/secrets/jwt-signing-key.pem"),
            lifetime_secs: 15 * 60,
        }
    }
}

/// argon2id cost. The defaults are OWASP's minimum for argon2id
/// (19 MiB, 2 iterations, 1 lane).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordSettings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// Hashes computed at once; 0 means one per CPU core.
    pub max_concurrent: usize,
}

impl Default for PasswordSettings {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
            max_concurrent: 0,
        }
    }
}

/// Budgets of failed logins (`throttle.rs` says how they work together).
/// Successful logins count in none of them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleSettings {
    /// Failures from one client address, whatever the account.
    pub per_address: RateLimit,
    /// Failures on one account from one address.
    pub per_account_address: RateLimit,
    /// Failures on one account from all addresses together; once spent, only
    /// clients with a valid device token for the account are let through.
    pub per_account: RateLimit,
    /// How long the device token of a successful login stays valid.
    pub device_token_days: u32,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            per_address: RateLimit {
                per_minute: 10,
                burst: 20,
            },
            per_account_address: RateLimit {
                per_minute: 5,
                burst: 5,
            },
            per_account: RateLimit {
                per_minute: 10,
                burst: 20,
            },
            device_token_days: 30,
        }
    }
}

/// The admin account created at start when it does not exist yet.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminAccount {
    pub email_file: Option<SecretFile>,
    pub password_file: Option<SecretFile>,
}

impl cloudshop_platform::service::ServiceSettings for Settings {
    fn http(&self) -> &HttpSettings {
        &self.http
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SECURITY.md's table of the login throttle's defaults says what the
    /// code does.
    #[test]
    fn security_md_states_the_throttle_defaults() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../SECURITY.md");
        let text = std::fs::read_to_string(path).expect("SECURITY.md");
        let row = |setting: &str| {
            text.lines()
                .find(|line| line.starts_with('|') && line.contains(&format!("`throttle.{setting}`")))
                .unwrap_or_else(|| panic!("SECURITY.md has no row for throttle.{setting}"))
                .to_owned()
        };
        let defaults = ThrottleSettings::default();
        for (setting, limit) in [
            ("per_address", defaults.per_address),
            ("per_account_address", defaults.per_account_address),
            ("per_account", defaults.per_account),
        ] {
            let stated = format!("{} failures, then {} a minute", limit.burst, limit.per_minute);
            assert!(row(setting).contains(&stated), "throttle.{setting}: {stated}");
        }
        let days = format!("{} days", defaults.device_token_days);
        assert!(row("device_token_days").contains(&days), "{days}");
    }
}
