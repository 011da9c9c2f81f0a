//! Logging out in the browser.

use crate::browser::{Browser, spawn_shop};
use crate::shopper::register;

#[tokio::test]
async fn logging_out_drops_the_session_and_the_cart_and_orders_then_ask_to_log_in() {
    let shop = spawn_shop().await;
    let browser = Browser::start().await;
    register(&browser, &shop.url).await;
    assert!(
        browser.cookie("session").await.is_some(),
        "a session after registering"
    );
    browser.goto(&format!("{}/products/1", shop.url)).await;
    browser.click("form[action='/cart/add'] button").await;
    assert!(browser.cookie("cart").await.is_some());
    browser.goto(&format!("{}/orders", shop.url)).await;
    assert_eq!(browser.path().await, "/orders");
    assert_eq!(browser.text("main h1").await, "Your orders");

    browser.click("form[action='/logout'] button").await;
    assert_eq!(browser.path().await, "/");
    assert!(browser.text("p.flash").await.contains("You are logged out"));
    let header = browser.text("header.top nav").await;
    assert!(
        header.contains("Log in") && !header.contains("Log out") && header.contains("Cart (0)"),
        "{header}"
    );
    assert_eq!(browser.cookie("session").await, None);
    assert_eq!(browser.cookie("cart").await, None);

    browser.goto(&format!("{}/orders", shop.url)).await;
    assert_eq!(browser.path().await, "/login");
    assert!(browser.text("p.flash").await.contains("Please log in first"));
    assert_eq!(browser.count("form input[name=password]").await, 1);
    browser.assert_clean_console().await;
    browser.close().await;
}
