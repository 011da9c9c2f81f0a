//! Every route of the orders service, for the gateway only.

use axum::Router;
use axum::routing::{get, post};
use cloudshop_platform::ServiceId;
use cloudshop_platform::tls::RequireCaller;

use crate::controllers::{AppState, cancel, create, get, list, ship};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/orders", get(list::list).post(create::create))
        .route("/orders/{id}", get(get::get))
        .route("/orders/{id}/cancel", post(cancel::cancel))
        .route("/orders/{id}/ship", post(ship::ship))
        .route_layer(RequireCaller::one_of(&[ServiceId::ApiGateway]))
        .with_state(state)
}
