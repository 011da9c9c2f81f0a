use std::collections::HashMap;

use cloudshop_api::client::Caller;
use cloudshop_api::orders::{Line, Order, OrderQuery};
use cloudshop_backend_tests::spawn_backend;
use serde_json::Value;
use tokio::task::JoinSet;

#[tokio::test]
async fn two_hundred_orders_for_fifty_items_confirm_exactly_fifty() {
    let shop = spawn_backend().await;
    let admin = shop.admin().await;
    let customer = shop.customer().await;
    let product = shop.product(&admin, 500, 50).await;
    let mut orders = JoinSet::new();
    for n in 0..200 {
        let client = shop.orders_client();
        let token = customer.clone();
        orders.spawn(async move {
            let lines = [Line {
                product_id: product,
                quantity: 1,
            }];
            client
                .place(&token, &format!("rush-{n}"), &lines)
                .await
                .status()
                .as_u16()
        });
    }
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    while let Some(status) = orders.join_next().await {
        *statuses.entry(status.expect("task")).or_default() += 1;
    }
    assert_eq!(statuses.get(&201), Some(&50), "{statuses:?}");
    assert_eq!(statuses.get(&409), Some(&150), "{statuses:?}");
    assert_eq!(shop.stock(product).await, 0);
}

#[tokio::test]
async fn mixed_multi_item_orders_conserve_stock() {
    let shop = spawn_backend().await;
    let admin = shop.admin().await;
    let customer = shop.customer().await;
    let initial = [30, 20, 10, 15];
    let mut products = Vec::new();
    for stock in initial {
        products.push(shop.product(&admin, 100, stock).await);
    }
    let mut orders = JoinSet::new();
    for n in 0..120usize {
        // A deterministic mix: one to three products, quantities one to three,
        // lines in varying order (so locks are requested in varying order).
        let count = 1 + n % 3;
        let lines: Vec<Line> = (0..count)
            .map(|i| Line {
                product_id: products[(n + i * 3) % products.len()],
                quantity: 1 + ((n + i) % 3) as i32,
            })
            .collect();
        let client = shop.orders_client();
        let token = customer.clone();
        orders.spawn(async move {
            let response = client.place(&token, &format!("mix-{n}"), &lines).await;
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("json"))
        });
    }
    let mut confirmed: HashMap<i64, i64> = HashMap::new();
    let mut acknowledged = 0;
    while let Some(result) = orders.join_next().await {
        let (status, body) = result.expect("task");
        assert!(status == 201 || status == 409, "status {status}: {body}");
        if status == 201 {
            acknowledged += 1;
            let order: Order = serde_json::from_value(body).expect("order");
            for line in order.lines {
                *confirmed.entry(line.product_id).or_default() += i64::from(line.quantity);
            }
        }
    }
    assert!(acknowledged > 0);
    for (product, initial) in products.iter().zip(initial) {
        let remaining = shop.stock(*product).await;
        assert!(remaining >= 0);
        assert_eq!(
            i64::from(initial),
            remaining + confirmed.get(product).copied().unwrap_or(0),
            "product {product}"
        );
    }
}

#[tokio::test]
async fn twenty_concurrent_requests_with_one_key_make_one_order() {
    let shop = spawn_backend().await;
    let admin = shop.admin().await;
    let customer = shop.customer().await;
    let product = shop.product(&admin, 100, 100).await;
    let mut requests = JoinSet::new();
    for _ in 0..20 {
        let client = shop.orders_client();
        let token = customer.clone();
        requests.spawn(async move {
            let lines = [Line {
                product_id: product,
                quantity: 2,
            }];
            let response = client.place(&token, "one-key", &lines).await;
            assert_eq!(response.status(), 201);
            response.json::<Order>().await.expect("json").id
        });
    }
    let mut ids = Vec::new();
    while let Some(id) = requests.join_next().await {
        ids.push(id.expect("task"));
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(shop.stock(product).await, 98);
    let mine = shop
        .api
        .orders(Caller::with_token(&customer), &OrderQuery::default())
        .await
        .expect("orders");
    assert_eq!(mine.total, 1);
}
