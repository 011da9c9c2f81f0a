use cloudshop_platform::jwt::{JwtSettings, JwtVerifier, Role};
use serde_json::Value;

use crate::helpers::{PASSWORD, error_code, spawn_app, spawn_with, unique_email};

#[tokio::test]
async fn login_returns_a_token_that_me_accepts() {
    let app = spawn_app().await;
    let email = unique_email("login");
    app.register(&email).await;
    let response = app.login(&email, PASSWORD).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    let token = body["access_token"].as_str().expect("token");

    // The token verifies with the published public key file, as other services do.
    let settings = JwtSettings {
        public_keys_file: app.env.files().jwt_public_keys(),
        ..JwtSettings::default()
    };
    let claims = JwtVerifier::from_settings(&settings)
        .expect("keys")
        .verify(token)
        .expect("valid");
    assert_eq!(claims.email, email);
    assert_eq!(claims.role, Role::Customer);
    assert_eq!(claims.exp - claims.iat, 900);
    assert_eq!(claims.nbf, claims.iat);

    let me = app
        .client
        .get(format!("{}/me", app.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.expect("json");
    assert_eq!(me["email"], email);
}

#[tokio::test]
async fn wrong_password_and_unknown_account_get_the_same_answer() {
    let app = spawn_app().await;
    let email = unique_email("known");
    app.register(&email).await;
    let wrong = app.login(&email, "definitely not it").await;
    assert_eq!(wrong.status(), 401);
    let wrong_body: Value = wrong.json().await.expect("json");
    let unknown = app.login(&unique_email("nobody"), PASSWORD).await;
    assert_eq!(unknown.status(), 401);
    let unknown_body: Value = unknown.json().await.expect("json");
    assert_eq!(wrong_body, unknown_body);
}

#[tokio::test]
async fn unknown_accounts_cost_a_full_password_check() {
    let app = spawn_app().await;
    let checks = || async {
        let metrics = reqwest::get(format!("{}/metrics", app.admin_base))
            .await
            .expect("metrics");
        let text = metrics.text().await.expect("text");
        text.lines()
            .find_map(|line| line.strip_prefix("auth_password_checks_total "))
            .and_then(|value| value.trim().parse::<u64>().ok())
            .expect("auth_password_checks_total exported")
    };
    let before = checks().await;
    for _ in 0..3 {
        assert_eq!(app.login(&unique_email("ghost"), PASSWORD).await.status(), 401);
    }
    assert_eq!(
        checks().await,
        before + 3,
        "each unknown-account login runs argon2 once"
    );
}

#[tokio::test]
async fn the_admin_account_exists_from_its_secret_files() {
    let app = spawn_app().await;
    let files = app.env.files();
    let email = std::fs::read_to_string(files.admin_email().path()).expect("email");
    let password = std::fs::read_to_string(files.admin_password().path()).expect("password");
    let response = app.login(email.trim(), password.trim()).await;
    assert_eq!(response.status(), 200);
    let token: Value = response.json().await.expect("json");
    let me: Value = app
        .client
        .get(format!("{}/me", app.base))
        .bearer_auth(token["access_token"].as_str().expect("token"))
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["role"], "admin");
}

#[tokio::test]
async fn too_many_attempts_on_one_account_get_429_with_retry_after() {
    let app = spawn_with(|settings| {
        settings.throttle.per_account.per_minute = 3;
        settings.throttle.per_account.burst = 3;
    })
    .await;
    let email = unique_email("throttled");
    app.register(&email).await;
    for _ in 0..3 {
        assert_eq!(app.login(&email, "wrong password!!").await.status(), 401);
    }
    let throttled = app.login(&email, PASSWORD).await;
    assert_eq!(throttled.status(), 429);
    let retry_after: u64 = throttled.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(error_code(throttled).await, "rate_limited");
    // Another account from the same address is not affected.
    let other = unique_email("other");
    app.register(&other).await;
    assert_eq!(app.login(&other, PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn too_many_attempts_from_one_address_get_429() {
    let app = spawn_with(|settings| {
        settings.throttle.per_address.per_minute = 4;
        settings.throttle.per_address.burst = 4;
    })
    .await;
    for _ in 0..4 {
        assert_eq!(app.login(&unique_email("spray"), PASSWORD).await.status(), 401);
    }
    assert_eq!(app.login(&unique_email("spray"), PASSWORD).await.status(), 429);
}

/// Only failures count: the owner logging in again and again is never
/// throttled, and each login gives a device token.
#[tokio::test]
async fn successful_logins_do_not_count_against_any_budget() {
    let app = spawn_with(|settings| {
        for limit in [
            &mut settings.throttle.per_address,
            &mut settings.throttle.per_account_address,
            &mut settings.throttle.per_account,
        ] {
            limit.per_minute = 1;
            limit.burst = 2;
        }
    })
    .await;
    let email = unique_email("regular");
    app.register(&email).await;
    for _ in 0..10 {
        let response = app.login(&email, PASSWORD).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("json");
        assert!(
            body["device_token"].as_str().is_some_and(|t| t.len() > 20),
            "{body}"
        );
    }
    assert_eq!(app.login(&email, "wrong password!!").await.status(), 401);
    assert_eq!(app.login(&email, "wrong password!!").await.status(), 401);
    assert_eq!(
        app.login(&email, PASSWORD).await.status(),
        429,
        "two failures spend it"
    );
}
