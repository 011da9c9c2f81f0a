use cloudshop_api::auth::{AccessToken, Credentials, Password, Registration};
use cloudshop_api::paths;
use cloudshop_host::testing::{TestEnv, capture_logs, env, public_client};
use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub const PASSWORD: &str = "tJ8#qv2!Lm9zRw-bright";

/// The gateway in front of a real auth service; products and orders point at
/// ports where nothing listens.
pub struct TestShop {
    pub gateway: String,
    pub auth: String,
    /// A client on the internet: trusts the CA, presents no certificate.
    pub client: reqwest::Client,
    pub env: &'static TestEnv,
    shutdown: Vec<CancellationToken>,
}

impl Drop for TestShop {
    fn drop(&mut self) {
        for token in &self.shutdown {
            token.cancel();
        }
    }
}

pub async fn spawn_shop() -> TestShop {
    spawn_shop_with(|_| {}).await
}

pub async fn spawn_shop_with(
    customize: impl FnOnce(&mut cloudshop_api_gateway::settings::Settings),
) -> TestShop {
    capture_logs();
    let env = env();
    let files = env.files();
    let database = env.new_database();

    let mut auth = cloudshop_auth::settings::Settings {
        http: Default::default(),
        tls: env.tls("auth"),
        database: env.database("auth", &database),
        ..Default::default()
    };
    auth.tokens.signing_key_file = files.jwt_signing_key();
    let auth = cloudshop_auth::startup::build(auth).await.expect("auth starts");
    let auth_url = format!("https://127.0.0.1:{}", auth.port());
    let auth_shutdown = auth.shutdown_token();
    tokio::spawn(auth.run_until_stopped());

    let mut gateway = cloudshop_api_gateway::settings::Settings {
        http: Default::default(),
        tls: env.tls("api-gateway"),
        ..Default::default()
    };
    gateway.jwt.public_keys_file = files.jwt_public_keys();
    gateway.backends.auth = auth_url.clone();
    // Port 1 is privileged and unused: the backend is certainly down. A port
    // taken from the ephemeral range could be reused by a service of another
    // test in this process.
    gateway.backends.products = "https://127.0.0.1:1".into();
    gateway.backends.orders = "https://127.0.0.1:1".into();
    gateway.upstream.connect_timeout_ms = 500;
    customize(&mut gateway);
    let gateway = cloudshop_api_gateway::startup::build(gateway)
        .await
        .expect("gateway starts");
    let gateway_url = format!("https://127.0.0.1:{}", gateway.port());
    let gateway_shutdown = gateway.shutdown_token();
    tokio::spawn(gateway.run_until_stopped());

    TestShop {
        gateway: gateway_url,
        auth: auth_url,
        client: public_client(),
        env,
        shutdown: vec![auth_shutdown, gateway_shutdown],
    }
}

/// A backend that accepts connections and never answers, as a hung process
/// would: its URL. The connections stay open until the test's runtime ends.
pub async fn silent_backend() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("https://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    url
}

impl TestShop {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway)
    }

    pub async fn post(&self, path: &str, body: &impl Serialize) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// Registers a fresh customer and returns (email, access token).
    pub async fn customer(&self) -> (String, String) {
        let email = format!("shopper-{}@example.com", uuid::Uuid::new_v4().simple());
        let registered = self.post(paths::REGISTER, &registration(&email)).await;
        assert_eq!(registered.status(), 201);
        let login = self.post(paths::LOGIN, &credentials(&email)).await;
        assert_eq!(login.status(), 200);
        let body: AccessToken = login.json().await.expect("json");
        (email, body.access_token)
    }
}

/// A registration of `email` with [`PASSWORD`].
pub fn registration(email: &str) -> Registration {
    Registration {
        email: email.to_owned(),
        password: Password::new(PASSWORD),
    }
}

/// `email` and [`PASSWORD`], to log in.
pub fn credentials(email: &str) -> Credentials {
    Credentials {
        email: email.to_owned(),
        password: Password::new(PASSWORD),
        device_token: None,
    }
}

/// Asserts the JSON error envelope and returns its code.
pub async fn error_code(response: reqwest::Response) -> String {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert_eq!(
        content_type.as_deref(),
        Some("application/json"),
        "status {}",
        response.status()
    );
    let body: Value = response.json().await.expect("JSON body");
    assert!(
        body["error"]["message"].is_string(),
        "envelope without message: {body}"
    );
    body["error"]["code"].as_str().expect("code").to_owned()
}
