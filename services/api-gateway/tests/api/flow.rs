use cloudshop_api::auth::{AccessToken, Account, Role};
use cloudshop_api::paths;
use cloudshop_api::products::ProductQuery;
use serde_json::Value;

use crate::helpers::{credentials, error_code, registration, spawn_shop};

#[tokio::test]
async fn register_login_me_through_the_gateway() {
    let shop = spawn_shop().await;
    let email = format!("flow-{}@example.com", uuid::Uuid::new_v4().simple());
    let registered = shop.post(paths::REGISTER, &registration(&email)).await;
    assert_eq!(registered.status(), 201);
    let login = shop.post(paths::LOGIN, &credentials(&email)).await;
    assert_eq!(login.status(), 200);
    let token: AccessToken = login.json().await.expect("json");
    let me = shop
        .client
        .get(shop.url(paths::ME))
        .bearer_auth(&token.access_token)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);
    let me: Account = me.json().await.expect("json");
    assert_eq!(me.email, email);
    assert_eq!(me.role, Role::Customer);
}

#[tokio::test]
async fn health_answers_like_the_seed() {
    let shop = spawn_shop().await;
    let health = shop
        .client
        .get(shop.url(paths::HEALTH))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
    assert_eq!(health.json::<Value>().await.expect("json")["status"], "ok");
}

#[tokio::test]
async fn a_backend_that_is_down_gives_503_in_the_envelope() {
    let shop = spawn_shop().await;
    let (_, token) = shop.customer().await;
    let products = shop
        .client
        .get(shop.url(paths::PRODUCTS))
        .query(&ProductQuery {
            page: Some(1),
            ..ProductQuery::default()
        })
        .send()
        .await
        .expect("sent");
    assert_eq!(products.status(), 503);
    assert_eq!(error_code(products).await, "unavailable");
    let orders = shop
        .client
        .get(shop.url(paths::ORDERS))
        .bearer_auth(&token)
        .send()
        .await
        .expect("sent");
    assert_eq!(orders.status(), 503);
    // Without a token the gateway refuses before trying the backend.
    let anonymous = shop
        .client
        .get(shop.url(paths::ORDERS))
        .send()
        .await
        .expect("sent");
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn the_openapi_document_describes_the_routed_api() {
    let shop = spawn_shop().await;
    let response = shop
        .client
        .get(shop.url(paths::OPENAPI))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.expect("json");
    assert!(doc["openapi"].as_str().expect("version").starts_with("3.1"));
    // What is served is what the types generate, not a copy kept by hand.
    let generated = serde_json::to_value(cloudshop_api::openapi::document()).expect("generated");
    assert_eq!(doc, generated, "the served document is the generated one");
    let documented = doc["paths"].as_object().expect("paths");
    for path in documented.keys() {
        let local = [paths::HEALTH, paths::OPENAPI].contains(&path.as_str());
        let concrete = paths::fill(path, 1);
        // Every documented path must be routed by the gateway table.
        assert!(
            local || cloudshop_api_gateway::routes::resolve(&concrete).is_some(),
            "{path} is documented but not routed"
        );
    }
    for routed in [paths::REGISTER, paths::LOGIN, paths::ME, paths::JWKS] {
        assert!(
            documented.contains_key(routed),
            "{routed} is routed but not documented"
        );
    }
}
