use cloudshop_api::orders::Line;
use cloudshop_api::reservations::{ReserveRequest, release_path, reserve_path};
use cloudshop_backend_tests::spawn_backend;
use cloudshop_host::pki::KubernetesLeaf;
use cloudshop_host::testing::client_with;
use cloudshop_platform::settings::TlsSettings;
use serde_json::{Value, json};

fn reservation(product_id: i64, quantity: i32) -> ReserveRequest {
    ReserveRequest {
        lines: vec![Line { product_id, quantity }],
    }
}

#[tokio::test]
async fn only_the_orders_identity_may_reserve_or_release() {
    let shop = spawn_backend().await;
    let order = uuid::Uuid::new_v4();
    for identity in ["api-gateway", "storefront", "auth"] {
        let client = shop.env.client_as(identity);
        let reserve = client
            .post(format!("{}{}", shop.products, reserve_path(order)))
            .json(&reservation(1, 1))
            .send()
            .await
            .expect("sent");
        assert_eq!(reserve.status(), 403, "{identity}");
        let release = client
            .post(format!("{}{}", shop.products, release_path(order)))
            .send()
            .await
            .expect("sent");
        assert_eq!(release.status(), 403, "{identity}");
    }
    // Nor is the internal path routed by the gateway, even below `/api`.
    let routed = shop
        .client
        .post(shop.url(&format!("/api{}", reserve_path(order))))
        .send()
        .await
        .expect("sent");
    assert_eq!(routed.status(), 404);
}

/// A certificate of the internal CA that names `orders` only as a DNS SAN
/// (no `spiffe://cloudshop/orders` URI) is no identity: the handshake works,
/// the reservation endpoints refuse it, and the stock does not move.
#[tokio::test]
async fn a_certificate_naming_orders_only_by_dns_is_not_the_orders_identity() {
    let shop = spawn_backend().await;
    let admin = shop.admin().await;
    let product = shop.product(&admin, 500, 10).await;
    let files = shop.env.files();
    let ca = files.ca().expect("the test CA");
    let impostor = ca
        .issue_kubernetes(&KubernetesLeaf {
            common_name: "orders".into(),
            organization: None,
            dns_names: vec!["orders".into()],
            ips: vec![std::net::IpAddr::from([127, 0, 0, 1])],
        })
        .expect("issued");
    let name = uuid::Uuid::new_v4();
    let tls = TlsSettings {
        cert_file: files.root().join(format!("pki/dns-only-{name}.pem")),
        key_file: files.root().join(format!("pki/dns-only-{name}-key.pem")),
        ca_file: files.ca_cert(),
        reload_interval_ms: 200,
    };
    std::fs::write(&tls.cert_file, &impostor.cert_pem).expect("cert written");
    std::fs::write(&tls.key_file, &impostor.key_pem).expect("key written");
    let client = client_with(&tls);
    let order = uuid::Uuid::new_v4();

    let reserve = client
        .post(format!("{}{}", shop.products, reserve_path(order)))
        .json(&reservation(product, 3))
        .send()
        .await
        .expect("the handshake succeeds: the certificate is the CA's");
    assert_eq!(reserve.status(), 403);
    let body: Value = reserve.json().await.expect("json error");
    assert!(body.to_string().contains("spiffe://cloudshop/"), "{body}");
    let release = client
        .post(format!("{}{}", shop.products, release_path(order)))
        .send()
        .await
        .expect("sent");
    assert_eq!(release.status(), 403);
    assert_eq!(shop.stock(product).await, 10);

    // The real orders certificate, with its SPIFFE URI, may.
    let reserved = shop
        .env
        .client_as("orders")
        .post(format!("{}{}", shop.products, reserve_path(order)))
        .json(&reservation(product, 3))
        .send()
        .await
        .expect("sent");
    assert_eq!(reserved.status(), 200);
    assert_eq!(shop.stock(product).await, 7);
}

#[tokio::test]
async fn reserve_and_release_are_idempotent() {
    let shop = spawn_backend().await;
    let admin = shop.admin().await;
    let product = shop.product(&admin, 700, 10).await;
    let orders = shop.env.client_as("orders");
    let order = uuid::Uuid::new_v4();
    let four = reservation(product, 4);
    let reserve = || {
        orders
            .post(format!("{}{}", shop.products, reserve_path(order)))
            .json(&four)
            .send()
    };
    let first: Value = reserve().await.expect("reserve").json().await.expect("json");
    let second: Value = reserve().await.expect("reserve").json().await.expect("json");
    assert_eq!(first, second);
    assert_eq!(first["lines"][0]["unit_price_cents"], 700);
    assert_eq!(shop.stock(product).await, 6);

    let release = || {
        orders
            .post(format!("{}{}", shop.products, release_path(order)))
            .send()
    };
    let released: Value = release().await.expect("release").json().await.expect("json");
    assert_eq!(released["lines"], first["lines"]);
    assert_eq!(shop.stock(product).await, 10);
    let again: Value = release().await.expect("release").json().await.expect("json");
    assert_eq!(again["lines"], first["lines"]);
    assert_eq!(shop.stock(product).await, 10);
    // A released order cannot reserve again.
    assert_eq!(reserve().await.expect("reserve").status(), 409);

    // A release that arrives first blocks the late reservation.
    let early = uuid::Uuid::new_v4();
    let tombstone: Value = orders
        .post(format!("{}{}", shop.products, release_path(early)))
        .send()
        .await
        .expect("release")
        .json()
        .await
        .expect("json");
    assert_eq!(tombstone["lines"], json!([]));
    let late = orders
        .post(format!("{}{}", shop.products, reserve_path(early)))
        .json(&reservation(product, 1))
        .send()
        .await
        .expect("reserve");
    assert_eq!(late.status(), 409);
    assert_eq!(shop.stock(product).await, 10);
}
