use serde_json::{Value, json};

use crate::helpers::{PASSWORD, error_code, spawn_app, unique_email};

#[tokio::test]
async fn register_creates_a_customer_with_a_normalised_email() {
    let app = spawn_app().await;
    let email = unique_email("Ada");
    let response = app
        .post(
            "/register",
            &json!({"email": format!("  {}  ", email.to_uppercase()), "password": PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["email"], email.to_lowercase());
    assert_eq!(body["role"], "customer");
    assert!(body.get("password_hash").is_none());
}

#[tokio::test]
async fn the_same_email_cannot_register_twice() {
    let app = spawn_app().await;
    let email = unique_email("twice");
    assert_eq!(app.register(&email).await.status(), 201);
    let again = app.register(&email.to_uppercase()).await;
    assert_eq!(again.status(), 409);
    assert_eq!(error_code(again).await, "conflict");
}

#[tokio::test]
async fn weak_short_and_malformed_input_is_refused_with_422() {
    let app = spawn_app().await;
    let cases = [
        json!({"email": "not-an-email", "password": PASSWORD}),
        json!({"email": unique_email("short"), "password": "short"}),
        json!({"email": unique_email("common"), "password": "password1234"}),
        json!({"email": unique_email("long"), "password": "x".repeat(129)}),
        json!({"email": "", "password": PASSWORD}),
        json!({"email": format!("{}@example.com", "a".repeat(300)), "password": PASSWORD}),
    ];
    for case in cases {
        let response = app.post("/register", &case).await;
        assert_eq!(response.status(), 422, "{case}");
        assert_eq!(error_code(response).await, "invalid");
    }
}
