//! Logging in and out in the browser.

use std::net::IpAddr;

use cloudshop_api::auth::Credentials;

use crate::browser::{Browser, spawn_shop, spawn_shop_with};
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

async fn log_in(browser: &Browser, shop_url: &str, email: &str, password: &str) -> String {
    browser.goto(&format!("{shop_url}/login")).await;
    browser.fill("input[name=email]", email).await;
    browser.fill("input[name=password]", password).await;
    browser.click("button.primary").await;
    browser.body().await
}

/// A stranger spends the admin account's budget of failed logins from 50
/// addresses; the admin's browser, which logged in before and keeps the
/// device cookie, still logs in, and the same browser without that cookie
/// is asked to wait.
#[tokio::test]
async fn the_admin_logs_in_through_the_storefront_during_an_attack_on_the_account() {
    // The budget refills once a minute, not ten times: the refusal at the
    // end comes seconds after the attack, and a busy machine's seconds must
    // not give a guess back.
    let shop = spawn_shop_with(cloudshop_backend_tests::Options {
        account_refill_per_minute: Some(1),
        ..cloudshop_backend_tests::Options::default()
    })
    .await;
    let (email, password) = shop.backend.admin_credentials();
    let browser = Browser::start().await;
    let page = log_in(&browser, &shop.url, &email, &password).await;
    assert!(page.contains("Welcome back"), "{page}");
    assert!(
        browser.cookie("device").await.is_some(),
        "a login leaves a device cookie"
    );
    browser.click("form[action='/logout'] button").await;
    assert!(browser.cookie("device").await.is_some(), "logging out keeps it");

    let wrong = Credentials::new(email.as_str(), "Not-the-password-42!");
    let mut refused = 0;
    for _round in 0..3 {
        for host in 0..50u8 {
            let from = IpAddr::from([198, 18, 200, host]);
            if let Err(err) = shop.backend.login_from(from, &wrong).await {
                assert!([401, 429].contains(&err.status().as_u16()), "{err}");
                refused += 1;
            }
        }
    }
    assert_eq!(refused, 150);

    let page = log_in(&browser, &shop.url, &email, &password).await;
    assert!(
        page.contains("Welcome back"),
        "the admin's browser gets in: {page}"
    );
    browser.click("form[action='/logout'] button").await;

    browser
        .client
        .delete_cookie("device")
        .await
        .expect("delete the device cookie");
    let page = log_in(&browser, &shop.url, &email, &password).await;
    assert!(
        page.contains("Too many attempts"),
        "without the device cookie the spent budget refuses: {page}"
    );
    browser.close().await;
}

/// A 3 MB form from a real client (curl), with or without `Expect:
/// 100-continue` or chunked, gets the storefront's 413 page, which the client
/// reads: never `100 Continue`, never a reset connection.
#[tokio::test]
async fn an_oversized_form_gets_a_readable_413_page() {
    use cloudshop_host::testing::assert_oversized_uploads_refused;

    let shop = spawn_shop().await;
    let url = format!("{}/login", shop.url);
    let answers = tokio::task::spawn_blocking(move || {
        assert_oversized_uploads_refused(&url, "application/x-www-form-urlencoded", None)
    })
    .await
    .expect("the uploads");
    for (mode, body) in answers {
        assert!(
            body.contains("<html") && body.contains("too large"),
            "{mode:?}: the error page: {body}"
        );
    }
}
