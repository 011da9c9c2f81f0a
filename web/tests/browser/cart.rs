//! Editing the cart in the browser: removing lines.

use cloudshop_api::client::Caller;

use crate::browser::{Browser, spawn_shop};

#[tokio::test]
async fn removing_a_cart_line_keeps_the_others_and_the_total_follows() {
    let shop = spawn_shop().await;
    let admin = shop.backend.admin().await;
    let (mug, pen) = (
        shop.backend.product(&admin, 1250, 10).await,
        shop.backend.product(&admin, 999, 10).await,
    );
    let name = |id| {
        let api = &shop.backend.api;
        async move { api.product(Caller::anonymous(), id).await.expect("product").name }
    };
    let (mug_name, pen_name) = (name(mug).await, name(pen).await);
    let browser = Browser::start().await;
    browser.goto(&format!("{}/products/{mug}", shop.url)).await;
    browser.fill("input[name=quantity]", "2").await;
    browser.click("form[action='/cart/add'] button").await;
    browser.goto(&format!("{}/products/{pen}", shop.url)).await;
    browser.click("form[action='/cart/add'] button").await;
    assert!(browser.body().await.contains("Cart (3)"));
    assert_eq!(browser.count("table.cart tbody tr").await, 2);

    browser
        .click(&format!(
            "form[action='/cart/remove']:has(input[value='{mug}']) button"
        ))
        .await;
    assert!(browser.text("p.flash").await.contains("Removed from your cart"));
    // The cookie holds the change, not only this reply: read it afresh.
    browser.goto(&format!("{}/cart", shop.url)).await;
    let lines = browser.texts("table.cart tbody tr").await;
    assert!(
        lines.len() == 1 && lines[0].contains(&pen_name) && !lines[0].contains(&mug_name),
        "{lines:?}"
    );
    assert!(browser.text("table.cart tfoot").await.contains("€9.99"));
    assert!(browser.body().await.contains("Cart (1)"));
    // A cart holds nothing back: the stock is untouched.
    assert_eq!(shop.backend.stock(mug).await, 10);

    browser
        .click(&format!(
            "form[action='/cart/remove']:has(input[value='{pen}']) button"
        ))
        .await;
    assert!(browser.text("p.empty").await.contains("Your cart is empty"));
    assert!(browser.body().await.contains("Cart (0)"));
    assert_eq!(browser.count("form[action='/checkout']").await, 0);
    browser.assert_clean_console().await;
    browser.close().await;
}
