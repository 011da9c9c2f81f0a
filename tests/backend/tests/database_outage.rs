//! PostgreSQL stopped for 10 s under load, then started again.
//!
//! Its own test binary: it stops the cluster every test of the binary shares.
//! Shoppers keep browsing and ordering through the gateway the whole time;
//! the test checks that every request got an answer (2xx, or 503 while the
//! database was away; never a hang, a 500 or a dropped connection), that the
//! services reported themselves not ready during the outage and ready again
//! soon after, that orders succeed again within 5 s of PostgreSQL's return,
//! and that no acknowledged order was lost and no stock was lost or invented.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cloudshop_api::client::Caller;
use cloudshop_api::orders::{IDEMPOTENCY_KEY, Line, OrderRequest};
use cloudshop_api::paths;
use cloudshop_api::products::ProductQuery;
use cloudshop_backend_tests::{Options, spawn_backend_with};
use cloudshop_host::postgres::Durability;
use reqwest::Method;
use serde_json::Value;

const SHOPPERS: usize = 6;
const OUTAGE: Duration = Duration::from_secs(10);
/// Load before the outage, and after PostgreSQL is back.
const BEFORE: Duration = Duration::from_secs(3);
const AFTER: Duration = Duration::from_secs(8);
/// A request during the outage must be answered within this.
const ANSWER_WITHIN: Duration = Duration::from_secs(4);
const RECOVER_WITHIN: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
struct Outcome {
    kind: &'static str,
    sent: Instant,
    took: Duration,
    /// The HTTP status, or None when no answer came.
    status: Option<u16>,
    order: Option<(String, String)>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_survive_a_database_outage_and_the_shop_recovers() {
    let backend = Arc::new(
        spawn_backend_with(Options {
            // Catalogue reads go to the database every time.
            products_cache: false,
            gateway_rate_per_minute: 1_000_000,
            capture_logs: false,
            // The shipped default, not the test environment's longer one.
            database_acquire_timeout_ms: Some(
                cloudshop_platform::db::DatabaseSettings::for_service(cloudshop_platform::ServiceId::Orders)
                    .acquire_timeout_ms,
            ),
            ..Options::default()
        })
        .await,
    );
    let admin = backend.admin().await;
    const STOCK: i32 = 100_000;
    let product = backend.product(&admin, 350, STOCK).await;
    let mut tokens = Vec::new();
    for _ in 0..SHOPPERS {
        tokens.push(backend.customer().await);
    }

    let catalogue = ProductQuery {
        per_page: Some(12),
        ..ProductQuery::default()
    };
    let one = OrderRequest {
        lines: vec![Line {
            product_id: product,
            quantity: 1,
        }],
    };
    let outcomes = Arc::new(Mutex::new(Vec::<Outcome>::new()));
    let started = Instant::now();
    let total = BEFORE + OUTAGE + AFTER;
    let mut shoppers = Vec::new();
    for (shopper, token) in tokens.into_iter().enumerate() {
        let backend = Arc::clone(&backend);
        let outcomes = Arc::clone(&outcomes);
        let (catalogue, one) = (catalogue.clone(), one.clone());
        shoppers.push(tokio::spawn(async move {
            let mut n = 0;
            while started.elapsed() < total {
                n += 1;
                let sent = Instant::now();
                // Raw statuses through the client's requests: no answer at
                // all must stay apart from a 503.
                let (kind, request) = if n % 2 == 0 {
                    let request = backend
                        .api
                        .request(Caller::anonymous(), Method::GET, paths::PRODUCTS)
                        .query(&catalogue);
                    ("catalogue", request)
                } else {
                    let request = backend
                        .api
                        .request(Caller::with_token(&token), Method::POST, paths::ORDERS)
                        .header(IDEMPOTENCY_KEY, format!("outage-{shopper}-{n}"))
                        .json(&one);
                    ("order", request)
                };
                let response = request.timeout(Duration::from_secs(30)).send().await;
                let took = sent.elapsed();
                let (status, order) = match response {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let body: Value = response.json().await.unwrap_or(Value::Null);
                        let order = (kind == "order" && status == 201).then(|| {
                            let id = body["id"].as_str().expect("order id").to_owned();
                            (id, body["status"].as_str().expect("status").to_owned())
                        });
                        (Some(status), order)
                    }
                    Err(_) => (None, None),
                };
                outcomes.lock().expect("outcomes").push(Outcome {
                    kind,
                    sent,
                    took,
                    status,
                    order,
                });
                if status != Some(200) && status != Some(201) {
                    // Do not spin on errors.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }

    // The outage.
    tokio::time::sleep(BEFORE).await;
    let cluster = backend.env.cluster().clone();
    tokio::task::spawn_blocking({
        let cluster = cluster.clone();
        move || cluster.halt()
    })
    .await
    .expect("halt task")
    .expect("PostgreSQL stops");
    let down_at = Instant::now();

    // Readiness turns false while the database is away.
    let probe = reqwest::Client::new();
    let mut not_ready = Vec::new();
    for (service, url) in &backend.readiness {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let status = probe
                .get(url)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            if status == 503 {
                not_ready.push(*service);
                break;
            }
            if Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(
        not_ready,
        vec!["auth", "products", "orders"],
        "services still ready without a database"
    );

    tokio::time::sleep(OUTAGE.saturating_sub(down_at.elapsed())).await;
    // From here on PostgreSQL is coming back; recovery is measured from here.
    let up_at = Instant::now();
    tokio::task::spawn_blocking(move || cluster.spawn(Durability::Ephemeral))
        .await
        .expect("start task")
        .expect("PostgreSQL starts again");

    // Ready again soon after.
    for (service, url) in &backend.readiness {
        loop {
            let status = probe
                .get(url)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            if status == 200 {
                break;
            }
            assert!(
                up_at.elapsed() < RECOVER_WITHIN,
                "{service} not ready {RECOVER_WITHIN:?} after PostgreSQL returned"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    for shopper in shoppers {
        shopper.await.expect("shopper");
    }
    let outcomes = outcomes.lock().expect("outcomes").clone();

    // Every request got an answer: 2xx, or 503 from the outage. No 500s.
    for outcome in &outcomes {
        match outcome.status {
            Some(200 | 201 | 503) => {}
            other => panic!(
                "{} sent {:?} after the start answered {other:?} after {:?} (outage {:?} to {:?})",
                outcome.kind,
                outcome.sent - started,
                outcome.took,
                down_at - started,
                up_at - started
            ),
        }
        assert!(
            outcome.took < ANSWER_WITHIN,
            "{} sent {:?} after the start took {:?} (status {:?})",
            outcome.kind,
            outcome.sent - started,
            outcome.took,
            outcome.status
        );
    }
    let during: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.sent > down_at + Duration::from_secs(1) && o.sent + o.took < up_at)
        .collect();
    assert!(
        during.iter().any(|o| o.status == Some(503)),
        "no 503 during the outage"
    );
    assert!(
        during.iter().all(|o| o.status == Some(503)),
        "served without a database: {during:?}"
    );

    // Orders succeed again within RECOVER_WITHIN of PostgreSQL's return.
    for kind in ["catalogue", "order"] {
        let first = outcomes
            .iter()
            .filter(|o| o.kind == kind && o.sent > up_at && matches!(o.status, Some(200 | 201)))
            .map(|o| o.sent + o.took)
            .min()
            .unwrap_or_else(|| panic!("no {kind} succeeded after the outage"));
        assert!(
            first.duration_since(up_at) < RECOVER_WITHIN,
            "first {kind} {:?} after PostgreSQL returned",
            first.duration_since(up_at)
        );
    }

    // No acknowledged order lost; stock conserved.
    let acknowledged: Vec<&(String, String)> = outcomes.iter().filter_map(|o| o.order.as_ref()).collect();
    assert!(!acknowledged.is_empty());
    let cluster = backend.env.cluster();
    let query = |sql: &str| -> Vec<String> {
        cluster
            .psql(&backend.database, sql)
            .expect("query")
            .lines()
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let stored = query("SELECT id || ' ' || status FROM orders.orders");
    for (id, status) in &acknowledged {
        let found = stored.iter().find(|line| line.starts_with(id.as_str()));
        let found = found.unwrap_or_else(|| panic!("acknowledged order {id} is not in the database"));
        if status == "CONFIRMED" {
            assert!(
                found.ends_with("CONFIRMED"),
                "order {id} was confirmed, now {found}"
            );
        }
    }
    // Every confirmed order holds its reservation, and the stock taken is
    // exactly what the held reservations took (pending orders may hold one
    // until the reconciler finishes them).
    let held = query("SELECT r.order_id FROM products.reservations r WHERE r.state = 'reserved'");
    for line in stored.iter().filter(|line| line.ends_with("CONFIRMED")) {
        let id = line.split(' ').next().expect("id");
        assert!(
            held.iter().any(|h| h == id),
            "confirmed order {id} holds no reservation"
        );
    }
    let taken = query(&format!(
        "SELECT coalesce(sum(l.quantity), 0) FROM products.reservation_lines l \
         JOIN products.reservations r USING (order_id) WHERE r.state = 'reserved' AND l.product_id = {product}"
    ));
    let stock = backend.stock(product).await;
    assert_eq!(
        i64::from(STOCK) - stock,
        taken[0].parse::<i64>().expect("sum"),
        "stock taken does not match the held reservations"
    );
}
