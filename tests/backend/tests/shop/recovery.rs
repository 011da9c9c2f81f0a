//! The orders process dies between recording an order PENDING and confirming
//! it; on restart the reconciler finishes the order and stock matches.

use cloudshop_api::orders::Line;
use cloudshop_api::reservations::{ReserveRequest, reserve_path};
use cloudshop_backend_tests::{orders_settings, spawn_backend, start_orders};
use serde_json::json;

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
