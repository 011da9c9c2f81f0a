use cloudshop_backend_tests::PASSWORD;

use crate::browser::{Browser, spawn_shop};

/// Registers through the register page; the shopper is then logged in.
pub async fn register(browser: &Browser, shop_url: &str) -> String {
    let email = format!("browser-{}@example.com", uuid::Uuid::new_v4().simple());
    browser.goto(&format!("{shop_url}/register")).await;
    browser.fill("input[name=email]", &email).await;
    browser.fill("input[name=password]", PASSWORD).await;
    browser.click("button.primary").await;
    email
}

/// Puts `quantity` of `product` in the cart and places the order (the
/// shopper is logged in); the order's id, from the order page's address.
pub async fn place_order(browser: &Browser, shop_url: &str, product: i64, quantity: i32) -> uuid::Uuid {
    browser.goto(&format!("{shop_url}/products/{product}")).await;
    browser.fill("input[name=quantity]", &quantity.to_string()).await;
    browser.click("form[action='/cart/add'] button").await;
    browser.click("form[action='/checkout'] button").await;
    let flash = browser.text("p.flash").await;
    assert!(flash.contains("Your order is confirmed"), "{flash}");
    let path = browser.path().await;
    path.strip_prefix("/orders/")
        .and_then(|id| uuid::Uuid::parse_str(id).ok())
        .unwrap_or_else(|| panic!("an order page, not {path}"))
}

#[tokio::test]
async fn a_shopper_searches_fills_a_cart_checks_out_and_cancels() {
    let shop = spawn_shop().await;
    let browser = Browser::start().await;

    // A wrong password is a clear message, not an error page.
    browser.goto(&format!("{}/login", shop.url)).await;
    browser.fill("input[name=email]", "nobody@example.com").await;
    browser.fill("input[name=password]", "not the password").await;
    browser.click("button.primary").await;
    assert!(browser.text("p.error").await.contains("Wrong email or password"));
    // That page is a 401 on purpose; the console only reports that.
    let expected = browser.console().await;
    assert!(
        expected.iter().all(|e| e["message"]
            .as_str()
            .is_some_and(|m| m.contains("/login") && m.contains("401"))),
        "{expected:?}"
    );

    register(&browser, &shop.url).await;
    assert!(
        browser.body().await.contains("Log out"),
        "logged in after registering"
    );

    browser.goto(&shop.url).await;
    assert_eq!(
        browser
            .client
            .find_all(fantoccini::Locator::Css("li.card"))
            .await
            .expect("cards")
            .len(),
        12
    );
    browser.screenshot("home").await;
    // The same page at a phone's width.
    browser
        .client
        .set_window_size(390, 844)
        .await
        .expect("phone size");
    browser.goto(&shop.url).await;
    browser.screenshot("home-phone").await;
    browser
        .client
        .set_window_size(1280, 1000)
        .await
        .expect("desktop size");

    // Search, open a product, add it.
    browser.fill("input[name=q]", "grinder").await;
    browser.click("form.search button").await;
    assert!(browser.text("ul.grid").await.contains("Hand grinder with burrs"));
    browser.click("li.card a").await;
    let grinder_url = browser.client.current_url().await.expect("url").to_string();
    let grinder: i64 = grinder_url
        .rsplit('/')
        .next()
        .and_then(|id| id.parse().ok())
        .expect("product id");
    browser.screenshot("product").await;
    let grinder_stock = shop.backend.stock(grinder).await;
    browser.click("form[action='/cart/add'] button").await;

    // A second product, two of them.
    browser.goto(&format!("{}/?q=camping", shop.url)).await;
    browser.click("li.card a").await;
    browser.fill("input[name=quantity]", "2").await;
    browser.click("form[action='/cart/add'] button").await;
    let cart = browser.text("table.cart").await;
    assert!(
        cart.contains("Hand grinder with burrs") && cart.contains("Camping mug"),
        "{cart}"
    );

    // Change the grinder's quantity to 3.
    let grinder_form = format!("form[action='/cart/update']:has(input[value='{grinder}'])");
    browser
        .fill(&format!("{grinder_form} input[name=quantity]"), "3")
        .await;
    browser.click(&format!("{grinder_form} button")).await;
    let total = browser.text("table.cart tfoot").await;
    assert!(
        total.contains(&format!(
            "€{}.{:02}",
            (3 * 4950 + 2 * 1150) / 100,
            (3 * 4950 + 2 * 1150) % 100
        )),
        "{total}"
    );
    browser.screenshot("cart").await;

    // Check out.
    browser.click("form[action='/checkout'] button").await;
    assert!(browser.body().await.contains("CONFIRMED"));
    assert_eq!(shop.backend.stock(grinder).await, grinder_stock - 3);
    browser.screenshot("order").await;

    // The order is in the history; cancelling returns the stock.
    browser.goto(&format!("{}/orders", shop.url)).await;
    browser.click("table.orders a").await;
    browser.click("form[action$='/cancel'] button").await;
    assert!(browser.body().await.contains("CANCELLED"));
    assert_eq!(shop.backend.stock(grinder).await, grinder_stock);

    browser.assert_clean_console().await;
    browser.close().await;
}

#[tokio::test]
async fn out_of_stock_and_outages_show_clear_messages() {
    let shop = spawn_shop().await;
    let admin = shop.backend.admin().await;
    let scarce = shop.backend.product(&admin, 500, 1).await;
    let browser = Browser::start().await;
    register(&browser, &shop.url).await;
    browser.goto(&format!("{}/products/{scarce}", shop.url)).await;
    browser.click("form[action='/cart/add'] button").await;
    // Someone else buys the last one.
    let other = shop.backend.customer().await;
    let bought = shop
        .backend
        .order(
            &other,
            "last-one",
            &serde_json::json!([{"product_id": scarce, "quantity": 1}]),
        )
        .await;
    assert_eq!(bought.status(), 201);
    browser.goto(&format!("{}/cart", shop.url)).await;
    browser.click("form[action='/checkout'] button").await;
    let message = browser.text("p.flash").await;
    assert!(
        message.contains("out of stock") && message.contains("requested 1, available 0"),
        "{message}"
    );

    // The backend goes away: a clear page, not a stack trace.
    shop.backend.stop_orders();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    browser.goto(&format!("{}/orders", shop.url)).await;
    let page = browser.body().await;
    assert!(
        page.contains("Service unavailable") || page.contains("try again"),
        "{page}"
    );
    browser.close().await;
}
