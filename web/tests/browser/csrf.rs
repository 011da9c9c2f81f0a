//! The CSRF check as a browser meets it: a page's script strips a form's
//! token or forges it, the form is submitted, and the shopper sees the 403
//! "This form has expired" page while nothing changed (cart, order, stock,
//! session). The same form with its token then works, so each refusal is
//! the token's doing.

use cloudshop_api::client::Caller;
use cloudshop_api::orders::OrderStatus;

use crate::browser::{Browser, spawn_shop};
use crate::shopper::{place_order, register};

const FORGED: &str = "0123456789abcdef0123456789abcdef";

async fn assert_expired_page(browser: &Browser) {
    assert_eq!(browser.text("section.message h1").await, "This form has expired");
    browser.assert_console_reports_only(403).await;
}

#[tokio::test]
async fn an_add_to_cart_form_without_its_token_or_with_a_forged_one_is_refused() {
    let shop = spawn_shop().await;
    let admin = shop.backend.admin().await;
    let product = shop.backend.product(&admin, 800, 5).await;
    let browser = Browser::start().await;
    let page = format!("{}/products/{product}", shop.url);
    let token = "form[action='/cart/add'] input[name=csrf]";

    browser.goto(&page).await;
    browser
        .script(&format!("document.querySelector(\"{token}\").remove()"))
        .await;
    assert_eq!(browser.count(token).await, 0, "the token is gone");
    browser.click("form[action='/cart/add'] button").await;
    assert_eq!(browser.path().await, "/cart/add");
    assert_expired_page(&browser).await;
    assert!(browser.body().await.contains("Cart (0)"));
    assert_eq!(browser.cookie("cart").await, None);

    browser.goto(&page).await;
    browser
        .script(&format!("document.querySelector(\"{token}\").value = '{FORGED}'"))
        .await;
    assert_eq!(browser.value(token).await, FORGED);
    browser.click("form[action='/cart/add'] button").await;
    assert_expired_page(&browser).await;
    assert_eq!(browser.cookie("cart").await, None);
    browser.goto(&format!("{}/cart", shop.url)).await;
    assert!(browser.text("p.empty").await.contains("Your cart is empty"));

    // Untouched, the same form is acted on.
    browser.goto(&page).await;
    browser.click("form[action='/cart/add'] button").await;
    assert_eq!(browser.path().await, "/cart");
    assert!(browser.body().await.contains("Cart (1)"));
    assert_eq!(shop.backend.stock(product).await, 5);
    browser.assert_clean_console().await;
    browser.close().await;
}

#[tokio::test]
async fn a_forged_token_cancels_no_order_and_logs_nobody_out() {
    let shop = spawn_shop().await;
    let admin = shop.backend.admin().await;
    let product = shop.backend.product(&admin, 800, 5).await;
    let browser = Browser::start().await;
    register(&browser, &shop.url).await;
    let order = place_order(&browser, &shop.url, product, 2).await;
    assert_eq!(shop.backend.stock(product).await, 3);
    let status = || {
        let (api, admin) = (&shop.backend.api, &admin);
        async move {
            api.order(Caller::with_token(admin), order)
                .await
                .expect("order")
                .status
        }
    };

    let cancel = format!("form[action='/orders/{order}/cancel']");
    browser
        .script(&format!(
            "document.querySelector(\"{cancel} input[name=csrf]\").value = '{FORGED}'"
        ))
        .await;
    browser.click(&format!("{cancel} button")).await;
    assert_expired_page(&browser).await;
    assert_eq!(status().await, OrderStatus::Confirmed);
    assert_eq!(shop.backend.stock(product).await, 3, "no stock came back");
    browser.goto(&format!("{}/orders/{order}", shop.url)).await;
    assert!(browser.body().await.contains("CONFIRMED"));

    let logout = "form[action='/logout']";
    browser
        .script(&format!(
            "document.querySelector(\"{logout} input[name=csrf]\").value = '{FORGED}'"
        ))
        .await;
    browser.click(&format!("{logout} button")).await;
    assert_expired_page(&browser).await;
    assert!(browser.cookie("session").await.is_some(), "still logged in");
    browser.goto(&format!("{}/orders", shop.url)).await;
    assert_eq!(browser.path().await, "/orders");

    // With its own token the cancel goes through.
    browser.goto(&format!("{}/orders/{order}", shop.url)).await;
    browser.click(&format!("{cancel} button")).await;
    assert!(browser.body().await.contains("CANCELLED"));
    assert_eq!(status().await, OrderStatus::Cancelled);
    assert_eq!(shop.backend.stock(product).await, 5);
    browser.assert_clean_console().await;
    browser.close().await;
}
