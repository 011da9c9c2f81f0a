use cloudshop_api::client::{Caller, ClientError};
use cloudshop_api::error::ErrorCode;
use cloudshop_api::orders::{IDEMPOTENT_REPLAYED, Line, Order, OrderQuery, OrderRequest, OrderStatus};
use cloudshop_api::paths;
use cloudshop_backend_tests::spawn_backend;
use reqwest::Method;
use serde_json::{Value, json};

fn one(product_id: i64, quantity: i32) -> OrderRequest {
    OrderRequest {
        lines: vec![Line { product_id, quantity }],
    }
}

#[tokio::test]
async fn an_order_is_confirmed_priced_listed_cancelled_and_its_stock_returns() {
    let shop = spawn_backend().await;
    let admin = shop.admin().await;
    let customer = shop.customer().await;
    let mug = shop.product(&admin, 1250, 10).await;
    let pen = shop.product(&admin, 399, 10).await;

    let lines = [
        Line {
            product_id: mug,
            quantity: 2,
        },
        Line {
            product_id: pen,
            quantity: 3,
        },
    ];
    let placed = shop.order(&customer, "order-1", &lines).await;
    assert_eq!(placed.status(), 201);
    let order: Order = placed.json().await.expect("json");
    assert_eq!(order.status, OrderStatus::Confirmed);
    assert_eq!(order.total_cents, 2 * 1250 + 3 * 399);
    assert_eq!(order.lines.len(), 2);
    assert_eq!((shop.stock(mug).await, shop.stock(pen).await), (8, 7));

    let as_customer = Caller::with_token(&customer);
    let mine = shop
        .api
        .orders(as_customer, &OrderQuery::default())
        .await
        .expect("orders");
    assert_eq!(mine.total, 1);
    assert_eq!(mine.items[0].id, order.id);

    let cancelled = shop.post_as(&customer, &paths::order_cancel(order.id)).await;
    assert_eq!(cancelled.status(), 200);
    assert_eq!(
        cancelled.json::<Order>().await.expect("json").status,
        OrderStatus::Cancelled
    );
    assert_eq!((shop.stock(mug).await, shop.stock(pen).await), (10, 10));
    let again = shop.api.cancel_order(as_customer, order.id).await;
    assert_eq!(again.expect_err("cancelled twice").status(), 409);
    assert_eq!((shop.stock(mug).await, shop.stock(pen).await), (10, 10));
}

#[tokio::test]
async fn the_same_key_returns_the_same_order_and_another_body_is_refused() {
    let shop = spawn_backend().await;
    let admin = shop.admin().await;
    let customer = shop.customer().await;
    let as_customer = Caller::with_token(&customer);
    let mug = shop.product(&admin, 100, 10).await;
    let request = one(mug, 1);
    let first = shop
        .api
        .place_order(as_customer, "same-key", &request)
        .await
        .expect("order")
        .order;
    let replay = shop.order(&customer, "same-key", &request.lines).await;
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()[IDEMPOTENT_REPLAYED], "true");
    assert_eq!(replay.json::<Order>().await.expect("json").id, first.id);
    assert_eq!(shop.stock(mug).await, 9);
    let different = shop.api.place_order(as_customer, "same-key", &one(mug, 2)).await;
    assert_eq!(different.expect_err("another body").status(), 422);
    // Keys belong to a user: another customer's same key is another order.
    let other = shop.customer().await;
    let theirs = shop
        .api
        .place_order(Caller::with_token(&other), "same-key", &request)
        .await
        .expect("their order")
        .order;
    assert_ne!(theirs.id, first.id);
    let missing = shop
        .api
        .request(as_customer, Method::POST, paths::ORDERS)
        .json(&request)
        .send()
        .await
        .expect("sent");
    assert_eq!(missing.status(), 400);
}

#[tokio::test]
async fn out_of_stock_orders_are_rejected_with_the_items_named() {
    let shop = spawn_backend().await;
    let admin = shop.admin().await;
    let customer = shop.customer().await;
    let scarce = shop.product(&admin, 100, 1).await;
    let request = one(scarce, 3);
    let refused = shop.order(&customer, "greedy", &request.lines).await;
    assert_eq!(refused.status(), 409);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["code"], "out_of_stock");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("requested 3, available 1") && message.contains("Test product"),
        "{message}"
    );
    assert_eq!(body["order"]["status"], "REJECTED");
    assert_eq!(shop.stock(scarce).await, 1);
    // The shortage as data, not only as text; and a replay of the same
    // request answers with the same error, recorded with the order.
    let shortage = json!({"product_id": scarce, "requested": 3, "available": 1});
    assert_eq!(
        body["error"]["details"]["shortages"][0]["product_id"],
        shortage["product_id"]
    );
    assert_eq!(body["error"]["details"]["shortages"][0]["requested"], 3);
    assert_eq!(body["error"]["details"]["shortages"][0]["available"], 1);
    let replay = shop
        .api
        .place_order(Caller::with_token(&customer), "greedy", &request)
        .await;
    let Err(ClientError::Rejected(rejection)) = replay else {
        panic!("a replay of a rejected order is rejected again: {replay:?}");
    };
    assert_eq!(rejection.error.code, ErrorCode::OutOfStock);
    let details = rejection.error.details.expect("details");
    assert_eq!(details.shortages.len(), 1);
    assert_eq!(
        (
            details.shortages[0].product_id,
            details.shortages[0].requested,
            details.shortages[0].available
        ),
        (scarce, 3, 1)
    );
    assert_eq!(rejection.order.status, OrderStatus::Rejected);
    assert_eq!(
        rejection.order.id.to_string(),
        body["order"]["id"].as_str().expect("id")
    );
}

#[tokio::test]
async fn users_cannot_see_or_cancel_each_others_orders() {
    let shop = spawn_backend().await;
    let admin = shop.admin().await;
    let alice = shop.customer().await;
    let bob = shop.customer().await;
    let (as_alice, as_bob, as_admin) = (
        Caller::with_token(&alice),
        Caller::with_token(&bob),
        Caller::with_token(&admin),
    );
    let mug = shop.product(&admin, 100, 10).await;
    let id = shop
        .api
        .place_order(as_alice, "alice-1", &one(mug, 1))
        .await
        .expect("order")
        .order
        .id;
    let peek = shop.api.order(as_bob, id).await;
    assert_eq!(peek.expect_err("bob peeks").status(), 404);
    let cancel = shop.api.cancel_order(as_bob, id).await;
    assert_eq!(cancel.expect_err("bob cancels").status(), 404);
    let bobs = shop
        .api
        .orders(as_bob, &OrderQuery::default())
        .await
        .expect("orders");
    assert_eq!(bobs.total, 0);
    let everything = OrderQuery {
        all: Some(true),
        ..OrderQuery::default()
    };
    let all = shop.api.orders(as_bob, &everything).await;
    assert_eq!(all.expect_err("bob lists all").status(), 403);
    let ship = shop.api.ship_order(as_alice, id).await;
    assert_eq!(ship.expect_err("alice ships").status(), 403);

    // The admin sees every order and ships; a shipped order cannot be cancelled.
    let everyone = shop.api.orders(as_admin, &everything).await.expect("all orders");
    assert!(everyone.items.iter().any(|o| o.id == id));
    let shipped = shop.post_as(&admin, &paths::order_ship(id)).await;
    assert_eq!(shipped.status(), 200);
    let late = shop.api.cancel_order(as_alice, id).await;
    assert_eq!(late.expect_err("cancelled after shipping").status(), 409);
    assert_eq!(shop.stock(mug).await, 9);
}
