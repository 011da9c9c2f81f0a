use cloudshop_backend_tests::spawn_backend;
use serde_json::{Value, json};

#[tokio::test]
async fn an_order_is_confirmed_priced_listed_cancelled_and_its_stock_returns() {
    let shop = spawn_backend().await;
    let admin = shop.admin().await;
    let customer = shop.customer().await;
    let mug = shop.product(&admin, 1250, 10).await;
    let pen = shop.product(&admin, 399, 10).await;

    let placed = shop
        .order(
            &customer,
            "order-1",
            &json!([{"product_id": mug, "quantity": 2}, {"product_id": pen, "quantity": 3}]),
        )
        .await;
    assert_eq!(placed.status(), 201);
    let order: Value = placed.json().await.expect("json");
    assert_eq!(order["status"], "CONFIRMED");
    assert_eq!(order["total_cents"], 2 * 1250 + 3 * 399);
    assert_eq!(order["lines"].as_array().expect("lines").len(), 2);
    assert_eq!((shop.stock(mug).await, shop.stock(pen).await), (8, 7));

    let id = order["id"].as_str().expect("id");
    let mine: Value = shop
        .get_as(&customer, "/api/orders")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(mine["total"], 1);
    assert_eq!(mine["items"][0]["id"], id);

    let cancelled = shop.post_as(&customer, &format!("/api/orders/{id}/cancel")).await;
    assert_eq!(cancelled.status(), 200);
    assert_eq!(
        cancelled.json::<Value>().await.expect("json")["status"],
        "CANCELLED"
    );
    assert_eq!((shop.stock(mug).await, shop.stock(pen).await), (10, 10));
    let again = shop.post_as(&customer, &format!("/api/orders/{id}/cancel")).await;
    assert_eq!(again.status(), 409);
    assert_eq!((shop.stock(mug).await, shop.stock(pen).await), (10, 10));
}

#[tokio::test]
async fn the_same_key_returns_the_same_order_and_another_body_is_refused() {
    let shop = spawn_backend().await;
    let admin = shop.admin().await;
    let customer = shop.customer().await;
    let mug = shop.product(&admin, 100, 10).await;
    let lines = json!([{"product_id": mug, "quantity": 1}]);
    let first: Value = shop
        .order(&customer, "same-key", &lines)
        .await
        .json()
        .await
        .expect("json");
    let replay = shop.order(&customer, "same-key", &lines).await;
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.json::<Value>().await.expect("json")["id"], first["id"]);
    assert_eq!(shop.stock(mug).await, 9);
    let different = shop
        .order(
            &customer,
            "same-key",
            &json!([{"product_id": mug, "quantity": 2}]),
        )
        .await;
    assert_eq!(different.status(), 422);
    // Keys belong to a user: another customer's same key is another order.
    let other = shop.customer().await;
    let theirs: Value = shop
        .order(&other, "same-key", &lines)
        .await
        .json()
        .await
        .expect("json");
    assert_ne!(theirs["id"], first["id"]);
    let missing = shop
        .client
        .post(shop.url("/api/orders"))
        .bearer_auth(&customer)
        .json(&json!({"lines": lines}))
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
    let refused = shop
        .order(
            &customer,
            "greedy",
            &json!([{"product_id": scarce, "quantity": 3}]),
        )
        .await;
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
    let request = cloudshop_api::orders::OrderRequest {
        lines: vec![cloudshop_api::orders::Line {
            product_id: scarce,
            quantity: 3,
        }],
    };
    let replay = shop
        .api
        .place_order(
            cloudshop_api::client::Caller::with_token(&customer),
            "greedy",
            &request,
        )
        .await;
    let Err(cloudshop_api::client::ClientError::Rejected(rejection)) = replay else {
        panic!("a replay of a rejected order is rejected again: {replay:?}");
    };
    assert_eq!(rejection.error.code, cloudshop_api::error::ErrorCode::OutOfStock);
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
    assert_eq!(
        rejection.order.status,
        cloudshop_api::orders::OrderStatus::Rejected
    );
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
    let mug = shop.product(&admin, 100, 10).await;
    let order: Value = shop
        .order(&alice, "alice-1", &json!([{"product_id": mug, "quantity": 1}]))
        .await
        .json()
        .await
        .expect("json");
    let id = order["id"].as_str().expect("id");
    let peek = shop.get_as(&bob, &format!("/api/orders/{id}")).await;
    assert_eq!(peek.status(), 404);
    let cancel = shop.post_as(&bob, &format!("/api/orders/{id}/cancel")).await;
    assert_eq!(cancel.status(), 404);
    let bobs: Value = shop.get_as(&bob, "/api/orders").await.json().await.expect("json");
    assert_eq!(bobs["total"], 0);
    let all = shop.get_as(&bob, "/api/orders?all=true").await;
    assert_eq!(all.status(), 403);
    let ship = shop.post_as(&alice, &format!("/api/orders/{id}/ship")).await;
    assert_eq!(ship.status(), 403);

    // The admin sees every order and ships; a shipped order cannot be cancelled.
    let everyone: Value = shop
        .get_as(&admin, "/api/orders?all=true")
        .await
        .json()
        .await
        .expect("json");
    assert!(
        everyone["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|o| o["id"] == id)
    );
    let shipped = shop.post_as(&admin, &format!("/api/orders/{id}/ship")).await;
    assert_eq!(shipped.status(), 200);
    let late = shop.post_as(&alice, &format!("/api/orders/{id}/cancel")).await;
    assert_eq!(late.status(), 409);
    assert_eq!(shop.stock(mug).await, 9);
}
