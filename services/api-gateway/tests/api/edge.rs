use cloudshop_api::paths;
use cloudshop_host::testing::captured_logs;
use serde_json::json;

use crate::helpers::{error_code, registration, silent_backend, spawn_shop, spawn_shop_with};

/// The headers every reply of the gateway carries.
const SECURITY_HEADERS: [(&str, &str); 6] = [
    ("strict-transport-security", "max-age=63072000; includeSubDomains"),
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-resource-policy", "same-origin"),
    ("x-content-type-options", "nosniff"),
];

async fn assert_reply(request: reqwest::RequestBuilder, status: u16, what: &str) {
    let response = request.send().await.expect(what);
    assert_eq!(response.status().as_u16(), status, "{what}");
    let headers = response.headers();
    for (name, value) in SECURITY_HEADERS {
        assert_eq!(
            headers.get(name).and_then(|v| v.to_str().ok()),
            Some(value),
            "{what}: {name}"
        );
    }
    assert!(headers.contains_key("x-request-id"), "{what}: x-request-id");
}

/// Whichever layer makes the reply (a handler, a backend, the router's
/// fallback, the method router, the body limit, the rate limiter, the
/// proxy's timeouts or the stack's own), it carries the security headers.
#[tokio::test]
async fn every_reply_carries_the_security_headers_whichever_layer_made_it() {
    let shop = spawn_shop().await;
    let get = |path: &str| shop.client.get(shop.url(path));
    let oversized = json!({"email": "a".repeat(100_000), "password": "x"});
    let cases = [
        ("health", get(paths::HEALTH), 200),
        ("the OpenAPI document", get(paths::OPENAPI), 200),
        ("a backend's reply", get(paths::JWKS), 200),
        ("the router's 404 for /", get("/"), 404),
        (
            "the router's 404 for an unknown path",
            get("/api/nothing-here"),
            404,
        ),
        ("a backend's 404", get("/api/auth/nothing"), 404),
        (
            "405 for a wrong method",
            shop.client.delete(shop.url(paths::HEALTH)),
            405,
        ),
        (
            "413 for a body too large",
            shop.client.post(shop.url(paths::REGISTER)).json(&oversized),
            413,
        ),
        ("401 without a token", get(paths::ME), 401),
        ("503 for a backend that is down", get(paths::PRODUCTS), 503),
    ];
    for (what, request, status) in cases {
        assert_reply(request, status, what).await;
    }

    let silent = silent_backend().await;
    let slow_backend = spawn_shop_with(|settings| {
        settings.backends.products = silent.clone();
        settings.upstream.timeout_ms = 300;
    })
    .await;
    let request = slow_backend.client.get(slow_backend.url(paths::PRODUCTS));
    assert_reply(request, 504, "504 for a backend that does not answer").await;

    let slow_request = spawn_shop_with(|settings| {
        settings.backends.products = silent.clone();
        settings.http.request_timeout_ms = 300;
    })
    .await;
    let request = slow_request.client.get(slow_request.url(paths::PRODUCTS));
    assert_reply(request, 503, "503 for a request over its time").await;

    let limited = spawn_shop_with(|settings| {
        settings.rate_limit.per_minute = 1;
        settings.rate_limit.burst = 1;
    })
    .await;
    let request = |path: &str| limited.client.get(limited.url(path));
    assert_reply(request(paths::JWKS), 200, "the one request allowed").await;
    assert_reply(request(paths::JWKS), 429, "429 over the rate limit").await;
}

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
