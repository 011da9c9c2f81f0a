//! The admin's orders page: every shopper's orders, and shipping one; the
//! shopper then sees it shipped and can no longer cancel it.

use cloudshop_api::client::Caller;
use cloudshop_api::orders::OrderStatus;
use cloudshop_storefront::pages::short_id;

use crate::admin::log_in_as_admin;
use crate::browser::{Browser, spawn_shop};
use crate::shopper::{place_order, register};

#[tokio::test]
async fn the_admin_ships_an_order_and_the_shopper_sees_it_shipped_and_cannot_cancel_it() {
    let shop = spawn_shop().await;
    let admin = shop.backend.admin().await;
    let product = shop.backend.product(&admin, 2500, 5).await;
    let shopper = Browser::start().await;
    register(&shopper, &shop.url).await;
    let shipped = place_order(&shopper, &shop.url, product, 1).await;
    let kept = place_order(&shopper, &shop.url, product, 1).await;
    assert_eq!(shop.backend.stock(product).await, 3);
    let status = |id| {
        let (api, admin) = (&shop.backend.api, &admin);
        async move {
            api.order(Caller::with_token(admin), id)
                .await
                .expect("order")
                .status
        }
    };

    let browser = Browser::start().await;
    log_in_as_admin(&browser, &shop).await;
    browser.goto(&format!("{}/admin/products", shop.url)).await;
    browser.click("a[href='/admin/orders']").await;
    assert_eq!(browser.text("main h1").await, "All orders");
    let row = |id: uuid::Uuid| format!("table.admin tbody tr:has(form[action='/admin/orders/{id}/ship'])");
    for id in [shipped, kept] {
        let line = browser.text(&row(id)).await;
        assert!(
            line.starts_with(&short_id(&id)) && line.contains("CONFIRMED") && line.contains("€25.00"),
            "{line}"
        );
    }

    browser.click(&format!("{} button", row(shipped))).await;
    assert_eq!(browser.path().await, "/admin/orders");
    assert!(browser.text("p.flash").await.contains("Order shipped"));
    let rows = browser.texts("table.admin tbody tr").await;
    let line = rows
        .iter()
        .find(|r| r.starts_with(&short_id(&shipped)))
        .expect("the shipped order is still listed");
    assert!(line.contains("SHIPPED"), "{line}");
    assert_eq!(browser.count(&row(shipped)).await, 0, "no second shipping");
    assert_eq!(
        browser.count(&row(kept)).await,
        1,
        "the other order is still open"
    );
    assert_eq!(status(shipped).await, OrderStatus::Shipped);
    assert_eq!(status(kept).await, OrderStatus::Confirmed);
    browser.assert_clean_console().await;
    browser.close().await;

    shopper.goto(&format!("{}/orders", shop.url)).await;
    let history = shopper.texts("table.orders tbody tr").await;
    assert!(
        history
            .iter()
            .any(|r| r.starts_with(&short_id(&shipped)) && r.contains("SHIPPED")),
        "{history:?}"
    );
    shopper.goto(&format!("{}/orders/{shipped}", shop.url)).await;
    assert!(shopper.body().await.contains("SHIPPED"));
    let cancel = format!("form[action='/orders/{shipped}/cancel']");
    assert_eq!(shopper.count(&cancel).await, 0, "no cancel button");

    // Posting the cancel anyway, with a valid token, is refused.
    shopper
        .script(&format!(
            "const form = document.createElement('form');
             form.method = 'post';
             form.action = '/orders/{shipped}/cancel';
             const csrf = document.querySelector(\"form[action='/logout'] input[name=csrf]\").cloneNode();
             const button = document.createElement('button');
             form.append(csrf, button);
             document.querySelector('main').append(form);"
        ))
        .await;
    shopper.click(&format!("{cancel} button")).await;
    let refusal = shopper.text("section.message").await;
    assert!(
        refusal.contains("Only confirmed orders that have not shipped can be cancelled"),
        "{refusal}"
    );
    shopper.assert_console_reports_only(409).await;
    assert_eq!(status(shipped).await, OrderStatus::Shipped);
    assert_eq!(shop.backend.stock(product).await, 3, "no stock came back");
    shopper.close().await;
}
