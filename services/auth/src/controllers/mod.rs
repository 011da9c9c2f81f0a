//! One file per action.

pub mod jwks;
pub mod login;
pub mod me;
pub mod register;

use std::sync::Arc;

use axum::extract::FromRef;
use cloudshop_platform::jwt::JwtVerifier;
use cloudshop_platform::metrics::Metrics;
use prometheus::IntCounter;
use sqlx::PgPool;

use crate::passwords::PasswordHasher;
use crate::throttle::LoginThrottle;
use crate::tokens::TokenIssuer;

/// Business counters of the auth service.
#[derive(Debug, Clone)]
pub struct AuthMetrics {
    pub registrations: IntCounter,
    pub logins: IntCounter,
    pub failed_logins: IntCounter,
    pub throttled_logins: IntCounter,
    pub password_checks: IntCounter,
}

impl AuthMetrics {
    pub fn register(metrics: &Metrics) -> Result<Self, prometheus::Error> {
        Ok(Self {
            registrations: metrics.counter("auth_registrations_total", "Accounts created.")?,
            logins: metrics.counter("auth_logins_total", "Successful logins.")?,
            failed_logins: metrics.counter(
                "auth_failed_logins_total",
                "Logins refused for a wrong email or password.",
            )?,
            throttled_logins: metrics
                .counter("auth_throttled_logins_total", "Logins refused by rate limits.")?,
            password_checks: metrics.counter(
                "auth_password_checks_total",
                "argon2 password verifications, for known and unknown accounts alike.",
            )?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub hasher: Arc<PasswordHasher>,
    pub tokens: Arc<TokenIssuer>,
    pub verifier: Arc<JwtVerifier>,
    pub throttle: Arc<LoginThrottle>,
    /// How long a login's device token vouches for its client.
    pub device_token_lifetime: std::time::Duration,
    pub metrics: AuthMetrics,
    pub trusted_proxies: Arc<Vec<cloudshop_platform::ServiceId>>,
}

impl FromRef<AppState> for Arc<JwtVerifier> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.verifier)
    }
}

/// An account as the API shows it.
pub use cloudshop_api::auth::Account;

impl From<crate::users::User> for Account {
    fn from(user: crate::users::User) -> Self {
        Self {
            id: user.id,
            email: user.email,
            role: user.role,
        }
    }
}

#[cfg(test)]
mod tests {
    use cloudshop_host::files::ShopFiles;
    use cloudshop_host::redaction::assert_debug_hides;
    use cloudshop_platform::db::{self, DatabaseSettings};
    use rustls_pki_types::PrivatePkcs8KeyDer;
    use rustls_pki_types::pem::PemObject;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::settings::{PasswordSettings, ThrottleSettings, TokenSettings};

    /// The state as `startup::build` makes it, with a pool that connects
    /// lazily: no database is needed to print it.
    #[tokio::test]
    async fn debug_output_holds_none_of_the_signing_key_or_the_database_password()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let files = ShopFiles::new(dir.path());
        files.ensure()?;
        let tokens = Arc::new(TokenIssuer::from_settings(&TokenSettings {
            signing_key_file: files.jwt_signing_key(),
            ..TokenSettings::default()
        })?);
        let metrics = AuthMetrics::register(&Metrics::new()?)?;
        let passwords = PasswordSettings {
            memory_kib: 8 * 1024,
            ..PasswordSettings::default()
        };
        let database = DatabaseSettings {
            password_file: files.db_password("auth"),
            ca_file: files.ca_cert(),
            ..DatabaseSettings::for_service(cloudshop_platform::ServiceId::Auth)
        };
        let shutdown = CancellationToken::new();
        let state = AppState {
            pool: db::pool(&database, cloudshop_platform::ServiceId::Auth)?,
            hasher: PasswordHasher::new(&passwords, metrics.password_checks.clone())?,
            verifier: Arc::new(tokens.verifier()),
            tokens,
            throttle: LoginThrottle::new(&ThrottleSettings::default(), &shutdown),
            device_token_lifetime: std::time::Duration::from_secs(86_400),
            metrics,
            trusted_proxies: Arc::new(vec![cloudshop_platform::ServiceId::ApiGateway]),
        };
        shutdown.cancel();

        let signing_key = std::fs::read(files.jwt_signing_key().path())?;
        let signing_key = PrivatePkcs8KeyDer::from_pem_slice(&signing_key)?;
        assert_debug_hides(&state, signing_key.secret_pkcs8_der());
        let password = std::fs::read_to_string(files.db_password("auth").path())?;
        assert_debug_hides(&state, password.trim_end().as_bytes());
        Ok(())
    }
}
