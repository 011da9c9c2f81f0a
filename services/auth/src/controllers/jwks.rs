//! `GET /.well-known/jwks.json`: the key that verifies our access tokens.

use axum::extract::State;
use cloudshop_platform::error::Json;

use super::AppState;

pub async fn jwks(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.tokens.jwks())
}
