use std::collections::HashSet;

use cloudshop_backend_tests::spawn_backend;
use serde_json::{Value, json};

#[tokio::test]
async fn the_seeded_catalogue_has_pictures_categories_and_stable_pages() {
    let shop = spawn_backend().await;
    let page = |query: &'static str| {
        let request = shop.client.get(shop.url(&format!("/api/products?{query}")));
        async move {
            let response = request.send().await.expect("list");
            assert_eq!(response.status(), 200, "{query}");
            response.json::<Value>().await.expect("json")
        }
    };
    let all = page("per_page=100").await;
    let items = all["items"].as_array().expect("items");
    assert!(all["total"].as_i64().expect("total") >= 24);
    assert_eq!(items.len() as i64, all["total"].as_i64().expect("total"));
    let categories: HashSet<&str> = items
        .iter()
        .map(|p| p["category"].as_str().expect("category"))
        .collect();
    assert!(categories.len() >= 4);
    let ids: Vec<i64> = items.iter().map(|p| p["id"].as_i64().expect("id")).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "stable order by id");

    // Pages partition the catalogue.
    let first = page("page=1&per_page=10").await;
    let second = page("page=2&per_page=10").await;
    let paged: Vec<i64> = [first, second]
        .iter()
        .flat_map(|p| {
            p["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|i| i["id"].as_i64().expect("id"))
        })
        .collect();
    assert_eq!(paged, ids[..20]);

    let coffee = page("category=coffee").await;
    assert!(
        coffee["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|p| p["category"] == "coffee")
    );
    let categories: Value = shop
        .client
        .get(shop.url("/api/categories"))
        .send()
        .await
        .expect("c")
        .json()
        .await
        .expect("json");
    assert!(categories.as_array().expect("array").len() >= 4);

    for product in items {
        let image = shop
            .client
            .get(shop.url(product["image_url"].as_str().expect("url")))
            .send()
            .await
            .expect("image");
        assert_eq!(image.status(), 200);
        assert_eq!(image.headers()["content-type"], "image/svg+xml");
        assert!(image.text().await.expect("svg").starts_with("<svg"));
    }
}

#[tokio::test]
async fn search_matches_words_literally() {
    let shop = spawn_backend().await;
    let admin = shop.admin().await;
    for (sku, name) in [
        ("LIT-1", "Sale 50% off mug"),
        ("LIT-2", "Sale 50 off mug"),
        ("LIT-3", "snake_case mug"),
        ("LIT-4", "snakeXcase mug"),
    ] {
        let created = shop
            .client
            .post(shop.url("/api/products"))
            .bearer_auth(&admin)
            .json(&json!({"sku": sku, "name": name, "category": "kitchen", "price_cents": 100, "stock": 1}))
            .send()
            .await
            .expect("create");
        assert_eq!(created.status(), 201);
    }
    let names = |q: &'static str| {
        let request = shop
            .client
            .get(shop.url("/api/products"))
            .query(&[("q", q), ("per_page", "100")]);
        async move {
            let response = request.send().await.expect("search");
            assert_eq!(response.status(), 200, "{q}");
            let body: Value = response.json().await.expect("json");
            body["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|p| p["name"].as_str().expect("name").to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(names("50%").await, vec!["Sale 50% off mug"]);
    assert_eq!(names("snake_case").await, vec!["snake_case mug"]);
    assert!(names("%").await.iter().all(|n| n.contains('%')));
    assert!(names("_").await.iter().all(|n| n.contains('_')));
    for hostile in ["' OR 1=1 --", "\"; DROP TABLE products; --", "\\", "%%__\\%"] {
        assert!(names(hostile).await.is_empty(), "{hostile}");
    }
    assert!(names("Mug").await.len() >= 4, "case-insensitive");
}

#[tokio::test]
async fn admins_write_products_and_readers_see_it_at_once() {
    let shop = spawn_backend().await;
    let admin = shop.admin().await;
    let customer = shop.customer().await;
    let id = shop.product(&admin, 1234, 5).await;
    assert_eq!(shop.stock(id).await, 5);

    // Setting stock invalidates the cached read.
    let patched = shop
        .client
        .patch(shop.url(&format!("/api/products/{id}")))
        .bearer_auth(&admin)
        .json(&json!({"stock": 42}))
        .send()
        .await
        .expect("patch");
    assert_eq!(patched.status(), 200);
    assert_eq!(shop.stock(id).await, 42);
    let listed: Value = shop
        .client
        .get(shop.url("/api/products?per_page=100&page=1"))
        .send()
        .await
        .expect("l")
        .json()
        .await
        .expect("j");
    let listed = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|p| p["id"] == id)
        .cloned();
    assert_eq!(listed.map(|p| p["stock"].clone()), Some(json!(42)));

    // A customer may not write.
    for request in [
        shop.client
            .post(shop.url("/api/products"))
            .json(&json!({"sku": "X-1", "name": "x", "category": "desk", "price_cents": 1, "stock": 1})),
        shop.client
            .patch(shop.url(&format!("/api/products/{id}")))
            .json(&json!({"stock": 0})),
        shop.client.delete(shop.url(&format!("/api/products/{id}"))),
    ] {
        let anonymous = request.try_clone().expect("clone").send().await.expect("sent");
        assert_eq!(anonymous.status(), 401);
        let as_customer = request.bearer_auth(&customer).send().await.expect("sent");
        assert_eq!(as_customer.status(), 403);
    }
    assert_eq!(shop.stock(id).await, 42);

    // Validation.
    for bad in [
        json!({"price_cents": -1}),
        json!({"stock": -5}),
        json!({"name": ""}),
        json!({"category": "nope"}),
        json!({"colour": "red"}),
    ] {
        let response = shop
            .client
            .patch(shop.url(&format!("/api/products/{id}")))
            .bearer_auth(&admin)
            .json(&bad)
            .send()
            .await
            .expect("patch");
        assert_eq!(response.status(), 422, "{bad}");
    }

    let deleted = shop
        .client
        .delete(shop.url(&format!("/api/products/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 204);
    let gone = shop
        .client
        .get(shop.url(&format!("/api/products/{id}")))
        .send()
        .await
        .expect("get");
    assert_eq!(gone.status(), 404);
}
