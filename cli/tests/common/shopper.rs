//! A shopper, shared by the live tests (`up`, `cluster`): an account made
//! and logged in through the gateway's API.

use cloudshop_api::auth::{Credentials, Password, Registration};
use cloudshop_api::client::{Caller, Client};
use cloudshop_api::products::{Product, ProductQuery};

/// Registers `email` and logs in: the shopper's token, and a product of
/// the seeded catalogue with stock to spare.
pub async fn shopper(client: &Client, email: &str) -> (String, Product) {
    let password = Password::new("tJ8#qv2!Lm9zRw-bright");
    let registration = Registration {
        email: email.to_owned(),
        password: password.clone(),
    };
    client
        .register(Caller::anonymous(), &registration)
        .await
        .expect("register");
    let login = Credentials {
        email: email.to_owned(),
        password,
        device_token: None,
    };
    let token = client
        .login(Caller::anonymous(), &login)
        .await
        .expect("login")
        .access_token;
    let products = client
        .products(Caller::anonymous(), &ProductQuery::default())
        .await
        .expect("products");
    let product = products
        .items
        .into_iter()
        .find(|p| p.stock > 10)
        .expect("a product in stock");
    (token, product)
}
