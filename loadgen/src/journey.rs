//! The shop as a shopper sees it, and the journeys the generator plays.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cloudshop_api::auth::{Credentials, Password, Registration};
use cloudshop_api::client::{Caller, Client, ClientError, with_causes};
use cloudshop_api::orders::{Line, OrderRequest};
use cloudshop_api::paths;
use cloudshop_api::products::{ProductInput, ProductQuery};
use cloudshop_platform::settings::CLIENT_POOL_IDLE;
use reqwest::StatusCode;
use tokio::task::JoinSet;

use crate::stats::{Recorder, Report};

/// Where the shop is and what the journeys need: accounts with tokens, the
/// products to open and order. `Debug` shows how many tokens, not them.
pub struct Shop {
    storefront: String,
    api: Client,
    pages: reqwest::Client,
    accounts: Vec<Credentials>,
    tokens: Vec<String>,
    products: Vec<i64>,
    /// The product orders buy (plenty of stock).
    stocked: i64,
    orders: AtomicU64,
}

impl std::fmt::Debug for Shop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shop")
            .field("storefront", &self.storefront)
            .field("api", &self.api)
            .field("pages", &self.pages)
            .field("accounts", &self.accounts)
            .field("tokens", &self.tokens.len())
            .field("products", &self.products)
            .field("stocked", &self.stocked)
            .field("orders", &self.orders)
            .finish()
    }
}

/// Passwords of the generator's accounts (strong enough for the shop's checks).
const PASSWORD: &str = "Lg7#bench-Qx2!pass-word";

/// How long the load generator waits for one response (wrk's `--timeout` in
/// the bench is the same).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

impl Shop {
    /// Registers `accounts` shoppers, logs them in, creates a product with
    /// plenty of stock as the admin, and reads the catalogue's product ids.
    /// `ca` is the PEM file the gateway's certificate chains to.
    pub async fn prepare(
        gateway: &str,
        storefront: &str,
        ca: &Path,
        admin: (&str, &str),
        accounts: usize,
    ) -> anyhow::Result<Self> {
        let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
        // The shop's servers close a keep-alive connection idle for their
        // header-read timeout (5 s); a pooled connection kept longer can be
        // taken for a request just as the server closes it, which fails it.
        // Workloads follow each other with such pauses, so the pool lets go
        // sooner, as the services' own clients do.
        // A request unanswered after REQUEST_TIMEOUT counts as an error
        // ("operation timed out"), as wrk's --timeout does: a workload
        // always ends.
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem)?)
            .pool_max_idle_per_host(1024)
            .pool_idle_timeout(CLIENT_POOL_IDLE)
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        let pages = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .pool_idle_timeout(CLIENT_POOL_IDLE)
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        let mut shop = Self {
            storefront: storefront.trim_end_matches('/').to_owned(),
            api: Client::new(http, gateway),
            pages,
            accounts: Vec::new(),
            tokens: Vec::new(),
            products: Vec::new(),
            stocked: 0,
            orders: AtomicU64::new(0),
        };
        let run = std::process::id();
        for n in 0..accounts {
            let email = format!("bench-{run}-{n}@example.com");
            let registration = Registration {
                email: email.clone(),
                password: Password::new(PASSWORD),
            };
            match shop.api.register(Caller::anonymous(), &registration).await {
                Ok(_) => {}
                // Taken: registered by an earlier run, with the same password.
                Err(err) if err.status() == StatusCode::CONFLICT => {}
                Err(err) => bail!("registering {email}: {err}"),
            }
            let credentials = Credentials {
                email,
                password: registration.password,
                device_token: None,
            };
            shop.tokens.push(shop.login(&credentials).await?);
            shop.accounts.push(credentials);
        }
        let admin = Credentials {
            email: admin.0.to_owned(),
            password: Password::new(admin.1),
            device_token: None,
        };
        let admin_token = shop.login(&admin).await?;
        let product = ProductInput {
            sku: format!("BENCH-{run}"),
            name: format!("Bench product {run}"),
            description: String::new(),
            category: "desk".into(),
            price_cents: 100,
            stock: 1_000_000,
        };
        let created = shop
            .api
            .create_product(Caller::with_token(&admin_token), &product)
            .await
            .context("creating the bench product")?;
        shop.stocked = created.id;
        let query = ProductQuery {
            per_page: Some(50),
            ..ProductQuery::default()
        };
        let catalogue = shop
            .api
            .products(Caller::anonymous(), &query)
            .await
            .context("reading the catalogue")?;
        shop.products = catalogue.items.iter().map(|p| p.id).collect();
        if shop.products.is_empty() {
            bail!("the catalogue is empty");
        }
        Ok(shop)
    }

    /// The shoppers' access tokens (for an external generator).
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// The shoppers' credentials (for an external generator's logins).
    pub fn accounts(&self) -> &[Credentials] {
        &self.accounts
    }

    /// The catalogue's first product ids.
    pub fn products(&self) -> &[i64] {
        &self.products
    }

    /// The product orders buy.
    pub fn stocked(&self) -> i64 {
        self.stocked
    }

    async fn login(&self, credentials: &Credentials) -> anyhow::Result<String> {
        let token = self
            .api
            .login(Caller::anonymous(), credentials)
            .await
            .with_context(|| format!("login of {}", credentials.email))?;
        Ok(token.access_token)
    }
}

/// A shopper's journey: one or two requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Journey {
    /// A catalogue page through the gateway.
    Browse,
    /// One product through the gateway.
    OpenProduct,
    /// Log in, then order one item.
    LoginAndOrder,
    /// The storefront's home page.
    StorefrontHome,
    /// A login alone.
    Login,
    /// An order alone, with a token from before the run.
    Order,
}

/// `"{method} {path}"` as a constant: the report names follow [`paths`].
macro_rules! endpoint {
    ($method:literal, $path:expr) => {{
        const NAME: [u8; $method.len() + 1 + $path.len()] = join($method, $path);
        match std::str::from_utf8(&NAME) {
            Ok(name) => name,
            Err(_) => panic!("endpoint names are UTF-8"),
        }
    }};
}

/// `method`, a space and `path`, in exactly `N` bytes.
const fn join<const N: usize>(method: &str, path: &str) -> [u8; N] {
    let (method, path) = (method.as_bytes(), path.as_bytes());
    let mut name = [b' '; N];
    let mut i = 0;
    while i < method.len() {
        name[i] = method[i];
        i += 1;
    }
    let mut j = 0;
    while j < path.len() {
        name[method.len() + 1 + j] = path[j];
        j += 1;
    }
    name
}

/// The endpoint names in reports.
pub const CATALOGUE: &str = endpoint!("GET", paths::PRODUCTS);
pub const PRODUCT: &str = endpoint!("GET", paths::PRODUCT);
pub const LOGIN: &str = endpoint!("POST", paths::LOGIN);
pub const ORDER: &str = endpoint!("POST", paths::ORDERS);
pub const HOME: &str = "GET / (storefront)";

impl Journey {
    /// Plays the journey as shopper `user`; `due` is when it should have
    /// started (open loop), which the first request's latency counts from.
    pub async fn play(self, shop: &Shop, user: usize, n: u64, due: Instant, recorder: &Recorder) {
        let account = user % shop.accounts.len().max(1);
        match self {
            Journey::Browse => {
                let query = ProductQuery {
                    page: Some((n % 3 + 1) as u32),
                    ..ProductQuery::default()
                };
                timed(
                    recorder,
                    CATALOGUE,
                    due,
                    shop.api.products(Caller::anonymous(), &query),
                )
                .await;
            }
            Journey::OpenProduct => {
                let id = shop.products[(n as usize) % shop.products.len()];
                timed(recorder, PRODUCT, due, shop.api.product(Caller::anonymous(), id)).await;
            }
            Journey::StorefrontHome => {
                let outcome = match shop.pages.get(format!("{}/", shop.storefront)).send().await {
                    Ok(response) => {
                        let status = response.status();
                        match response.bytes().await {
                            Ok(_) if status == StatusCode::OK => Ok(()),
                            Ok(_) => Err(format!("status {status}")),
                            Err(err) => Err(format!("reading the page: {}", with_causes(&err))),
                        }
                    }
                    Err(err) => Err(format!("sending: {}", with_causes(&err))),
                };
                recorder.record(
                    HOME,
                    due.elapsed(),
                    outcome.as_ref().map(|_| ()).map_err(String::as_str),
                );
            }
            Journey::Login => {
                login(shop, account, due, recorder).await;
            }
            Journey::Order => {
                order(shop, &shop.tokens[account], Instant::now().min(due), recorder).await;
            }
            Journey::LoginAndOrder => {
                if let Some(token) = login(shop, account, due, recorder).await {
                    order(shop, &token, Instant::now(), recorder).await;
                }
            }
        }
    }
}

async fn login(shop: &Shop, account: usize, due: Instant, recorder: &Recorder) -> Option<String> {
    let login = shop.api.login(Caller::anonymous(), &shop.accounts[account]);
    let token = timed(recorder, LOGIN, due, login).await?;
    Some(token.access_token)
}

async fn order(shop: &Shop, token: &str, due: Instant, recorder: &Recorder) {
    let key = format!(
        "bench-{}-{}",
        std::process::id(),
        shop.orders.fetch_add(1, Ordering::Relaxed)
    );
    let request = OrderRequest {
        lines: vec![Line {
            product_id: shop.stocked,
            quantity: 1,
        }],
    };
    let placed = shop.api.place_order(Caller::with_token(token), &key, &request);
    timed(recorder, ORDER, due, placed).await;
}

/// Awaits `call` (the whole reply, read and parsed) and records its latency
/// from `due`; anything but a success, a refusal included, is an error.
async fn timed<T>(
    recorder: &Recorder,
    endpoint: &'static str,
    due: Instant,
    call: impl Future<Output = Result<T, ClientError>>,
) -> Option<T> {
    let answer = call.await;
    let reason = answer.as_ref().err().map(ToString::to_string);
    recorder.record(endpoint, due.elapsed(), reason.as_deref().map_or(Ok(()), Err));
    answer.ok()
}

/// Journeys with weights; [`Mix::pick`] chooses deterministically from a
/// sequence number, so the proportions hold exactly over each run of
/// consecutive numbers as long as the weights' sum (100 for the shoppers).
#[derive(Debug, Clone)]
pub struct Mix(Vec<(Journey, u32)>);

impl Mix {
    /// Browse 70 %, open a product 20 %, log in and order 10 %.
    pub fn shoppers() -> Self {
        Self(vec![
            (Journey::Browse, 70),
            (Journey::OpenProduct, 20),
            (Journey::LoginAndOrder, 10),
        ])
    }

    pub fn only(journey: Journey) -> Self {
        Self(vec![(journey, 1)])
    }

    pub fn pick(&self, n: u64) -> Journey {
        let total: u64 = self.0.iter().map(|(_, w)| u64::from(*w)).sum::<u64>().max(1);
        // Multiplying by a number coprime to the total permutes each block of
        // `total` consecutive numbers: exact proportions, spread out.
        let spread = [37_u64, 41, 43, 47, 53, 59, 61, 67, 71, 73]
            .into_iter()
            .find(|m| gcd(*m, total) == 1)
            .unwrap_or(1);
        let mut slot = (n % total) * spread % total;
        for (journey, weight) in &self.0 {
            if slot < u64::from(*weight) {
                return *journey;
            }
            slot -= u64::from(*weight);
        }
        self.0[0].0
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// `users` shoppers, each playing its next journey when the last answered.
pub async fn closed_loop(shop: Arc<Shop>, mix: Mix, users: usize, duration: Duration, label: &str) -> Report {
    let recorder = Recorder::default();
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for user in 0..users {
        let (shop, mix, recorder, counter) = (
            Arc::clone(&shop),
            mix.clone(),
            recorder.clone(),
            Arc::clone(&counter),
        );
        tasks.spawn(async move {
            while started.elapsed() < duration {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                mix.pick(n).play(&shop, user, n, Instant::now(), &recorder).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    recorder.report(label, started.elapsed())
}

/// Journeys started at `rate` per second for `duration`, at most
/// `max_in_flight` at once (a journey due beyond that counts as an error of
/// the endpoint `dropped`). Latency counts from when a journey was due.
pub async fn open_loop(
    shop: Arc<Shop>,
    mix: Mix,
    rate: f64,
    duration: Duration,
    max_in_flight: usize,
    label: &str,
) -> Report {
    let recorder = Recorder::default();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let mut tasks = JoinSet::new();
    let mut n: u64 = 0;
    loop {
        let due = started + interval.mul_f64(n as f64);
        if due.duration_since(started) >= duration {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        if in_flight.load(Ordering::Relaxed) >= max_in_flight {
            recorder.record("dropped", Duration::ZERO, Err("too many journeys in flight"));
        } else {
            in_flight.fetch_add(1, Ordering::Relaxed);
            let (shop, recorder, in_flight) = (Arc::clone(&shop), recorder.clone(), Arc::clone(&in_flight));
            let journey = mix.pick(n);
            tasks.spawn(async move {
                journey.play(&shop, n as usize, n, due, &recorder).await;
                in_flight.fetch_sub(1, Ordering::Relaxed);
            });
        }
        n += 1;
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    recorder.report(label, started.elapsed())
}

#[cfg(test)]
mod tests {
    use cloudshop_host::redaction::assert_debug_hides;

    use super::*;

    #[test]
    fn debug_output_holds_none_of_the_tokens_or_passwords() -> anyhow::Result<()> {
        // Err: a provider is installed already, which is what we want.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let token = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJsb2FkZ2VuIn0.Sig-Loadgen-2rWq9KxM4vTn";
        let shop = Shop {
            storefront: "https://127.0.0.1:3000".into(),
            api: Client::new(reqwest::Client::builder().build()?, "https://127.0.0.1:8080"),
            pages: reqwest::Client::builder().build()?,
            accounts: vec![Credentials {
                email: "loadgen-1@example.com".into(),
                password: Password::new(PASSWORD),
                device_token: None,
            }],
            tokens: vec![token.into()],
            products: vec![1, 2],
            stocked: 1,
            orders: AtomicU64::new(0),
        };
        assert_debug_hides(&shop, token.as_bytes());
        assert_debug_hides(&shop, PASSWORD.as_bytes());
        Ok(())
    }

    #[test]
    fn report_names_are_the_method_and_the_path_template() {
        assert_eq!(CATALOGUE, "GET /api/products");
        assert_eq!(PRODUCT, "GET /api/products/{id}");
        assert_eq!(LOGIN, "POST /api/auth/login");
        assert_eq!(ORDER, "POST /api/orders");
    }

    #[test]
    fn the_shopper_mix_holds_its_proportions() {
        let mix = Mix::shoppers();
        let mut counts = std::collections::HashMap::new();
        for n in 0..10_000 {
            *counts.entry(mix.pick(n)).or_insert(0) += 1;
        }
        let share = |j| f64::from(counts[&j]) / 10_000.0;
        assert_eq!(share(Journey::Browse), 0.70, "{counts:?}");
        assert_eq!(share(Journey::OpenProduct), 0.20, "{counts:?}");
        assert_eq!(share(Journey::LoginAndOrder), 0.10, "{counts:?}");
        // Spread out: the first 20 picks already hold two of the rarest.
        let first: Vec<Journey> = (0..20).map(|n| mix.pick(n)).collect();
        assert_eq!(
            first.iter().filter(|j| **j == Journey::LoginAndOrder).count(),
            2,
            "{first:?}"
        );
        assert_eq!(Mix::only(Journey::Login).pick(12345), Journey::Login);
    }
}
