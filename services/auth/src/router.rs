//! Every route of the auth service. Only the gateway may call the account
//! routes; the JWKS is open to every CloudShop service.

use axum::Router;
use axum::routing::{get, post};
use cloudshop_platform::ServiceId;
use cloudshop_platform::tls::RequireCaller;

use crate::controllers::{AppState, jwks, login, me, register};

pub fn router(state: AppState) -> Router {
    let accounts = Router::new()
        .route("/register", post(register::register))
        .route("/login", post(login::login))
        .route("/me", get(me::me))
        .route_layer(RequireCaller::one_of(&[ServiceId::ApiGateway]));
    let keys = Router::new()
        .route("/.well-known/jwks.json", get(jwks::jwks))
        .route_layer(RequireCaller::one_of(&[
            ServiceId::ApiGateway,
            ServiceId::Storefront,
            ServiceId::Products,
            ServiceId::Orders,
        ]));
    accounts.merge(keys).with_state(state)
}
