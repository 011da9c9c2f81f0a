//! `POST /login {email, password, device_token?}`: returns a short-lived
//! access token and a device token for later logins.
//!
//! The throttle comes first (`throttle.rs`: budgets of failed logins per
//! address, per account and address, and per account unless the client shows
//! a device token of that account); then the password is checked, against a
//! dummy hash when the account does not exist, so both failures cost the
//! same time and give the same answer.

use axum::extract::State;
use axum::http::request::Parts;
use cloudshop_api::auth::Credentials;
use cloudshop_platform::error::{ApiError, ApiResult, Json};
use cloudshop_platform::http::client_address;
use secrecy::SecretString;

use super::AppState;
use crate::domain::Email;
use crate::passwords::Verification;
use crate::throttle::Refusal;
use crate::tokens::AccessToken;
use crate::users;

pub async fn login(
    State(state): State<AppState>,
    parts: Parts,
    Json(credentials): Json<Credentials>,
) -> ApiResult<Json<AccessToken>> {
    let address = client_address(&parts, &state.trusted_proxies);
    let account_key = credentials.email.trim().to_lowercase();
    // The address's own budgets, before the account is even looked up.
    state
        .throttle
        .check_address(address, &account_key)
        .map_err(|refusal| throttled(&state, address, refusal))?;
    // A malformed email cannot match an account, but costs the same.
    let user = match Email::parse(&credentials.email) {
        Ok(email) => users::find_by_email(&state.pool, email.as_str()).await?,
        Err(_) => None,
    };
    let proven_device = match (&user, &credentials.device_token) {
        (Some(user), Some(token)) => state.tokens.vouches_for(token, &user.id.to_string()),
        _ => false,
    };
    let attempt = state
        .throttle
        .admit(address, &account_key, proven_device)
        .map_err(|refusal| throttled(&state, address, refusal))?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let password = credentials.password.into_secret();
    let verification = state.hasher.verify(stored, password.clone()).await;
    let (Verification::Valid { needs_rehash }, Some(user)) = (verification, user) else {
        // The attempt keeps its places in the budgets: a failure.
        state.metrics.failed_logins.inc();
        tracing::info!(client = ?address, "login refused");
        return Err(ApiError::unauthorized("invalid email or password"));
    };
    attempt.succeeded();
    if needs_rehash {
        rehash(&state, user.id, password).await;
    }
    state.metrics.logins.inc();
    tracing::info!(user_id = %user.id, proven_device, "login");
    let user_id = user.id.to_string();
    let mut token = state
        .tokens
        .issue(&user_id, &user.email, user.role)
        .map_err(ApiError::internal)?;
    token.device_token = Some(
        state
            .tokens
            .issue_device(&user_id, state.device_token_lifetime)
            .map_err(ApiError::internal)?,
    );
    Ok(Json(token))
}

fn throttled(state: &AppState, address: Option<std::net::IpAddr>, refusal: Refusal) -> ApiError {
    state.metrics.throttled_logins.inc();
    tracing::warn!(client = ?address, budget = refusal.budget.as_str(), "login throttled");
    ApiError::too_many_requests(refusal.wait)
}

/// Stores a hash at the current parameters; a failure only delays the upgrade.
async fn rehash(state: &AppState, id: uuid::Uuid, password: SecretString) {
    match state.hasher.hash(password).await {
        Ok(hash) => {
            if let Err(err) = users::update_password_hash(&state.pool, id, &hash).await {
                tracing::warn!(error = %err, "password rehash not stored");
            }
        }
        Err(err) => tracing::warn!(error = %err, "password rehash failed"),
    }
}
