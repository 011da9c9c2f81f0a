use cloudshop_api::paths;
use serde_json::json;

use crate::helpers::{error_code, spawn_shop};

#[tokio::test]
async fn bad_input_gets_a_4xx_json_error_never_a_5xx() {
    let shop = spawn_shop().await;
    let register = shop.url(paths::REGISTER);
    let send = |body: String, content_type: Option<&'static str>| {
        let mut request = shop.client.post(&register).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send()
    };
    let json_type = Some("application/json");
    let cases: Vec<(&str, String, Option<&'static str>, u16, &str)> = vec![
        (
            "malformed JSON",
            "{\"email\": ".into(),
            json_type,
            400,
            "bad_request",
        ),
        ("not an object", "[1, 2, 3]".into(), json_type, 422, "invalid"),
        (
            "wrong types",
            json!({"email": 5, "password": ["x"]}).to_string(),
            json_type,
            422,
            "invalid",
        ),
        (
            "missing field",
            json!({"email": "a@example.com"}).to_string(),
            json_type,
            422,
            "invalid",
        ),
        (
            "unknown field",
            json!({"email": "a@example.com", "password": "x", "role": "admin"}).to_string(),
            json_type,
            422,
            "invalid",
        ),
        (
            "empty fields",
            json!({"email": "", "password": ""}).to_string(),
            json_type,
            422,
            "invalid",
        ),
        (
            "huge field",
            json!({"email": "a".repeat(60_000), "password": "p".repeat(1_000)}).to_string(),
            json_type,
            422,
            "invalid",
        ),
        (
            "oversized body",
            json!({"email": "a".repeat(100_000), "password": "x"}).to_string(),
            json_type,
            413,
            "payload_too_large",
        ),
        (
            "no content type",
            json!({"email": "a@example.com", "password": "x"}).to_string(),
            None,
            415,
            "unsupported_media_type",
        ),
    ];
    for (what, body, content_type, status, code) in cases {
        let response = send(body, content_type).await.expect("sent");
        assert_eq!(response.status().as_u16(), status, "{what}");
        assert_eq!(error_code(response).await, code, "{what}");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_use_the_envelope() {
    let shop = spawn_shop().await;
    let missing = shop
        .client
        .get(shop.url("/api/nothing-here"))
        .send()
        .await
        .expect("sent");
    assert_eq!(missing.status(), 404);
    assert_eq!(error_code(missing).await, "not_found");
    let wrong_method = shop
        .client
        .delete(shop.url(paths::HEALTH))
        .send()
        .await
        .expect("sent");
    assert_eq!(wrong_method.status(), 405);
    assert_eq!(error_code(wrong_method).await, "method_not_allowed");
    let upstream_missing = shop
        .client
        .get(shop.url("/api/auth/nothing"))
        .send()
        .await
        .expect("sent");
    assert_eq!(upstream_missing.status(), 404);
    assert_eq!(error_code(upstream_missing).await, "not_found");
}

/// A 3 MB upload from a real client (curl), announced with or without
/// `Expect: 100-continue` or sent chunked, gets a 413 with the error envelope
/// that the client reads: never `100 Continue`, never a reset connection.
#[tokio::test]
async fn an_oversized_upload_gets_a_readable_413_before_any_100_continue() {
    use cloudshop_host::testing::{assert_oversized_uploads_refused, env};

    let shop = spawn_shop().await;
    let url = shop.url(paths::REGISTER);
    let ca = env().files().ca_cert();
    let answers = tokio::task::spawn_blocking(move || {
        assert_oversized_uploads_refused(&url, "application/json", Some(&ca))
    })
    .await
    .expect("the uploads");
    for (mode, body) in answers {
        let body: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|err| panic!("{mode:?}: not JSON ({err}): {body}"));
        assert_eq!(body["error"]["code"], "payload_too_large", "{mode:?}: {body}");
    }
}
