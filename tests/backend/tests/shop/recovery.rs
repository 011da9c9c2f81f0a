//! The orders process dies between recording an order PENDING and confirming
//! it, or between returning a cancelled order's stock and marking it
//! CANCELLED; on restart the reconciler finishes the order and stock matches.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cloudshop_api::orders::{Line, Order, OrderStatus};
use cloudshop_api::paths;
use cloudshop_api::reservations::{ReserveRequest, reserve_path};
use cloudshop_backend_tests::{orders_settings, spawn_backend, start_orders};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn status_of(shop: &cloudshop_backend_tests::Backend, id: uuid::Uuid) -> String {
    shop.env
        .cluster()
        .psql(
            &shop.database,
            &format!("SELECT status FROM orders.orders WHERE id = '{id}'"),
        )
        .expect("status")
}

/// Records a PENDING order directly, as the crashed process left it.
fn record_pending(shop: &cloudshop_backend_tests::Backend, id: uuid::Uuid, product: i64, quantity: i32) {
    let lines = json!([{"product_id": product, "quantity": quantity}]);
    shop.env
        .cluster()
        .psql(
            &shop.database,
            &format!(
                "INSERT INTO orders.orders (id, user_id, status, idempotency_key, request_hash, requested, created_at) \
                 VALUES ('{id}', gen_random_uuid(), 'PENDING', 'crash-{id}', 'x', '{lines}', now() - interval '1 minute')"
            ),
        )
        .expect("pending order");
}

#[tokio::test]
async fn a_pending_order_left_by_a_crash_is_finished_on_restart() {
    let shop = spawn_backend().await;
    let admin = shop.admin().await;
    let product = shop.product(&admin, 250, 10).await;
    shop.stop_orders();

    // Crash before the reservation: nothing was reserved yet.
    let before_reserve = uuid::Uuid::new_v4();
    record_pending(&shop, before_reserve, product, 2);
    // Crash after the reservation, before CONFIRMED was written.
    let after_reserve = uuid::Uuid::new_v4();
    record_pending(&shop, after_reserve, product, 3);
    let request = ReserveRequest {
        lines: vec![Line {
            product_id: product,
            quantity: 3,
        }],
    };
    let reserved = shop
        .env
        .client_as("orders")
        .post(format!("{}{}", shop.products, reserve_path(after_reserve)))
        .json(&request)
        .send()
        .await
        .expect("reserve");
    assert_eq!(reserved.status(), 200);
    assert_eq!(shop.stock(product).await, 7);

    let mut settings = orders_settings(shop.env, &shop.database, &shop.products);
    settings.reconciler.pending_after_ms = 1_000;
    settings.reconciler.interval_ms = 200;
    let (_url, restarted) = start_orders(settings).await;
    let mut statuses = (String::new(), String::new());
    for _ in 0..100 {
        statuses = (
            status_of(&shop, before_reserve).await,
            status_of(&shop, after_reserve).await,
        );
        if statuses.0 != "PENDING" && statuses.1 != "PENDING" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    restarted.cancel();
    assert_eq!(statuses, ("CONFIRMED".to_owned(), "CONFIRMED".to_owned()));
    // Each order took its stock exactly once.
    assert_eq!(shop.stock(product).await, 10 - 2 - 3);
}

/// Calls to an orders service itself (as the gateway makes them: its client
/// certificate, the API's paths without `/api`).
#[derive(Clone)]
struct Direct {
    http: reqwest::Client,
    token: String,
}

impl Direct {
    async fn post(
        &self,
        base: &str,
        api_path: &str,
        body: Option<&serde_json::Value>,
    ) -> reqwest::Result<reqwest::Response> {
        let path = api_path.strip_prefix("/api").expect("an API path");
        let mut request = self
            .http
            .post(format!("{base}{path}"))
            .bearer_auth(&self.token)
            .header("idempotency-key", "cut-short");
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await
    }
}

/// A TCP relay in front of the products service whose replies can be held
/// back: from [`Relay::hold`] on, nothing the products service sends
/// reaches the orders service, while its requests still go through.
struct Relay {
    url: String,
    holding: Arc<AtomicBool>,
    accept: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(upstream: &str) -> Self {
        let target = upstream
            .strip_prefix("https://")
            .expect("an https URL")
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("https://{}", listener.local_addr().expect("addr"));
        let holding = Arc::new(AtomicBool::new(false));
        let accept = tokio::spawn({
            let holding = Arc::clone(&holding);
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let Ok(server) = TcpStream::connect(&target).await else {
                        continue;
                    };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                    });
                    let holding = Arc::clone(&holding);
                    tokio::spawn(async move {
                        let mut buffer = vec![0; 16 * 1024];
                        while let Ok(read @ 1..) = server_read.read(&mut buffer).await {
                            if holding.load(Ordering::SeqCst) {
                                // Held for good: the reply never arrives.
                                std::future::pending::<()>().await;
                            }
                            if client_write.write_all(&buffer[..read]).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            }
        });
        Self { url, holding, accept }
    }

    fn hold(&self) {
        self.holding.store(true, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// An orders service on a runtime of its own, so that it can die as a
/// process does: every task dropped where it stands, every connection
/// closed (PostgreSQL rolls back what was not committed).
struct Doomed {
    runtime: Option<tokio::runtime::Runtime>,
    url: String,
}

impl Doomed {
    async fn start(settings: cloudshop_orders::settings::Settings) -> Self {
        let (runtime, url) = tokio::task::spawn_blocking(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime");
            let service = runtime
                .block_on(cloudshop_orders::startup::build(settings))
                .expect("orders starts");
            let url = format!("https://127.0.0.1:{}", service.port());
            runtime.spawn(service.run_until_stopped());
            (runtime, url)
        })
        .await
        .expect("started");
        Self {
            runtime: Some(runtime),
            url,
        }
    }

    fn crash(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for Doomed {
    fn drop(&mut self) {
        self.crash();
    }
}

/// The orders process dies after the products service released a cancelled
/// order's stock and before the order was marked CANCELLED. The order then
/// cannot ship, and the reconciler of the next orders process finishes the
/// cancellation with the stock returned once.
#[tokio::test]
async fn a_cancel_cut_short_by_a_crash_after_the_stock_release_is_finished_on_restart() {
    let shop = spawn_backend().await;
    let admin = shop.admin().await;
    let customer = shop.customer().await;
    let product = shop.product(&admin, 400, 10).await;
    shop.stop_orders();

    let relay = Relay::start(&shop.products).await;
    let mut settings = orders_settings(shop.env, &shop.database, &relay.url);
    settings.reconciler.pending_after_ms = 3_600_000;
    let mut doomed = Doomed::start(settings.clone()).await;
    let direct = Direct {
        http: shop.env.client_as("api-gateway"),
        token: customer.clone(),
    };
    let order = json!({"lines": [{"product_id": product, "quantity": 3}]});
    // Placed through the relay, which keeps the connection for the cancel.
    let placed = direct
        .post(&doomed.url, paths::ORDERS, Some(&order))
        .await
        .expect("reaches orders");
    assert_eq!(placed.status(), 201, "placed");
    let placed: Order = placed.json().await.expect("an order");
    assert_eq!(placed.status, OrderStatus::Confirmed);
    assert_eq!(shop.stock(product).await, 7);

    relay.hold();
    let cancel = tokio::spawn({
        let (direct, url) = (direct.clone(), doomed.url.clone());
        async move { direct.post(&url, &paths::order_cancel(placed.id), None).await }
    });
    // The products service has released the stock; its reply is held.
    let deadline = Instant::now() + Duration::from_secs(20);
    while shop.stock(product).await != 10 {
        assert!(Instant::now() < deadline, "the release never reached products");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    doomed.crash();
    let cut = cancel.await.expect("joined");
    assert!(cut.is_err(), "the cancel was cut short: {cut:?}");
    assert_eq!(status_of(&shop, placed.id).await, "CONFIRMED", "the crash point");

    // Restarted (on the products service itself) without its reconciler:
    // the order cannot ship.
    settings.products_url = shop.products.clone();
    let (url, restarted) = start_orders(settings.clone()).await;
    let admin = Direct {
        token: admin.clone(),
        ..direct
    };
    let ship = admin
        .post(&url, &paths::order_ship(placed.id), None)
        .await
        .expect("reaches orders");
    assert_eq!(ship.status(), 409, "a cancelled order ships");
    let refusal: serde_json::Value = ship.json().await.expect("an error");
    assert!(
        refusal["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("cancellation is in progress")),
        "{refusal}"
    );
    restarted.cancel();

    // With it, the cancellation is finished.
    settings.reconciler.pending_after_ms = 500;
    settings.reconciler.interval_ms = 200;
    let (_url, reconciling) = start_orders(settings).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while status_of(&shop, placed.id).await != "CANCELLED" {
        assert!(Instant::now() < deadline, "the cancellation was not finished");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    reconciling.cancel();
    assert_eq!(shop.stock(product).await, 10, "the stock came back once");
}
