use cloudshop_api::paths;
use cloudshop_devkit::testing::captured_logs;

use crate::helpers::{error_code, registration, spawn_shop, spawn_shop_with};

#[tokio::test]
async fn responses_carry_security_headers() {
    let shop = spawn_shop().await;
    let response = shop
        .client
        .get(shop.url(paths::HEALTH))
        .send()
        .await
        .expect("sent");
    let headers = response.headers();
    assert_eq!(
        headers["strict-transport-security"],
        "max-age=63072000; includeSubDomains"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn the_request_id_is_kept_echoed_and_passed_downstream() {
    let shop = spawn_shop().await;
    let id = format!("test-{}", uuid::Uuid::new_v4().simple());
    let email = format!("traced-{}@example.com", uuid::Uuid::new_v4().simple());
    let response = shop
        .client
        .post(shop.url(paths::REGISTER))
        .header("x-request-id", &id)
        .json(&registration(&email))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-request-id"], id.as_str());
    // The auth service logged its work under the same id.
    let logs = captured_logs();
    let created = logs
        .lines()
        .find(|line| line.contains("account created") && line.contains(&id));
    assert!(
        created.is_some(),
        "auth did not log under the gateway's request id"
    );

    let bogus = shop
        .client
        .get(shop.url(paths::HEALTH))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .expect("sent");
    assert_ne!(bogus.headers()["x-request-id"], "bad id with spaces");
}

#[tokio::test]
async fn a_client_address_over_its_rate_limit_gets_429() {
    let shop = spawn_shop_with(|settings| {
        settings.rate_limit.per_minute = 5;
        settings.rate_limit.burst = 5;
    })
    .await;
    for _ in 0..5 {
        let ok = shop.client.get(shop.url(paths::JWKS)).send().await.expect("sent");
        assert_eq!(ok.status(), 200);
    }
    let limited = shop.client.get(shop.url(paths::JWKS)).send().await.expect("sent");
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(error_code(limited).await, "rate_limited");
    // /health stays outside the API limits.
    assert_eq!(
        shop.client
            .get(shop.url(paths::HEALTH))
            .send()
            .await
            .expect("sent")
            .status(),
        200
    );
}
