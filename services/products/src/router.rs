//! Every route of the products service. The catalogue is for the gateway; the
//! reservations are for the orders service alone.

use axum::Router;
use axum::routing::{get, post};
use cloudshop_platform::ServiceId;
use cloudshop_platform::tls::RequireCaller;

use crate::controllers::{
    AppState, categories, create, delete, get, list, picture, release, reserve, update,
};

pub fn router(state: AppState) -> Router {
    let catalogue = Router::new()
        .route("/products", get(list::list).post(create::create))
        .route(
            "/products/{id}",
            get(get::get)
                .put(update::replace)
                .patch(update::patch)
                .delete(delete::delete),
        )
        .route("/products/{id}/image.svg", get(picture::picture))
        .route("/categories", get(categories::categories))
        .route_layer(RequireCaller::one_of(&[ServiceId::ApiGateway]));
    let reservations = Router::new()
        .route("/internal/reservations/{order_id}", post(reserve::reserve))
        .route(
            "/internal/reservations/{order_id}/release",
            post(release::release),
        )
        .route_layer(RequireCaller::one_of(&[ServiceId::Orders]));
    catalogue.merge(reservations).with_state(state)
}
