use crate::browser::{Browser, spawn_shop};

#[tokio::test]
async fn a_tampered_cart_is_an_empty_cart() {
    let shop = spawn_shop().await;
    let browser = Browser::start().await;
    browser.goto(&format!("{}/products/1", shop.url)).await;
    browser.click("form[action='/cart/add'] button").await;
    assert!(browser.body().await.contains("Cart (1)"));

    let cart = browser
        .client
        .get_named_cookie("cart")
        .await
        .expect("cart cookie");
    let value = cart.value().to_owned();
    browser.close().await;

    // Replay the cookie the browser holds, then a forged one: same signature,
    // other contents (99 of product 1).
    let forged = value.replacen("%22quantity%22%3A1", "%22quantity%22%3A99", 1);
    assert_ne!(forged, value, "the cookie holds the cart as signed JSON: {value}");
    let client = reqwest::Client::new();
    let cart_page = |cookie: String| {
        let request = client
            .get(format!("{}/cart", shop.url))
            .header("cookie", format!("cart={cookie}"));
        async move {
            let response = request.send().await.expect("cart page");
            assert_eq!(response.status(), 200);
            response.text().await.expect("html")
        }
    };
    let genuine = cart_page(value).await;
    assert!(genuine.contains("Single-origin espresso beans") && !genuine.contains("Your cart is empty"));
    let tampered = cart_page(forged).await;
    assert!(tampered.contains("Your cart is empty"), "{tampered}");
}
