//! Every public path of the gateway, written once. Templates (`{id}`) are
//! what the document shows; the functions fill them in.

use std::fmt::Display;

use uuid::Uuid;

pub const HEALTH: &str = "/health";
pub const OPENAPI: &str = "/api/openapi.json";
pub const REGISTER: &str = "/api/auth/register";
pub const LOGIN: &str = "/api/auth/login";
pub const ME: &str = "/api/auth/me";
pub const JWKS: &str = "/api/auth/.well-known/jwks.json";
pub const PRODUCTS: &str = "/api/products";
pub const PRODUCT: &str = "/api/products/{id}";
pub const PRODUCT_IMAGE: &str = "/api/products/{id}/image.svg";
pub const CATEGORIES: &str = "/api/categories";
pub const ORDERS: &str = "/api/orders";
pub const ORDER: &str = "/api/orders/{id}";
pub const ORDER_CANCEL: &str = "/api/orders/{id}/cancel";
pub const ORDER_SHIP: &str = "/api/orders/{id}/ship";

/// `template` with its `{id}` replaced.
pub fn fill(template: &str, id: impl Display) -> String {
    template.replace("{id}", &id.to_string())
}

pub fn product(id: i64) -> String {
    fill(PRODUCT, id)
}

pub fn product_image(id: i64) -> String {
    fill(PRODUCT_IMAGE, id)
}

pub fn order(id: Uuid) -> String {
    fill(ORDER, id)
}

pub fn order_cancel(id: Uuid) -> String {
    fill(ORDER_CANCEL, id)
}

pub fn order_ship(id: Uuid) -> String {
    fill(ORDER_SHIP, id)
}

#[cfg(test)]
mod tests {
    #[test]
    fn templates_are_filled() {
        assert_eq!(super::product_image(7), "/api/products/7/image.svg");
        let id = uuid::Uuid::nil();
        assert_eq!(
            super::order_cancel(id),
            "/api/orders/00000000-0000-0000-0000-000000000000/cancel"
        );
    }
}
