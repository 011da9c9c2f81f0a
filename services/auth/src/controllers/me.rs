//! `GET /me`: the account of the bearer token.

use axum::extract::State;
use cloudshop_platform::error::{ApiError, ApiResult, Json};
use cloudshop_platform::jwt::Claims;

use super::{Account, AppState};
use crate::users;

pub async fn me(State(state): State<AppState>, claims: Claims) -> ApiResult<Json<Account>> {
    let id = claims
        .sub
        .parse()
        .map_err(|_| ApiError::unauthorized("invalid token subject"))?;
    let user = users::find_by_id(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("account no longer exists"))?;
    Ok(Json(Account::from(user)))
}
