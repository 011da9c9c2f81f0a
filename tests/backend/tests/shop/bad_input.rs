use cloudshop_api::client::Caller;
use cloudshop_api::orders::{OrderQuery, OrderStatus};
use cloudshop_api::paths;
use cloudshop_backend_tests::spawn_backend;
use serde_json::{Value, json};

#[tokio::test]
async fn bad_orders_get_a_4xx_and_take_no_stock() {
    let shop = spawn_backend().await;
    let admin = shop.admin().await;
    let customer = shop.customer().await;
    let product = shop.product(&admin, 100, 10).await;
    let many: Vec<Value> = (0..1000)
        .map(|_| json!({"product_id": product, "quantity": 1}))
        .collect();
    let cases: Vec<(&str, Value)> = vec![
        ("zero quantity", json!([{"product_id": product, "quantity": 0}])),
        (
            "negative quantity",
            json!([{"product_id": product, "quantity": -2}]),
        ),
        (
            "quantity overflow",
            json!([{"product_id": product, "quantity": 1_099_511_627_776_i64}]),
        ),
        (
            "sum overflow",
            json!([{"product_id": product, "quantity": 999}, {"product_id": product, "quantity": 999}]),
        ),
        (
            "unknown product",
            json!([{"product_id": 987_654_321, "quantity": 1}]),
        ),
        ("product id zero", json!([{"product_id": 0, "quantity": 1}])),
        ("no lines", json!([])),
        ("1000 lines", Value::Array(many)),
        (
            "wrong types",
            json!([{"product_id": "1; DROP TABLE orders", "quantity": "1"}]),
        ),
    ];
    for (n, (what, lines)) in cases.into_iter().enumerate() {
        let response = shop.order(&customer, &format!("bad-{n}"), &lines).await;
        let status = response.status().as_u16();
        assert!((400..500).contains(&status), "{what}: {status}");
        let body: Value = response.json().await.expect("json");
        assert!(body["error"]["code"].is_string(), "{what}: {body}");
    }
    assert_eq!(shop.stock(product).await, 10);
    let mine = shop
        .api
        .orders(Caller::with_token(&customer), &OrderQuery::default())
        .await
        .expect("orders");
    assert!(mine.items.iter().all(|o| o.status != OrderStatus::Confirmed));
}

/// A misspelt parameter (`page_size` for `per_page`) is an error, not a
/// silently ignored one, on every list.
#[tokio::test]
async fn unknown_query_parameters_get_a_400_naming_them() {
    let shop = spawn_backend().await;
    let customer = shop.customer().await;
    for (path, token, name) in [
        (format!("{}?page_size=12", paths::PRODUCTS), None, "page_size"),
        (format!("{}?q=mug&sort=price", paths::PRODUCTS), None, "sort"),
        (
            format!("{}?page_size=12", paths::ORDERS),
            Some(&customer),
            "page_size",
        ),
    ] {
        let mut request = shop.client.get(shop.url(&path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("sent");
        assert_eq!(response.status(), 400, "{path}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "bad_request", "{path}: {body}");
        let message = body["error"]["message"].as_str().expect("message");
        assert!(message.contains(name), "{path}: {message}");
    }
}

#[tokio::test]
async fn bad_catalogue_queries_get_a_400() {
    let shop = spawn_backend().await;
    for query in [
        "per_page=101",
        "per_page=0",
        "page=0",
        "page=-1",
        "page=abc",
        "category=Not%20A%20Slug",
    ] {
        let response = shop
            .client
            .get(shop.url(&format!("{}?{query}", paths::PRODUCTS)))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await.expect("json");
        assert!(body["error"]["code"].is_string());
    }
    let long = "x".repeat(500);
    let response = shop
        .client
        .get(shop.url(paths::PRODUCTS))
        .query(&[("q", long.as_str())])
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 400);
    for path in [
        paths::fill(paths::PRODUCT, "abc"),
        paths::product(-1),
        paths::fill(paths::PRODUCT, "99999999999999999999"),
        paths::fill(paths::ORDER, "not-a-uuid"),
    ] {
        let response = shop.client.get(shop.url(&path)).send().await.expect("sent");
        assert!(
            matches!(response.status().as_u16(), 401 | 404),
            "{path}: {}",
            response.status()
        );
    }
}
