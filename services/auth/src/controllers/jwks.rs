//! `GET /.well-known/jwks.json`: the key that verifies our access tokens.

use axum::extract::State;
use cloudshop_platform::error::Json;

use super::AppState;

pub async fn jwks(State(state): State<AppState>) -> Json<cloudshop_api::auth::Jwks> {
    Json(state.tokens.jwks())
}
