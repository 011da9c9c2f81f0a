use crate::browser::{Browser, spawn_shop};
use crate::shopper::register;

#[tokio::test]
async fn the_admin_adds_a_product_and_sets_its_stock_and_shoppers_see_it() {
    let shop = spawn_shop().await;
    let files = shop.backend.env.files();
    let email = std::fs::read_to_string(files.admin_email().path()).expect("email");
    let password = std::fs::read_to_string(files.admin_password().path()).expect("password");
    let browser = Browser::start().await;
    browser.goto(&format!("{}/login", shop.url)).await;
    browser.fill("input[name=email]", email.trim()).await;
    browser.fill("input[name=password]", password.trim()).await;
    browser.click("button.primary").await;

    browser.goto(&format!("{}/admin/products", shop.url)).await;
    browser.fill("form.stacked input[name=sku]", "ADMIN-LAMP-1").await;
    browser
        .fill("form.stacked input[name=name]", "Brass reading lamp")
        .await;
    browser
        .fill(
            "form.stacked textarea[name=description]",
            "Warm light for long books.",
        )
        .await;
    browser.fill("form.stacked input[name=price_cents]", "6400").await;
    browser.fill("form.stacked input[name=stock]", "0").await;
    browser.click("form.stacked button").await;
    assert!(
        browser
            .text("p.flash")
            .await
            .contains("Created Brass reading lamp")
    );

    // Set its stock from the list.
    let stock_form = "form[action$='/stock']:has(input[aria-label='Stock of Brass reading lamp'])";
    browser
        .fill(&format!("{stock_form} input[name=stock]"), "7")
        .await;
    browser.click(&format!("{stock_form} button")).await;
    assert!(browser.text("p.flash").await.contains("7 in stock"));
    browser.screenshot("admin-products").await;
    browser.assert_clean_console().await;
    browser.close().await;

    // A shopper finds it, in stock, and cannot open the admin pages.
    let shopper = Browser::start().await;
    register(&shopper, &shop.url).await;
    shopper.goto(&format!("{}/?q=brass", shop.url)).await;
    let grid = shopper.text("ul.grid").await;
    assert!(
        grid.contains("Brass reading lamp") && grid.contains("7 in stock"),
        "{grid}"
    );
    shopper.goto(&format!("{}/admin/products", shop.url)).await;
    assert!(shopper.body().await.contains("Admins only"));
    shopper.goto(&format!("{}/admin/orders", shop.url)).await;
    assert!(shopper.body().await.contains("Admins only"));
    shopper.close().await;
}
