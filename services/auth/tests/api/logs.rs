use cloudshop_host::testing::captured_logs;

use crate::helpers::{PASSWORD, spawn_app, unique_email};

#[tokio::test]
async fn logs_never_contain_passwords_or_keys() {
    let app = spawn_app().await;
    let email = unique_email("secretive");
    assert_eq!(app.register(&email).await.status(), 201);
    assert_eq!(app.login(&email, PASSWORD).await.status(), 200);
    assert_eq!(
        app.login(&email, "a wrong password but secret").await.status(),
        401
    );

    let logs = captured_logs();
    assert!(logs.contains("account created"), "logs were not captured");
    assert!(logs.contains("login refused"), "logs were not captured");
    let files = app.env.files();
    let signing_key = std::fs::read_to_string(files.jwt_signing_key().path()).expect("key");
    let key_body: String = signing_key.lines().filter(|l| !l.starts_with("-----")).collect();
    let db_password = std::fs::read_to_string(files.db_password("auth").path()).expect("db password");
    let admin_password = std::fs::read_to_string(files.admin_password().path()).expect("admin password");
    for (what, secret) in [
        ("password", PASSWORD),
        ("wrong password", "a wrong password but secret"),
        ("signing key", key_body.as_str()),
        ("database password", db_password.trim()),
        ("admin password", admin_password.trim()),
    ] {
        assert!(!logs.contains(secret), "the {what} appears in the logs");
    }
}
