//! `POST /login {email, password}`: returns a short-lived access token.
//!
//! Rate limits come first; then the password is checked, against a dummy hash
//! when the account does not exist, so both failures cost the same time and
//! give the same answer.

use axum::extract::State;
use axum::http::request::Parts;
use cloudshop_api::auth::Credentials;
use cloudshop_platform::error::{ApiError, ApiResult, Json};
use cloudshop_platform::http::client_address;
use secrecy::SecretString;

use super::AppState;
use crate::domain::Email;
use crate::passwords::Verification;
use crate::tokens::AccessToken;
use crate::users;

pub async fn login(
    State(state): State<AppState>,
    parts: Parts,
    Json(credentials): Json<Credentials>,
) -> ApiResult<Json<AccessToken>> {
    let address = client_address(&parts, &state.trusted_proxies);
    let account_key = credentials.email.trim().to_lowercase();
    if let Err(wait) = state.throttle.check(address, &account_key) {
        state.metrics.throttled_logins.inc();
        tracing::warn!(client = ?address, "login throttled");
        return Err(ApiError::too_many_requests(wait));
    }
    // A malformed email cannot match an account, but costs the same.
    let user = match Email::parse(&credentials.email) {
        Ok(email) => users::find_by_email(&state.pool, email.as_str()).await?,
        Err(_) => None,
    };
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let password = credentials.password.into_secret();
    let verification = state.hasher.verify(stored, password.clone()).await;
    let (Verification::Valid { needs_rehash }, Some(user)) = (verification, user) else {
        state.metrics.failed_logins.inc();
        tracing::info!(client = ?address, "login refused");
        return Err(ApiError::unauthorized("invalid email or password"));
    };
    if needs_rehash {
        rehash(&state, user.id, password).await;
    }
    state.metrics.logins.inc();
    tracing::info!(user_id = %user.id, "login");
    let token = state
        .tokens
        .issue(&user.id.to_string(), &user.email, user.role)
        .map_err(ApiError::internal)?;
    Ok(Json(token))
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
