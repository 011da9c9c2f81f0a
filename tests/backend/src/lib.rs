//! The whole backend in one process for tests and benchmarks: auth, products,
//! orders and the gateway on port 0, each with its own database role and
//! schema in a fresh database, talking mutual TLS with certificates from the
//! test CA.

use cloudshop_api::auth::{Credentials, Password, Registration};
use cloudshop_api::client::{Caller, Client};
use cloudshop_api::orders::IDEMPOTENCY_KEY;
use cloudshop_api::paths;
use cloudshop_api::products::ProductInput;
use cloudshop_host::testing::{TestEnv, capture_logs, env, public_client};
use cloudshop_platform::ServiceId;
use cloudshop_platform::server::Service;
use cloudshop_platform::settings::HttpSettings;
use cloudshop_wiring::start::Start;
use cloudshop_wiring::{Wiring, without_login_throttle};
use reqwest::Method;
use serde::Serialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

pub const PASSWORD: &str = "tJ8#qv2!Lm9zRw-bright";

#[derive(Debug)]
pub struct Backend {
    pub env: &'static TestEnv,
    pub database: String,
    /// The public gateway URL.
    pub gateway: String,
    pub products: String,
    pub orders: String,
    /// `/readyz` of auth, products and orders (their plain-HTTP admin listeners).
    pub readiness: Vec<(&'static str, String)>,
    /// A client on the internet: trusts the CA, presents no certificate.
    pub client: reqwest::Client,
    /// The typed client of the API, over `client`.
    pub api: Client,
    orders_shutdown: CancellationToken,
    products_settings: cloudshop_products::settings::Settings,
    products_shutdown: CancellationToken,
    shutdown: Vec<CancellationToken>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.orders_shutdown.cancel();
        self.products_shutdown.cancel();
        for token in &self.shutdown {
            token.cancel();
        }
    }
}

/// How this backend's services are wired: the test CA's certificates and
/// secrets, each role on `database`.
pub fn wiring<'a>(env: &'a TestEnv, database: &'a str) -> Wiring<'a> {
    Wiring::new(env.files(), move |role| env.database(role, database))
}

/// Settings of the orders service for this backend's database.
pub fn orders_settings(
    env: &TestEnv,
    database: &str,
    products_url: &str,
) -> cloudshop_orders::settings::Settings {
    wiring(env, database).orders(HttpSettings::default(), products_url)
}

/// Runs a built service in the background; its URL and shutdown token.
pub fn run(service: Service) -> (String, CancellationToken) {
    let url = format!("https://127.0.0.1:{}", service.port());
    let token = service.shutdown_token();
    tokio::spawn(service.run_until_stopped());
    (url, token)
}

/// Starts an orders service; its URL and shutdown token.
pub async fn start_orders(settings: cloudshop_orders::settings::Settings) -> (String, CancellationToken) {
    run(cloudshop_orders::startup::build(settings)
        .await
        .expect("orders starts"))
}

/// What a test or benchmark may change about the backend.
#[derive(Debug, Clone)]
pub struct Options {
    /// Cache catalogue reads in the products service.
    pub products_cache: bool,
    /// Requests per minute per client address at the gateway.
    pub gateway_rate_per_minute: u32,
    /// Capture logs for assertions (benchmarks log nowhere instead).
    pub capture_logs: bool,
    /// The services' wait for a database connection; None keeps the test
    /// environment's generous one (the shared machine may be busy).
    pub database_acquire_timeout_ms: Option<u64>,
    /// Auth's per-address and per-account login throttles (off: every login
    /// is a full argon2id verification).
    pub login_throttle: bool,
    /// How many failures a minute the per-account budget gives back (None:
    /// the default). A test that spends the budget and then expects a
    /// refusal sets it low, so that a slow machine's seconds between the
    /// two refill nothing.
    pub account_refill_per_minute: Option<u32>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            products_cache: true,
            gateway_rate_per_minute: cloudshop_api_gateway::settings::Settings::default()
                .rate_limit
                .per_minute,
            capture_logs: true,
            database_acquire_timeout_ms: None,
            login_throttle: true,
            account_refill_per_minute: None,
        }
    }
}

pub async fn spawn_backend() -> Backend {
    spawn_backend_with(Options::default()).await
}

/// The backend tests' part of the shop's start ([`cloudshop_wiring::start`]):
/// products on reserved ports (a restart gets them back), the options
/// applied, each service run on the test's runtime, kept by name.
struct TestStart {
    options: Options,
    products_ports: [u16; 2],
    products_settings: Option<cloudshop_products::settings::Settings>,
    readiness: Vec<(&'static str, String)>,
    shutdown: Vec<(ServiceId, CancellationToken)>,
}

impl TestStart {
    fn new(options: Options, products_ports: [u16; 2]) -> Self {
        Self {
            options,
            products_ports,
            products_settings: None,
            readiness: Vec::new(),
            shutdown: Vec::new(),
        }
    }

    /// The shutdown token of `id`, which this start launched.
    fn token(&self, id: ServiceId) -> CancellationToken {
        self.shutdown
            .iter()
            .find(|(started, _)| *started == id)
            .map(|(_, token)| token.clone())
            .unwrap_or_else(|| panic!("{id} was started"))
    }
}

impl Start for TestStart {
    fn http(&self, service: ServiceId) -> HttpSettings {
        match service {
            ServiceId::Products => HttpSettings::with_ports(self.products_ports[0], self.products_ports[1]),
            ServiceId::Auth | ServiceId::Orders | ServiceId::ApiGateway | ServiceId::Storefront => {
                HttpSettings::default()
            }
        }
    }

    fn launch(&mut self, id: ServiceId, built: Service) {
        if id != ServiceId::ApiGateway {
            self.readiness.push((id.name(), readyz(built.admin_port())));
        }
        let (_, token) = run(built);
        self.shutdown.push((id, token));
    }

    fn auth(
        &mut self,
        mut settings: cloudshop_auth::settings::Settings,
    ) -> anyhow::Result<cloudshop_auth::settings::Settings> {
        if !self.options.login_throttle {
            without_login_throttle(&mut settings);
        }
        if let Some(refill) = self.options.account_refill_per_minute {
            settings.throttle.per_account.per_minute = refill;
        }
        Ok(settings)
    }

    fn products(
        &mut self,
        mut settings: cloudshop_products::settings::Settings,
    ) -> anyhow::Result<cloudshop_products::settings::Settings> {
        settings.cache = self.options.products_cache;
        self.products_settings = Some(settings.clone());
        Ok(settings)
    }

    fn gateway(
        &mut self,
        mut settings: cloudshop_api_gateway::settings::Settings,
    ) -> anyhow::Result<cloudshop_api_gateway::settings::Settings> {
        settings.rate_limit.per_minute = self.options.gateway_rate_per_minute;
        settings.rate_limit.burst = self.options.gateway_rate_per_minute.max(1);
        Ok(settings)
    }
}

pub async fn spawn_backend_with(options: Options) -> Backend {
    if options.capture_logs {
        capture_logs();
    }
    let env = env();
    let database = env.new_database();
    let acquire_timeout = options.database_acquire_timeout_ms;
    let wiring = Wiring::new(env.files(), |role| {
        let mut settings = env.database(role, &database);
        if let Some(timeout) = acquire_timeout {
            settings.acquire_timeout_ms = timeout;
        }
        settings
    });
    // A restarted products service comes back on the same ports: reserved
    // ones, which no port-0 listener can be given while products is down.
    let ports = cloudshop_host::ports::reserve(2).expect("ports for products");
    let mut start = TestStart::new(options, [ports[0], ports[1]]);
    let urls = cloudshop_wiring::start::backend(&wiring, &mut start)
        .await
        .unwrap_or_else(|err| panic!("the backend starts: {err:#}"));
    drop(wiring); // it borrows `database`, which the backend keeps

    let client = public_client();
    Backend {
        env,
        api: Client::new(client.clone(), &urls.gateway),
        client,
        gateway: urls.gateway,
        products: urls.products,
        orders: urls.orders,
        readiness: start.readiness.clone(),
        orders_shutdown: start.token(ServiceId::Orders),
        products_shutdown: start.token(ServiceId::Products),
        shutdown: vec![start.token(ServiceId::ApiGateway), start.token(ServiceId::Auth)],
        products_settings: start.products_settings.take().expect("products started"),
        database,
    }
}

fn readyz(admin_port: u16) -> String {
    format!("http://127.0.0.1:{admin_port}/readyz")
}

impl Backend {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway)
    }

    /// A storefront in front of this backend's gateway; its URL (plain
    /// HTTP) and shutdown token.
    pub async fn start_storefront(&self) -> (String, CancellationToken) {
        let mut start = TestStart::new(Options::default(), [0, 0]);
        let url =
            cloudshop_wiring::start::storefront(&wiring(self.env, &self.database), &mut start, &self.gateway)
                .await
                .unwrap_or_else(|err| panic!("the storefront starts: {err:#}"));
        (url, start.token(ServiceId::Storefront))
    }

    /// Stops the orders service (as a crash would, between requests).
    pub fn stop_orders(&self) {
        self.orders_shutdown.cancel();
    }

    /// Stops the products service; [`Self::start_products`] brings it back
    /// on the same ports.
    pub fn stop_products(&self) {
        self.products_shutdown.cancel();
    }

    /// Starts the products service again (after [`Self::stop_products`]).
    pub async fn start_products(&mut self) {
        let service = cloudshop_products::startup::build(self.products_settings.clone())
            .await
            .expect("products starts again");
        let (_, token) = run(service);
        self.products_shutdown = token;
    }

    async fn login(&self, email: &str, password: &str) -> String {
        let credentials = Credentials {
            email: email.to_owned(),
            password: Password::new(password),
            device_token: None,
        };
        let token = self.api.login(Caller::anonymous(), &credentials).await;
        token
            .unwrap_or_else(|err| panic!("login of {email}: {err}"))
            .access_token
    }

    /// Registers and logs in a fresh customer; their access token.
    pub async fn customer(&self) -> String {
        let email = format!("shopper-{}@example.com", uuid::Uuid::new_v4().simple());
        let registration = Registration {
            email: email.clone(),
            password: Password::new(PASSWORD),
        };
        self.api
            .register(Caller::anonymous(), &registration)
            .await
            .expect("register");
        self.login(&email, PASSWORD).await
    }

    /// The admin account's access token.
    pub async fn admin(&self) -> String {
        let (email, password) = self.admin_credentials();
        self.login(&email, &password).await
    }

    /// The admin account's e-mail and password, from its secret files.
    pub fn admin_credentials(&self) -> (String, String) {
        let files = self.env.files();
        let email = std::fs::read_to_string(files.admin_email().path()).expect("admin email");
        let password = std::fs::read_to_string(files.admin_password().path()).expect("admin password");
        (email.trim().to_owned(), password.trim().to_owned())
    }

    /// The typed API client as the storefront: the gateway trusts its
    /// `x-forwarded-for`, so a caller's `address` is the client address auth
    /// sees (a test can speak from many addresses).
    pub fn api_via_storefront(&self) -> Client {
        Client::new(self.env.client_as("storefront"), &self.gateway)
    }

    /// One login as if from `address` (through [`Self::api_via_storefront`]):
    /// the access token, or the refusal.
    pub async fn login_from(
        &self,
        address: std::net::IpAddr,
        credentials: &Credentials,
    ) -> Result<cloudshop_api::auth::AccessToken, cloudshop_api::client::ClientError> {
        let caller = Caller {
            address: Some(address),
            ..Caller::anonymous()
        };
        self.api_via_storefront().login(caller, credentials).await
    }

    /// Creates a product (as admin) with `stock`; its id.
    pub async fn product(&self, admin: &str, price_cents: i64, stock: i32) -> i64 {
        let sku = format!("T-{}", uuid::Uuid::new_v4().simple()).to_uppercase()[..20].to_owned();
        let product = ProductInput {
            name: format!("Test product {sku}"),
            sku,
            description: String::new(),
            category: "desk".into(),
            price_cents,
            stock,
        };
        let created = self.api.create_product(Caller::with_token(admin), &product).await;
        created.expect("create product").id
    }

    pub async fn stock(&self, product: i64) -> i64 {
        let product = self.api.product(Caller::anonymous(), product).await;
        i64::from(product.expect("get product").stock)
    }

    /// Places an order of `lines` (typed, or any JSON for bad input); the
    /// response, whatever its status.
    pub async fn order(
        &self,
        token: &str,
        key: &str,
        lines: &(impl Serialize + ?Sized),
    ) -> reqwest::Response {
        self.orders_client().place(token, key, lines).await
    }

    /// `GET path` with the bearer token.
    pub async fn get_as(&self, token: &str, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET")
    }

    /// `POST path` (no body) with the bearer token.
    pub async fn post_as(&self, token: &str, path: &str) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("POST")
    }

    /// An owned handle for placing orders from spawned tasks.
    pub fn orders_client(&self) -> OrdersClient {
        OrdersClient {
            api: self.api.clone(),
        }
    }
}

/// Places orders through the gateway; cheap to clone into tasks.
#[derive(Debug, Clone)]
pub struct OrdersClient {
    api: Client,
}

impl OrdersClient {
    /// `POST` [`paths::ORDERS`] with `lines`; the response, whatever its status.
    pub async fn place(
        &self,
        token: &str,
        key: &str,
        lines: &(impl Serialize + ?Sized),
    ) -> reqwest::Response {
        self.api
            .request(Caller::with_token(token), Method::POST, paths::ORDERS)
            .header(IDEMPOTENCY_KEY, key)
            .json(&json!({ "lines": lines }))
            .send()
            .await
            .expect("order")
    }
}
