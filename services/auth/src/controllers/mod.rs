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
    pub metrics: AuthMetrics,
    pub trusted_proxies: Arc<Vec<String>>,
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
