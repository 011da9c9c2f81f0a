use std::collections::HashSet;

use cloudshop_api::client::Caller;
use cloudshop_api::paths;
use cloudshop_api::products::{Product, ProductInput, ProductPage, ProductPatch, ProductQuery};
use cloudshop_backend_tests::spawn_backend;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn the_seeded_catalogue_has_pictures_categories_and_stable_pages() {
    let shop = spawn_backend().await;
    let page = |query: ProductQuery| {
        let request = shop
            .api
            .request(Caller::anonymous(), Method::GET, paths::PRODUCTS)
            .query(&query);
        async move {
            let response = request.send().await.expect("list");
            assert_eq!(response.status(), 200, "{query:?}");
            response.json::<ProductPage>().await.expect("json")
        }
    };
    let all = page(ProductQuery {
        per_page: Some(100),
        ..ProductQuery::default()
    })
    .await;
    let items = &all.items;
    assert!(all.total >= 24);
    assert_eq!(items.len() as i64, all.total);
    let categories: HashSet<&str> = items.iter().map(|p| p.category.as_str()).collect();
    assert!(categories.len() >= 4);
    let ids: Vec<i64> = items.iter().map(|p| p.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "stable order by id");

    // Pages partition the catalogue.
    let nth = |page: u32| ProductQuery {
        page: Some(page),
        per_page: Some(10),
        ..ProductQuery::default()
    };
    let first = page(nth(1)).await;
    let second = page(nth(2)).await;
    let paged: Vec<i64> = [first, second]
        .iter()
        .flat_map(|p| p.items.iter().map(|i| i.id))
        .collect();
    assert_eq!(paged, ids[..20]);

    let coffee = page(ProductQuery {
        category: Some("coffee".into()),
        ..ProductQuery::default()
    })
    .await;
    assert!(coffee.items.iter().all(|p| p.category == "coffee"));
    let categories = shop
        .api
        .categories(Caller::anonymous())
        .await
        .expect("categories");
    assert!(categories.len() >= 4);

    for product in items {
        let image = shop
            .client
            .get(shop.url(&product.image_url))
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
        let product = ProductInput {
            sku: sku.into(),
            name: name.into(),
            description: String::new(),
            category: "kitchen".into(),
            price_cents: 100,
            stock: 1,
        };
        let created = shop
            .api
            .request(Caller::with_token(&admin), Method::POST, paths::PRODUCTS)
            .json(&product)
            .send()
            .await
            .expect("create");
        assert_eq!(created.status(), 201);
    }
    let names = |q: &'static str| {
        let query = ProductQuery {
            q: Some(q.into()),
            per_page: Some(100),
            ..ProductQuery::default()
        };
        let request = shop
            .api
            .request(Caller::anonymous(), Method::GET, paths::PRODUCTS)
            .query(&query);
        async move {
            let response = request.send().await.expect("search");
            assert_eq!(response.status(), 200, "{q}");
            let body: ProductPage = response.json().await.expect("json");
            body.items.into_iter().map(|p| p.name).collect::<Vec<_>>()
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
    let as_admin = Caller::with_token(&admin);
    let customer = shop.customer().await;
    let id = shop.product(&admin, 1234, 5).await;
    assert_eq!(shop.stock(id).await, 5);

    // Setting stock invalidates the cached read.
    let patch = ProductPatch {
        stock: Some(42),
        ..ProductPatch::default()
    };
    let patched = shop
        .api
        .request(as_admin, Method::PATCH, &paths::product(id))
        .json(&patch)
        .send()
        .await
        .expect("patch");
    assert_eq!(patched.status(), 200);
    assert_eq!(shop.stock(id).await, 42);
    let everything = ProductQuery {
        per_page: Some(100),
        page: Some(1),
        ..ProductQuery::default()
    };
    let listed = shop
        .api
        .products(Caller::anonymous(), &everything)
        .await
        .expect("list");
    let listed: Option<&Product> = listed.items.iter().find(|p| p.id == id);
    assert_eq!(listed.map(|p| p.stock), Some(42));

    // A customer may not write.
    let product = ProductInput {
        sku: "X-1".into(),
        name: "x".into(),
        description: String::new(),
        category: "desk".into(),
        price_cents: 1,
        stock: 1,
    };
    let sold_out = ProductPatch {
        stock: Some(0),
        ..ProductPatch::default()
    };
    for (who, caller, status) in [
        ("anonymous", Caller::anonymous(), 401),
        ("customer", Caller::with_token(&customer), 403),
    ] {
        let refusals = [
            ("create", shop.api.create_product(caller, &product).await.err()),
            ("patch", shop.api.patch_product(caller, id, &sold_out).await.err()),
            ("delete", shop.api.delete_product(caller, id).await.err()),
        ];
        for (what, refused) in refusals {
            let refused = refused.map(|e| e.status().as_u16());
            assert_eq!(refused, Some(status), "{what} as {who}");
        }
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
            .api
            .request(as_admin, Method::PATCH, &paths::product(id))
            .json(&bad)
            .send()
            .await
            .expect("patch");
        assert_eq!(response.status(), 422, "{bad}");
    }

    let deleted = shop
        .api
        .request(as_admin, Method::DELETE, &paths::product(id))
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 204);
    let gone = shop.api.product(Caller::anonymous(), id).await;
    assert_eq!(gone.expect_err("deleted").status(), 404);
}

#[tokio::test]
async fn catalogue_reads_carry_etags_and_revalidate_to_304() {
    let shop = spawn_backend().await;
    let admin = shop.admin().await;
    let id = shop.product(&admin, 4321, 5).await;
    let read = |if_none_match: Option<String>| {
        let mut request = shop
            .api
            .request(Caller::anonymous(), Method::GET, &paths::product(id));
        if let Some(tag) = if_none_match {
            request = request.header("if-none-match", tag);
        }
        async move { request.send().await.expect("read") }
    };
    let first = read(None).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["cache-control"], "no-cache");
    let etag = first.headers()["etag"].to_str().expect("etag").to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");

    // The current tag, alone, weak or in a list, and `*`: 304, no body.
    for tag in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
        "*".into(),
    ] {
        let again = read(Some(tag.clone())).await;
        assert_eq!(again.status(), 304, "{tag}");
        assert_eq!(again.headers()["etag"], etag.as_str(), "{tag}");
        assert!(again.bytes().await.expect("body").is_empty(), "{tag}");
    }
    // Another tag: the whole body.
    let other = read(Some("\"other\"".into())).await;
    assert_eq!(other.status(), 200);
    assert_eq!(other.json::<Product>().await.expect("product").stock, 5);

    // A change gives a new tag: the old one no longer matches.
    let revalidating = shop.api.clone().revalidating();
    let categories = revalidating
        .categories(Caller::anonymous())
        .await
        .expect("categories");
    let stock_seen = |what: &'static str| {
        let revalidating = &revalidating;
        async move {
            let product = revalidating.product(Caller::anonymous(), id).await;
            product.expect(what).stock
        }
    };
    assert_eq!(stock_seen("kept").await, 5);
    let patch = ProductPatch {
        stock: Some(7),
        ..ProductPatch::default()
    };
    shop.api
        .patch_product(Caller::with_token(&admin), id, &patch)
        .await
        .expect("patch");
    let changed = read(Some(etag.clone())).await;
    assert_eq!(changed.status(), 200);
    assert_ne!(changed.headers()["etag"], etag.as_str());
    // The revalidating client (the storefront's) sees the change at once, and
    // gives unchanged reads back equal.
    assert_eq!(stock_seen("revalidated").await, 7);
    assert_eq!(
        revalidating
            .categories(Caller::anonymous())
            .await
            .expect("categories again"),
        categories
    );
    let page = ProductQuery {
        per_page: Some(100),
        ..ProductQuery::default()
    };
    let listed = revalidating
        .products(Caller::anonymous(), &page)
        .await
        .expect("list");
    let listed_again = revalidating
        .products(Caller::anonymous(), &page)
        .await
        .expect("list again");
    assert_eq!(listed, listed_again);
    assert_eq!(listed.items.iter().find(|p| p.id == id).map(|p| p.stock), Some(7));
}
