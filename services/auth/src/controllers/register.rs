//! `POST /register {email, password}`: creates a customer account.

use axum::extract::State;
use axum::http::StatusCode;
use cloudshop_api::auth::Registration;
use cloudshop_platform::error::{ApiError, ApiResult, Json};
use cloudshop_platform::jwt::Role;

use super::{Account, AppState};
use crate::domain::{Email, NewPassword};
use crate::users::{self, CreateError};

pub async fn register(
    State(state): State<AppState>,
    Json(form): Json<Registration>,
) -> ApiResult<(StatusCode, Json<Account>)> {
    let email = Email::parse(&form.email).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let password = NewPassword::parse(form.password.into_secret(), &email)
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let hash = state
        .hasher
        .hash(password.into_secret())
        .await
        .map_err(ApiError::internal)?;
    let user = users::create(&state.pool, &email, &hash, Role::Customer)
        .await
        .map_err(|err| match err {
            CreateError::Taken => ApiError::conflict(err.to_string()),
            CreateError::Db(db) => ApiError::from(db),
        })?;
    state.metrics.registrations.inc();
    tracing::info!(user_id = %user.id, "account created");
    Ok((StatusCode::CREATED, Json(Account::from(user))))
}
