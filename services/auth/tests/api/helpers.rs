use cloudshop_auth::settings::{AdminAccount, Settings};
use cloudshop_auth::startup;
use cloudshop_host::testing::{TestEnv, capture_logs, env};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub const PASSWORD: &str = "tJ8#qv2!Lm9zRw-bright";

pub struct TestApp {
    pub base: String,
    pub admin_base: String,
    pub port: u16,
    /// Calls as the gateway, the only identity allowed on account routes.
    pub client: reqwest::Client,
    pub env: &'static TestEnv,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn settings(env: &TestEnv, database: &str) -> Settings {
    let files = env.files();
    let mut settings = Settings {
        http: Default::default(),
        tls: env.tls("auth"),
        database: env.database("auth", database),
        admin: AdminAccount {
            email_file: Some(files.admin_email()),
            password_file: Some(files.admin_password()),
        },
        ..Settings::default()
    };
    settings.tokens.signing_key_file = files.jwt_signing_key();
    settings
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(customize: impl FnOnce(&mut Settings)) -> TestApp {
    capture_logs();
    let env = env();
    let database = env.new_database();
    let mut settings = settings(env, &database);
    customize(&mut settings);
    spawn_settings(env, settings).await
}

pub async fn spawn_settings(env: &'static TestEnv, settings: Settings) -> TestApp {
    let app = startup::build(settings).await.expect("auth starts");
    let port = app.port();
    let admin_port = app.admin_port();
    let shutdown = app.shutdown_token();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        base: format!("https://127.0.0.1:{port}"),
        admin_base: format!("http://127.0.0.1:{admin_port}"),
        port,
        client: env.client_as("api-gateway"),
        env,
        shutdown,
    }
}

impl TestApp {
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn register(&self, email: &str) -> reqwest::Response {
        self.post("/register", &json!({"email": email, "password": PASSWORD}))
            .await
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post("/login", &json!({"email": email, "password": password}))
            .await
    }
}

/// The JSON error envelope's code, asserting the shape on the way.
pub async fn error_code(response: reqwest::Response) -> String {
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or("")),
        Some("application/json")
    );
    let body: Value = response.json().await.expect("JSON body");
    assert!(
        body["error"]["message"].is_string(),
        "envelope without message: {body}"
    );
    body["error"]["code"].as_str().expect("error code").to_owned()
}

pub fn unique_email(tag: &str) -> String {
    format!("{tag}-{}@example.com", uuid::Uuid::new_v4().simple())
}
